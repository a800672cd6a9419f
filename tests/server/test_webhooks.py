"""The /webhooks/… routes (segmint.server.webhooks) on a bare FastAPI app with a fake submit.

Signature tests for WhatsApp, LINE and Shopify: valid, tampered body, wrong secret, missing
header; the Meta subscribe handshake; unconfigured providers; size limit; unknown shapes;
redelivery. The last test runs the real app (create_app) end to end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from segmint.config import Config, WebhookSettings
from segmint.errors import SegmintError, ValidationError
from segmint.server.webhooks import secrets_from_config, webhook_router

DATA = Path(__file__).resolve().parents[1] / "data" / "webhooks"
SECRETS = {
    "whatsapp": {"app_secret": "wa-app-secret", "verify_token": "wa-verify"},
    "meta": {"app_secret": "meta-app-secret", "verify_token": "meta-verify"},
    "line": {"channel_secret": "line-channel-secret"},
    "shopify": {"secret": "shopify-secret"},
}
LOGGER = "segmint.server.webhooks"


class Recorder:
    """A fake ``submit``: records what it was given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[list[dict]] = []
        self.error = error

    async def __call__(self, messages: list[dict]) -> None:
        if self.error is not None:
            raise self.error
        self.calls.append(messages)

    @property
    def messages(self) -> list[dict]:
        return [m for call in self.calls for m in call]


def make_client(submit=None, **settings) -> tuple[TestClient, Recorder]:
    recorder = submit or Recorder()
    app = FastAPI()
    config = Config(default_region="HK", webhooks={**SECRETS, **settings})
    app.include_router(webhook_router(recorder, secrets_from_config(config)))
    return TestClient(app), recorder


@pytest.fixture
def hooks():
    """(TestClient of a bare app with the webhook routes, the Recorder its submit writes to)"""
    return make_client()


def body_of(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def hub(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


#: provider → (path, fixture, signature header, signer with the configured secret, extra headers)
CASES = {
    "whatsapp": ("/webhooks/whatsapp", "whatsapp_text_message", "X-Hub-Signature-256",
                 lambda body, key="wa-app-secret": hub(key, body), {}),
    "meta": ("/webhooks/meta", "messenger_messages", "X-Hub-Signature-256",
             lambda body, key="meta-app-secret": hub(key, body), {}),
    "line": ("/webhooks/line", "line_events", "X-Line-Signature",
             lambda body, key="line-channel-secret": b64(key, body), {}),
    "shopify": ("/webhooks/shopify", "shopify_orders_create", "X-Shopify-Hmac-Sha256",
                lambda body, key="shopify-secret": b64(key, body),
                {"X-Shopify-Topic": "orders/create",
                 "X-Shopify-Shop-Domain": "lumi-beauty.myshopify.com"}),
}  # fmt: skip


def post(client, provider, body=None, signature="sign", headers=None):
    path, fixture, header, sign, extra = CASES[provider]
    body = body_of(fixture) if body is None else body
    sent = {"Content-Type": "application/json", **extra, **(headers or {})}
    if signature == "sign":
        sent[header] = sign(body)
    elif signature is not None:
        sent[header] = signature
    return client[0].post(path, content=body, headers=sent)


# -- signatures: valid, tampered, wrong secret, missing -------------------------------------------
@pytest.mark.parametrize("provider", sorted(CASES))
def test_valid_signature_is_accepted_and_submitted(hooks, provider):
    response = post(hooks, provider)
    assert response.status_code == 200, response.text
    recorder = hooks[1]
    assert response.json() == {
        "accepted": len(recorder.messages),
        "ignored": 1 if provider == "line" else 0,  # the LINE fixture has a postback
    }
    assert len(recorder.calls) == 1 and recorder.messages
    assert all(m["messageId"] for m in recorder.messages)


@pytest.mark.parametrize("provider", ["whatsapp", "line", "shopify"])
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "the signature does not match the body"),
        ("wrong secret", "the signature does not match the body"),
        ("missing", "the signature header is missing"),
    ],
)
def test_bad_signature_is_refused_logged_and_nothing_submitted(
    hooks, provider, case, reason, caplog
):
    _, fixture, header, sign, _ = CASES[provider]
    good = body_of(fixture)
    tampered = good.replace(b"2026-01-0", b"2026-01-1").replace(b"1767", b"1768")
    assert tampered != good
    kwargs = {
        "tampered": {"body": tampered, "signature": sign(good)},
        "wrong secret": {"signature": sign(good, "not-the-secret")},
        "missing": {"signature": None},
    }[case]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = post(hooks, provider, **kwargs)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "invalid_signature"
    assert body["message"] == f"{provider} webhook refused: {reason}."
    assert body["location"] == f"header {header}"
    assert set(body) >= {"type", "message", "location", "suggestions"}
    assert hooks[1].calls == []
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    line = record.getMessage()
    assert line.startswith(f"{provider} webhook refused with 401") and reason in line
    payload = json.loads(good)
    assert "wamid" not in line and "Hydrating" not in line and str(payload)[:40] not in line


