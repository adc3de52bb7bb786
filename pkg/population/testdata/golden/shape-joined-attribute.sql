/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(j1.`a1`, FALSE /* no joined row: the test of a missing value */))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
/* joined attribute table: a condition holds when any row of the profile passes its test, exclude when none does; no row is a missing value (NULL) */
LEFT JOIN (
  SELECT `customer_id` AS k,
    bool_or(COALESCE(`score` > :p1, FALSE)) AS `a1`
  FROM `retail_prod`.`cdp`.`scores`
  GROUP BY `customer_id`
) AS j1 ON j1.k = c.`customer_id`
-- params
-- :p1 = float64 0.5
