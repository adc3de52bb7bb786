/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE((c.`last_login` >= :p1 AND c.`last_login` < :p2) /* today in America/New_York */, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = time.Time 2026-10-31T04:00:00Z
-- :p2 = time.Time 2026-11-01T04:00:00Z