# -- the Meta subscribe handshake -----------------------------------------------------------------
@pytest.mark.parametrize(("path", "token"), [("/webhooks/whatsapp", "wa-verify"),
                                             ("/webhooks/meta", "meta-verify")])  # fmt: skip
def test_handshake_with_the_right_token_echoes_the_challenge(hooks, path, token):
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    response = hooks[0].get(path, params=params)
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


def test_handshake_with_a_wrong_token_is_refused(hooks, caplog):
    params = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = hooks[0].get("/webhooks/whatsapp", params=params)
    assert response.status_code == 403
    assert "1158201444" not in response.text
    assert response.json()["message"] == (
        "whatsapp subscribe handshake refused: hub.verify_token does not match."
    )
    assert any("whatsapp webhook refused with 403" in r.getMessage() for r in caplog.records)


def test_handshake_without_parameters_is_a_400(hooks):
    response = hooks[0].get("/webhooks/meta")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "meta subscribe handshake needs hub.mode=subscribe, hub.verify_token, hub.challenge."
    )


# -- configuration --------------------------------------------------------------------------------
def test_unconfigured_provider_is_a_404_with_a_hint():
    app = FastAPI()
    app.include_router(webhook_router(Recorder(), WebhookSettings()))
    response = TestClient(app).post("/webhooks/line", content=b"{}")
    assert response.status_code == 404
    body = response.json()
    assert body["message"] == "The line webhook is not configured in this workspace."
    assert "channel_secret: env:SEGMINT_LINE_CHANNEL_SECRET" in body["hint"]


def test_secret_from_an_unset_environment_variable_is_a_503(monkeypatch):
    monkeypatch.delenv("SEGMINT_TEST_SHOPIFY_SECRET", raising=False)
    hooks = make_client(shopify={"secret": "env:SEGMINT_TEST_SHOPIFY_SECRET"})
    response = post(hooks, "shopify", signature=b64("anything", body_of("shopify_orders_create")))
    assert response.status_code == 503
    body = response.json()
    assert body["message"] == (
        "webhooks.shopify.secret is read from the environment variable "
        "SEGMINT_TEST_SHOPIFY_SECRET, which is not set."
    )
    assert "restart" in body["hint"]


def test_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEGMINT_TEST_SHOPIFY_SECRET", "from-env")
    hooks = make_client(shopify={"secret": "env:SEGMINT_TEST_SHOPIFY_SECRET"})
    body = body_of("shopify_orders_create")
    assert post(hooks, "shopify", signature=b64("from-env", body)).status_code == 200
    assert post(hooks, "shopify", signature=b64("shopify-secret", body)).status_code == 401


def test_config_refuses_a_malformed_env_reference():
    with pytest.raises(ValueError, match="must be followed by an environment variable name"):
        Config(webhooks={"line": {"channel_secret": "env:NOT-A-NAME"}})


def test_secrets_do_not_show_in_repr():
    config = Config(webhooks=SECRETS)
    assert "wa-app-secret" not in repr(config) and "shopify-secret" not in repr(config)


# -- size, shapes, redelivery ---------------------------------------------------------------------
def test_body_larger_than_the_limit_is_a_413():
    hooks = make_client(max_body_bytes=2048)
    big = json.dumps({"destination": "U1", "events": [], "pad": "x" * 4096}).encode()
    response = post(hooks, "line", body=big)
    assert response.status_code == 413
    assert response.json()["message"] == "Webhook body must be at most 2,048 bytes."
    assert hooks[1].calls == []


