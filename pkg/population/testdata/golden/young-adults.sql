/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(c.`age` BETWEEN :p1 AND :p2 /* bounds included */, FALSE) AND (NOT COALESCE(c.`age` IS NULL, FALSE)))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = float64 18
-- :p2 = float64 24
