WITH `t6` AS (
  SELECT
    `t0`.`customer_id`
  FROM `profiles` AS `t0`
  WHERE
    COALESCE(`t0`.`country` IN ('HK', 'MO'), FALSE)
    AND COALESCE(
      CAST(GET_JSON_OBJECT(`t0`.`traits`, FORMAT_STRING('$.%s', 'income_band')) AS STRING) = 'high',
      FALSE
    )
    AND COALESCE(
      `t0`.`consent_email`
      AND (
        (
          `t0`.`consent_email_at` IS NULL
        )
        OR (
          `t0`.`consent_email_at` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
        )
      ),
      FALSE
    )
)
SELECT
  `t16`.`customer_id`
FROM (
  SELECT
    `t7`.`customer_id`,
    `t7`.`first_name`,
    `t7`.`last_name`,
    `t7`.`name`,
    `t7`.`email`,
    `t7`.`phone`,
    `t7`.`gender`,
    `t7`.`birth_date`,
    `t7`.`country`,
    `t7`.`region`,
    `t7`.`city`,
    `t7`.`language`,
    `t7`.`company`,
    `t7`.`industry`,
    `t7`.`company_size`,
    `t7`.`annual_revenue`,
    `t7`.`created_at`,
    `t7`.`consent_whatsapp`,
    `t7`.`consent_whatsapp_at`,
    `t7`.`consent_email`,
    `t7`.`consent_email_at`,
    `t7`.`consent_sms`,
    `t7`.`consent_sms_at`,
    `t7`.`traits`,
    `t7`.`updated_at`,
    `t15`.`__seg_f0`,
    `t15`.`__seg_v0`,
    `t12`.`__seg_f1`,
    `t12`.`__seg_v1`
  FROM (
    SELECT
      *
    FROM `profiles` AS `t0`
    WHERE
      COALESCE(`t0`.`country` IN ('HK', 'MO'), FALSE)
      AND COALESCE(
        CAST(GET_JSON_OBJECT(`t0`.`traits`, FORMAT_STRING('$.%s', 'income_band')) AS STRING) = 'high',
        FALSE
      )
      AND COALESCE(
        `t0`.`consent_email`
        AND (
          (
            `t0`.`consent_email_at` IS NULL
          )
          OR (
            `t0`.`consent_email_at` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
          )
        ),
        FALSE
      )
  ) AS `t7`
  LEFT OUTER JOIN (
    SELECT
      `t13`.`customer_id` AS `__seg_f0`,
      SUM(
        IF(
          IF(
            (
              `t13`.`ts` IS NOT NULL
            )
            AND (
              (
                `t13`.`ts` >= CAST('2024-12-01T04:00:00' AS TIMESTAMP)
              )
              AND (
                `t13`.`ts` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
              )
            ),
            COALESCE(`t13`.`__seg_j0` <> 'gift card', FALSE),
            FALSE
          ),
          `t13`.`__seg_j1`,
          CAST(NULL AS DOUBLE)
        )
      ) AS `__seg_v0`
    FROM (
      SELECT
        `t10`.`message_id`,
        `t10`.`customer_id`,
        `t10`.`anonymous_id`,
        `t10`.`type`,
        `t10`.`event`,
        `t10`.`ts`,
        `t10`.`properties`,
        `t10`.`channel`,
        `t10`.`source`,
        CAST(GET_JSON_OBJECT(`t10`.`properties`, FORMAT_STRING('$.%s', 'category')) AS STRING) AS `__seg_j0`,
        UNWRAP_JSON_FLOAT(GET_JSON_OBJECT(`t10`.`properties`, FORMAT_STRING('$.%s', 'revenue'))) AS `__seg_j1`
      FROM (
        SELECT
          *
        FROM (
          SELECT
            *
          FROM `events` AS `t2`
          WHERE
            `t2`.`customer_id` IS NOT NULL
            AND `t2`.`ts` IS NOT NULL
            AND `t2`.`ts` >= CAST('2024-12-01T04:00:00' AS TIMESTAMP)
            AND `t2`.`ts` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
            AND `t2`.`event` IN ('Order Completed')
        ) AS `t4`
        WHERE
          `t4`.`customer_id` IN (
            SELECT
              *
            FROM `t6`
          )
      ) AS `t10`
    ) AS `t13`
    GROUP BY
      1
  ) AS `t15`
    ON `t7`.`customer_id` = `t15`.`__seg_f0`
  LEFT OUTER JOIN (
    SELECT
      `t9`.`customer_id` AS `__seg_f1`,
      BOOL_OR(`t9`.`tag` = 'do_not_contact') AS `__seg_v1`
    FROM (
      SELECT
        *
      FROM (
        SELECT
          *
        FROM `tags` AS `t1`
        WHERE
          `t1`.`customer_id` IS NOT NULL AND `t1`.`tag` IN ('do_not_contact')
      ) AS `t3`
      WHERE
        `t3`.`customer_id` IN (
          SELECT
            *
          FROM `t6`
        )
    ) AS `t9`
    GROUP BY
      1
  ) AS `t12`
    ON `t7`.`customer_id` = `t12`.`__seg_f1`
) AS `t16`
WHERE
  COALESCE(`t16`.`country` IN ('HK', 'MO'), FALSE)
  AND COALESCE(
    CAST(GET_JSON_OBJECT(`t16`.`traits`, FORMAT_STRING('$.%s', 'income_band')) AS STRING) = 'high',
    FALSE
  )
  AND COALESCE(COALESCE(`t16`.`__seg_v0`, 0) >= 5000.0, FALSE)
  AND COALESCE(
    `t16`.`consent_email`
    AND (
      (
        `t16`.`consent_email_at` IS NULL
      )
      OR (
        `t16`.`consent_email_at` <= CAST('2025-03-01T04:00:00' AS TIMESTAMP)
      )
    ),
    FALSE
  )
  AND NOT (
    COALESCE(`t16`.`__seg_v1`, FALSE)
  )
