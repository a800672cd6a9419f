SELECT
  `t11`.`customer_id`
FROM (
  SELECT
    `t2`.`customer_id`,
    `t2`.`first_name`,
    `t2`.`last_name`,
    `t2`.`name`,
    `t2`.`email`,
    `t2`.`phone`,
    `t2`.`gender`,
    `t2`.`birth_date`,
    `t2`.`country`,
    `t2`.`region`,
    `t2`.`city`,
    `t2`.`language`,
    `t2`.`company`,
    `t2`.`industry`,
    `t2`.`company_size`,
    `t2`.`annual_revenue`,
    `t2`.`created_at`,
    `t2`.`consent_whatsapp`,
    `t2`.`consent_whatsapp_at`,
    `t2`.`consent_email`,
    `t2`.`consent_email_at`,
    `t2`.`consent_sms`,
    `t2`.`consent_sms_at`,
    `t2`.`traits`,
    `t2`.`updated_at`,
    `t10`.`__seg_k0`,
    `t10`.`__seg_v0`
  FROM `profiles` AS `t2`
  LEFT OUTER JOIN (
    SELECT
      `t8`.`__seg_k0`,
      TRUE AS `__seg_v0`
    FROM (
      SELECT DISTINCT
        *
      FROM (
        SELECT
          `t5`.`__seg_k0`
        FROM (
          SELECT
            `t1`.`customer_id` AS `__seg_k0`,
            `t1`.`ts` AS `seg_ta`
          FROM `events` AS `t1`
          WHERE
            `t1`.`customer_id` IS NOT NULL
            AND `t1`.`ts` IS NOT NULL
            AND `t1`.`ts` >= CAST('2025-02-22T04:00:00' AS TIMESTAMP)
            AND `t1`.`ts` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
            AND `t1`.`ts` <= CAST('2025-02-28T04:00:00' AS TIMESTAMP)
            AND `t1`.`event` IN ('Checkout Started', 'Product Added')
        ) AS `t5`
        LEFT ANTI JOIN (
          SELECT
            `t1`.`customer_id` AS `seg_kb`,
            `t1`.`ts` AS `seg_tb`
          FROM `events` AS `t1`
          WHERE
            `t1`.`customer_id` IS NOT NULL
            AND `t1`.`ts` IS NOT NULL
            AND `t1`.`ts` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
            AND `t1`.`ts` >= CAST('2025-02-22T04:00:00' AS TIMESTAMP)
            AND `t1`.`event` IN ('Order Completed')
        ) AS `t6`
          ON `t5`.`__seg_k0` = `t6`.`seg_kb`
          AND `t6`.`seg_tb` >= `t5`.`seg_ta`
          AND `t6`.`seg_tb` <= (
            `t5`.`seg_ta` + INTERVAL '86400' SECOND
          )
      ) AS `t7`
    ) AS `t8`
  ) AS `t10`
    ON `t2`.`customer_id` = `t10`.`__seg_k0`
) AS `t11`
WHERE
  COALESCE(`t11`.`__seg_v0`, FALSE)
