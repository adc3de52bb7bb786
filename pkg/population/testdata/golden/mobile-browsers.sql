/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(b1.`a1` IN (:p1, :p2), FALSE) AND COALESCE(b1.`a2` > :p3, FALSE) AND COALESCE((c.`last_login` >= :p4 AND c.`last_login` < :p5) /* TimeRange: from now back 2 week, for the duration, end excluded, in America/New_York */, FALSE))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    min_by(`device`, `view_time`) FILTER (WHERE TRUE AND `device` IS NOT NULL AND `view_time` IS NOT NULL) /* First: the value of the row with the lowest order among rows where both are set */ AS `a1`,
    min(`duration_seconds`) AS `a2`
  FROM `retail_prod`.`cdp`.`page_views`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = string ios
-- :p2 = string android
-- :p3 = float64 5
-- :p4 = time.Time 2026-10-18T00:00:00Z
-- :p5 = time.Time 2026-10-25T00:00:00Z
