"""Workflows: definitions and their errors, segment-entered triggers with tags and signed
webhooks, retries → dead letters → replay, failures that block nothing, CLI and admin API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from tests.server._server_support import NOW, TestClient
from typer.testing import CliRunner

from segmint import storage
from segmint import workflows as store
from segmint.activation.webhook import SIGNATURE_HEADER, verify_signature
from segmint.activation.workflows import Cron, parse_workflows
from segmint.cli import app as cli_app
from segmint.config import RealtimeSettings
from segmint.errors import DefinitionError
from segmint.server import ServerSettings, create_app
from segmint.workspace import Workspace

SECRET = "wf-s3cret"
VIEWERS = {
    "slug": "wf_viewers",
    "title_en": "Viewers",
    "title_zh_hant": "瀏覽者",
    "owner": "crm",
    "reviewed_on": "2026-01-01",
    "where": {"performed": "Product Viewed", "within_last": {"days": 1}},
}


class Receiver:
    """A webhook receiver on 127.0.0.1 that checks the signature; answers ``fail`` times 500
    first (``fail=-1``: always)."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.bodies: list[dict] = []
        self.refused = 0
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    verify_signature(body, self.headers.get(SIGNATURE_HEADER), SECRET)
                except Exception:
                    outer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if outer.fail != 0:
                    outer.fail -= 1 if outer.fail > 0 else 0
                    outer.refused += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _workspace(tmp_path, workflows: list[dict], *, tries: int = 3) -> Workspace:
    ws = Workspace.create(
        tmp_path / "shop",
        default_region="HK",
        workflows={
            "webhook_secret": SECRET,
            "webhook_tries": tries,
            "webhook_backoff_seconds": 0.01,
            "webhook_timeout_seconds": 5,
        },
    )
    (ws.path / "segments").mkdir()
    (ws.path / "segments" / "wf.yaml").write_text(yaml.safe_dump(VIEWERS), encoding="utf-8")
    (ws.path / "workflows").mkdir()
    (ws.path / "workflows" / "flows.yaml").write_text(
        yaml.safe_dump({"workflows": workflows}), encoding="utf-8"
    )
    return ws


def _app(ws):
    key = ws.keys_create("ingest").token
    admin = ws.keys_create("admin").token
    settings = ServerSettings(
        clock=lambda: NOW, realtime=RealtimeSettings(batch_seconds=0, sweep_minutes=0)
    )
    return create_app(ws, settings=settings), key, admin


def _settle(state) -> None:
    assert state.realtime.wait_idle(60)
    assert state.automation.wait_idle(60)
    assert state.realtime.wait_idle(60)


def _welcome(url: str) -> dict:
    return {
        "slug": "welcome_viewer",
        "trigger": {"segment_entered": "wf_viewers"},
        "if": {"field": "country", "op": "eq", "value": "HK"},
        "actions": [
            {"add_tag": "browsing"},
            {"add_to_list": "retarget"},
            {"set_trait": {"name": "stage", "value": "browsing"}},
            {"webhook": {"url": url}},
        ],
    }


def _view(client, key, uid: str, country: str = "HK") -> None:
    batch = [
        {"type": "identify", "userId": uid, "traits": {"address": {"country": country}}},
        {"type": "track", "userId": uid, "event": "Product Viewed"},
    ]
    assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200


def _cid(reader, uid: str) -> str:
    i = reader.table("identities")
    return i.filter(i.id_value == uid).to_pyarrow().column("customer_id")[0].as_py()


