"""Campaigns on a small hand-built workspace: create, preview, export, send, KPIs, A/B, CLI."""

from __future__ import annotations

import csv
import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import ibis
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmint.activation.broadcast import sent_message_id
from segmint.activation.webhook import SIGNATURE_HEADER, verify_signature
from segmint.cli import app
from segmint.errors import NotFoundError, ValidationError
from segmint.features.rfm import RFM_SEGMENTS
from segmint.schema import TABLES
from segmint.workspace import Workspace

SEGMENTS = """\
segments:
  - slug: everyone
    title_en: Everyone
    title_zh_hant: 所有人
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: customer_id, op: exists}
  - slug: vips
    title_en: VIPs
    title_zh_hant: 貴賓
    owner: crm
    reviewed_on: 2026-01-01
    where: {tag: vip}
"""

N = 60


def put(ws: Workspace, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    ws.con.insert(table, pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows],
                                              schema=schema))  # fmt: skip


def _profile(i: int) -> dict:
    return {
        "customer_id": f"c{i:02d}",
        "first_name": None if i == 7 else f"P{i}",
        "name": f"Person {i}",
        "phone": f"+8529123{i:04d}",
        "email": f"p{i}@example.com",
        "language": "zh-Hant" if i % 3 == 0 else "en",
        "country": "HK",
        "consent_whatsapp": i != 1,  # c01 withdrew
        "consent_whatsapp_at": datetime(2026, 1, 1),
        "traits": json.dumps({"points": 10 * i}),
    }


@pytest.fixture
def ws(tmp_path):
    with Workspace.create(tmp_path / "shop", default_region="HK") as w:
        put(w, "profiles", [_profile(i) for i in range(N)])
        put(w, "orders", [
            {"order_id": f"h{i}", "customer_id": f"c{i:02d}", "ts": datetime(2026, 1, 10 + i % 5),
             "amount": 40.0 + i, "status": "completed"} for i in range(N)
        ])  # fmt: skip
        put(w, "order_items", [
            {"order_id": f"h{i}", "product_id": f"sku{i % 4}", "category": ["lip", "eye"][i % 2],
             "quantity": 1, "price": 40.0 + i} for i in range(N)
        ])  # fmt: skip
        (w.path / "segments").mkdir()
        (w.path / "segments" / "mine.yaml").write_text(SEGMENTS, encoding="utf-8")
        w.tags_add("vip", [f"c{i:02d}" for i in range(0, N, 4)])
        yield w


def _campaign(**extra) -> dict:
    """The test campaign; ``key=None`` leaves a key out."""
    data = {
        "name": "Spring VIP",
        "segments": ["vips", "everyone"],
        "channel": "whatsapp",
        "holdout": 20,
        "offer_codes": True,
        "cost": 100.0,
        "attribution_days": 7,
        "fallbacks": {"first_name": "friend"},
        "variants": [
            {"name": "A", "share": 40, "templates": {
                "en": "Hi {{ first_name }}, {{ points }} points. Code {{ offer_code }}",
                "zh-Hant": "{{ first_name }}你好，你有 {{ points }} 積分。"
                           "優惠碼 {{ offer_code }}"}},
            {"name": "B", "share": 40, "templates": {
                "en": "{{ first_name }}: your {{ favourite_category }} pick {{ last_product }}"}},
        ],
        **extra,
    }  # fmt: skip
    return {k: v for k, v in data.items() if v is not None}


def recipients(ws: Workspace, cid: str) -> dict[str, dict]:
    r = ws.table("campaign_recipients")
    rows = r.filter(r.campaign_id == cid).to_pyarrow().to_pylist()
    return {x["customer_id"]: x for x in rows}


# -- create and preview ---------------------------------------------------------------------------
def test_create_checks_segments_and_stores_the_campaign(ws):
    with pytest.raises(NotFoundError) as err:
        ws.campaign_create(_campaign(segments=["vip"]))
    assert err.value.suggestions == ["vips"]
    row = ws.campaign_create(_campaign(), campaign_id="cmp_spring")
    assert row["sent_at"] is None and row["currency"] == "HKD"
    stored = ws.campaigns().to_pyarrow().to_pylist()
    assert [r["campaign_id"] for r in stored] == ["cmp_spring"]
    assert json.loads(stored[0]["segments"]) == ["vips", "everyone"]
    with pytest.raises(ValidationError, match="already exists"):
        ws.campaign_create(_campaign(), campaign_id="cmp_spring")


