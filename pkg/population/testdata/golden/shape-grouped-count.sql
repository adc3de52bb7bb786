/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(g1.`a1`, FALSE /* grouped by category: holds when any group of the rows of the profile passes; no row, no group */))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
/* behavior "orders" grouped by `category`: one row per group of its rows, then whether any group of the key passes each test */
LEFT JOIN (
  SELECT `k`,
    bool_or(COALESCE(`v1` > :p3, FALSE)) AS `a1`
  FROM (
    SELECT `customer_id` AS `k`,
      count(*) AS `v1`
    FROM `retail_prod`.`cdp`.`orders`
    WHERE (`order_time` >= :p1 AND `order_time` <= :p2 /* window: rows from now back by the duration, both ends included, the time column a timestamp */)
    GROUP BY `customer_id`, `category`
  ) AS g1_groups
  GROUP BY `k`
) AS g1 ON g1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = time.Time 2026-05-05T00:00:00Z
-- :p2 = time.Time 2026-11-01T00:00:00Z
-- :p3 = float64 1
