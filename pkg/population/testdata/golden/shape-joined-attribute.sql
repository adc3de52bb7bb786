/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(j1.`a1`, FALSE /* no joined row: the test of a missing value */))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
/* joined attribute table: a condition holds when any row of the profile passes its test, exclude when none does; no row is a missing value (NULL) */
LEFT JOIN (
  SELECT `customer_id` AS k,
    bool_or(COALESCE(`score` > :p1, FALSE)) AS `a1`
  FROM `retail_prod`.`cdp`.`scores`
  GROUP BY `customer_id`
) AS j1 ON j1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = float64 0.5
