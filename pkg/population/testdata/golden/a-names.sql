/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE((startswith(c.`first_name`, :p1)), FALSE))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = string A