def test_preview_renders_per_recipient_in_their_language_and_writes_nothing(ws):
    ws.campaign_create(_campaign(), campaign_id="cmp_spring")
    p = ws.campaign_preview("cmp_spring", customer_ids=["c03", "c07", "c04"])
    by_id = {r["customer_id"]: r for r in p.recipients}
    for cid, r in by_id.items():
        if r["variant"] == "A" and r["language"] == "zh-Hant":
            assert (
                r["text"]
                == f"P{int(cid[1:])}你好，你有 {10 * int(cid[1:])} 積分。優惠碼 {r['offer_code']}"
            )
    assert by_id["c04"]["segment"] == "vips" and by_id["c03"]["segment"] == "everyone"
    if by_id["c07"]["variant"] == "A":
        assert by_id["c07"]["text"].startswith("Hi friend, 70 points")  # the fallback
    assert p.dropped["withdrawn"] == 1
    assert ws.table("campaign_recipients").count().execute() == 0
    with pytest.raises(NotFoundError, match="c01 would not receive this campaign"):
        ws.campaign_preview("cmp_spring", customer_ids=["c01"])


# -- export ---------------------------------------------------------------------------------------
def test_export_writes_messages_records_recipients_and_sent_events(ws, tmp_path):
    ws.campaign_create(_campaign(), campaign_id="cmp_spring")
    shown = ws.campaign_preview("cmp_spring", limit=8).recipients
    result = ws.campaign_export("cmp_spring", path=tmp_path / "out.csv")
    rec = recipients(ws, "cmp_spring")
    # the preview showed the variants and offer codes the export gave
    assert [(r["variant"], r["offer_code"]) for r in shown] == [
        (rec[r["customer_id"]]["variant"], rec[r["customer_id"]]["offer_code"]) for r in shown
    ]
    assert len(rec) == N - 1  # c01 withdrew
    holdout = {c for c, r in rec.items() if r["variant"] == "holdout"}
    assert holdout and all(rec[c]["status"] == "holdout" and rec[c]["offer_code"] is None
                           for c in holdout)  # fmt: skip
    assert result.statuses == {"exported": N - 1 - len(holdout), "holdout": len(holdout)}
    with open(result.path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["customer_id"] for r in rows} == set(rec) - holdout
    assert all(r["message_id"] == sent_message_id("cmp_spring", r["customer_id"]) for r in rows)
    ev = ws.table("events")
    sent = ev.filter(ev.event == "Message Sent").to_pyarrow().to_pylist()
    assert len(sent) == len(rows) == result.events_recorded
    assert json.loads(sent[0]["properties"])["campaign_id"] == "cmp_spring"
    # a campaign is sent once
    with pytest.raises(ValidationError, match="was already sent"):
        ws.campaign_export("cmp_spring", path=tmp_path / "again.csv")


def test_one_rendering_failure_refuses_the_export_unless_allowed(ws, tmp_path):
    bad = _campaign(fallbacks={}, variants=None, holdout=0,
                    templates={"en": "Hi {{ first_name }}"})  # fmt: skip
    ws.campaign_create(bad, campaign_id="cmp_bad")
    with pytest.raises(ValidationError) as err:
        ws.campaign_export("cmp_bad", path=tmp_path / "bad.csv")
    assert "could not be rendered for 1 recipient(s); nothing was sent" in err.value.message
    assert "c07 (variant A, en): the field 'first_name' is empty" in err.value.message
    assert not (tmp_path / "bad.csv").exists()
    assert ws.table("campaign_recipients").count().execute() == 0
    result = ws.campaign_export("cmp_bad", path=tmp_path / "bad.csv", allow_failures=True)
    assert [f.customer_id for f in result.failures] == ["c07"]
    rec = recipients(ws, "cmp_bad")
    assert rec["c07"]["status"] == "failed"
    assert (
        rec["c07"]["error"]
        == "the field 'first_name' is empty for this recipient and has no fallback"
    )
    ev = ws.table("events")
    assert ev.filter(ev.customer_id == "c07").count().execute() == 0  # nothing sent to c07


