/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(COALESCE(b1.`a1`, 0) /* no rows counts 0 */ >= :p3, FALSE) AND COALESCE(b1.`a2` >= :p4, FALSE))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if((`visit_time` >= :p1 AND `visit_time` <= :p2 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a1`,
    min(`spend`) AS `a2`
  FROM `retail_prod`.`cdp`.`store_visits`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = time.Time 2026-09-02T00:00:00Z
-- :p2 = time.Time 2026-11-01T00:00:00Z
-- :p3 = float64 4
-- :p4 = float64 10
