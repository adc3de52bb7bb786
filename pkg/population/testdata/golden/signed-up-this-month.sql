/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if(`s1`) AS `s1`
FROM (
/* one row per customer key */
SELECT
  bool_or(((COALESCE((c.`signup_date` >= :p1 AND c.`signup_date` < :p2) /* TimeThis month: the calendar month in America/New_York */, FALSE)))) AS `s1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = time.Time 2026-10-01T00:00:00Z
-- :p2 = time.Time 2026-11-01T00:00:00Z
