"""explain(): for one customer, which conditions held and with what values."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from _rules_support import segment_data
from segmint.errors import NotFoundError
from segmint.rules import Rows, evaluate, explain, parse_specs, resolve

AS_OF = datetime(2025, 3, 1, 12)
ROWS = Rows(
    profiles=[
        {"customer_id": "c1", "country": "HK", "traits": json.dumps({"band": "high"})},
        {"customer_id": "c2", "country": "TW"},
    ],
    events=[
        {
            "customer_id": "c1",
            "event": "Order Completed",
            "ts": datetime(2025, 2, 27),
            "properties": json.dumps({"revenue": 30}),
        },
        {
            "customer_id": "c1",
            "event": "Order Completed",
            "ts": datetime(2025, 2, 28),
            "properties": json.dumps({"revenue": 20}),
        },
    ],
    tags=[{"customer_id": "c2", "tag": "vip"}],
)
WHERE = {
    "all": [
        {"any": [{"field": "country", "op": "eq", "value": "HK"}, {"in_segment": "vip"}]},
        {
            "performed": "Order Completed",
            "within_last": {"days": 7},
            "measure": "sum",
            "of": "properties.revenue",
            "op": "gte",
            "value": 40,
        },
        {"not": {"field": "traits.band", "op": "eq", "value": "low"}},
    ]
}


@pytest.fixture(scope="module")
def segment():
    data = {"segments": [segment_data("buyers", WHERE), segment_data("vip", {"tag": "vip"})]}
    return resolve(parse_specs(data))["buyers"]


def test_explain_member(segment) -> None:
    e = explain(segment, ROWS, "c1", AS_OF)
    assert e.result is True
    text = e.render()
    assert "✓ country eq 'HK'  (seen: 'HK')" in text
    assert (
        "performed 'Order Completed' in the last 7 days: sum of properties.revenue gte 40" in text
    )
    assert "(seen: 50)" in text
    assert "✓ not" in text and "✗ traits.band eq 'low'  (seen: 'high')" in text


def test_explain_non_member_shows_the_failing_leaf(segment) -> None:
    e = explain(segment, ROWS, "c2", AS_OF)
    assert e.result is False
    performed = e.children[0].children[1]
    assert performed.result is False and performed.seen is None  # no events: sum is missing
    assert performed.pointer == "/segments/0/where/all/1"
    vip = e.children[0].children[0].children[1]
    assert vip.label == "in segment vip" and vip.result is True
    assert vip.children[0].seen == ["vip"]


def test_explain_agrees_with_evaluate(segment) -> None:
    members = evaluate(segment, ROWS, AS_OF)
    for cid in ("c1", "c2"):
        assert explain(segment, ROWS, cid, AS_OF).result == (cid in members)
    assert explain(segment, ROWS, "c1", AS_OF).to_dict()["children"][0]["label"] == "all of"


def test_explain_unknown_customer(segment) -> None:
    with pytest.raises(NotFoundError, match="no profile for customer 'zz'"):
        explain(segment, ROWS, "zz", AS_OF)
