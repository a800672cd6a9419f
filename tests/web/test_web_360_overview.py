"""The 360 page and the Overview at scale (issue 6: every page ≤ 1 s at 1M customers): the
sections that look a customer up in the big tables load after the page, their lookups filter by
the id only (an index can serve them), and the Overview's order figures are computed in the
background once per version of the orders and kept across restarts."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
from tests.web._web_support import TestClient, login, make_app

from segmint.features.purchases import counted_orders
from segmint.schema import TABLES
from segmint.server.web import customers as customers_page
from segmint.server.web.cache import expire_version
from segmint.server.web.overview import ACTIVE_DAYS, headline_file

WAIT = 120  # seconds a background job may take on a busy machine (not a timing assertion)


def _state(html: str) -> str:
    found = re.search(r'id="overview-headline" data-state="(\w+)"', html)
    assert found, html[:800]
    return found.group(1)


def _insert(ws, table: str, rows: list[dict]) -> None:
    full = [{c: r.get(c) for c in TABLES[table].names} for r in rows]
    ws.con.insert(table, pa.Table.from_pylist(full, schema=TABLES[table].to_pyarrow()))


# -- the 360 page ----------------------------------------------------------------------------------
def test_360_page_loads_the_timeline_and_the_segments_after_it(client):
    html = client.get("/customers/c20").text
    assert 'hx-get="/customers/c20/timeline" hx-trigger="load"' in html
    assert 'hx-get="/customers/c20/segments" hx-trigger="load"' in html
    assert '<ol class="timeline">' not in html  # not read for the page itself
    assert "person20@mail.hk" in html  # the profile is


def test_timeline_fragment_lists_the_customers_orders_newest_first(client, web_reader):
    o = web_reader.table("orders")
    expected = (
        o.filter(o.customer_id == "c20").order_by(ibis.desc("ts")).order_id.to_pyarrow().to_pylist()
    )
    assert expected  # c20 has orders
    r = client.get("/customers/c20/timeline", headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="customer-timeline">')
    shown = [x for x in re.findall(r"<span>(\S+)", r.text) if x in expected]
    assert shown == expected
    empty = client.get("/customers/nobody/timeline").text
    assert "No orders, events or messages yet." in empty


def test_timeline_keeps_only_the_latest_rows_of_a_busy_customer(web_reader):
    t0 = dt.datetime(2027, 1, 1)  # after everything else of c05
    n = customers_page.TIMELINE_ROWS + 15
    rows = [
        {"message_id": f"busy-{i}", "customer_id": "c05", "type": "track",
         "event": f"Viewed {i:03d}", "ts": t0 + dt.timedelta(hours=i), "channel": "web"}
        for i in range(n)
    ]  # fmt: skip
    rows.append({"message_id": "busy-none", "customer_id": "c05", "type": "track",
                 "event": "No time", "ts": None})  # fmt: skip
    _insert(web_reader, "events", rows)
    items = customers_page._timeline(web_reader, "c05")
    assert len(items) == customers_page.TIMELINE_ROWS
    events = [x["title"] for x in items if x["kind"] == "event"]
    newest = [f"Viewed {i:03d}" for i in range(n - 1, -1, -1)]
    assert events == newest[: customers_page.TIMELINE_ROWS]  # the latest, newest first
    assert "No time" not in events


def test_segments_fragment_lists_current_memberships_first(client, web_reader):
    day = dt.datetime
    _insert(web_reader, "segment_membership", [
        {"segment": "left_one", "customer_id": "c07", "entered_at": day(2026, 1, 1),
         "exited_at": day(2026, 2, 1)},
        {"segment": "old_one", "customer_id": "c07", "entered_at": day(2025, 1, 1)},
        {"segment": "new_one", "customer_id": "c07", "entered_at": day(2026, 3, 1)},
        {"segment": "other_customer", "customer_id": "c08", "entered_at": day(2026, 3, 1)},
    ])  # fmt: skip
    html = client.get("/customers/c07/segments").text
    shown = re.findall(r"<td>(\w+_one|other_customer)</td>", html)
    assert shown == ["new_one", "old_one", "left_one"]
    assert '<tr class="muted"><td>left_one</td>' in html
    assert "Not in any recorded segment" in client.get("/customers/c09/segments").text


@pytest.mark.parametrize("table", ["orders", "events", "segment_membership"])
def test_customer_lookups_can_use_an_index_on_the_id(web_reader, table):
    """A plain equality filter: DuckDB answers it from an index on ``customer_id`` (an
    ``ORDER BY ts DESC LIMIT n`` in the query would be a top-N over every row instead)."""
    con = web_reader.con.con
    if table == "segment_membership":  # empty here: an empty table needs no plan
        row = {"segment": "vip", "customer_id": "c20", "entered_at": dt.datetime(2026, 1, 1)}
        _insert(web_reader, table, [row])
    con.execute(f"CREATE INDEX test_{table}_customer ON {table} (customer_id)")
    columns = {"orders": ("order_id", "ts"), "events": ("ts", "event")}.get(table, ("segment",))
    sql = ibis.to_sql(customers_page._mine(web_reader, table, "c20", columns), dialect="duckdb")
    plan = "\n".join(row[1] for row in con.execute(f"EXPLAIN ANALYZE {sql}").fetchall())
    assert "Index Scan" in plan, plan


# -- the overview's headline -----------------------------------------------------------------------
def _reference(ws) -> dict:
    """The headline figures the way they were computed before (one filter over all orders)."""
    orders = counted_orders(ws.table("orders"), as_of=None)
    last = orders.ts.max().execute()
    recent = orders.filter(orders.ts > ibis.literal(last - dt.timedelta(days=ACTIVE_DAYS)))
    return {
        "orders": int(orders.count().execute()),
        "revenue": float(orders.amount.sum().execute()),
        "buyers": int(recent.customer_id.nunique().execute()),
        "customers": int(ws.table("profiles").count().execute()),
    }


def test_overview_answers_with_the_customers_and_computes_the_order_figures_aside(
    client, web_app, web_reader
):
    ref = _reference(web_reader)
    first = client.get("/").text
    assert f'Customers</div><div class="value">{ref["customers"]}</div>' in first
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    html = client.get("/overview/headline").text
    assert _state(html) == "fresh" and "hx-trigger" not in html
    assert f'Orders</div><div class="value">{ref["orders"]:,}</div>' in html
    share = 100 * ref["buyers"] / ref["customers"]
    assert re.search(rf'Active customers</div>\s*<div class="value">{share:.1f}%</div>', html)
    kept = json.loads(Path(headline_file(web_reader)).read_text(encoding="utf-8"))
    assert kept["value"]["orders"] == ref["orders"]
    assert kept["value"]["revenue"] == pytest.approx(ref["revenue"])
    assert kept["value"]["active_buyers"] == ref["buyers"]


def test_kept_order_figures_answer_at_once_after_a_restart(web_ws):
    with TestClient(make_app(web_ws)) as c:
        assert login(c).status_code == 303
        c.get("/")
        assert c.app.state.segmint_web.jobs.wait(WAIT)
    with TestClient(make_app(web_ws)) as c:  # a new app: empty memory, the file is read
        assert login(c).status_code == 303
        html = c.get("/").text
        assert _state(html) == "fresh" and "Latest order:" in html
        assert not c.app.state.segmint_web.jobs.busy()


def test_new_orders_show_the_last_figures_with_their_age_then_the_new_ones(
    client, web_app, web_reader
):
    client.get("/")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    before = _reference(web_reader)["orders"]
    _insert(web_reader, "orders", [
        {"order_id": "late-1", "customer_id": "c03", "ts": dt.datetime(2026, 6, 29, 12),
         "amount": 10.0, "currency": "HKD", "status": "completed"},
    ])  # fmt: skip
    expire_version(web_app.state.segmint_web)
    html = client.get("/").text
    assert _state(html) == "computing" and 'hx-get="/overview/headline"' in html
    assert "Order figures of 0 minutes ago; the orders have changed since" in html
    assert f'Orders</div><div class="value">{before:,}</div>' in html  # labelled as old
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    html = client.get("/overview/headline").text
    assert _state(html) == "fresh"
    assert f'Orders</div><div class="value">{before + 1:,}</div>' in html


def test_an_import_that_only_changes_orders_brings_the_figures_up_to_date(
    client, web_app, web_reader
):
    """The same number of orders, other amounts: what an import that updates rows leaves behind
    (changed rows replaced, one ``import_log`` row) makes the kept figures old."""
    client.get("/")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    raw = web_reader.con.con
    raw.execute("UPDATE orders SET amount = amount + 1000 WHERE order_id = 'o0001'")
    raw.execute(
        "INSERT INTO import_log (import_id, kind, file, rows, inserted, updated, imported_at) "
        "VALUES ('imp-test', 'orders', 'orders.csv', 1, 0, 1, TIMESTAMP '2026-07-01')"
    )
    expire_version(web_app.state.segmint_web)
    assert _state(client.get("/").text) == "computing"
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    assert _state(client.get("/overview/headline").text) == "fresh"
    kept = json.loads(Path(headline_file(web_reader)).read_text(encoding="utf-8"))
    assert kept["value"]["revenue"] == pytest.approx(_reference(web_reader)["revenue"])


def test_new_profiles_change_the_customers_but_not_the_order_figures(client, web_app, web_reader):
    client.get("/")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    _insert(web_reader, "profiles", [{"customer_id": "c_new"}])
    expire_version(web_app.state.segmint_web)
    html = client.get("/").text
    assert 'Customers</div><div class="value">41</div>' in html
    assert _state(html) == "fresh" and not web_app.state.segmint_web.jobs.busy()


# -- the latest order ------------------------------------------------------------------------------
def test_latest_order_time_skips_orders_that_do_not_count(web_reader):
    latest = web_reader.latest_order_time()
    o = counted_orders(web_reader.table("orders"), as_of=None)
    assert latest == o.ts.max().execute().to_pydatetime()
    # a newer order that does not count, long after the last one that does: found anyway
    _insert(web_reader, "orders", [
        {"order_id": "refunded-late", "customer_id": "c01", "ts": latest + dt.timedelta(days=90),
         "amount": 5.0, "status": "refunded"},
    ])  # fmt: skip
    assert web_reader.latest_order_time() == latest
    assert web_reader.default_as_of() == latest.date()


# -- translations ----------------------------------------------------------------------------------
def test_every_string_of_these_templates_has_a_traditional_chinese_translation():
    from segmint.server.web.i18n import translations

    folder = Path(customers_page.__file__).parent / "templates"
    names = ("customer.html", "_customer_timeline.html", "_customer_segments.html",
             "overview.html", "_overview_headline.html")  # fmt: skip
    found: set[str] = set()
    for name in names:
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', (folder / name).read_text("utf-8")))
    zh = translations("zh-Hant")
    assert len(found) > 40
    assert not sorted(m for m in found if zh.gettext(m) == m)
