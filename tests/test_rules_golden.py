"""Golden SQL of representative segments, per dialect (DuckDB and Spark).

A change in the SQL a segment compiles to must be deliberate. Regenerate the files on purpose:

    SEGMINT_REGEN_GOLDEN=1 python -m pytest tests/test_rules_golden.py
"""

from __future__ import annotations

import os
from datetime import datetime

import ibis
import pytest

from _rules_support import GOLDEN
from segmint.rules import Tables, compile_segment, load_specs, resolve
from segmint.schema import TABLES

REGEN = os.environ.get("SEGMINT_REGEN_GOLDEN") == "1"
AS_OF = datetime(2025, 3, 1, 4, 0, 0)
TIMEZONE = "Asia/Hong_Kong"
RFM = ibis.schema({"customer_id": "string", "segment": "string", "score": "int64"})
SLUGS = ["abandoned_cart", "hk_high_value", "birthday_campaign", "lapsed_champions"]
DIALECTS = ["duckdb", "pyspark"]


def _tables(engine: str) -> Tables:
    def t(name: str) -> ibis.Table:
        return ibis.table(TABLES[name], name=name)

    return Tables(
        profiles=t("profiles"),
        events=t("events"),
        orders=t("orders"),
        tags=t("tags"),
        metrics={"rfm": ibis.table(RFM, name="rfm")},
        engine=engine,
    )


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("slug", SLUGS)
def test_golden_sql(slug: str, dialect: str) -> None:
    if dialect == "pyspark":
        pytest.importorskip("pyspark")
        assert ibis.pyspark.name == "pyspark"  # loading the backend registers its options

    tables = _tables(dialect)
    resolved = resolve(load_specs(GOLDEN / "segments.yaml"), tables.catalog())
    expr = compile_segment(resolved[slug], tables, AS_OF, timezone=TIMEZONE)
    sql = ibis.to_sql(expr, dialect=dialect).strip() + "\n"
    path = GOLDEN / f"{slug}.{dialect}.sql"
    if REGEN:
        path.write_text(sql, encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with SEGMINT_REGEN_GOLDEN=1 to create it"
    assert sql == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the compiled SQL. If the change is intended, regenerate with "
        "SEGMINT_REGEN_GOLDEN=1 python -m pytest tests/test_rules_golden.py and review the diff."
    )


def test_golden_sql_runs_on_duckdb() -> None:
    """The DuckDB golden SQL is valid: it runs on empty canonical tables."""
    from segmint.connect import connect

    con = connect()
    for name in ("profiles", "events", "orders", "tags"):
        con.create_table(name, schema=TABLES[name])
    con.create_table("rfm", schema=RFM)
    for slug in SLUGS:
        sql = (GOLDEN / f"{slug}.duckdb.sql").read_text(encoding="utf-8")
        assert con.sql(sql).count().execute() == 0
