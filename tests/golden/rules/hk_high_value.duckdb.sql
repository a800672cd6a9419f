WITH "t6" AS (
  SELECT
    "t0"."customer_id"
  FROM "profiles" AS "t0"
  WHERE
    COALESCE("t0"."country" IN ('HK', 'MO'), FALSE)
    AND COALESCE(
      CASE
        WHEN JSON_TYPE(TRY_CAST("t0"."traits" AS JSON) -> '$.income_band') = 'VARCHAR'
        THEN (
          TRY_CAST("t0"."traits" AS JSON) -> '$.income_band'
        ) ->> '$'
        ELSE NULL
      END = 'high',
      FALSE
    )
    AND COALESCE(
      "t0"."consent_email"
      AND (
        (
          "t0"."consent_email_at" IS NULL
        )
        OR (
          "t0"."consent_email_at" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
        )
      ),
      FALSE
    )
)
SELECT
  "t16"."customer_id"
FROM (
  SELECT
    "t7"."customer_id",
    "t7"."first_name",
    "t7"."last_name",
    "t7"."name",
    "t7"."email",
    "t7"."phone",
    "t7"."gender",
    "t7"."birth_date",
    "t7"."country",
    "t7"."region",
    "t7"."city",
    "t7"."language",
    "t7"."company",
    "t7"."industry",
    "t7"."company_size",
    "t7"."annual_revenue",
    "t7"."created_at",
    "t7"."consent_whatsapp",
    "t7"."consent_whatsapp_at",
    "t7"."consent_email",
    "t7"."consent_email_at",
    "t7"."consent_sms",
    "t7"."consent_sms_at",
    "t7"."traits",
    "t7"."updated_at",
    "t15"."__seg_f0",
    "t15"."__seg_v0",
    "t12"."__seg_f1",
    "t12"."__seg_v1"
  FROM (
    SELECT
      *
    FROM "profiles" AS "t0"
    WHERE
      COALESCE("t0"."country" IN ('HK', 'MO'), FALSE)
      AND COALESCE(
        CASE
          WHEN JSON_TYPE(TRY_CAST("t0"."traits" AS JSON) -> '$.income_band') = 'VARCHAR'
          THEN (
            TRY_CAST("t0"."traits" AS JSON) -> '$.income_band'
          ) ->> '$'
          ELSE NULL
        END = 'high',
        FALSE
      )
      AND COALESCE(
        "t0"."consent_email"
        AND (
          (
            "t0"."consent_email_at" IS NULL
          )
          OR (
            "t0"."consent_email_at" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
          )
        ),
        FALSE
      )
  ) AS "t7"
  LEFT OUTER JOIN (
    SELECT
      "t13"."customer_id" AS "__seg_f0",
      SUM(
        CASE
          WHEN CASE
            WHEN (
              "t13"."ts" IS NOT NULL
            )
            AND (
              (
                "t13"."ts" >= MAKE_TIMESTAMP(2024, 12, 1, 4, 0, 0.0)
              )
              AND (
                "t13"."ts" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
              )
            )
            THEN COALESCE("t13"."__seg_j0" <> 'gift card', FALSE)
            ELSE FALSE
          END
          THEN "t13"."__seg_j1"
          ELSE CAST(NULL AS DOUBLE)
        END
      ) AS "__seg_v0"
    FROM (
      SELECT
        "t10"."message_id",
        "t10"."customer_id",
        "t10"."anonymous_id",
        "t10"."type",
        "t10"."event",
        "t10"."ts",
        "t10"."properties",
        "t10"."channel",
        "t10"."source",
        CASE
          WHEN JSON_TYPE(TRY_CAST("t10"."properties" AS JSON) -> '$.category') = 'VARCHAR'
          THEN (
            TRY_CAST("t10"."properties" AS JSON) -> '$.category'
          ) ->> '$'
          ELSE NULL
        END AS "__seg_j0",
        CASE
          WHEN JSON_TYPE(TRY_CAST("t10"."properties" AS JSON) -> '$.revenue') IN ('UBIGINT', 'BIGINT', 'DOUBLE')
          THEN CAST(TRY_CAST("t10"."properties" AS JSON) -> '$.revenue' AS DOUBLE)
          ELSE NULL
        END AS "__seg_j1"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            *
          FROM "events" AS "t2"
          WHERE
            "t2"."customer_id" IS NOT NULL
            AND "t2"."ts" IS NOT NULL
            AND "t2"."ts" >= MAKE_TIMESTAMP(2024, 12, 1, 4, 0, 0.0)
            AND "t2"."ts" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
            AND "t2"."event" IN ('Order Completed')
        ) AS "t4"
        WHERE
          "t4"."customer_id" IN (
            SELECT
              *
            FROM "t6"
          )
      ) AS "t10"
    ) AS "t13"
    GROUP BY
      1
  ) AS "t15"
    ON "t7"."customer_id" = "t15"."__seg_f0"
  LEFT OUTER JOIN (
    SELECT
      "t9"."customer_id" AS "__seg_f1",
      BOOL_OR("t9"."tag" = 'do_not_contact') AS "__seg_v1"
    FROM (
      SELECT
        *
      FROM (
        SELECT
          *
        FROM "tags" AS "t1"
        WHERE
          "t1"."customer_id" IS NOT NULL AND "t1"."tag" IN ('do_not_contact')
      ) AS "t3"
      WHERE
        "t3"."customer_id" IN (
          SELECT
            *
          FROM "t6"
        )
    ) AS "t9"
    GROUP BY
      1
  ) AS "t12"
    ON "t7"."customer_id" = "t12"."__seg_f1"
) AS "t16"
WHERE
  COALESCE("t16"."country" IN ('HK', 'MO'), FALSE)
  AND COALESCE(
    CASE
      WHEN JSON_TYPE(TRY_CAST("t16"."traits" AS JSON) -> '$.income_band') = 'VARCHAR'
      THEN (
        TRY_CAST("t16"."traits" AS JSON) -> '$.income_band'
      ) ->> '$'
      ELSE NULL
    END = 'high',
    FALSE
  )
  AND COALESCE(COALESCE("t16"."__seg_v0", 0) >= 5000.0, FALSE)
  AND COALESCE(
    "t16"."consent_email"
    AND (
      (
        "t16"."consent_email_at" IS NULL
      )
      OR (
        "t16"."consent_email_at" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
      )
    ),
    FALSE
  )
  AND NOT (
    COALESCE("t16"."__seg_v1", FALSE)
  )
