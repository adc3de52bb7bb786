/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(`c_loyalty_tier` = :p1, FALSE) AND NOT (NOT COALESCE(`b1_a1` IS NULL, FALSE)) /* exclude */ AND (/* segment "Churn Risk" */ `r2`))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  `k`
FROM (
/* referenced segments, each computed once per row (level 2) */
SELECT *,
  ((COALESCE(`c_ltv` > :p4, FALSE) AND COALESCE(`c_last_login` < :p5 /* last n units: now moved back */, FALSE) AND NOT (/* segment "Recent Buyers" */ `r1`) /* exclude */)) AS `r2`
FROM (
/* referenced segments, each computed once per row (level 1) */
SELECT *,
  ((COALESCE(COALESCE(`b1_a2`, 0) /* no rows counts 0 */ >= :p7, FALSE))) AS `r1`
FROM (
/* the rows: each customer row with its grouped joined tables and behaviors */
SELECT c.`customer_id` AS `k`, c.`loyalty_tier` AS `c_loyalty_tier`, b1.`a1` AS `b1_a1`, c.`ltv` AS `c_ltv`, c.`last_login` AS `c_last_login`, b1.`a2` AS `b1_a2`
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    max(`order_id`) FILTER (WHERE (`order_time` >= :p2 AND `order_time` <= :p3 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a1`,
    count_if((`order_time` >= :p6 AND `order_time` <= :p3 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a2`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
) AS `l0`
) AS `l1`
) AS `per_row`
GROUP BY `k`
) AS per_key
-- params
-- :p1 = string gold
-- :p2 = time.Time 2026-07-04T00:00:00Z
-- :p3 = time.Time 2026-11-01T00:00:00Z
-- :p4 = float64 200
-- :p5 = time.Time 2026-08-01T00:00:00Z
-- :p6 = time.Time 2026-10-18T00:00:00Z
-- :p7 = float64 1
