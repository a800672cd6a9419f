"""A run writes only the changes (closed rows, new rows, tag changes), on DuckDB with UPDATE /
INSERT / DELETE and on other engines by rewriting the table: both give the same history."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from segmint import segments
from segmint.schema import TABLES
from segmint.workspace import Workspace

SEG = {"owner": "crm", "reviewed_on": "2026-01-01", "title_zh_hant": "測試"}


def seg(slug: str, where: dict, **extra) -> dict:
    return {"slug": slug, "title_en": slug, **SEG, "where": where, **extra}


RECENT = {"ordered": "completed", "within_last": {"days": 30}}
DEFS = [
    {
        "segments": [
            seg("recent", RECENT, tags_add=["buyer", "fan"]),
            seg("two_orders", {"ordered": "completed", "value": 2}),
            # after 'recent' in definition order: takes the tag 'fan' again from its members
            seg("no_fans", RECENT, tags_remove=["fan"]),
        ]
    },
    {
        "exclusive": True,
        "priorities": ["gold", "silver"],
        "segments": [
            seg("silver", RECENT),
            seg("gold", {"ordered": "completed", "value": 2, "within_last": {"days": 30}}),
        ],
    },
]


def order(oid: str, cid: str, ts: str) -> dict:
    return {"order_id": oid, "customer_id": cid, "ts": datetime.fromisoformat(ts),
            "amount": 10.0, "status": "completed", "discount": 0.0}  # fmt: skip


def put(ws: Workspace, table: str, rows: list[dict]) -> None:
    ws.con.insert(table, pa.Table.from_pylist(rows, schema=TABLES[table].to_pyarrow()))


class _Rewrite(segments._Stage):
    """The path of engines without UPDATE/DELETE (PySpark), taken on DuckDB."""

    def __init__(self, con) -> None:
        super().__init__(con)
        self.fast = False


@pytest.fixture(params=["duckdb", "rewrite"])
def ws(request, tmp_path, monkeypatch):
    if request.param == "rewrite":
        monkeypatch.setattr(segments, "_Stage", _Rewrite)
    w = Workspace.create(tmp_path / "ws", default_region="HK")
    put(w, "profiles", [{"customer_id": c} for c in ("a", "b", "c")])
    put(w, "tags", [{"customer_id": "c", "tag": "fan", "source": "manual",
                     "added_at": datetime(2025, 1, 1)}])  # fmt: skip
    yield w
    w.close()


def history(ws: Workspace) -> list[tuple]:
    rows = ws.table("segment_membership").to_pyarrow().to_pylist()
    return sorted((r["segment"], r["customer_id"], r["entered_at"], r["exited_at"]) for r in rows)


def tags(ws: Workspace) -> set[tuple]:
    rows = ws.table("tags").to_pyarrow().to_pylist()
    return {(r["tag"], r["customer_id"], r["source"]) for r in rows}


def test_runs_close_and_insert_rows_and_apply_tags_in_order(ws):
    jan16, jan21 = datetime(2026, 1, 16), datetime(2026, 1, 21)
    mar2, mar11 = datetime(2026, 3, 2), datetime(2026, 3, 11)
    put(ws, "orders", [order("a1", "a", "2026-01-10T08:00:00"),
                       order("b1", "b", "2026-01-12T08:00:00"),
                       order("b2", "b", "2026-01-13T08:00:00")])  # fmt: skip
    r = ws.segments_run(defs=DEFS, as_of="2026-01-15")
    assert r.entered == {"recent": 2, "no_fans": 2, "silver": 1, "gold": 1, "two_orders": 1}
    assert r.exited == {} and r.tagged == {"buyer": 2, "fan": 2} and r.untagged == {"fan": 2}
    # 'fan' given by 'recent' and taken by 'no_fans' in the same run; c's manual tag stays
    assert tags(ws) == {("buyer", "a", "segment:recent"), ("buyer", "b", "segment:recent"),
                        ("fan", "c", "manual")}  # fmt: skip

    before = history(ws)
    r = ws.segments_run(defs=DEFS, as_of="2026-01-20")  # no member changes: no history row
    assert (r.entered, r.exited) == ({}, {}) and history(ws) == before
    assert r.tagged == {"fan": 2} == r.untagged  # auto-tags apply on every run

    put(ws, "orders", [order("a2", "a", "2026-01-20T09:00:00")])
    r = ws.segments_run(defs=DEFS, as_of="2026-01-20T12:00:00")  # a moves silver → gold
    assert (r.entered, r.exited) == ({"gold": 1, "two_orders": 1}, {"silver": 1})
    assert r.members == {"recent": 2, "two_orders": 2, "no_fans": 2, "gold": 2, "silver": 0}

    ws.segments_run(defs=DEFS, as_of="2026-03-01")  # 30 days passed: everyone leaves
    put(ws, "orders", [order("a3", "a", "2026-03-05T08:00:00")])
    ws.segments_run(defs=DEFS, as_of="2026-03-10")  # a comes back: a second row
    noon = datetime(2026, 1, 20, 12)
    assert history(ws) == [
        ("gold", "a", noon, mar2),
        ("gold", "b", jan16, mar2),
        ("no_fans", "a", jan16, mar2),
        ("no_fans", "a", mar11, None),
        ("no_fans", "b", jan16, mar2),
        ("recent", "a", jan16, mar2),
        ("recent", "a", mar11, None),
        ("recent", "b", jan16, mar2),
        ("silver", "a", jan16, noon),
        ("silver", "a", mar11, None),
        ("two_orders", "a", noon, None),
        ("two_orders", "b", jan16, None),
    ]
    assert jan21 not in {r[2] for r in history(ws)}  # the no-change run left no trace
    # no temporary tables are left behind
    assert not [t for t in ws.con.list_tables() if t.startswith("_segmint_run")]


def test_a_failed_run_writes_nothing(ws, monkeypatch):
    put(ws, "orders", [order("a1", "a", "2026-01-10T08:00:00")])
    ws.segments_run(defs=DEFS, as_of="2026-01-15")
    before, tags_before = history(ws), tags(ws)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(segments, "_auto_tags", broken)  # fails after the membership writes
    put(ws, "orders", [order("b1", "b", "2026-01-16T08:00:00")])
    with pytest.raises(RuntimeError, match="disk full"):
        ws.segments_run(defs=DEFS, as_of="2026-03-01")
    assert history(ws) == before and tags(ws) == tags_before
