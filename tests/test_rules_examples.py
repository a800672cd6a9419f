"""The example definition files and every YAML block of docs/segments.md load, resolve and run."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
import yaml

from _rules_support import ROOT, duckdb_con, members, segment_data
from segmint.rules import (
    Rows,
    Tables,
    compile_segment,
    compile_set,
    evaluate,
    evaluate_set,
    load_specs,
    parse_specs,
    resolve,
)
from segmint.rules.spec import CONDITION_KEYS

EXAMPLES = ROOT / "examples" / "segments"
DOC = ROOT / "docs" / "segments.md"
AS_OF = datetime(2025, 3, 1, 4, 0)


def _rows() -> Rows:
    traits = json.dumps({"interests": ["yoga"], "income_band": "high"})
    return Rows(
        profiles=[
            {
                "customer_id": "a",
                "country": "HK",
                "consent_email": True,
                "consent_whatsapp": True,
                "birth_date": date(1990, 3, 10),
                "created_at": datetime(2023, 3, 2),
                "traits": traits,
            },
            {
                "customer_id": "b",
                "country": "TW",
                "consent_email": True,
                "created_at": datetime(2025, 2, 20),
            },
            {"customer_id": "c", "country": "HK", "traits": "{}"},
        ],
        events=[
            {"customer_id": "a", "event": "Checkout Started", "ts": datetime(2025, 2, 26, 10)},
            {
                "customer_id": "b",
                "event": "Product Viewed",
                "ts": datetime(2025, 2, 28, 9),
                "properties": json.dumps({"category": "yoga"}),
            },
            {"customer_id": "c", "event": "Order Completed", "ts": datetime(2025, 2, 27)},
        ],
        orders=[
            {
                "order_id": "1",
                "customer_id": "a",
                "ts": datetime(2024, 5, 1),
                "amount": 9000.0,
                "discount": 5.0,
                "status": "completed",
            },
            {
                "order_id": "2",
                "customer_id": "a",
                "ts": datetime(2025, 2, 10),
                "amount": 1500.0,
                "discount": 10.0,
                "status": "completed",
            },
            {
                "order_id": "3",
                "customer_id": "c",
                "ts": datetime(2024, 1, 1),
                "amount": 50.0,
                "status": "completed",
            },
        ],
        tags=[{"customer_id": "c", "tag": "do_not_contact"}],
        metrics={
            "rfm": [
                {"customer_id": "a", "segment": "Champions", "score": 555},
                {"customer_id": "c", "segment": "At Risk", "score": 211},
            ]
        },
    )


def test_examples_load_resolve_and_run() -> None:
    rows = _rows()
    tables = Tables.from_rows(rows)
    sets = load_specs(EXAMPLES)
    assert {p.name for p in EXAMPLES.iterdir()} == {s.source.split("/")[-1] for s in sets}
    resolved = resolve(sets, tables.catalog())
    assert len(resolved) >= 15
    for seg in resolved:
        got = members(compile_segment(seg, tables, AS_OF, timezone="Asia/Hong_Kong"))
        assert got == evaluate(seg, rows, AS_OF, timezone="Asia/Hong_Kong"), seg.slug
    for rset in resolved.sets:
        out = duckdb_con().to_pyarrow(compile_set(rset, tables, AS_OF, timezone="Asia/Hong_Kong"))
        pairs = set(zip(out["customer_id"].to_pylist(), out["segment"].to_pylist(), strict=True))
        assert pairs == evaluate_set(rset, rows, AS_OF, timezone="Asia/Hong_Kong")


def test_examples_give_the_expected_members() -> None:
    """A few examples checked by hand against the rows above."""
    rows = _rows()
    tables = Tables.from_rows(rows)
    resolved = resolve(load_specs(EXAMPLES), tables.catalog())

    def run(slug: str) -> set[str]:
        return members(compile_segment(resolved[slug], tables, AS_OF, timezone="Asia/Hong_Kong"))

    assert run("abandoned_cart") == {"a"}
    assert run("browse_abandonment") == {"b"}
    assert run("repeat_buyers") == {"a"}
    assert run("big_spenders") == {"a"}
    assert run("lapsed_buyers") == {"c"}
    assert run("discount_seekers") == {"a"}
    assert run("yoga_lovers") == {"a"}
    assert run("hk_email_reachable") == {"a"}
    assert run("birthday_next_14_days") == {"a"}
    assert run("signup_anniversary_this_week") == {"a"}
    lifecycle = next(s for s in resolved.sets if s.exclusive)
    out = duckdb_con().to_pyarrow(compile_set(lifecycle, tables, AS_OF))
    assert dict(zip(out["customer_id"].to_pylist(), out["segment"].to_pylist(), strict=True)) == {
        "a": "champions",
        "b": "new_customers",
        "c": "at_risk",
    }


def _doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_doc_has_yaml_blocks() -> None:
    assert len(_doc_blocks()) >= 15


@pytest.mark.parametrize("block", _doc_blocks())
def test_doc_yaml_block_resolves(block: str) -> None:
    data = yaml.safe_load(block)
    catalog = Tables.from_rows(_rows()).catalog()
    if "segments" in data or "slug" in data:
        specs = parse_specs(data)
    else:
        assert set(data) & set(CONDITION_KEYS), f"not a condition: {block}"
        others = [segment_data("abandoned_cart", {"tag": "x"})]
        specs = parse_specs({"segments": [segment_data("doc", data), *others]})
    assert len(resolve(specs, catalog)) >= 1
