/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE((c.`signup_date` >= :p1 AND c.`signup_date` <= :p2) /* TimeWithinPast 30 day: from now back/forward, calendar units in America/New_York, both ends included */, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = time.Time 2026-10-01T00:00:00Z
-- :p2 = time.Time 2026-10-31T00:00:00Z
