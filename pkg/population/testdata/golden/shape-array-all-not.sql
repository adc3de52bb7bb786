/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN (((NOT COALESCE(c.`interests` IS NOT NULL AND size(filter(c.`interests`, x -> COALESCE(x = :p1, FALSE))) = size(c.`interests`) /* all: every element, an empty array matches */, FALSE)))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string gaming