def test_segment_entered_tags_lists_sets_a_trait_and_calls_a_signed_webhook(tmp_path, receiver):
    ws = _workspace(tmp_path, [_welcome(receiver.url)])
    app, key, admin = _app(ws)
    with TestClient(app) as client:
        state = app.state.segmint
        _view(client, key, "amy", "HK")
        _view(client, key, "tom", "TW")  # enters the segment, fails the condition
        _settle(state)
        reader = state.reader()
        amy, tom = _cid(reader, "amy"), _cid(reader, "tom")
        tags = reader.table("tags").to_pyarrow().to_pylist()
        assert [(t["customer_id"], t["tag"], t["source"]) for t in tags] == [
            (amy, "browsing", "workflow:welcome_viewer")
        ]
        lists = reader.table("audience_lists").to_pyarrow().to_pylist()
        assert [(r["list"], r["customer_id"]) for r in lists] == [("retarget", amy)]
        profile = client.get(f"/v1/profiles/{amy}", auth=(admin, "")).json()["profile"]
        assert profile["traits"]["stage"] == "browsing"
        assert profile["country"] == "HK"  # the workflow's record changed only the trait
        # the receiver checked the signature of the one body it got
        assert receiver.bad_signatures == 0
        assert [b["customer_id"] for b in receiver.bodies] == [amy]
        body = receiver.bodies[0]
        assert body["workflow"] == "welcome_viewer"
        assert body["trigger"] == "segment_entered:wf_viewers"
        assert body["profile"]["country"] == "HK"
        runs = {r["customer_id"]: r for r in client.get(
            "/v1/workflows/runs", auth=(admin, "")).json()}  # fmt: skip
        assert runs[amy]["status"] == "done"
        assert runs[tom]["status"] == "skipped"
        assert [a["action"] for a in runs[amy]["actions"]] == [
            "add_tag", "add_to_list", "set_trait", "webhook"
        ]  # fmt: skip
        # a second view changes no membership, so the workflow does not run again
        client.post("/v1/track", auth=(key, ""), json={"userId": "amy", "event": "Product Viewed"})
        _settle(state)
        assert len(receiver.bodies) == 1


def test_webhook_retries_then_dead_letter_then_replay(tmp_path):
    receiver = Receiver(fail=-1)
    try:
        ws = _workspace(tmp_path, [_welcome(receiver.url)], tries=3)
        app, key, admin = _app(ws)
        with TestClient(app) as client:
            state = app.state.segmint
            _view(client, key, "amy")
            _settle(state)
            assert receiver.refused == 3  # three tries, then parked
            letters = client.get("/v1/workflows/dead-letters", auth=(admin, "")).json()
            assert len(letters) == 1
            letter = letters[0]
            assert (letter["tries"], letter["last_status"]) == (3, 500)
            assert letter["last_error"] == "the webhook answered HTTP 500"
            run = client.get("/v1/workflows/runs", auth=(admin, "")).json()[0]
            assert run["status"] == "dead_letter"
            # the receiver is fixed: replay delivers the same body, signed anew
            receiver.fail = 0
            r = client.post(
                f"/v1/workflows/dead-letters/{letter['letter_id']}/replay", auth=(admin, "")
            )
            assert r.status_code == 200
            assert r.json()["delivered"] is True
            assert json.loads(letter["body"]) == receiver.bodies[0]
            assert client.get("/v1/workflows/dead-letters", auth=(admin, "")).json() == []
            again = client.post(
                f"/v1/workflows/dead-letters/{letter['letter_id']}/replay", auth=(admin, "")
            )
            assert again.status_code == 400
            assert "was already delivered by a replay" in again.json()["message"]
            missing = client.post("/v1/workflows/dead-letters/dl_nope/replay", auth=(admin, ""))
            assert missing.status_code == 404
            assert client.get("/v1/workflows/dead-letters", auth=(key, "")).status_code == 403
    finally:
        receiver.close()


def test_failing_workflows_block_neither_ingestion_nor_membership(tmp_path, monkeypatch):
    # a webhook to a closed port and an action that raises
    flows = [
        {
            "slug": "broken_hook",
            "trigger": {"segment_entered": "wf_viewers"},
            "actions": [{"webhook": {"url": "http://127.0.0.1:9/nothing"}}],
        },
        {
            "slug": "broken_list",
            "trigger": {"event": "Product Viewed"},
            "actions": [{"add_to_list": "x"}],
        },
    ]
    ws = _workspace(tmp_path, flows, tries=2)

    def boom(*args, **kwargs):
        raise RuntimeError("the list store is down")

    monkeypatch.setattr(store, "add_to_list", boom)
    app, key, admin = _app(ws)
    with TestClient(app) as client:
        state = app.state.segmint
        for n in range(3):
            _view(client, key, f"u{n}")
        _settle(state)
        reader = state.reader()
        members = reader.table("segment_membership")
        viewers = members.filter(members.segment == "wf_viewers").count().execute()
        assert viewers == 3
        assert reader.table("events").count().execute() == 6
        runs = client.get("/v1/workflows/runs?limit=100", auth=(admin, "")).json()
        failed = [r for r in runs if r["workflow"] == "broken_list"]
        assert failed and all(r["status"] == "failed" for r in failed)
        assert "the list store is down" in failed[0]["error"]
        parked = client.get("/v1/workflows/dead-letters", auth=(admin, "")).json()
        assert len(parked) == 3
        assert all(p["last_error"].startswith("ConnectError") for p in parked)
        assert state.realtime.errors == 0


