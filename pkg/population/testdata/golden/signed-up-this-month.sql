/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE((c.`signup_date` >= :p1 AND c.`signup_date` < :p2) /* TimeThis month: the calendar month in America/New_York */, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = time.Time 2026-10-01T00:00:00Z
-- :p2 = time.Time 2026-11-01T00:00:00Z
