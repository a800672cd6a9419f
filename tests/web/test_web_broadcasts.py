"""Broadcasts and Campaigns pages: reach with drop reasons, sandboxed templates, per-recipient
preview in the recipient's language, export download, KPIs and A/B figures equal to the
library's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pyarrow as pa
import pytest
from tests.web._web_support import csrf_token

from segmint.activation.webhook import SIGNATURE_HEADER, verify_signature
from segmint.config import CampaignSettings
from segmint.models.experiments import GroupStats, compare_conversion, format_p
from segmint.schema import TABLES

EVERYONE = """\
segments:
  - {slug: everyone, title_en: Everyone, title_zh_hant: 所有人, owner: crm,
     reviewed_on: 2026-01-01, where: {field: customer_id, op: exists}}
  - {slug: taiwan, title_en: Taiwan, title_zh_hant: 台灣, owner: crm,
     reviewed_on: 2026-01-01, where: {field: country, op: eq, value: TW}}
"""

FORM = {
    "name": "Spring VIP",
    "segments": "everyone",
    "channel": "whatsapp",
    "holdout": "10",
    "fallbacks": "first_name: friend",
    "attribution_days": "7",
    "cost": "50",
    "v0.name": "A", "v0.share": "45",
    "v0.en": "Hi {{ first_name }}, code {{ offer_code }}",
    "v0.zh": "{{ first_name }}你好！優惠碼 {{ offer_code }}",
    "v1.name": "B", "v1.share": "45",
    "v1.en": "Hey {{ first_name }}!", "v1.zh": "{{ first_name }}，新品到了！",
    "offer_codes": "on",
}  # fmt: skip


@pytest.fixture
def shop(web_ws):
    (web_ws.path / "segments").mkdir(exist_ok=True)
    (web_ws.path / "segments" / "mine.yaml").write_text(EVERYONE, encoding="utf-8")
    return web_ws


@pytest.fixture
def c(shop, client):
    """The logged-in client, on the workspace with the `everyone` segment."""
    client.headers["X-CSRF-Token"] = csrf_token(client, "/")
    return client


def _create(c, **changes) -> str:
    r = c.post("/broadcasts", data={**FORM, **changes}, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    return r.headers["location"].rsplit("/", 1)[1]


def _put(ws, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    data = [{k: r.get(k) for k in schema.names} for r in rows]
    ws.con.insert(table, pa.Table.from_pylist(data, schema=schema))


def test_pages_need_login(anon):
    for path in ("/broadcasts", "/broadcasts/new", "/broadcasts/x", "/campaigns", "/campaigns/x"):
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_every_post_needs_the_csrf_token(shop, client):
    for url in ("/broadcasts/reach", "/broadcasts/variants", "/broadcasts",
                "/broadcasts/x/export", "/broadcasts/x/send"):  # fmt: skip
        assert client.post(url, data=FORM).status_code == 403, url
        bad = client.post(url, data=FORM, headers={"X-CSRF-Token": "nope"})
        assert bad.status_code == 403 and "CSRF" in bad.text, url


def test_reach_counts_consenting_recipients_and_says_who_is_left_out(c, web_reader):
    r = c.post("/broadcasts/reach", data=FORM, headers={"HX-Request": "true"})
    n, dropped = web_reader.campaign_reach(
        {"name": "x", "segments": ["everyone"], "channel": "whatsapp", "templates": {"en": "Hi"}}
    )
    assert n == 20  # c15–c34 consented to WhatsApp
    assert f'id="reach-count" data-count="{n}"' in r.text
    assert dropped["no_consent"] == 20
    assert '<li data-reason="no_consent">no consent recorded for the channel: <strong>20' in r.text
    assert "holdout: 10%" in r.text  # the split, with the expected people per group
    email = c.post("/broadcasts/reach", data={**FORM, "channel": "email"})
    n_email, _ = web_reader.campaign_reach(
        {"name": "x", "segments": ["everyone"], "channel": "email", "templates": {"en": "Hi"}}
    )
    assert f'data-count="{n_email}"' in email.text and n_email != n


def test_frequency_cap_drops_people_recently_messaged(c, shop):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _put(shop, "events", [
        {"message_id": f"m{i}", "customer_id": "c15", "type": "track", "event": "Message Sent",
         "ts": now - dt.timedelta(days=1), "properties": "{}"} for i in range(2)
    ])  # fmt: skip
    r = c.post("/broadcasts/reach", data={**FORM, "cap_max": "2", "cap_days": "7"})
    assert 'data-count="19"' in r.text
    assert '<li data-reason="frequency_cap">frequency cap reached: <strong>1' in r.text


@pytest.mark.parametrize(
    "template",
    ["{{ ''.__class__.__mro__ }}", "{{ first_name|attr('__class__') }}", "{{ self }}"],
)
def test_template_injection_is_refused_and_nothing_is_stored(c, web_reader, template):
    r = c.post("/broadcasts", data={**FORM, "v0.en": template})
    assert r.status_code == 422
    assert "reach into Python internals" in r.text or "not allowed" in r.text, r.text[-3000:]
    assert web_reader.campaigns().count().execute() == 0
    live = c.post("/broadcasts/reach", data={**FORM, "v0.en": template})
    assert "reach into Python internals" in live.text or "not allowed" in live.text


def test_unknown_field_in_a_template_says_did_you_mean(c):
    r = c.post("/broadcasts/reach", data={**FORM, "v1.en": "Hi {{ frist_name }}"})
    assert "unknown field &#39;frist_name&#39;" in r.text and "first_name" in r.text


def test_variants_can_be_added_and_removed(c):
    r = c.post("/broadcasts/variants", data={**FORM, "action": "add"})
    assert 'name="v2.name" value="C"' in r.text
    r = c.post("/broadcasts/variants", data={**FORM, "action": "remove:0"})
    assert 'name="v0.name" value="B"' in r.text and 'name="v1.name"' not in r.text


def test_preview_renders_in_the_recipients_language(c, web_reader):
    cid = _create(c)
    page = c.get(f"/broadcasts/{cid}")
    assert page.status_code == 200 and f'hx-get="/broadcasts/{cid}/recipients"' in page.text
    listed = c.get(f"/broadcasts/{cid}/recipients")
    assert 'value="c15"' in listed.text
    expected = {r["customer_id"]: r for r in web_reader.campaign_preview(cid, limit=40).recipients}
    for who in ("c15", "c16"):  # zh-Hant and en
        r = c.get(f"/broadcasts/{cid}/preview", params={"customer_id": who})
        want = expected[who]
        assert f'data-language="{want["language"]}"' in r.text
        if want["status"] == "holdout":
            assert "gets no message" in r.text
        else:
            assert want["text"] in r.text
    zh = [r for r in expected.values() if r["language"] == "zh-Hant" and r["status"] == "ready"]
    r = c.get(f"/broadcasts/{cid}/preview", params={"customer_id": zh[0]["customer_id"]})
    assert "你好" in r.text or "新品到了" in r.text
    assert zh[0]["offer_code"] is None or zh[0]["offer_code"] in r.text
    nobody = c.get(f"/broadcasts/{cid}/preview", params={"customer_id": "c01"})
    assert nobody.status_code == 404 and "would not receive" in nobody.text


def test_a_recipient_whose_message_fails_is_shown_and_the_export_refused(c, web_reader):
    cid = _create(c, fallbacks="", **{"v0.en": "Hi {{ last_product }}", "v1.en": "Hi"})
    page = c.get(f"/broadcasts/{cid}/recipients")
    assert "cannot be rendered" in page.text
    r = c.post(f"/broadcasts/{cid}/export", data={"format": "csv"})
    assert r.status_code == 400 and "nothing was sent" in r.text
    assert web_reader.table("campaign_recipients").count().execute() == 0


def test_export_downloads_the_file_and_records_the_send(c, web_reader):
    cid = _create(c)
    r = c.post(f"/broadcasts/{cid}/export", data={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="{cid}.csv"'
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    recipients = web_reader.table("campaign_recipients").to_pyarrow().to_pylist()
    exported = [x for x in recipients if x["status"] == "exported"]
    assert len(rows) == len(exported) > 0
    assert any(x["status"] == "holdout" for x in recipients)
    assert {r["variant"] for r in rows} == {"A", "B"}
    again = c.get(f"/broadcasts/{cid}/download")
    assert again.status_code == 200 and again.content == r.content
    twice = c.post(f"/broadcasts/{cid}/export", data={"format": "json"})
    assert twice.status_code == 400 and "already sent" in twice.text
    j = c.post(f"/broadcasts/{_create(c, name='Second')}/export", data={"format": "json"})
    assert isinstance(json.loads(j.content), list)


def test_send_without_a_webhook_says_how_to_configure_it(c):
    cid = _create(c)
    assert "No webhook configured" in c.get(f"/broadcasts/{cid}").text
    r = c.post(f"/broadcasts/{cid}/send", headers={"HX-Request": "true"})
    assert r.status_code == 400 and "webhook_url" in r.text


def _feed_outcomes(ws, cid: str) -> None:
    """Delivered/read events for some recipients and orders within the window for others."""
    rec = ws.table("campaign_recipients").to_pyarrow().to_pylist()
    sent_at = ws.table("campaigns").sent_at.max().execute()
    events, orders = [], []
    for i, r in enumerate(sorted(rec, key=lambda x: x["customer_id"])):
        ts = sent_at + dt.timedelta(hours=1 + i)
        if r["status"] != "holdout":
            events.append({"message_id": f"d{i}", "customer_id": r["customer_id"], "type": "track",
                           "event": "Message Delivered", "ts": ts,
                           "properties": json.dumps({"campaign_id": cid})})  # fmt: skip
            if i % 2:
                events.append({"message_id": f"r{i}", "customer_id": r["customer_id"],
                               "type": "track", "event": "Message Read", "ts": ts,
                               "properties": json.dumps({"campaign_id": cid})})  # fmt: skip
        if i % 3 == 0:
            orders.append({"order_id": f"after{i}", "customer_id": r["customer_id"], "ts": ts,
                           "amount": 100.0 + i, "status": "completed"})  # fmt: skip
    _put(ws, "events", events)
    _put(ws, "orders", orders)


def _cells(html: str, table_id: str) -> dict[str, dict[str, str]]:
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S).group(1)
    out = {}
    for group, row in re.findall(r'<tr data-group="([^"]+)">(.*?)</tr>', body, re.S):
        out[group] = dict(re.findall(r'data-col="(\w+)">([^<]*)<', row))
    return out


def test_campaign_kpis_page_equals_campaign_kpis(c, web_reader):
    cid = _create(c)
    c.post(f"/broadcasts/{cid}/export", data={"format": "csv"})
    _feed_outcomes(web_reader, cid)
    r = c.get(f"/campaigns/{cid}")
    assert r.status_code == 200
    kpis = web_reader.campaign_kpis(cid)
    shown = _cells(r.text, "by-variant")
    assert set(shown) == set(kpis.by_variant["variant"])
    for row in kpis.by_variant.to_dict("records"):
        cells = shown[row["variant"]]
        for col in ("recipients", "sent", "delivered", "read", "clicked", "converted", "orders"):
            assert cells[col] == f"{int(row[col]):,}", (row["variant"], col)
        assert cells["revenue"] == f"{row['revenue']:,.2f}"
        assert cells["conversion_rate"] == f"{100 * row['conversion_rate']:.1f}%"
    assert kpis.total["delivered"] > 0 and kpis.total["converted"] > 0
    totals = dict(
        re.findall(
            r'data-col="(\w+)"><div class="label">[^<]*</div><div class="value">([^<]*)<', r.text
        )
    )
    assert totals["delivered"] == f"{int(kpis.total['delivered']):,}"
    assert totals["revenue"] == f"{kpis.total['revenue']:,.2f}"
    seg = _cells(r.text, "by-segment")
    assert seg["everyone"]["recipients"] == f"{int(kpis.by_segment['recipients'].sum()):,}"
    listing = c.get("/campaigns")
    assert cid in listing.text


def test_ab_figures_equal_models_experiments_in_both_languages(c, web_reader, web_app):
    cid = _create(c)
    c.post(f"/broadcasts/{cid}/export", data={"format": "csv"})
    _feed_outcomes(web_reader, cid)
    frame = web_reader.campaign_kpis(cid).by_variant.set_index("variant")

    def stats(name: str) -> GroupStats:
        row = frame.loc[name]
        return GroupStats(name, int(row.recipients), int(row.converted), float(row.revenue),
                          float(row.revenue_sq))  # fmt: skip

    test = compare_conversion(stats("A"), stats("B"))
    r = c.get(f"/campaigns/{cid}")
    row = re.search(
        r'<tr data-kind="conversion" data-b="B" data-p="([^"]+)">(.*?)</tr>', r.text, re.S
    )
    assert row and float(row.group(1)) == pytest.approx(test.p_value, rel=1e-12)
    assert format_p(test.p_value) in row.group(2)
    assert f"{100 * test.ci_low:.1f}% … {100 * test.ci_high:.1f}%" in row.group(2)
    verdicts = re.findall(r'<li class="verdict" data-kind="conversion">([^<]*)<', r.text)
    assert verdicts[0] == test.verdict_en.replace("'", "&#39;")
    c.post("/lang", data={"lang": "zh-Hant", "next": f"/campaigns/{cid}"})
    zh = c.get(f"/campaigns/{cid}")
    assert re.findall(r'<li class="verdict" data-kind="conversion">([^<]*)<', zh.text)[0] == (
        test.verdict_zh_hant
    )
    assert "依版本" in zh.text  # the page itself is in Traditional Chinese too
    lift = _cells(r.text, "by-variant")["A"]["lift"]
    expected = web_reader.campaign_kpis(cid).lift["A"]
    assert lift == ("–" if expected is None else f"{100 * expected:.1f}%")


class _Receiver(BaseHTTPRequestHandler):
    """The channel's side of the webhook: checks the signature, answers with provider ids."""

    secret = "s3cret-for-tests"
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            verify_signature(body, self.headers.get(SIGNATURE_HEADER), self.secret)
        except Exception:
            self.send_response(401)
            self.end_headers()
            return
        payload = json.loads(body)
        type(self).received.append(payload)
        data = json.dumps({"results": [
            {"message_id": m["message_id"], "provider_message_id": "wamid." + m["customer_id"]}
            for m in payload["messages"]
        ]}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        return


def test_send_posts_signed_messages_to_the_configured_webhook(c, shop, web_reader):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.received = []
    try:
        shop.config.campaigns = CampaignSettings(
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
            webhook_secret=_Receiver.secret,
        )
        cid = _create(c)
        assert "Send to the webhook" in c.get(f"/broadcasts/{cid}").text
        r = c.post(f"/broadcasts/{cid}/send", headers={"HX-Request": "true"})
        assert r.status_code == 200 and "sent" in r.text, r.text[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    sent = [m for batch in _Receiver.received for m in batch["messages"]]
    rec = web_reader.table("campaign_recipients").to_pyarrow().to_pylist()
    assert len(sent) == sum(x["status"] == "sent" for x in rec) > 0
    assert {x["provider_message_id"] for x in rec if x["status"] == "sent"} == {
        "wamid." + m["customer_id"] for m in sent
    }
