/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((NOT COALESCE(g1.`a1`, FALSE /* grouped by channel, category: holds when any group of the rows of the profile passes; no row, no group */) /* exclude */ AND COALESCE(g1.`a2`, FALSE /* grouped by channel, category: holds when any group of the rows of the profile passes; no row, no group */))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
/* behavior "orders" grouped by `channel`, `category`: one row per group of its rows, then whether any group of the key passes each test */
LEFT JOIN (
  SELECT `k`,
    bool_or(COALESCE(`v1` >= :p2, FALSE)) AS `a1`,
    bool_or(COALESCE(`v2` < :p3, FALSE)) AS `a2`
  FROM (
    SELECT `customer_id` AS `k`,
      sum(`amount`) AS `v1`,
      max(`amount`) AS `v2`
    FROM `retail_prod`.`cdp`.`orders`
    WHERE (COALESCE(`quantity` > :p1, FALSE))
    GROUP BY `customer_id`, `channel`, `category`
  ) AS g1_groups
  GROUP BY `k`
) AS g1 ON g1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = float64 1
-- :p2 = float64 100
-- :p3 = float64 50
