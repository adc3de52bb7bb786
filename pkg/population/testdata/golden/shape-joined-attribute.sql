/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(j1.`score` > :p1, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
/* joined attributes: a profile matches when any joined row does */
LEFT JOIN `retail_prod`.`cdp`.`scores` AS j1 ON j1.`customer_id` = c.`customer_id`
-- params
-- :p1 = float64 0.5
