/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(COALESCE(b1.`a1`, 0) /* no rows counts 0 */ >= :p1, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
LEFT JOIN (
  SELECT `customer_id` AS k,
    count_if(((NOT COALESCE(`coupon_code` IS NULL, FALSE)))) AS `a1`
  FROM `retail_prod`.`cdp`.`orders`
  GROUP BY `customer_id`
) AS b1 ON b1.k = c.`customer_id`
-- params
-- :p1 = float64 2
