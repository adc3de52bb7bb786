/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if(`s1`) AS `s1`
FROM (
/* one row per customer key */
SELECT
  bool_or(((COALESCE(c.`loyalty_tier` = :p1, FALSE) AND NOT (NOT COALESCE(b1.`a1` IS NULL, FALSE)) /* exclude */ AND (/* segment "Churn Risk" */ ((COALESCE(c.`ltv` > :p4, FALSE) AND COALESCE(c.`last_login` < :p5 /* last n units: now moved back */, FALSE) AND NOT (/* segment "Recent Buyers" */ ((COALESCE(COALESCE(b1.`a2`, 0) /* no rows counts 0 */ >= :p7, FALSE)))) /* exclude */)))))) AS `s1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    max(CASE WHEN (`order_time` >= :p2 AND `order_time` <= :p3 /* window: rows from now back by the duration, both ends included, the time column a timestamp */) THEN `order_id` END) AS `a1`,
    count_if((`order_time` >= :p6 AND `order_time` <= :p3 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a2`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = string gold
-- :p2 = time.Time 2026-07-04T00:00:00Z
-- :p3 = time.Time 2026-11-01T00:00:00Z
-- :p4 = float64 200
-- :p5 = time.Time 2026-08-01T00:00:00Z
-- :p6 = time.Time 2026-10-18T00:00:00Z
-- :p7 = float64 1
