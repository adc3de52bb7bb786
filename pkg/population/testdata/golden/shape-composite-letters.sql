/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(c.`age` < :p1, FALSE)) OR ((NOT COALESCE((instr(c.`country`, :p2) > 0 /* case-sensitive */), FALSE) /* exclude */) AND (COALESCE(c.`signup_date` > :p3, FALSE)))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = float64 30
-- :p2 = string U
-- :p3 = time.Time 2025-01-01T00:00:00Z