def test_the_frequency_cap_counts_earlier_campaigns(ws, tmp_path):
    ws.campaign_create(_campaign(holdout=0, variants=None, offer_codes=False,
                                 templates={"en": "One"}), campaign_id="cmp_one")  # fmt: skip
    ws.campaign_export("cmp_one", path=tmp_path / "one.csv")
    cap = {"max_messages": 1, "period_days": 7}
    ws.campaign_create(_campaign(frequency_cap=cap), campaign_id="cmp_two")
    p = ws.campaign_preview("cmp_two")
    assert p.recipients == [] and p.dropped["frequency_cap"] == N - 1
    ws.campaign_create(_campaign(frequency_cap={**cap, "max_messages": 2}), campaign_id="cmp_3")
    assert ws.campaign_preview("cmp_3").dropped["frequency_cap"] == 0


# -- KPIs -----------------------------------------------------------------------------------------
def _roles(rec: dict[str, dict]) -> dict[str, str]:
    treated = sorted(c for c, r in rec.items() if r["variant"] != "holdout")
    held = sorted(c for c, r in rec.items() if r["variant"] == "holdout")
    names = ("both", "mapped", "own_id", "at_start", "at_end", "before", "redeemed", "early")
    roles = dict(zip(names, treated, strict=False))
    roles["holdout"] = held[0]
    roles["holdout_late"] = held[1]
    return roles


def test_kpis_end_to_end_with_attribution_window_edges(ws, tmp_path):
    ws.campaign_create(_campaign(), campaign_id="cmp_spring")
    ws.campaign_export("cmp_spring", path=tmp_path / "out.csv")
    rec = recipients(ws, "cmp_spring")
    sent_at = ws.campaigns().to_pyarrow().to_pylist()[0]["sent_at"]
    role = _roles(rec)
    day = timedelta(days=1)
    ws.campaign_map_messages(
        "cmp_spring",
        pa.table({"customer_id": [role["mapped"]], "provider_message_id": ["wamid.M"]}),
    )
    cid = {"campaign_id": "cmp_spring"}
    put(ws, "events", [
        # 1. campaign_id + customer_id: delivered and read
        {"message_id": "e1", "customer_id": role["both"], "event": "Message Delivered",
         "ts": sent_at + timedelta(minutes=1), "properties": json.dumps(cid)},
        {"message_id": "e2", "customer_id": role["both"], "event": "Message Read",
         "ts": sent_at + timedelta(minutes=5), "properties": json.dumps(cid)},
        # 2. WhatsApp status with the provider id only, no customer: read (implies delivered)
        {"message_id": "e3", "customer_id": None, "event": "Message Read",
         "ts": sent_at + timedelta(hours=1), "properties": json.dumps({"message_id": "wamid.M"})},
        # 3. our own messageId: clicked
        {"message_id": "e4", "customer_id": None, "event": "Message Clicked",
         "ts": sent_at + timedelta(hours=2),
         "properties": json.dumps({"message_id": sent_message_id("cmp_spring", role["own_id"])})},
        # a status before the send does not count
        {"message_id": "e5", "customer_id": role["early"], "event": "Message Delivered",
         "ts": sent_at - timedelta(hours=1), "properties": json.dumps(cid)},
        # in-store redemption of an offer code a month later, not linked to anyone
        {"message_id": "e6", "customer_id": None, "event": "Order Completed",
         "ts": sent_at + 30 * day, "properties": json.dumps(
             {"coupon": rec[role["redeemed"]]["offer_code"].lower(), "order_id": "o-red"})},
    ])  # fmt: skip
    put(ws, "orders", [
        {"order_id": "o1", "customer_id": role["both"], "ts": sent_at + day, "amount": 100.0},
        {"order_id": "o2", "customer_id": role["both"], "ts": sent_at + 2 * day, "amount": 50.0},
        {"order_id": "o3", "customer_id": role["at_start"], "ts": sent_at, "amount": 30.0},
        {"order_id": "o4", "customer_id": role["at_end"], "ts": sent_at + 7 * day, "amount": 999.0},
        {"order_id": "o5", "customer_id": role["before"], "ts": sent_at - timedelta(seconds=1),
         "amount": 999.0},
        {"order_id": "o6", "customer_id": role["holdout"], "ts": sent_at + 3 * day, "amount": 20.0},
        {"order_id": "o7", "customer_id": role["holdout_late"], "ts": sent_at + 8 * day,
         "amount": 999.0},
        {"order_id": "o8", "customer_id": role["both"], "ts": sent_at + 3 * day, "amount": 5.0,
         "status": "refunded"},
        {"order_id": "o-red", "customer_id": None, "ts": sent_at + 30 * day, "amount": 75.0,
         "status": "completed"},
    ])  # fmt: skip

    k = ws.campaign_kpis("cmp_spring")
    treated = [c for c, r in rec.items() if r["variant"] != "holdout"]
    assert k.total["recipients"] == k.total["sent"] == len(treated)
    assert k.total["delivered"] == 3  # both, mapped (read), own_id (clicked); not early
    assert (k.total["read"], k.total["clicked"]) == (2, 1)
    assert k.total["converted"] == 3  # both, at_start, redeemed (not at_end, before, refunded)
    assert k.total["orders"] == 4 and k.total["redeemed"] == 1
    assert k.total["revenue"] == pytest.approx(100 + 50 + 30 + 75)
    assert k.total["roi"] == pytest.approx((255 - 100) / 100)

    by_variant = k.by_variant.set_index("variant")
    hold = by_variant.loc["holdout"]
    assert (hold.sent, hold.converted, hold.revenue) == (0, 1, 20.0)  # o6 yes, o7 too late
    assert pd_sum(k.by_variant, "recipients") == len(rec)
    expected = {}
    for name, c in role.items():
        if name in ("both", "at_start", "redeemed"):
            expected[rec[c]["variant"]] = expected.get(rec[c]["variant"], 0) + 1
    for variant, n in expected.items():
        assert by_variant.loc[variant].converted == n
    assert by_variant["cost"].sum() == pytest.approx(100.0)
    by_segment = k.by_segment.set_index("segment")
    assert set(by_segment.index) == {"vips", "everyone"}
    assert by_segment.loc["vips"].recipients == sum(
        1 for r in rec.values() if r["segment"] == "vips"
    )
    hold_rate = 1 / hold.recipients
    for variant in ("A", "B"):
        rate = by_variant.loc[variant].converted / by_variant.loc[variant].recipients
        assert k.lift[variant] == pytest.approx(rate / hold_rate - 1)

    ab = ws.campaign_ab("cmp_spring")
    assert ab.baseline == "A" and set(ab.conversion) == {"B"}
    assert set(ab.versus_holdout) == {"A", "B"}
    assert all(v.startswith("Too few recipients") for v in ab.verdicts("en")[:1])
    assert all("收件人" in v or "收入" in v for v in ab.verdicts("zh-Hant"))


