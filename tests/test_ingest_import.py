"""Workspace.import_file end to end: idempotence, updates, refunds, line items, events, rollback."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from tests._import_support import (
    HUBSPOT_CONTACTS,
    SHOPIFY_CUSTOMERS,
    SHOPIFY_ORDERS,
    column,
    new_workspace,
    rows,
    snapshot,
    write,
)

from segmint import importer
from segmint.errors import ImportValidationError


@pytest.fixture
def ws(tmp_path):
    w = new_workspace(tmp_path)
    yield w
    w.close()


def test_shopify_customers_land_as_profiles_and_identities(ws, tmp_path):
    r = ws.import_file("customers", write(tmp_path / "customers_export.csv", SHOPIFY_CUSTOMERS))
    assert (r.rows_read, r.inserted, r.updated, r.unchanged) == (3, 3, 0, 0)
    assert r.people_created == 3 and r.people_merged == 0
    assert r.source == "shopify" and r.preset == "shopify_customers"
    assert r.changed and r.import_id.startswith("imp_")
    assert "Total Spent" in r.kept_columns and any("traits" in w for w in r.warnings)

    sp = {row["record_id"]: row for row in ws.table("source_profiles").to_pyarrow().to_pylist()}
    amy = sp["shopify:7100000001"]
    assert amy["email"] == "amy.chan@gmail.com"  # lower-cased, dots kept
    assert amy["phone"] == "+85291234567"
    assert amy["consent_email"] is True and amy["consent_sms"] is False
    assert amy["consent_email_at"] is not None  # when segmint learnt it
    assert json.loads(amy["traits"])["tags"] == "vip, tea"
    assert sp["shopify:7100000002"]["name"] == "陳大文"  # family name first, no space
    # a Taiwanese address phone is read with the row's country
    assert sp["shopify:7100000003"]["phone"] == "+886912345678"

    ident = {(r[1], r[2]) for r in rows(ws, "identities")}
    assert ("shopify", "7100000001") in ident and ("phone", "+886912345678") in ident
    assert ws.table("profiles").count().execute() == 3
    (log,) = ws.table("import_log").to_pyarrow().to_pylist()
    assert log["kind"] == "customers" and log["rows"] == 3 and len(log["sha256"]) == 64


def test_reimport_changes_nothing(ws, tmp_path):
    c = write(tmp_path / "customers_export.csv", SHOPIFY_CUSTOMERS)
    o = write(tmp_path / "orders_export.csv", SHOPIFY_ORDERS)
    ws.import_file("customers", c)
    ws.import_file("orders", o)
    before = snapshot(ws)
    r1 = ws.import_file("customers", c)
    r2 = ws.import_file("orders", o)
    assert (r1.inserted, r1.updated, r1.unchanged, r1.changed) == (0, 0, 3, False)
    assert (r2.inserted, r2.updated, r2.unchanged, r2.items_written) == (0, 0, 2, 0)
    assert snapshot(ws) == before  # not even import_log or timestamps moved


def test_changed_row_updates_and_keeps_the_rest(ws, tmp_path):
    p = write(tmp_path / "customers_export.csv", SHOPIFY_CUSTOMERS)
    ws.import_file("customers", p)
    before_at = {
        r["record_id"]: r["consent_email_at"]
        for r in ws.table("source_profiles").to_pyarrow().to_pylist()
    }
    text = SHOPIFY_CUSTOMERS.replace("Kowloon", "Sha Tin").replace(
        "mei.lin@gmail.com,yes", "mei.lin@gmail.com,no"
    )
    r = ws.import_file("customers", write(p, text))
    assert (r.inserted, r.updated, r.unchanged) == (0, 2, 1)
    sp = {r["record_id"]: r for r in ws.table("source_profiles").to_pyarrow().to_pylist()}
    assert sp["shopify:7100000002"]["city"] == "Sha Tin"
    # consent unchanged → its time stays; consent withdrawn → a new time
    assert sp["shopify:7100000002"]["consent_email_at"] == before_at["shopify:7100000002"]
    assert sp["shopify:7100000003"]["consent_email"] is False
    assert sp["shopify:7100000003"]["consent_email_at"] >= before_at["shopify:7100000003"]
    profile = ws.table("profiles").filter(ws.table("profiles").city == "Sha Tin").to_pyarrow()
    assert profile.num_rows == 1
    assert ws.table("import_log").count().execute() == 2


def test_shopify_orders_become_orders_and_line_items(ws, tmp_path):
    ws.import_file("customers", write(tmp_path / "customers_export.csv", SHOPIFY_CUSTOMERS))
    r = ws.import_file("orders", write(tmp_path / "orders_export.csv", SHOPIFY_ORDERS))
    assert (r.rows_read, r.inserted, r.items_written) == (3, 2, 3)
    orders = {o["order_id"]: o for o in ws.table("orders").to_pyarrow().to_pylist()}
    o1 = orders["#1001"]
    assert o1["amount"] == 1180.0 and o1["discount"] == 20.0 and o1["currency"] == "HKD"
    assert o1["status"] == "completed" and o1["channel"] == "web" and o1["source"] == "shopify"
    assert o1["ts"] == dt.datetime(2026, 6, 30, 6, 3)  # +0800 → UTC
    amy = ws.table("identities").filter(ws.table("identities").id_value == "amy.chan@gmail.com")
    assert o1["customer_id"] == amy.to_pyarrow().column("customer_id")[0].as_py()
    assert orders["#1002"]["status"] == "refunded"
    items = sorted((i[0], i[1], i[3], i[4]) for i in rows(ws, "order_items"))
    assert items == [
        ("#1001", "POT-1", 1, 1000.0),
        ("#1001", "TEA-1", 2, 100.0),
        ("#1002", "MUG-1", 1, 50.0),
    ]
    # an unknown buyer becomes a person with a profile (from the order's contact)
    assert r.people_created == 1
    carol = [p for p in ws.table("profiles").to_pyarrow().to_pylist() if p["phone"]]
    assert any(p["email"] == "carol@example.hk" and p["phone"] == "+85261112222" for p in carol)


def test_changed_line_items_update_the_order(ws, tmp_path):
    p = write(tmp_path / "orders_export.csv", SHOPIFY_ORDERS)
    ws.import_file("orders", p)
    r = ws.import_file("orders", write(p, SHOPIFY_ORDERS.replace(",1,Teapot,", ",3,Teapot,")))
    assert (r.inserted, r.updated, r.unchanged, r.items_written) == (0, 1, 1, 2)
    qty = {(i[0], i[1]): i[3] for i in rows(ws, "order_items")}
    assert qty[("#1001", "POT-1")] == 3 and len(qty) == 3


def test_pos_orders_in_chinese_with_member_ids(ws, tmp_path):
    ws.import_file(
        "customers", write(tmp_path / "members.csv", "會員編號,姓名,電話\nM1,陳大文,9123 4567")
    )
    r = ws.import_file(
        "orders",
        write(
            tmp_path / "pos.csv",
            """
            訂單編號,會員編號,電話,金額,日期,狀態
            P-1,M1,,NT$ 1200,2026/06/30 15:00,已付款
            P-2,,9123 4567,-50,2026/07/02 10:00,已退款
            """,
        ),
    )
    assert r.inserted == 2 and r.people_created == 0
    assert any("TWD" in w and "does not convert" in w for w in r.warnings)
    orders = {o["order_id"]: o for o in ws.table("orders").to_pyarrow().to_pylist()}
    assert orders["P-1"]["customer_id"] == orders["P-2"]["customer_id"]
    assert orders["P-1"]["currency"] == "TWD" and orders["P-2"]["amount"] == -50.0
    assert orders["P-2"]["status"] == "refunded"


def test_refunds_only_when_flagged(ws, tmp_path):
    text = "order id,email,total,date\nR1,a@x.hk,-20,2026-01-01\n"
    p = write(tmp_path / "refunds.csv", text)
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file("orders", p)
    assert "must not be negative unless the order is a refund" in exc.value.problems[0].message
    assert exc.value.problems[0].row == 2 and exc.value.problems[0].column == "total"
    r = ws.import_file("orders", p, refunds=True)
    assert r.inserted == 1
    assert column(ws, "orders", "status") == ["refunded"]


def test_duplicate_order_ids_inside_the_file(ws, tmp_path):
    p = write(
        tmp_path / "o.csv",
        """
        order id,email,total,date
        A1,a@x.hk,10,2026-01-01
        A1,a@x.hk,10,2026-01-01
        A2,b@x.hk,5,2026-01-02
        A2,b@x.hk,6,2026-01-02
        """,
    )
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file("orders", p)
    (problem,) = exc.value.problems  # identical repeats of A1 are fine
    assert (problem.row, problem.column) == (5, "total")
    assert "duplicate order id 'A2'" in problem.message and "row 4" in problem.message


def test_order_id_stored_from_another_source_with_different_content(ws, tmp_path):
    ws.import_file(
        "orders",
        write(tmp_path / "web.csv", "order id,email,total,date\n1001,a@x.hk,10,2026-01-01"),
    )
    before = snapshot(ws)
    p = write(tmp_path / "pos.csv", "order id,email,total,date\n1001,b@x.hk,99,2026-02-01")
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file("orders", p)
    (problem,) = exc.value.problems
    assert problem.row == 2 and "already stored from source 'web'" in problem.message
    assert snapshot(ws) == before
    # the same source may change its own order
    r = ws.import_file("orders", p, source="web")
    assert (r.inserted, r.updated) == (0, 1)
    assert column(ws, "orders", "amount") == [99.0]


def test_events_with_segment_names(ws, tmp_path):
    ws.import_file("customers", write(tmp_path / "users.csv", "user_id,email\nu1,amy@x.hk"))
    p = write(
        tmp_path / "events.csv",
        """
        messageId,userId,anonymousId,type,event,timestamp,properties,channel,product
        m1,u1,a1,track,Product Viewed,2026-06-30T14:03:00Z,"{""sku"": ""TEA-1""}",web,
        m2,,a1,track,Product Added,2026-06-30T14:04:00Z,,web,tea
        m3,,a9,page,,2026-06-30T14:05:00Z,,web,
        m4,u7,,track,Message Read,2026-06-30T14:06:00Z,,whatsapp,
        """,
    )
    r = ws.import_file("events", p)
    assert r.inserted == 4 and r.people_created == 1  # u7 is new; a9 stays anonymous
    ev = {e["message_id"]: e for e in ws.table("events").to_pyarrow().to_pylist()}
    assert ev["m1"]["customer_id"] == ev["m2"]["customer_id"] is not None  # via anonymous a1
    assert ev["m3"]["customer_id"] is None and ev["m3"]["type"] == "page"
    assert json.loads(ev["m2"]["properties"]) == {"product": "tea"}
    assert json.loads(ev["m1"]["properties"]) == {"sku": "TEA-1"}
    assert ev["m1"]["ts"] == dt.datetime(2026, 6, 30, 14, 3)
    assert ws.import_file("events", p).unchanged == 4


def test_events_without_message_ids_get_stable_ones(ws, tmp_path):
    p = write(tmp_path / "ev.csv", "user_id,event,timestamp\nu1,Order Completed,2026-01-01 10:00")
    ws.import_file("events", p)
    first = column(ws, "events", "message_id")
    r = ws.import_file("events", p)
    assert r.unchanged == 1 and column(ws, "events", "message_id") == first


def test_order_items_kind(ws, tmp_path):
    ws.import_file(
        "orders", write(tmp_path / "o.csv", "order id,email,total,date\nA1,a@x.hk,10,2026-01-01")
    )
    p = write(tmp_path / "items.csv", "order id,sku,qty,unit price,category\nA1,TEA-1,2,5,tea")
    r = ws.import_file("order_items", p)
    assert (r.inserted, r.items_written) == (1, 1)
    assert rows(ws, "order_items") == [("A1", "TEA-1", "tea", 2, 5.0)]
    assert ws.import_file("order_items", p).unchanged == 1
    bad = write(tmp_path / "items2.csv", "order id,sku,qty\nZZ,TEA-1,1")
    with pytest.raises(ImportValidationError, match="must be an order already imported"):
        ws.import_file("order_items", bad)


def test_unknown_customer_id_is_a_problem(ws, tmp_path):
    p = write(tmp_path / "o.csv", "order id,customer_id,total,date\nA1,c_nobody,10,2026-01-01")
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file("orders", p)
    assert "'customer_id' must be a customer of this workspace" in exc.value.problems[0].message
    assert exc.value.problems[0].row == 2


def test_profiles_take_the_most_recent_non_null_value(ws, tmp_path):
    ws.import_file("customers", write(tmp_path / "hubspot.csv", HUBSPOT_CONTACTS))
    ws.import_file(
        "customers",
        write(
            tmp_path / "pos_members.csv",
            """
            會員編號,姓名,電郵,城市,會員等級
            M1,陳美儀,amy.chan@gmail.com,,金
            """,
        ),
    )
    (amy,) = [
        p
        for p in ws.table("profiles").to_pyarrow().to_pylist()
        if p["email"] == "amy.chan@gmail.com"
    ]
    assert amy["name"] == "陳美儀"  # newer record wins
    assert amy["city"] == "Hong Kong"  # the newer record has no city: the older value stays
    assert amy["company"] == "Tea Co" and amy["company_size"] == 25
    assert amy["annual_revenue"] == 1_500_000.0 and amy["country"] == "HK"
    assert amy["consent_email"] is True  # "Marketing contact"
    traits = json.loads(amy["traits"])
    assert traits == {"lifecycle_stage": "customer", "會員等級": "金"}  # merged key by key
    assert amy["created_at"] == dt.datetime(2025, 1, 15, 2, 23)


def test_progress_is_reported(ws, tmp_path):
    calls = []
    ws.import_file(
        "customers",
        write(tmp_path / "c.csv", SHOPIFY_CUSTOMERS),
        progress=lambda step, done, total: calls.append((step, done, total)),
    )
    steps = [c[0] for c in calls]
    assert steps[0] == "read" and "validate" in steps and steps[-1] == "write"
    assert calls[-1][1] == calls[-1][2]


def test_failure_mid_write_rolls_everything_back(ws, tmp_path, monkeypatch):
    ws.import_file("customers", write(tmp_path / "hubspot.csv", HUBSPOT_CONTACTS))
    before = snapshot(ws)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "_write_profiles", boom)  # after identities and records
    with pytest.raises(RuntimeError, match="disk full"):
        ws.import_file("customers", write(tmp_path / "c.csv", SHOPIFY_CUSTOMERS))
    assert snapshot(ws) == before


def test_rows_read_in_chunks_for_large_csv(ws, tmp_path):
    n = 30_000
    lines = ["email,phone,name"] + [f"u{i}@shop.hk,9{i:07d},User {i}" for i in range(n)]
    p = tmp_path / "big.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = ws.import_file("customers", p)
    assert r.rows_read == n and r.inserted == n
    assert ws.table("profiles").count().execute() == n
