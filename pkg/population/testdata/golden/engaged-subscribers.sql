/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if((`m1` & 1) <> 0) AS `s1`
FROM (
/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */
SELECT
  bit_or(
      (CASE WHEN ((COALESCE(COALESCE(b1.`a1`, 0) /* no rows counts 0 */ >= :p6, FALSE) OR COALESCE(b1.`a2` = :p7, FALSE))) THEN 1 ELSE 0 END) /* s1 */
  ) AS `m1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if((COALESCE(`event_type` = :p1, FALSE)) AND (`event_time` >= :p4 AND `event_time` <= :p5 /* window: rows from now back by the duration, both ends included, the time column epoch seconds */)) AS `a1`,
    max_by(`event_type`, `event_time`) FILTER (WHERE TRUE AND `event_type` IS NOT NULL AND `event_time` IS NOT NULL) /* Last: the value of the row with the highest order among rows where both are set */ AS `a2`
  FROM `retail_prod`.`cdp`.`email_events`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = string open
-- :p2 = time.Time 2026-10-02T00:00:00Z
-- :p3 = time.Time 2026-11-01T00:00:00Z
-- :p4 = int64 1790899200
-- :p5 = int64 1793491200
-- :p6 = float64 5
-- :p7 = string click
