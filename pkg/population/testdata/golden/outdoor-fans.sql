/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(c.`interests` IS NOT NULL AND size(filter(c.`interests`, x -> COALESCE((instr(x, :p1) > 0 /* case-sensitive */ OR instr(x, :p2) > 0 /* case-sensitive */), FALSE))) > 0, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string hiking
-- :p2 = string camping