def test_workflow_errors_name_file_pointer_and_close_names(tmp_path):
    with pytest.raises(DefinitionError) as err:
        parse_workflows(
            {"slug": "a", "trigger": {"segment_enterd": "vip"}, "actions": [{"add_tg": "x"}]},
            source="flows.yaml",
        )
    text = str(err.value)
    assert text.startswith("2 problems in workflow definitions:")
    assert (
        "Workflow 'a': A trigger must have one of the keys segment_entered, segment_exited, "
        "event, schedule, date. Got keys 'segment_enterd' instead. Did you mean "
        "'segment_entered'? (flows.yaml, /trigger)"
    ) in text
    assert "Did you mean 'add_tag'? (flows.yaml, /actions/0)" in text
    with pytest.raises(DefinitionError) as err:
        parse_workflows(
            {"slug": "a", "trigger": {"event": "x"},
             "actions": [{"set_trait": {"name": "tier", "valu": 1}}]},
            source="flows.yaml",
        )  # fmt: skip
    assert "Unknown key 'valu'. Did you mean 'value'? (flows.yaml, /actions/0/set_trait/valu)" in (
        str(err.value)
    )
    # against the workspace: unknown segments and fields, with close names
    ws = _workspace(
        tmp_path,
        [
            {
                "slug": "b",
                "trigger": {"segment_entered": "wf_viewrs"},
                "if": {"field": "contry", "op": "eq", "value": "HK"},
                "actions": [{"add_tag": "x"}],
            }
        ],
    )
    with pytest.raises(DefinitionError) as err:
        ws.workflows()
    text = str(err.value)
    assert "Workflow 'b' refers to unknown segment 'wf_viewrs'. Did you mean 'wf_viewers'?" in text
    assert "flows.yaml, /workflows/0/trigger/segment_entered)" in text
    assert "'contry'" in text and "Did you mean 'country'" in text
    assert "flows.yaml, /workflows/0/if/field)" in text
    ws.close()


def test_cron_and_schedule_validation():
    cron = Cron("*/15 9-17 * * 1-5")
    from datetime import datetime

    assert cron.matches(datetime(2026, 6, 1, 9, 45))  # a Monday
    assert not cron.matches(datetime(2026, 6, 1, 9, 50))
    assert not cron.matches(datetime(2026, 6, 7, 9, 45))  # a Sunday
    with pytest.raises(DefinitionError) as err:
        parse_workflows(
            {"slug": "s", "trigger": {"schedule": {"cron": "0 25 * * *"}},
             "actions": [{"add_tag": "x"}]}
        )  # fmt: skip
    assert "cron hour must lie between 0 and 23. Got '25'. (/trigger/schedule/cron)" in str(
        err.value
    )


def test_cli_lists_validates_and_replays(tmp_path, receiver, monkeypatch):
    from segmint.cli._app import console

    monkeypatch.setattr(console, "width", 200)  # tables are not wrapped
    ws = _workspace(tmp_path, [_welcome(receiver.url)])
    with storage.transaction(ws.con):
        letter = store.park(
            ws.con,
            {
                "run_id": "run_1",
                "workflow": "welcome_viewer",
                "customer_id": "c_1",
                "url": receiver.url,
                "body": json.dumps({"workflow": "welcome_viewer", "customer_id": "c_1"}),
                "tries": 3,
                "last_status": 500,
                "last_error": "the webhook answered HTTP 500",
                "parked_at": NOW,
            },
        )
    ws.close()
    runner = CliRunner()
    folder = str(tmp_path / "shop")
    out = runner.invoke(cli_app, ["workflows", "list", "-w", folder])
    assert out.exit_code == 0, out.output
    assert "welcome_viewer" in out.output and "segment_entered" in out.output
    out = runner.invoke(cli_app, ["workflows", "validate", "-w", folder])
    assert out.exit_code == 0 and "1 workflow(s) valid" in out.output
    out = runner.invoke(cli_app, ["workflows", "dead-letters", "-w", folder])
    assert letter in out.output and "HTTP 500" in out.output
    out = runner.invoke(cli_app, ["workflows", "replay", letter, "-w", folder])
    assert out.exit_code == 0, out.output
    assert "Delivered" in out.output
    assert receiver.bodies == [{"workflow": "welcome_viewer", "customer_id": "c_1"}]
    out = runner.invoke(cli_app, ["workflows", "dead-letters", "-w", folder])
    assert "No dead letters" in out.output