@pytest.mark.parametrize(
    ("provider", "body", "message"),
    [
        ("whatsapp", b"not json", "whatsapp webhook body is not valid JSON"),
        ("whatsapp", b'{"object": "page", "entry": []}', "'object' must be"),
        ("meta", b"[]", "meta webhook body must be a JSON object. Got a list instead."),
        ("line", b'{"destination": "U1"}', "line webhook body needs an 'events' list."),
        ("shopify", b'{"id": "x"}', "shopify webhook needs 'created_at'."),
    ],
)
def test_unknown_shapes_are_a_400_and_submit_nothing(hooks, provider, body, message, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = post(hooks, provider, body=body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert hooks[1].calls == []
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage().startswith(f"{provider} webhook refused with 400")


def test_shopify_without_topic_is_a_400(hooks):
    response = post(hooks, "shopify", headers={"X-Shopify-Topic": ""})
    assert response.status_code == 400
    assert response.json()["location"] == "header X-Shopify-Topic"


def test_shopify_other_topic_is_acknowledged(hooks):
    response = post(hooks, "shopify", headers={"X-Shopify-Topic": "products/update"})
    assert response.json() == {"accepted": 0, "ignored": 1}
    assert hooks[1].calls == []


def test_line_verify_request_is_acknowledged_without_submitting(hooks):
    response = post(hooks, "line", body=body_of("line_verify"))
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "ignored": 0}
    assert hooks[1].calls == []


def test_redelivered_webhook_yields_the_same_message_ids(hooks):
    for provider in ("whatsapp", "shopify", "line"):
        post(hooks, provider)
        post(hooks, provider, headers={"X-Shopify-Webhook-Id": "redelivery"})
    first, again = hooks[1].calls[0::2], hooks[1].calls[1::2]
    assert [[m["messageId"] for m in c] for c in first] == [
        [m["messageId"] for m in c] for c in again
    ]


# -- submit failures and the source keyword -------------------------------------------------------
def test_submit_refusal_is_reported():
    hooks = make_client(Recorder(ValidationError("batch item 0: bad message.")))
    response = post(hooks, "whatsapp")
    assert response.status_code == 400
    assert response.json()["message"] == "batch item 0: bad message."


def test_submit_busy_keeps_its_status():
    class Busy(SegmintError):
        type_name = "busy"
        status_code = 503

    response = post(make_client(Recorder(Busy("The service is busy."))), "whatsapp")
    assert response.status_code == 503


def test_submit_with_a_source_keyword_gets_the_provider():
    seen = []

    async def submit(messages, *, source=None):
        seen.append(source)

    post(make_client(submit), "line")
    assert seen == ["webhook:line"]


def test_openapi_has_stable_operation_ids(hooks):
    doc = hooks[0].app.openapi()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert ids == {
        "webhooks_whatsapp_verify",
        "webhooks_whatsapp_receive",
        "webhooks_meta_verify",
        "webhooks_meta_receive",
        "webhooks_line_receive",
        "webhooks_shopify_receive",
    }


# -- end to end: the real app stores what the webhooks send ---------------------------------------
def test_real_app_stores_webhook_events(tmp_path):
    from segmint.server.app import create_app
    from segmint.workspace import Workspace

    ws = Workspace.create(tmp_path / "shop", default_region="HK")
    ws.config.webhooks = WebhookSettings.model_validate(SECRETS)
    app = create_app(ws)
    with TestClient(app) as http:
        for provider in ("whatsapp", "shopify", "line"):
            assert post((http, None), provider).status_code == 200
        assert post((http, None), "whatsapp").status_code == 200  # redelivered
        reader = app.state.segmint.reader()
        events = reader.table("events").to_pyarrow().to_pylist()
        identities = reader.table("identities").to_pyarrow().to_pylist()
    ws.close()
    tracks = sorted((e["event"], e["channel"]) for e in events if e["type"] == "track")
    assert tracks.count(("Message Received", "whatsapp")) == 1  # stored once
    assert ("Order Completed", "web") in tracks
    assert ("Followed", "line") in tracks
    assert {e["source"] for e in events} >= {"webhook:whatsapp", "webhook:shopify"}
    assert ("whatsapp", "+85291234567") in {(i["id_type"], i["id_value"]) for i in identities}
