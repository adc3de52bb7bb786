/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  count_if(`s1`) AS `s1`
FROM (
/* one row per customer key */
SELECT
  bool_or(((COALESCE(c.`age` < :p1, FALSE)) OR ((NOT COALESCE((instr(c.`country`, :p2) > 0 /* case-sensitive */), FALSE) /* exclude */) AND (COALESCE(c.`signup_date` > :p3, FALSE))))) AS `s1`,
  c.`customer_id` AS k
FROM `retail_prod`.`cdp`.`customers` AS c
WHERE c.`customer_id` IS NOT NULL
GROUP BY c.`customer_id`
) AS per_key
-- params
-- :p1 = float64 30
-- :p2 = string U
-- :p3 = time.Time 2025-01-01T00:00:00Z
