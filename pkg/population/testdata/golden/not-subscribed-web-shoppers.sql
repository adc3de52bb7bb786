/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(c.`is_subscribed` = :p1, FALSE) AND COALESCE(COALESCE(b1.`a1`, 0) /* no rows counts 0 */ >= :p5, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if((COALESCE(`channel` = :p2, FALSE) OR COALESCE(`category` IN (:p3, :p4), FALSE))) AS `a1`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
-- params
-- :p1 = bool false
-- :p2 = string web
-- :p3 = string shoes
-- :p4 = string bags
-- :p5 = float64 1