def pd_sum(frame, col: str) -> int:
    return int(frame[col].sum())


# -- webhook --------------------------------------------------------------------------------------
class _Receiver(BaseHTTPRequestHandler):
    secret = "hook-secret"
    received: ClassVar[list[dict]] = []
    status = 200

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
        answer = {
            "results": [
                {"message_id": m["message_id"], "provider_message_id": "wamid." + m["customer_id"]}
                for m in payload["messages"]
            ]
        }
        data = json.dumps(answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output quiet
        return


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_send_posts_signed_batches_the_receiver_verifies(ws, receiver):
    ws.campaign_create(_campaign(), campaign_id="cmp_hook")
    result = ws.campaign_send("cmp_hook", url=receiver, secret=_Receiver.secret)
    assert len(_Receiver.received) == 1
    sent = _Receiver.received[0]["messages"]
    rec = recipients(ws, "cmp_hook")
    assert {m["customer_id"] for m in sent} == {c for c, r in rec.items() if r["status"] == "sent"}
    assert result.statuses["sent"] == len(sent) and result.delivery == "webhook"
    assert all(m["to"].startswith("+8529123") and m["text"] for m in sent)
    # the provider ids the receiver returned are kept for status events
    assert all(rec[m["customer_id"]]["provider_message_id"] == "wamid." + m["customer_id"]
               for m in sent)  # fmt: skip


def test_a_wrong_secret_is_refused_by_the_receiver_and_nothing_is_recorded(ws, receiver):
    ws.campaign_create(_campaign(), campaign_id="cmp_hook")
    with pytest.raises(ValidationError, match=r"accepted none of the .* HTTP 401"):
        ws.campaign_send("cmp_hook", url=receiver, secret="not-the-secret")
    assert ws.table("campaign_recipients").count().execute() == 0
    assert ws.campaigns().to_pyarrow().to_pylist()[0]["sent_at"] is None


def test_webhook_settings_come_from_segmint_yaml(ws, receiver, monkeypatch):
    ws.config.campaigns.webhook_url = receiver
    ws.config.campaigns.webhook_secret = "env:SEGMINT_TEST_HOOK_SECRET"
    monkeypatch.setenv("SEGMINT_TEST_HOOK_SECRET", _Receiver.secret)
    ws.campaign_create(_campaign(), campaign_id="cmp_hook")
    assert ws.campaign_send("cmp_hook").messages > 0 and _Receiver.received


# -- CLI ------------------------------------------------------------------------------------------
CAMPAIGN_YAML = """\
name: Spring VIP
segments: [vips]
channel: whatsapp
holdout: 10
fallbacks: {first_name: friend}
variants:
  - name: A
    share: 45
    templates:
      en: "Hi {{ first_name }}, {{ points }} points"
      zh-Hant: "{{ first_name }}你好，你有 {{ points }} 積分"
  - name: B
    share: 45
    templates:
      en: "Hey {{ first_name }}"
"""


def test_cli_create_preview_export_kpis(ws, tmp_path):
    runner = CliRunner()
    spec = tmp_path / "spring.yaml"
    spec.write_text(CAMPAIGN_YAML, encoding="utf-8")
    w = ["-w", str(ws.path)]
    ws.close()
    r = runner.invoke(app, ["campaigns", "create", str(spec), "--id", "cmp_cli", *w])
    assert r.exit_code == 0, r.output
    assert "Created campaign cmp_cli (whatsapp)." in r.output
    r = runner.invoke(app, ["campaigns", "preview", "cmp_cli", "-c", "c00", *w])
    assert r.exit_code == 0, r.output
    assert "c00" in r.output and ("P0你好，你有 0 積分" in r.output or "Hey P0" in r.output
                                  or "holdout" in r.output)  # fmt: skip
    out = tmp_path / "cli.csv"
    r = runner.invoke(app, ["campaigns", "export", "cmp_cli", "-o", str(out), *w])
    assert r.exit_code == 0, r.output
    assert out.exists() and "Recorded" in r.output
    r = runner.invoke(app, ["campaigns", "kpis", "cmp_cli", "--lang", "zh-Hant", *w])
    assert r.exit_code == 0, r.output
    assert "By variant" in r.output and "收件人太少" in r.output


def test_a_workspace_from_before_campaigns_gets_the_tables(tmp_path):
    with Workspace.create(tmp_path / "old") as w:
        w.con.drop_table("campaigns")
        w.con.drop_table("campaign_recipients")
    with Workspace.open(tmp_path / "old") as w:  # already at schema version 2
        assert w.campaigns().count().execute() == 0
        assert {"campaigns", "campaign_recipients"} <= set(w.con.list_tables())


def test_persona_and_rfm_titles_follow_the_recipient_language(ws):
    ws.save("clusters", ws.table("profiles").select(
        "customer_id", cluster=ibis.literal(1), persona=ibis.literal("Loyal fans"),
        persona_zh_hant=ibis.literal("忠實粉絲"),
    ))  # fmt: skip
    ws.campaign_create(
        _campaign(variants=None, holdout=0, offer_codes=False,
                  templates={"en": "{{ persona }} / {{ rfm_segment }}",
                             "zh-Hant": "{{ persona }}／{{ rfm_segment }}"}),
        campaign_id="cmp_p",
    )  # fmt: skip
    by_id = {r["customer_id"]: r["text"] for r in
             ws.campaign_preview("cmp_p", customer_ids=["c02", "c03"]).recipients}  # fmt: skip
    assert by_id["c02"].startswith("Loyal fans / ") and by_id["c02"] != "Loyal fans / "
    assert by_id["c03"].startswith("忠實粉絲／")
    title_en = by_id["c02"].split(" / ")[1]
    assert title_en in {s.title_en for s in RFM_SEGMENTS.values()}
    assert by_id["c03"].split("／")[1] in {s.title_zh for s in RFM_SEGMENTS.values()}
