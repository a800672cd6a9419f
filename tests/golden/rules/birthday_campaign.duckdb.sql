SELECT
  "t0"."customer_id"
FROM "profiles" AS "t0"
WHERE
  COALESCE(
    (
      EXTRACT(month FROM "t0"."birth_date") * 100
    ) + EXTRACT(day FROM "t0"."birth_date") IN (301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314, 315)
    AND (
      EXTRACT(year FROM "t0"."birth_date") < 2025
    ),
    FALSE
  )
  AND NOT (
    COALESCE(MD5('birthday-holdout:' || "t0"."customer_id") < '19999999', FALSE)
  )
