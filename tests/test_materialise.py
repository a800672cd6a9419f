"""Order-derived inputs stored once per version of the orders (segmint.materialise), the order
totals the live preview reads, and the sequence's follow-up window (issue 6, builder at 1M)."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from orders_data import random_orders
from segmint import materialise
from segmint.rules import Rows, SegmentSpec, Tables, compile_segment, evaluate, resolve
from segmint.rules.compile import order_totals, reads_order_totals
from segmint.schema import TABLES
from segmint.segments import as_of_instant
from segmint.workspace import Workspace

AS_OF = as_of_instant("2026-06-30")
CUSTOMERS = 300


def _spec(where: dict, slug: str = "s") -> SegmentSpec:
    return SegmentSpec.model_validate(
        {
            "slug": slug,
            "title_en": "S",
            "title_zh_hant": "S",
            "owner": "crm",
            "reviewed_on": "2026-01-01",
            "where": where,
        }
    )


def _profiles(n: int) -> pa.Table:
    ids = [f"c{i:05d}" for i in range(n)]
    cols = {c: [None] * n for c in TABLES["profiles"].names}
    cols["customer_id"] = ids
    cols["country"] = ["HK" if i % 3 else "TW" for i in range(n)]
    return pa.table(cols, schema=TABLES["profiles"].to_pyarrow())


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    w = Workspace.create(tmp_path_factory.mktemp("mat") / "ws")
    w.con.insert("profiles", _profiles(CUSTOMERS))
    w.con.insert("orders", random_orders(seed=11, customers=CUSTOMERS, orders=4000))
    return w


def _members(ws: Workspace, where: dict, *, totals: bool, at=AS_OF) -> set[str]:
    tables = ws.segment_tables(at)
    if totals:
        tables = Tables(
            profiles=tables.profiles, events=tables.events, orders=tables.orders,
            tags=tables.tags, order_totals=order_totals(tables.orders, at),
            order_totals_as_of=at,
        )  # fmt: skip
    seg = resolve(_spec(where), tables.catalog())["s"]
    expr = compile_segment(seg, tables, at, timezone=ws.config.timezone)
    return set(expr.to_pyarrow().column("customer_id").to_pylist())


LEAVES = [
    {"ordered": "completed", "measure": "count", "op": "gte", "value": 2},
    {"ordered": "completed", "measure": "count", "op": "eq", "value": 0},
    {"ordered": "refunded", "measure": "count", "op": "gte", "value": 1},
    {"ordered": "any", "measure": "count", "op": "lt", "value": 5},
    {"ordered": "completed", "measure": "sum", "of": "amount", "op": "gte", "value": 300},
    {"ordered": "completed", "measure": "sum", "of": "amount", "op": "lt", "value": 0.5},
    {"ordered": "completed", "measure": "avg", "of": "amount", "op": "gt", "value": 60},
    {"ordered": "any", "measure": "min", "of": "amount", "op": "lte", "value": 0.2},
    {"ordered": "completed", "measure": "max", "of": "amount", "op": "gte", "value": 99},
    # no discounts at all: the max is missing, so the leaf is false for everyone (not: true)
    {"not": {"ordered": "completed", "measure": "max", "of": "discount", "op": "gte", "value": 0}},
]


@pytest.mark.parametrize("leaf", LEAVES)
def test_order_totals_give_the_same_members(ws: Workspace, leaf: dict) -> None:
    where = {"all": [{"field": "country", "op": "eq", "value": "HK"}, leaf]}
    plain = _members(ws, where, totals=False)
    assert plain, "a leaf that selects nobody would prove nothing"
    assert _members(ws, where, totals=True) == plain


def test_order_totals_are_read_only_for_the_whole_past_without_filters(ws: Workspace) -> None:
    tables = ws.segment_tables(AS_OF)
    catalog = tables.catalog()

    def reads(where: dict) -> bool:
        return reads_order_totals(resolve(_spec(where), catalog)["s"], AS_OF)

    ever = {"ordered": "completed", "measure": "count", "op": "gte", "value": 2}
    assert reads(ever)
    assert reads({"any": [ever, {"consent": "sms"}]})
    assert not reads({**ever, "within_last": {"days": 30}})
    assert not reads({**ever, "where": [{"field": "channel", "op": "eq", "value": "pos"}]})
    assert not reads({"performed": "Order Completed", "op": "gte", "value": 1})
    # a window stays on the orders even when totals are given
    windowed = {**ever, "within_last": {"days": 30}}
    assert _members(ws, windowed, totals=True) == _members(ws, windowed, totals=False)
    # totals of another instant are not used
    other = Tables(profiles=tables.profiles, orders=tables.orders,
                   order_totals=ibis.memtable({"customer_id": ["nobody"]}),
                   order_totals_as_of=AS_OF - dt.timedelta(days=1))  # fmt: skip
    seg = resolve(_spec(ever), other.catalog())["s"]
    assert "nobody" not in ibis.to_sql(compile_segment(seg, other, AS_OF))


def _stored(ws: Workspace, kind: str) -> list[str]:
    return sorted(t for t in ws.con.list_tables() if t.startswith(f"_segmint_m_{kind}_"))


def test_preview_stores_rfm_and_totals_once_per_orders_version(tmp_path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.con.insert("profiles", _profiles(CUSTOMERS))
    ws.con.insert("orders", random_orders(seed=3, customers=CUSTOMERS, orders=3000))
    tables = ws.segment_tables(AS_OF)
    champions = ws.segment_definitions()["rfm_champions"]
    expected = compile_segment(champions, tables, AS_OF, timezone=ws.config.timezone)
    expected_n = int(expected.count().execute())
    assert expected_n > 0

    first = ws.segment_preview("rfm_champions", as_of="2026-06-30")
    assert first.count == expected_n
    (rfm_table,) = _stored(ws, "rfm")
    stored = ws.table(rfm_table)
    assert stored.schema() == tables.metrics["rfm"].schema()
    assert stored.difference(tables.metrics["rfm"]).count().execute() == 0
    assert tables.metrics["rfm"].difference(stored).count().execute() == 0

    again = ws.segment_preview("rfm_champions", as_of="2026-06-30")
    assert again.count == expected_n and _stored(ws, "rfm") == [rfm_table]
    assert _stored(ws, "order_totals") == []  # rfm_champions reads no order leaf

    spec = _spec({"ordered": "completed", "measure": "count", "op": "gte", "value": 3}, "few")
    # a one-off preview (library, CLI) reads stored totals but does not store them ...
    n_before = ws.segment_preview(spec.model_dump(mode="json"), as_of="2026-06-30").count
    assert _stored(ws, "order_totals") == []
    # ... the service's readers, which preview again and again, do
    ws.store_live_inputs = True
    assert ws.segment_preview(spec.model_dump(mode="json"), as_of="2026-06-30").count == n_before
    (totals_table,) = _stored(ws, "order_totals")

    # a new order is a new version of the orders: both are stored again, the old ones dropped
    new = random_orders(seed=4, customers=CUSTOMERS, orders=200)
    new = new.set_column(0, "order_id", pa.array([f"n{i}" for i in range(new.num_rows)]))
    ws.con.insert("orders", new)
    assert ws.segment_preview("rfm_champions", as_of="2026-06-30").count == int(
        compile_segment(champions, ws.segment_tables(AS_OF), AS_OF).count().execute()
    )
    assert len(_stored(ws, "rfm")) == 1 and _stored(ws, "rfm") != [rfm_table]
    n_after = ws.segment_preview(spec.model_dump(mode="json"), as_of="2026-06-30").count
    assert _stored(ws, "order_totals") != [totals_table]
    assert n_after >= n_before


def test_orders_version_changes_with_imports_merges_and_erasure(tmp_path) -> None:
    ws = Workspace.create(tmp_path / "ws", default_region="HK")
    v0 = materialise.orders_version(ws.con)
    (tmp_path / "customers.csv").write_text("customer_id,email\nC1,amy@shop.hk\n")
    (tmp_path / "orders.csv").write_text("order_id,email,ts,amount\nO1,amy@shop.hk,2026-06-01,12\n")
    ws.import_file("customers", tmp_path / "customers.csv")
    assert materialise.orders_version(ws.con) == v0  # customers alone do not touch the orders
    ws.import_file("orders", tmp_path / "orders.csv")
    v1 = materialise.orders_version(ws.con)
    assert v1 != v0 and v1[0] == 1 and v1[3] == 1  # one order, one order import
    # a merge or an erasure changes who the orders belong to without another import
    log = TABLES["merge_log"].to_pyarrow()
    ws.con.insert("merge_log", pa.table({c: [None] for c in log.names}, schema=log))
    v2 = materialise.orders_version(ws.con)
    assert v2 != v1 and v2[4] == v1[4] + 1
    cid = ws.table("profiles").customer_id.execute().iloc[0]
    ws.erase(cid, by="test")
    v3 = materialise.orders_version(ws.con)
    assert v3 != v2 and v3[0] == 0


def test_stored_kind_is_checked_and_drop_all(ws: Workspace) -> None:
    from segmint.errors import ValidationError

    o = ws.table("orders")
    with pytest.raises(ValidationError, match=r"kind must be a lower-case identifier\. Got 'A-b'"):
        materialise.stored(ws.con, "A-b", {}, o)
    t = materialise.stored(ws.con, "demo", {"x": 1}, o.group_by("customer_id").agg(n=o.count()))
    assert t.get_name() in ws.con.list_tables()
    assert materialise.drop_all(ws.con) >= 1
    assert not [x for x in ws.con.list_tables() if x.startswith(materialise.PREFIX)]


# -- a sequence's follow-up step reads only the window (plus ``within``) -------------------------
def _event(cid: str, name: str, ts: dt.datetime) -> dict:
    return {"customer_id": cid, "event": name, "ts": ts, "type": "track"}


def test_sequence_follow_up_window_edges() -> None:
    """Checkout in the last 7 days and no order within 24 h: follow-ups at the window's edges
    and before it, compiled (with the follow-up pruned to the window) and by the reference."""
    at = dt.datetime(2026, 7, 1)
    lo = at - dt.timedelta(days=7)
    rows = Rows(
        profiles=[{"customer_id": c} for c in ("a", "b", "c", "d", "e")],
        events=[
            # a: checkout at the window's first instant, order an hour later → not abandoned
            _event("a", "Checkout Started", lo),
            _event("a", "Order Completed", lo + dt.timedelta(hours=1)),
            # b: same checkout; the only order was before the window → abandoned
            _event("b", "Checkout Started", lo),
            _event("b", "Order Completed", lo - dt.timedelta(seconds=1)),
            # c: checkout 25 h before as_of, order exactly 24 h later → not abandoned
            _event("c", "Checkout Started", at - dt.timedelta(hours=25)),
            _event("c", "Order Completed", at - dt.timedelta(hours=1)),
            # d: checkout 2 days in, order 25 h later (too late) → abandoned
            _event("d", "Checkout Started", lo + dt.timedelta(days=2)),
            _event("d", "Order Completed", lo + dt.timedelta(days=3, hours=1)),
            # e: checkout before the window → not in the segment
            _event("e", "Checkout Started", lo - dt.timedelta(hours=1)),
        ],
    )
    spec = _spec({"first": {"performed": "Checkout Started"},
                  "then_not": {"performed": "Order Completed"},
                  "within": {"hours": 24}, "within_last": {"days": 7}})  # fmt: skip
    seg = resolve(spec)["s"]
    tables = Tables.from_rows(rows)
    got = set(compile_segment(seg, tables, at).to_pyarrow().column("customer_id").to_pylist())
    assert got == evaluate(seg, rows, at) == {"b", "d"}
    then = {"first": {"performed": "Checkout Started"}, "then": {"performed": "Order Completed"},
            "within": {"hours": 24}, "within_last": {"days": 7}}  # fmt: skip
    seg = resolve(_spec(then))["s"]
    got = set(compile_segment(seg, tables, at).to_pyarrow().column("customer_id").to_pylist())
    assert got == evaluate(seg, rows, at) == {"a", "c"}


def test_a_table_computed_while_the_orders_changed_is_not_kept(tmp_path, monkeypatch):
    from segmint import materialise
    from segmint.connect import connect
    from segmint.storage import ensure_schema

    con = connect()
    ensure_schema(con)
    o = con.table("orders")
    expr = o.group_by("customer_id").agg(n=o.count())
    versions = iter([(0, None, None, 0, 0, 0), (1, "x", "x", 0, 0, 1)])  # before, after
    monkeypatch.setattr(materialise, "orders_version", lambda con: next(versions))
    out = materialise.stored(con, "demo", {"x": 1}, expr)
    assert out is expr  # answered by the expression
    assert not [t for t in con.list_tables() if t.startswith(materialise.PREFIX)]
