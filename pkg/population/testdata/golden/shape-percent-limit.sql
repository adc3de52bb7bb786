/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */
SELECT
  CAST(floor(COUNT(DISTINCT CASE WHEN ((COALESCE(c.`country` = :p1, FALSE))) THEN c.`customer_id` END) * :p2 / 100) AS BIGINT) /* limit Percent: that share of the matching profiles, rounded down */ AS `s1`
FROM `retail_prod`.`cdp`.`customers` AS c
-- params
-- :p1 = string JP
-- :p2 = float64 10
