/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE((c.`birth_date` >= :p1 AND c.`birth_date` <= :p2) /* TimeInBetweenNext: from now forward, both ends included, in America/New_York; the value itself, not its anniversary */, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = time.Time 2026-11-08T00:00:00Z
-- :p2 = time.Time 2026-11-30T00:00:00Z
