/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  least(count_if((`m1` & 1) <> 0), :p4) /* limit Count: at most number profiles, whatever the order */ AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(b1.`a1` > :p3, FALSE))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    sum(`amount`) FILTER (WHERE (`order_time` >= :p1 AND `order_time` <= :p2 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)) AS `a1`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = time.Time 2026-08-03T00:00:00Z
-- :p2 = time.Time 2026-11-01T00:00:00Z
-- :p3 = float64 2500
-- :p4 = int64 500
