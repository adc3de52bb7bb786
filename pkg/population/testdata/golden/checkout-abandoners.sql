/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(`b1_a1` = :p6, FALSE)) AND ((COALESCE(COALESCE(`b2_a1`, 0) /* no rows counts 0 */ = :p7, FALSE)) OR (NOT (/* segment "VIP Customers" */ `r3`) /* exclude */))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  `k`
FROM (
/* referenced segments, each computed once per row (level 3) */
SELECT *,
  ((COALESCE(`c_ltv` >= :p8, FALSE) AND COALESCE(COALESCE(`b2_a2`, 0) /* no rows counts 0 */ >= :p10, FALSE) AND NOT (/* segment "Churn Risk" */ `r2`) /* exclude */)) AS `r3`
FROM (
/* referenced segments, each computed once per row (level 2) */
SELECT *,
  ((COALESCE(`c_ltv` > :p11, FALSE) AND COALESCE(`c_last_login` < :p12 /* last n units: now moved back */, FALSE) AND NOT (/* segment "Recent Buyers" */ `r1`) /* exclude */)) AS `r2`
FROM (
/* referenced segments, each computed once per row (level 1) */
SELECT *,
  ((COALESCE(COALESCE(`b2_a3`, 0) /* no rows counts 0 */ >= :p14, FALSE))) AS `r1`
FROM (
/* the rows: each customer row with its grouped joined tables and behaviors */
SELECT c.`customer_id` AS `k`, b1.`a1` AS `b1_a1`, b2.`a1` AS `b2_a1`, c.`ltv` AS `c_ltv`, b2.`a2` AS `b2_a2`, c.`last_login` AS `c_last_login`, b2.`a3` AS `b2_a3`
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    max_by(`page_type`, `view_time`) FILTER (WHERE (COALESCE((startswith(`referrer`, :p1) OR startswith(`referrer`, :p2)), FALSE) OR COALESCE((endswith(`url`, :p3)), FALSE)) AND (`view_time` >= :p4 AND `view_time` <= :p5 /* window: rows from now back by the duration, both ends included, the time column a timestamp */) AND `page_type` IS NOT NULL AND `view_time` IS NOT NULL) /* Last: the value of the row with the highest order among rows where both are set */ AS `a1`
  FROM `retail_prod`.`cdp`.`page_views`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if((`order_time` >= :p4 AND `order_time` <= :p5 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a1`,
    count_if((`order_time` >= :p9 AND `order_time` <= :p5 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a2`,
    count_if((`order_time` >= :p13 AND `order_time` <= :p5 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a3`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b2 ON b2.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
) AS `l0`
) AS `l1`
) AS `l2`
) AS `per_row`
GROUP BY `k`
) AS per_key
-- params
-- :p1 = string https://www.google.
-- :p2 = string https://www.bing.
-- :p3 = string /checkout
-- :p4 = time.Time 2026-10-25T00:00:00Z
-- :p5 = time.Time 2026-11-01T00:00:00Z
-- :p6 = string checkout
-- :p7 = float64 0
-- :p8 = float64 1000
-- :p9 = time.Time 2026-10-02T00:00:00Z
-- :p10 = float64 3
-- :p11 = float64 200
-- :p12 = time.Time 2026-08-01T00:00:00Z
-- :p13 = time.Time 2026-10-18T00:00:00Z
-- :p14 = float64 1
