"""Given these rows, expect these members: YAML cases under tests/rules_cases/ (one per leaf type).

Every case runs twice — compiled by ibis on DuckDB and by the plain-Python reference evaluator —
and both must give exactly the expected customers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from _rules_support import CASES, engine_and_reference, rows_from_given, segment_data

CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if p.name != "malformed.yaml")


def _cases() -> list:
    out = []
    for path in CASE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            out.append(pytest.param(path, doc, case, id=f"{path.stem}: {case['name']}"))
    return out


@pytest.mark.parametrize(("path", "doc", "case"), _cases())
def test_case(path: Path, doc: dict, case: dict) -> None:
    rows = rows_from_given(doc["given"])
    as_of = case.get("as_of", doc["as_of"])
    assert isinstance(as_of, datetime), f"{path.name}: as_of must be a timestamp"
    timezone = case.get("timezone", doc.get("timezone", "UTC"))
    helpers = [segment_data(h["slug"], h["where"]) for h in doc.get("segments", [])]
    got, ref = engine_and_reference(case["where"], rows, as_of, timezone=timezone, helpers=helpers)
    expect = {str(x) for x in case["expect"]}
    assert ref == expect, f"reference evaluator: {sorted(ref)} != expected {sorted(expect)}"
    assert got == expect, f"DuckDB: {sorted(got)} != expected {sorted(expect)}"


def test_every_leaf_kind_has_cases() -> None:
    """The given/expect corpus covers every kind of condition."""
    from segmint.rules.spec import CONDITION_KEYS

    seen: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, dict):
            seen.update(k for k in node if k in CONDITION_KEYS)
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    for path in CASE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        visit([c["where"] for c in doc["cases"]])
        visit([s["where"] for s in doc.get("segments", [])])
    assert set(CONDITION_KEYS) <= seen, f"no cases for {set(CONDITION_KEYS) - seen}"
