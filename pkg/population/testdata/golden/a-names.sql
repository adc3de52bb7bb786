/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if(`s1`) AS `s1`
FROM (
/* one row per customer key */
SELECT
  bool_or(((COALESCE((left(c.`first_name`, length(:p1)) = :p1), FALSE)))) AS `s1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = string A
