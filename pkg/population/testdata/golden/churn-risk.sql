/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(`c_ltv` > :p1, FALSE) AND COALESCE(`c_last_login` < :p2 /* last n units: now moved back */, FALSE) AND NOT (/* segment "Recent Buyers" */ `r1`) /* exclude */)) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  `k`
FROM (
/* referenced segments, each computed once per row (level 1) */
SELECT *,
  ((COALESCE(COALESCE(`b1_a1`, 0) /* no rows counts 0 */ >= :p5, FALSE))) AS `r1`
FROM (
/* the rows: each customer row with its grouped joined tables and behaviors */
SELECT c.`customer_id` AS `k`, c.`ltv` AS `c_ltv`, c.`last_login` AS `c_last_login`, b1.`a1` AS `b1_a1`
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if((`order_time` >= :p3 AND `order_time` <= :p4 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a1`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
) AS `l0`
) AS `per_row`
GROUP BY `k`
) AS per_key
-- params
-- :p1 = float64 200
-- :p2 = time.Time 2026-08-01T00:00:00Z
-- :p3 = time.Time 2026-10-18T00:00:00Z
-- :p4 = time.Time 2026-11-01T00:00:00Z
-- :p5 = float64 1
