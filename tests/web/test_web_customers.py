"""Customers: search, the 360 page, tags through CSRF-protected forms, escaping."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from tests.web._web_support import csrf_token

from segmint.schema import TABLES


def _ids(html: str) -> list[str]:
    return re.findall(r'<a href="/customers/([^"]+)">', html)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("person7@mail.hk", ["c07"]),
        ("PERSON7@Mail.HK", ["c07"]),  # e-mails compare lower-case
        ("+852 9000 0020", ["c20"]),
        ("9000-0020", ["c20"]),  # national number in the workspace region (HK)
        ("c12", ["c12"]),
        ("First13 Last13", ["c13"]),
        ("陳33", ["c33"]),  # the WhatsApp name
        ("whatsapp_none", []),
    ],
)
def test_search_finds_by_email_phone_id_and_name(client, q, expected):
    r = client.get("/customers", params={"q": q})
    assert r.status_code == 200
    assert _ids(r.text) == expected


def test_search_by_part_of_a_name_paginates(client):
    first = client.get("/customers", params={"q": "first"}).text
    assert "30 customers match" in first
    assert len(_ids(first)) == 25 and "Page 1 of 2" in first
    second = client.get("/customers", params={"q": "first", "page": 2}).text
    assert _ids(second) == [f"c{p}" for p in range(26, 31)]


def test_search_by_identifier_of_a_channel(client):
    # 'shopify:17' is stored as identity (shopify, '17') of c17
    assert _ids(client.get("/customers", params={"q": "17"}).text) == ["c17"]


def test_htmx_search_returns_only_the_results(client):
    r = client.get("/customers", params={"q": "c12"}, headers={"HX-Request": "true"})
    assert r.text.lstrip().startswith('<section id="results"')
    assert "<html" not in r.text


def test_360_shows_identities_segments_consent_and_timeline(client):
    html = client.get("/customers/c20").text
    for text in ("person20@mail.hk", "+85290000020", "shopify", "whatsapp", "Identities"):
        assert text in html
    assert "Consent" in html and "Timeline" in html
    # no stored rfm table here: the customer's own values (test_web_background.py)
    assert "RFM scores and segments appear after an RFM run." in html


def test_unknown_customer_is_a_404_page(client):
    r = client.get("/customers/c99")
    assert r.status_code == 404
    assert "There is no customer &#39;c99&#39;." in r.text


def test_tag_add_and_remove_through_forms(client, web_reader):
    token = csrf_token(client, "/customers/c05")
    r = client.post(
        "/customers/c05/tags", data={"tag": "dessert_lover", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/customers/c05"
    t = web_reader.table("tags")
    rows = t.filter(t.customer_id == "c05").to_pyarrow().to_pylist()
    assert [(x["tag"], x["source"]) for x in rows] == [("dessert_lover", "web:mei")]
    assert "dessert_lover" in client.get("/customers/c05").text

    r = client.post(
        "/customers/c05/tags/remove",
        data={"tag": "dessert_lover"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert r.status_code == 200 and "Removed tag dessert_lover." in r.text
    assert web_reader.table("tags").count().execute() == 0


def test_invalid_tag_is_explained(client):
    token = csrf_token(client, "/customers/c05")
    r = client.post("/customers/c05/tags", data={"tag": "", "csrf_token": token})
    assert r.status_code == 400
    assert 'class="alert error"' in r.text


def test_customer_names_are_escaped(client, web_reader):
    evil = "<script>alert('x')</script>"
    row = {c: [None] for c in TABLES["profiles"].names}
    row |= {"customer_id": ["c_evil"], "name": [evil], "city": ['"><img src=x onerror=alert(1)>']}
    web_reader.con.insert("profiles", pa.table(row, schema=TABLES["profiles"].to_pyarrow()))
    for html in (
        client.get("/customers", params={"q": "script"}).text,
        client.get("/customers/c_evil").text,
    ):
        assert evil not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
