SELECT
  `t10`.`customer_id`
FROM (
  SELECT
    `t3`.`customer_id`,
    `t3`.`first_name`,
    `t3`.`last_name`,
    `t3`.`name`,
    `t3`.`email`,
    `t3`.`phone`,
    `t3`.`gender`,
    `t3`.`birth_date`,
    `t3`.`country`,
    `t3`.`region`,
    `t3`.`city`,
    `t3`.`language`,
    `t3`.`company`,
    `t3`.`industry`,
    `t3`.`company_size`,
    `t3`.`annual_revenue`,
    `t3`.`created_at`,
    `t3`.`consent_whatsapp`,
    `t3`.`consent_whatsapp_at`,
    `t3`.`consent_email`,
    `t3`.`consent_email_at`,
    `t3`.`consent_sms`,
    `t3`.`consent_sms_at`,
    `t3`.`traits`,
    `t3`.`updated_at`,
    `t9`.`__seg_k0`,
    `t9`.`__seg_v0`,
    `t6`.`__seg_k1`,
    `t6`.`__seg_v1`
  FROM `profiles` AS `t3`
  LEFT OUTER JOIN (
    SELECT
      `t7`.`customer_id` AS `__seg_k0`,
      SUM(
        UNWRAP_JSON_FLOAT(GET_JSON_OBJECT(`t7`.`properties`, FORMAT_STRING('$.%s', 'revenue')))
      ) AS `__seg_v0`
    FROM (
      SELECT
        *
      FROM `events` AS `t1`
      WHERE
        `t1`.`customer_id` IS NOT NULL
        AND `t1`.`ts` IS NOT NULL
        AND `t1`.`ts` >= CAST('2024-12-01T04:00:00' AS TIMESTAMP)
        AND `t1`.`ts` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
        AND `t1`.`event` IN ('Order Completed')
        AND COALESCE(
          CAST(GET_JSON_OBJECT(`t1`.`properties`, FORMAT_STRING('$.%s', 'category')) AS STRING) <> 'gift card',
          FALSE
        )
    ) AS `t7`
    GROUP BY
      1
  ) AS `t9`
    ON `t3`.`customer_id` = `t9`.`__seg_k0`
  LEFT OUTER JOIN (
    SELECT
      `t4`.`__seg_k1`,
      TRUE AS `__seg_v1`
    FROM (
      SELECT DISTINCT
        `t2`.`customer_id` AS `__seg_k1`
      FROM `tags` AS `t2`
      WHERE
        `t2`.`customer_id` IS NOT NULL AND `t2`.`tag` = 'do_not_contact'
    ) AS `t4`
  ) AS `t6`
    ON `t3`.`customer_id` = `t6`.`__seg_k1`
) AS `t10`
WHERE
  COALESCE(`t10`.`country` IN ('HK', 'MO'), FALSE)
  AND COALESCE(
    CAST(GET_JSON_OBJECT(`t10`.`traits`, FORMAT_STRING('$.%s', 'income_band')) AS STRING) = 'high',
    FALSE
  )
  AND COALESCE(COALESCE(`t10`.`__seg_v0`, 0) >= 5000.0, FALSE)
  AND COALESCE(
    `t10`.`consent_email`
    AND (
      (
        `t10`.`consent_email_at` IS NULL
      )
      OR (
        `t10`.`consent_email_at` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
      )
    ),
    FALSE
  )
  AND NOT (
    COALESCE(`t10`.`__seg_v1`, FALSE)
  )
