/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  COUNT(DISTINCT CASE WHEN ((COALESCE(regexp_like(c.`email`, :p1) /* matches anywhere in the value */, FALSE) AND COALESCE(c.`is_subscribed` = :p2, FALSE))) THEN c.`customer_id` END) AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string ^[^@]+@(acme|globex)\.com$
-- :p2 = bool true
