"""Shared helpers for the segment-engine tests (tests/test_rules_*.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis

from segmint.connect import connect
from segmint.rules import Rows, Tables, compile_segment, evaluate, parse_specs, resolve

HERE = Path(__file__).resolve().parent
CASES = HERE / "rules_cases"
GOLDEN = HERE / "golden" / "rules"
ROOT = HERE.parent

BASE = {
    "title_en": "Test",
    "title_zh_hant": "測試",
    "owner": "tests",
    "reviewed_on": "2025-01-15",
}

_con = None


def duckdb_con():
    """One in-memory DuckDB connection per test process."""
    global _con
    if _con is None:
        _con = connect()
    return _con


def segment_data(slug: str, where: Any, **extra: Any) -> dict:
    return {"slug": slug, **BASE, "where": where, **extra}


def _json_text(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, Mapping | list) else value


def rows_from_given(given: Mapping[str, Any]) -> Rows:
    """Rows from a YAML ``given:`` block; JSON columns may be written as mappings."""

    def table(name: str, json_col: str | None = None) -> list[dict]:
        out = []
        for r in given.get(name) or []:
            r = dict(r)
            if json_col and json_col in r:
                r[json_col] = _json_text(r[json_col])
            out.append(r)
        return out

    return Rows(
        profiles=table("profiles", "traits"),
        events=table("events", "properties"),
        orders=table("orders"),
        tags=table("tags"),
        metrics={k: [dict(r) for r in v] for k, v in (given.get("metrics") or {}).items()},
    )


def members(expr: ibis.Table) -> set[str]:
    return set(duckdb_con().to_pyarrow(expr).column("customer_id").to_pylist())


def engine_and_reference(
    where: Any,
    rows: Rows,
    as_of: datetime,
    *,
    timezone: str = "UTC",
    helpers: list[dict] | None = None,
    event_names: Any = None,
) -> tuple[set[str], set[str]]:
    """(DuckDB result, reference result) for one condition, with helper segments around it."""
    tables = Tables.from_rows(rows)
    data = {"segments": [segment_data("case", where), *(helpers or [])]}
    resolved = resolve(parse_specs(data), tables.catalog(event_names=event_names))
    seg = resolved["case"]
    got = members(compile_segment(seg, tables, as_of, timezone=timezone))
    ref = evaluate(seg, rows, as_of, timezone=timezone)
    return got, ref
