/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN (((NOT COALESCE((right(c.`email`, length(:p1)) = :p1), FALSE)))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string @gmail.com
