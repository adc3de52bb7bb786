/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(c.`interests` IS NOT NULL AND size(filter(c.`interests`, x -> COALESCE(x IN (:p1, :p2), FALSE))) >= :p3, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string hiking
-- :p2 = string books
-- :p3 = int64 2
