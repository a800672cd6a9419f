"""Segment runs record membership as history; diff reads it as a migration matrix."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from segmint import segments
from segmint.errors import NotFoundError, ValidationError
from segmint.schema import TABLES
from segmint.workspace import Workspace


def put(ws: Workspace, table: str, rows: list[dict]) -> None:
    ws.con.insert(table, pa.Table.from_pylist(rows, schema=TABLES[table].to_pyarrow()))


def order(oid: str, cid: str, ts: str, amount: float = 100.0) -> dict:
    return {
        "order_id": oid,
        "customer_id": cid,
        "ts": datetime.fromisoformat(ts),
        "amount": amount,
        "status": "completed",
        "discount": 0.0,
    }


SEG = {"owner": "crm", "reviewed_on": "2026-01-01"}
RECENT = {
    "slug": "recent",
    "title_en": "Recent",
    "title_zh_hant": "近期",
    **SEG,
    "where": {"ordered": "completed", "within_last": {"days": 30}},
}
TIERS = {
    "exclusive": True,
    "priorities": ["gold", "silver"],
    "segments": [
        {
            "slug": "silver",
            "title_en": "Silver",
            "title_zh_hant": "銀",
            **SEG,
            "where": {"ordered": "completed", "within_last": {"days": 30}},
        },
        {
            "slug": "gold",
            "title_en": "Gold",
            "title_zh_hant": "金",
            **SEG,
            "where": {"ordered": "completed", "value": 2, "within_last": {"days": 30}},
        },
    ],
}


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "ws", default_region="HK")
    put(w, "profiles", [{"customer_id": c, "country": "HK"} for c in ("a", "b", "c")])
    yield w
    w.close()


def history(ws: Workspace, segment: str | None = None) -> list[tuple]:
    h = ws.table("segment_membership").to_pyarrow().to_pylist()
    rows = [(r["segment"], r["customer_id"], r["entered_at"], r["exited_at"]) for r in h]
    return sorted(r for r in rows if segment is None or r[0] == segment)


def test_enter_stay_exit_and_reenter_give_two_rows(ws):
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    r = ws.segments_run(defs=RECENT, as_of="2026-01-01")
    assert r.members == {"recent": 0} and history(ws) == []

    r = ws.segments_run(defs=RECENT, as_of="2026-01-15")
    jan16 = datetime(2026, 1, 16)
    assert (r.members, r.entered, r.exited) == ({"recent": 1}, {"recent": 1}, {})
    assert history(ws) == [("recent", "a", jan16, None)]

    r = ws.segments_run(defs=RECENT, as_of="2026-01-20")  # stays: nothing written
    assert (r.entered, r.exited) == ({}, {})
    assert history(ws) == [("recent", "a", jan16, None)]

    r = ws.segments_run(defs=RECENT, as_of="2026-03-01")  # 30 days passed: exits
    assert r.exited == {"recent": 1} and r.members == {"recent": 0}
    assert history(ws) == [("recent", "a", jan16, datetime(2026, 3, 2))]

    put(ws, "orders", [order("o2", "a", "2026-03-05T08:00:00")])
    ws.segments_run(defs=RECENT, as_of="2026-03-10")  # re-enters: a second row
    assert history(ws) == [
        ("recent", "a", jan16, datetime(2026, 3, 2)),
        ("recent", "a", datetime(2026, 3, 11), None),
    ]


def test_a_run_older_than_history_is_refused_and_writes_nothing(ws):
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    ws.segments_run(defs=RECENT, as_of="2026-01-15")
    before = history(ws)
    with pytest.raises(ValidationError, match="must not be older"):
        ws.segments_run(defs=RECENT, as_of="2026-01-12")
    assert history(ws) == before


def test_segments_not_in_the_run_are_left_alone(ws):
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    ws.segments_run(defs=RECENT, as_of="2026-01-15")
    ws.segments_run(defs=TIERS, as_of="2026-03-01")  # 'recent' is not evaluated here
    assert history(ws, "recent") == [("recent", "a", datetime(2026, 1, 16), None)]


def test_exclusive_set_keeps_the_highest_priority_and_diff_counts_migrations(ws):
    put(
        ws,
        "orders",
        [
            order("a1", "a", "2026-01-05T10:00:00"),
            order("a2", "a", "2026-01-06T10:00:00"),
            order("b1", "b", "2026-01-05T10:00:00"),
            order("c1", "c", "2026-02-20T10:00:00"),
            order("c2", "c", "2026-02-21T10:00:00"),
            order("a3", "a", "2026-02-25T10:00:00"),
        ],
    )
    ws.segments_run(defs=TIERS, as_of="2026-01-10")  # a gold, b silver, c none
    ws.segments_run(defs=TIERS, as_of="2026-03-01")  # a silver, b none, c gold
    assert {(s, c) for s, c, _, x in history(ws) if x is None} == {("silver", "a"), ("gold", "c")}

    m = ws.segment_diff("2026-01-10", "2026-03-01", segments=["gold", "silver"])
    assert list(m.index) == ["gold", "silver", "(none)"] == list(m.columns)
    assert m.loc["gold", "silver"] == 1  # a
    assert m.loc["silver", "(none)"] == 1  # b
    assert m.loc["(none)", "gold"] == 1  # c
    assert int(m.to_numpy().sum()) == 3

    same = ws.segment_diff("2026-01-10", "2026-01-10", segments=["gold", "silver"])
    assert same.loc["gold", "gold"] == 1 and same.loc["silver", "silver"] == 1


def test_preview_counts_an_unsaved_definition_and_samples_members(ws):
    put(
        ws,
        "orders",
        [order("o1", "a", "2026-01-10T08:00:00"), order("o2", "b", "2026-01-11T08:00:00")],
    )
    p = ws.segment_preview(RECENT, limit=1, as_of="2026-01-15")
    assert p.count == 2 and list(p.sample.customer_id) == ["a"]
    assert ws.table("segment_membership").count().execute() == 0  # preview writes nothing


def test_preview_by_slug_uses_the_library(ws):
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    p = ws.segment_preview("first_time_buyers", as_of="2026-01-15")
    assert p.count == 1 and list(p.sample.customer_id) == ["a"]
    with pytest.raises(NotFoundError):
        ws.segment_preview("first_time_buyerz", as_of="2026-01-15")


def test_workspace_definitions_join_the_library(ws):
    folder = ws.path / "segments"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "slug: hk_recent\ntitle_en: HK recent\ntitle_zh_hant: 香港近期\nowner: me\n"
        "reviewed_on: 2026-01-01\nwhere:\n  all:\n    - {field: country, op: eq, value: HK}\n"
        "    - {in_segment: first_time_buyers}\n",
        encoding="utf-8",
    )
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    r = ws.segments_run(as_of="2026-01-15")
    assert r.members["hk_recent"] == 1 and r.members["first_time_buyers"] == 1
    assert "rfm_champions" in r.members


def test_explain_segment_shows_leaves_and_values(ws):
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    e = ws.explain_segment("first_time_buyers", "a", as_of="2026-01-15")
    assert e.result is True and "seen: 1" in e.render()
    e = ws.explain_segment("repeat_buyers", "a", as_of="2026-01-15")
    assert e.result is False
    with pytest.raises(NotFoundError, match="no customer 'zz'"):
        ws.explain_segment("repeat_buyers", "zz", as_of="2026-01-15")


def test_as_of_instant_reads_dates_as_the_end_of_the_day():
    assert segments.as_of_instant("2026-01-15") == datetime(2026, 1, 16)
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        segments.as_of_instant("15/01/2026")


def tags_of(ws: Workspace) -> set[tuple[str, str, str]]:
    t = ws.table("tags").to_pyarrow().to_pylist()
    return {(r["tag"], r["customer_id"], r["source"]) for r in t}


def test_manual_tags_add_remove_and_unknown_customers(ws):
    assert ws.tags_add("vip", ["a", "b"]) == 2
    assert ws.tags_add("vip", ["a"]) == 0  # already tagged
    assert tags_of(ws) == {("vip", "a", "manual"), ("vip", "b", "manual")}
    with pytest.raises(NotFoundError, match="unknown customer id"):
        ws.tags_add("vip", ["zz"])
    with pytest.raises(ValidationError, match="non-empty"):
        ws.tags_add("  ", ["a"])
    assert ws.tags_remove("vip", ["a"]) == 1
    assert tags_of(ws) == {("vip", "b", "manual")}
    assert ws.tags_remove("vip") == 1 and tags_of(ws) == set()


def test_runs_apply_auto_tags_usable_in_the_next_run(ws):
    buyers = {**RECENT, "tags_add": ["buyer"]}
    quiet = {
        **RECENT,
        "slug": "quiet",
        "where": {"not": {"ordered": "completed", "within_last": {"days": 30}}},
        "tags_remove": ["buyer"],
    }
    tagged = {**RECENT, "slug": "tagged_buyer", "where": {"tag": "buyer"}}
    defs = [{"segments": [buyers, quiet, tagged]}]
    put(ws, "orders", [order("o1", "a", "2026-01-10T08:00:00")])
    r = ws.segments_run(defs=defs, as_of="2026-01-15")
    assert r.tagged == {"buyer": 1} and r.members["tagged_buyer"] == 0  # tags apply after
    assert tags_of(ws) == {("buyer", "a", "segment:recent")}
    r = ws.segments_run(defs=defs, as_of="2026-01-20")
    assert r.members["tagged_buyer"] == 1 and r.tagged == {}
    r = ws.segments_run(defs=defs, as_of="2026-03-01")  # a is quiet now: the tag goes
    assert r.untagged == {"buyer": 1} and tags_of(ws) == set()