def test_admin_api_validates_and_lists_workflows(tmp_path, receiver):
    ws = _workspace(tmp_path, [_welcome(receiver.url)])
    app, key, admin = _app(ws)
    with TestClient(app) as client:
        listed = client.get("/v1/workflows", auth=(admin, "")).json()
        assert [w["slug"] for w in listed["workflows"]] == ["welcome_viewer"]
        assert listed["workflows"][0]["trigger"] == "segment_entered"
        bad = {
            "slug": "x",
            "trigger": {"segment_exited": "wf_viwers"},
            "actions": [{"add_tag": "y"}],
        }
        r = client.post("/v1/workflows/validate", auth=(admin, ""), json=bad)
        assert r.status_code == 400
        body = r.json()
        assert body["suggestions"] == ["wf_viewers"]
        assert body["location"] == "request, /trigger/segment_exited"
        good = {**bad, "trigger": {"segment_exited": "wf_viewers"}}
        r = client.post("/v1/workflows/validate", auth=(admin, ""), json=good)
        assert r.json() == {"valid": True, "workflows": ["x"]}
        assert client.get("/v1/workflows", auth=(key, "")).status_code == 403
        ops = {
            op["operationId"]
            for path in client.get("/openapi.json").json()["paths"].values()
            for op in path.values()
        }
        assert {
            "workflows_list",
            "workflows_validate",
            "workflows_runs",
            "workflows_dead_letters",
            "workflows_replay",
        } <= ops


def test_the_documented_example_file_is_valid(tmp_path):
    import shutil
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "welcome.yaml"
    ws = Workspace.create(tmp_path / "shop", workflows={"webhook_secret": SECRET})
    (ws.path / "workflows").mkdir()
    shutil.copy(example, ws.path / "workflows" / "welcome.yaml")
    found = ws.workflows()
    assert [w.trigger_kind for w in found] == [
        "segment_entered", "segment_exited", "event", "schedule", "date"
    ]  # fmt: skip
    ws.close()


def test_date_and_schedule_triggers_fire_once_per_period(tmp_path):
    from datetime import timedelta

    flows = [
        {
            "slug": "birthday_week",
            "trigger": {"date": "birth_date", "days_before": 7, "at_hour": 9},
            "actions": [{"add_tag": "birthday_soon"}],
        },
        {
            "slug": "hourly_viewers",
            "trigger": {"schedule": {"every_minutes": 60}, "segment": "wf_viewers"},
            "actions": [{"add_to_list": "hourly"}],
        },
    ]
    ws = _workspace(tmp_path, flows)
    app, key, admin = _app(ws)
    with TestClient(app) as client:
        state = app.state.segmint
        engine = state.automation
        # NOW is 20:00 in Hong Kong on 1 June: a birthday on 8 June is 7 days away
        batch = [
            {"type": "identify", "userId": "amy", "traits": {"birthday": "1990-06-08"}},
            {"type": "identify", "userId": "bob", "traits": {"birthday": "1990-06-09"}},
            {"type": "track", "userId": "bob", "event": "Product Viewed"},
        ]
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        _settle(state)
        engine.tick(NOW)
        engine.tick(NOW + timedelta(minutes=30))  # same day, within the hour: nothing new
        _settle(state)
        reader = state.reader()
        amy, bob = _cid(reader, "amy"), _cid(reader, "bob")
        tags = reader.table("tags").to_pyarrow().to_pylist()
        assert [(t["customer_id"], t["tag"]) for t in tags] == [(amy, "birthday_soon")]
        assert reader.table("audience_lists").count().execute() == 0
        engine.tick(NOW + timedelta(minutes=61))
        _settle(state)
        lists = reader.table("audience_lists").to_pyarrow().to_pylist()
        assert [(r["list"], r["customer_id"]) for r in lists] == [("hourly", bob)]
        runs = client.get("/v1/workflows/runs", auth=(admin, "")).json()
        assert sorted((r["workflow"], r["trigger"]) for r in runs) == [
            ("birthday_week", "date:2026-06-01"),
            ("hourly_viewers", "schedule:2026-06-01T13:01"),
        ]


