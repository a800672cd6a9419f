"""The ground truth agrees with the files: every record, order and event can be traced."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.compute as pc
import pytest

from _demo_support import demo


@pytest.fixture(scope="module")
def data():
    return demo()


def test_records_cover_every_source_row(data):
    rec = data.records.to_pandas()
    src = data.sources
    keys = {s: set(g["record_key"]) for s, g in rec.groupby("source")}
    assert keys["shopify"] == set(src["shopify_customers"]["Customer ID"].to_pylist())
    assert keys["hubspot"] == set(src["hubspot_contacts"]["Record ID"].to_pylist())
    assert keys["whatsapp"] == set(src["whatsapp_contacts"]["Phone"].to_pylist())
    assert keys["line"] == set(src["line_contacts"]["line_user_id"].to_pylist())
    assert keys["instagram"] == set(src["instagram_contacts"]["username"].to_pylist())
    assert keys["pos"] == set(src["pos_orders"]["會員編號"].to_pylist())
    # one record per row of the contact files
    assert (rec["source"] == "whatsapp").sum() == src["whatsapp_contacts"].num_rows
    assert (rec["source"] == "shopify").sum() == src["shopify_customers"].num_rows


def test_record_rows_point_at_the_right_row(data):
    rec = data.records.to_pandas().set_index(["source", "record_key"])
    shop = data.sources["shopify_customers"]["Customer ID"].to_pylist()
    for i in (0, 17, len(shop) - 1):
        assert rec.loc[("shopify", shop[i]), "row"] == i + 2  # header is row 1
    pos = data.sources["pos_orders"]["會員編號"].to_pylist()
    first_row = {}
    for i, m in enumerate(pos):
        first_row.setdefault(m, i + 2)
    sample = list(first_row.items())[:50]
    assert all(rec.loc[("pos", m), "row"] == r for m, r in sample)


def test_orders_match_the_order_files(data):
    truth = data.orders.to_pandas()
    shop = data.sources["shopify_orders"].to_pandas()
    firsts = shop[shop["Financial Status"].notna()]
    pos = data.sources["pos_orders"].to_pandas()
    assert len(truth) == len(firsts) + len(pos)
    web = truth[truth["source"] == "shopify"].set_index("order_id")
    assert list(web.index) == list(firsts["Name"])
    assert firsts["Total"].astype(float).round(2).tolist() == web["amount"].round(2).tolist()
    shop_truth = truth[truth["source"] == "pos"]
    assert shop_truth["order_id"].tolist() == pos["訂單編號"].tolist()
    assert shop_truth["record_key"].tolist() == pos["會員編號"].tolist()
    assert pos["金額"].round(2).tolist() == shop_truth["amount"].round(2).tolist()
    # the line items add up to the subtotal
    lines = shop.assign(v=shop["Lineitem price"] * shop["Lineitem quantity"])
    sub = lines.groupby("Name", sort=False)["v"].sum().round(2)
    assert (abs(sub - web["subtotal"].reindex(sub.index)) < 0.02).all()


def test_shopify_customer_totals_match_their_orders(data):
    cust = data.sources["shopify_customers"].to_pandas().set_index("Customer ID")
    truth = data.orders.to_pandas()
    web = truth[truth["source"] == "shopify"]
    counts = web.groupby("record_key").size()
    assert cust["Total Orders"].sum() == len(web)
    assert (cust["Total Orders"].reindex(counts.index) == counts).all()
    paid = web[web["status"] != "refunded"].groupby("record_key")["amount"].sum()
    assert (abs(cust["Total Spent"].reindex(paid.index) - paid) < 0.05).all()
    # orders carry the e-mail of the account they belong to
    shop = data.sources["shopify_orders"].to_pandas()
    first = shop[shop["Financial Status"].notna()].set_index("Name")
    email_of = cust["Email"].str.strip().str.lower()
    acc = web.set_index("order_id")["record_key"]
    assert (first["Email"] == email_of.reindex(acc.reindex(first.index)).values).all()


def test_persons_truth_is_consistent(data):
    p = data.persons.to_pandas().set_index("person_id")
    o = data.orders.to_pandas()
    assert (p["orders"] == o.groupby("person_id").size().reindex(p.index, fill_value=0)).all()
    rec = data.records.to_pandas()
    assert (p["records"] == rec.groupby("person_id").size().reindex(p.index, fill_value=0)).all()
    assert (p["records"] >= 1).all()  # everybody is somewhere in the files
    assert (p["clusters"] <= p["records"]).all()
    assert p.index.is_unique and len(p) == 3000


def test_events_follow_the_segment_spec(data):
    ev = data.sources["events"]
    names = Counter(ev["event"].combine_chunks().cast("string").to_pylist())
    assert {
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Order Completed",
        "Message Sent",
        "Message Delivered",
        "Message Read",
        "Message Clicked",
        "Survey Responded",
    } <= set(names)
    types = set(ev["type"].combine_chunks().cast("string").to_pylist())
    assert types == {"track", "identify"}
    ts = ev["timestamp"].to_numpy()
    assert (ts[1:] >= ts[:-1]).all()  # sorted by time
    assert ev["message_id"].combine_chunks().unique().__len__() == ev.num_rows
    assert 8 < ev.num_rows / data.persons.num_rows < 40


def test_event_properties(data):
    ev = data.sources["events"].to_pandas()
    for name, keys in (
        ("Product Viewed", {"product_id", "category", "price"}),
        ("Order Completed", {"order_id", "total", "currency"}),
        ("Checkout Started", {"checkout_id", "value", "currency"}),
        ("Message Sent", {"campaign_id", "campaign"}),
    ):
        sample = ev.loc[ev["event"] == name, "properties"].head(50)
        assert len(sample) and all(keys <= set(json.loads(t)) for t in sample), name
    surveys = [json.loads(t) for t in ev.loc[ev["event"] == "Survey Responded", "properties"]]
    nps = [s["score"] for s in surveys if s["survey"] == "nps"]
    csat = [s["score"] for s in surveys if s["survey"] == "csat"]
    assert nps and min(nps) >= 0 and max(nps) <= 10 and len(set(nps)) > 5
    assert csat and min(csat) >= 1 and max(csat) <= 5
    # Order Completed names an order of the Shopify export
    names = set(data.sources["shopify_orders"]["Name"].combine_chunks().cast("string").to_pylist())
    done = ev.loc[ev["event"] == "Order Completed", "properties"].head(200)
    assert all(json.loads(t)["order_id"] in names for t in done)


def test_messages_respect_consent(data):
    ev = data.sources["events"].to_pandas()
    wa = data.sources["whatsapp_contacts"].to_pandas()
    rec = data.records.to_pandas()
    wa_person = dict(
        zip(
            rec.loc[rec["source"] == "whatsapp", "phone"],
            rec.loc[rec["source"] == "whatsapp", "person_id"],
            strict=True,
        )
    )
    p = data.persons.to_pandas().set_index("person_id")
    sent = ev[(ev["event"] == "Message Sent") & (ev["channel"] == "whatsapp")]
    assert len(sent) > 0 and len(wa) > 0
    for row in sent.head(300).itertuples():
        person = wa_person[row.phone]
        state = p.loc[person, "consent_whatsapp"]
        at = p.loc[person, "consent_whatsapp_at"]
        assert state in ("yes", "withdrawn")
        if state == "yes":
            assert at <= row.timestamp
        else:
            assert at > row.timestamp  # sent before the withdrawal


def test_summary_counts(data):
    s = data.summary()
    assert s["persons"] == 3000
    assert s["records"] > s["expected profiles"] > s["persons"] * 0.9
    assert s["orders"] == data.orders.num_rows
    assert pc.sum(data.persons["orders"]).as_py() == s["orders"]
