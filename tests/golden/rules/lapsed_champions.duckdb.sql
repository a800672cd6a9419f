SELECT
  "t10"."customer_id"
FROM (
  SELECT
    "t3"."customer_id",
    "t3"."first_name",
    "t3"."last_name",
    "t3"."name",
    "t3"."email",
    "t3"."phone",
    "t3"."gender",
    "t3"."birth_date",
    "t3"."country",
    "t3"."region",
    "t3"."city",
    "t3"."language",
    "t3"."company",
    "t3"."industry",
    "t3"."company_size",
    "t3"."annual_revenue",
    "t3"."created_at",
    "t3"."consent_whatsapp",
    "t3"."consent_whatsapp_at",
    "t3"."consent_email",
    "t3"."consent_email_at",
    "t3"."consent_sms",
    "t3"."consent_sms_at",
    "t3"."traits",
    "t3"."updated_at",
    "t7"."__seg_f0",
    "t7"."__seg_v0",
    "t9"."__seg_f1",
    "t9"."__seg_v1",
    "t9"."__seg_v2"
  FROM "profiles" AS "t3"
  LEFT OUTER JOIN (
    SELECT
      "t4"."customer_id" AS "__seg_f0",
      BOOL_OR(COALESCE("t4"."segment" IN ('Champions', 'Loyal'), FALSE)) AS "__seg_v0"
    FROM (
      SELECT
        *
      FROM "rfm" AS "t1"
      WHERE
        "t1"."customer_id" IS NOT NULL
    ) AS "t4"
    GROUP BY
      1
  ) AS "t7"
    ON "t3"."customer_id" = "t7"."__seg_f0"
  LEFT OUTER JOIN (
    SELECT
      "t5"."customer_id" AS "__seg_f1",
      COUNT("t5"."customer_id") FILTER(WHERE
        (
          "t5"."ts" IS NOT NULL
        )
        AND (
          "t5"."ts" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
        )) AS "__seg_v1",
      COUNT("t5"."customer_id") FILTER(WHERE
        (
          "t5"."ts" IS NOT NULL
        )
        AND (
          (
            "t5"."ts" >= MAKE_TIMESTAMP(2024, 9, 2, 4, 0, 0.0)
          )
          AND (
            "t5"."ts" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
          )
        )) AS "__seg_v2"
    FROM (
      SELECT
        *
      FROM "orders" AS "t2"
      WHERE
        "t2"."customer_id" IS NOT NULL
        AND "t2"."ts" IS NOT NULL
        AND "t2"."ts" <= MAKE_TIMESTAMP(2025, 3, 1, 4, 0, 0.0)
        AND "t2"."status" IN ('completed')
    ) AS "t5"
    GROUP BY
      1
  ) AS "t9"
    ON "t3"."customer_id" = "t9"."__seg_f1"
) AS "t10"
WHERE
  COALESCE("t10"."__seg_v0", FALSE)
  AND COALESCE(COALESCE("t10"."__seg_v1", 0) >= 3.0, FALSE)
  AND NOT (
    COALESCE(COALESCE("t10"."__seg_v2", 0) >= 1.0, FALSE)
  )
  AND NOT (
    COALESCE(
      (
        EXTRACT(month FROM "t10"."birth_date") * 100
      ) + EXTRACT(day FROM "t10"."birth_date") IN (301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314, 315)
      AND (
        EXTRACT(year FROM "t10"."birth_date") < 2025
      ),
      FALSE
    )
    AND NOT (
      COALESCE(MD5('birthday-holdout:' || "t10"."customer_id") < '19999999', FALSE)
    )
  )