def test_event_trigger_matches_names_and_property_filters(tmp_path):
    flows = [
        {
            "slug": "big_checkout",
            "trigger": {
                "event": "Checkout Started",
                "where": [{"field": "properties.total", "op": "gte", "value": 1000}],
            },
            "actions": [{"add_tag": "big_basket"}],
        }
    ]
    ws = _workspace(tmp_path, flows)
    app, key, admin = _app(ws)
    with TestClient(app) as client:
        state = app.state.segmint
        batch = [
            {"type": "track", "userId": "amy", "event": "Checkout Started",
             "properties": {"total": 1500}},
            {"type": "track", "userId": "bob", "event": "Checkout Started",
             "properties": {"total": 200}},
            {"type": "track", "userId": "cat", "event": "Order Completed",
             "properties": {"total": 5000}},
        ]  # fmt: skip
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        _settle(state)
        reader = state.reader()
        tags = reader.table("tags").to_pyarrow().to_pylist()
        assert [(t["customer_id"], t["tag"]) for t in tags] == [(_cid(reader, "amy"), "big_basket")]
        runs = client.get("/v1/workflows/runs", auth=(admin, "")).json()
        assert [(r["trigger"], r["status"]) for r in runs] == [("event:Checkout Started", "done")]


def _outbox(ws_or_reader) -> list[dict]:
    return store.outbox(ws_or_reader.con)


def test_undelivered_webhooks_wait_in_the_outbox_across_a_restart(tmp_path):
    receiver = Receiver(fail=-1)
    try:
        ws = _workspace(tmp_path, [_welcome(receiver.url)], tries=50)
        ws.config.workflows.webhook_backoff_seconds = 30  # the retry would come after the stop
        app, key, admin = _app(ws)
        with TestClient(app) as client:
            state = app.state.segmint
            _view(client, key, "amy")
            assert state.realtime.wait_idle(60)  # the webhook waits 30 s for its retry
            for _ in range(400):  # the first try was refused and noted
                if _outbox(state.reader()) and _outbox(state.reader())[0]["tries"] == 1:
                    break
                threading.Event().wait(0.05)
            pending = _outbox(state.reader())
            assert [(p["workflow"], p["tries"]) for p in pending] == [("welcome_viewer", 1)]
            assert receiver.refused == 1
        # stopped (as after a crash, the outbox row was committed with the run): nothing parked
        assert store.dead_letters(ws.con) == []
        assert [p["letter_id"] for p in _outbox(ws)] == [pending[0]["letter_id"]]
        receiver.fail = 0
        app, _, admin = _app(ws)
        with TestClient(app) as client:
            state = app.state.segmint
            for _ in range(200):
                if receiver.bodies:
                    break
                threading.Event().wait(0.05)
            assert len(receiver.bodies) == 1
            assert receiver.bodies[0] == json.loads(pending[0]["body"])
            assert state.automation.wait_idle(30)
            for _ in range(200):
                if not _outbox(state.reader()):
                    break
                threading.Event().wait(0.05)
            assert _outbox(state.reader()) == []
            run = client.get("/v1/workflows/runs", auth=(admin, "")).json()[0]
            assert run["status"] == "done"
    finally:
        receiver.close()


def test_a_webhook_about_an_erased_person_is_never_sent(tmp_path):
    receiver = Receiver(fail=-1)
    try:
        ws = _workspace(tmp_path, [_welcome(receiver.url)], tries=50)
        ws.config.workflows.webhook_backoff_seconds = 0.5
        app, key, admin = _app(ws)
        with TestClient(app) as client:
            state = app.state.segmint
            _view(client, key, "amy")
            assert state.realtime.wait_idle(60)
            for _ in range(400):  # queued with the run, refused once
                if _outbox(state.reader()) and receiver.refused:
                    break
                threading.Event().wait(0.05)
            assert len(_outbox(state.reader())) == 1
            amy = _cid(state.reader(), "amy")
            assert client.delete(f"/v1/profiles/{amy}", auth=(admin, "")).status_code == 200
            assert _outbox(state.reader()) == []
            refused = receiver.refused
            receiver.fail = 0
            threading.Event().wait(2.0)  # the retry was due after 0.5–1 s
            assert receiver.bodies == []
            assert receiver.refused == refused
    finally:
        receiver.close()
