"""Channel webhook payloads → Segment messages (segmint.ingest.webhooks, the pure layer).

Fixtures in tests/data/webhooks/ follow the providers' published payload examples (Meta's
WhatsApp Cloud API / Messenger / Instagram webhook references, LINE's Messaging API webhook
event objects, Shopify's webhook topics).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from segmint.errors import SignatureError, ValidationError
from segmint.ingest.webhooks import line as line_hooks
from segmint.ingest.webhooks import (
    map_line,
    map_meta,
    map_shopify,
    map_whatsapp,
    verify_subscription,
)
from segmint.ingest.webhooks import meta as meta_hooks
from segmint.ingest.webhooks import shopify as shopify_hooks

DATA = Path(__file__).parent / "data" / "webhooks"


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def run(name: str):
    """Map a fixture with the mapper its name says."""
    data = load(name)
    if name.startswith("whatsapp"):
        return map_whatsapp(data, region="HK")
    if name.startswith(("messenger", "instagram")):
        return map_meta(data)
    if name.startswith("line"):
        return map_line(data)
    topic = {"customers": "customers/create", "orders": "orders/create"}.get(
        name.split("_")[1], "checkouts/create"
    )
    return map_shopify(topic, data, region="TW" if name.endswith("guest") else "HK")


def summary(messages: list[dict]) -> list[tuple]:
    return [(m["type"], m.get("event"), m["anonymousId"], m["timestamp"]) for m in messages]


# -- every fixture maps to the expected messages --------------------------------------------------
EXPECTED = {
    "whatsapp_text_message": [
        ("identify", None, "whatsapp:85291234567", "2026-01-02T08:00:00.000Z"),
        ("track", "Message Received", "whatsapp:85291234567", "2026-01-02T08:00:00.000Z"),
    ],
    "whatsapp_button_reply": [
        ("identify", None, "whatsapp:886912345678", "2026-01-02T09:00:00.000Z"),
        ("track", "Message Received", "whatsapp:886912345678", "2026-01-02T09:00:00.000Z"),
    ],
    "whatsapp_statuses": [
        ("track", "Message Sent", "whatsapp:85291234567", "2026-01-02T11:00:00.000Z"),
        ("track", "Message Delivered", "whatsapp:85291234567", "2026-01-02T11:00:05.000Z"),
        ("track", "Message Read", "whatsapp:85291234567", "2026-01-02T11:01:00.000Z"),
        ("track", "Message Failed", "whatsapp:85261234567", "2026-01-02T11:00:02.000Z"),
    ],
    "whatsapp_template_status_update": [],
    "messenger_messages": [
        ("track", "Message Received", "facebook:6712345678901234", "2026-01-02T12:00:00.000Z"),
        ("track", "Message Sent", "facebook:6712345678901234", "2026-01-02T12:00:30.000Z"),
    ],
    "messenger_receipts": [
        # delivery receipts carry no timestamp: the watermark stands in
        ("track", "Message Delivered", "facebook:6712345678901234", "2026-01-02T12:01:40.000Z"),
        ("track", "Message Read", "facebook:6712345678901234", "2026-01-02T12:01:30.000Z"),
    ],
    "instagram_messages": [
        ("track", "Message Received", "instagram:1254459154682919", "2026-01-02T13:00:00.000Z"),
        ("track", "Message Read", "instagram:1254459154682919", "2026-01-02T13:01:00.000Z"),
    ],
    "line_events": [
        ("identify", None, "line:U4af4980629a1b2c3d4e5f60718293a4b", "2026-01-02T14:00:00.000Z"),
        ("track", "Followed", "line:U4af4980629a1b2c3d4e5f60718293a4b", "2026-01-02T14:00:00.000Z"),
        (
            "track",
            "Message Received",
            "line:U4af4980629a1b2c3d4e5f60718293a4b",
            "2026-01-02T14:01:00.000Z",
        ),
        (
            "track",
            "Message Received",
            "line:U9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "2026-01-02T14:02:00.000Z",
        ),
        ("identify", None, "line:U1122334455667788990011aabbccddee", "2026-01-02T14:04:00.000Z"),
        (
            "track",
            "Unfollowed",
            "line:U1122334455667788990011aabbccddee",
            "2026-01-02T14:04:00.000Z",
        ),
    ],
    "line_verify": [],
    "shopify_customers_create": [
        ("identify", None, "shopify:7212345678901", "2026-01-03T02:15:01.000Z"),
    ],
    "shopify_orders_create": [
        ("track", "Order Completed", "shopify:7212345678901", "2026-01-03T03:02:45.000Z"),
    ],
    "shopify_checkouts_create": [
        ("track", "Checkout Started", "shopify:7212345678901", "2026-01-03T02:58:10.000Z"),
    ],
    "shopify_checkouts_create_guest": [
        (
            "track",
            "Checkout Started",
            "shopify-checkout:e4d3c2b1a09f8e7d6c5b4a3928170615",
            "2026-01-04T13:40:00.000Z",
        ),
    ],
}
IGNORED = {
    "whatsapp_template_status_update": [
        "/entry/0/changes/0: field 'message_template_status_update'"
    ],
    "messenger_receipts": ["/entry/0/messaging/2: event postback"],
    "line_events": ["/events/3: event type 'postback'"],
}


def test_every_fixture_has_an_expectation():
    assert {p.stem for p in DATA.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_expected_messages(name):
    mapped = run(name)
    assert summary(mapped.messages) == EXPECTED[name]
    assert mapped.ignored == IGNORED.get(name, [])
    for m in mapped.messages:  # what every /v1/batch item needs
        assert m["messageId"] and m["context"]["library"]["name"] == "segmint-webhooks"
        assert m["context"].get("externalIds") or m["context"].get("traits")
        if m["type"] == "track":
            assert m["properties"]["channel"] in (
                "whatsapp",
                "facebook",
                "instagram",
                "line",
                "web",
            )
    assert len({m["messageId"] for m in mapped.messages}) == len(mapped.messages)


def test_whatsapp_message_gives_contact_and_minimal_message_facts():
    identify, received = run("whatsapp_text_message").messages
    assert identify["traits"] == {"phone": "+85291234567", "name": "陳大文"}
    assert identify["context"]["externalIds"] == [
        {"type": "whatsapp", "id": "+85291234567", "collection": "users"}
    ]
    assert received["properties"] == {
        "message_id": "wamid.HBgLODUyOTEyMzQ1NjcVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "message_type": "text",
        "text_length": 9,
        "business_phone_number_id": "106540352242922",
        "channel": "whatsapp",
    }


def test_message_text_is_never_kept():
    texts = ["請問有冇其他顏色", "停止接收優惠", "Do you ship to Kowloon", "free delivery",
             "你好，想問會員優惠"]  # fmt: skip
    for name in ("whatsapp_text_message", "whatsapp_button_reply", "messenger_messages",
                 "line_events"):  # fmt: skip
        dumped = json.dumps(run(name).messages, ensure_ascii=False)
        assert not [t for t in texts if t in dumped], name


def test_whatsapp_button_reply_keeps_the_button_id_and_thread():
    props = run("whatsapp_button_reply").messages[1]["properties"]
    assert props["message_type"] == "interactive"
    assert props["reply_id"] == "stop_promotions"
    assert props["in_reply_to"].startswith("wamid.HBgMODg2OTEy")
    assert "text_length" not in props


def test_whatsapp_statuses_carry_message_id_recipient_and_error():
    sent, delivered, read, failed = run("whatsapp_statuses").messages
    wamid = "wamid.HBgLODUyOTEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    assert {sent["properties"]["message_id"], read["properties"]["message_id"]} == {wamid}
    assert sent["properties"]["recipient"] == "+85291234567"
    assert sent["properties"]["pricing_category"] == "marketing"
    assert delivered["properties"]["status"] == "delivered"
    assert failed["properties"]["error_code"] == 131026
    assert failed["context"]["traits"] == {"phone": "+85261234567"}


def test_whatsapp_unknown_status_is_ignored_not_refused():
    data = load("whatsapp_statuses")
    data["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    mapped = map_whatsapp(data, region="HK")
    assert [m["event"] for m in mapped.messages] == [
        "Message Delivered",
        "Message Read",
        "Message Failed",
    ]
    assert mapped.ignored == ["/entry/0/changes/0/value/statuses/0: status 'deleted'"]


def test_whatsapp_username_users_without_phone_are_named_by_bsuid():
    """Users with a WhatsApp username may come with a business-scoped user id and no number."""
    data = load("whatsapp_text_message")
    value = data["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Sheena"}, "user_id": "HK.1502576394655843"}]
    del value["messages"][0]["from"]
    value["messages"][0]["from_user_id"] = "HK.1502576394655843"
    identify, received = map_whatsapp(data, region="HK").messages
    assert identify["anonymousId"] == received["anonymousId"] == "whatsapp:HK.1502576394655843"
    assert identify["traits"] == {"name": "Sheena"}
    assert "externalIds" not in received["context"]
    del value["messages"][0]["from_user_id"]
    value["contacts"] = []
    with pytest.raises(ValidationError) as info:
        map_whatsapp(data, region="HK")
    assert info.value.location == "body, /entry/0/changes/0/value/messages/0/from"


def test_whatsapp_status_of_a_username_user():
    data = load("whatsapp_statuses")
    status = data["entry"][0]["changes"][0]["value"]["statuses"][2]
    del status["recipient_id"]
    status["recipient_user_id"] = "HK.1502576394655843"
    read = map_whatsapp(data, region="HK").messages[2]
    assert read["anonymousId"] == "whatsapp:HK.1502576394655843"
    assert read["properties"]["recipient"] == "HK.1502576394655843"


def test_messenger_and_instagram_name_the_person_by_channel_id():
    received, sent = run("messenger_messages").messages
    assert received["context"]["externalIds"] == [
        {"type": "facebook", "id": "6712345678901234", "collection": "users"}
    ]
    assert received["properties"]["text_length"] == 23
    assert sent["properties"]["message_id"].startswith("m_YkL0")  # the echo, to the person
    image = run("instagram_messages").messages[0]
    assert image["properties"]["message_type"] == "image"
    assert image["context"]["externalIds"][0]["type"] == "instagram"


def test_instagram_login_changes_form_is_mapped_too():
    data = {
        "object": "instagram",
        "entry": [
            {
                "id": "17841405822304914",
                "time": 1767358800000,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "sender": {"id": "1254459154682919"},
                            "recipient": {"id": "17841405822304914"},
                            "timestamp": "1767358800000",
                            "message": {"mid": "aWdf_1", "text": "hi"},
                        },
                    },
                    {"field": "comments", "value": {"id": "1795", "text": "nice"}},
                ],
            }
        ],
    }
    mapped = map_meta(data)
    assert summary(mapped.messages) == [
        ("track", "Message Received", "instagram:1254459154682919", "2026-01-02T13:00:00.000Z")
    ]
    assert mapped.ignored == ["/entry/0/changes/1: field 'comments'"]


def test_line_follow_and_unfollow_update_line_consent():
    messages = run("line_events").messages
    follow, unfollow = messages[0], messages[4]
    assert follow["traits"] == {"consent": {"line": True}, "line_following": True}
    assert unfollow["traits"] == {"consent": {"line": False}, "line_following": False}
    assert messages[1]["properties"] == {"is_unblocked": False, "channel": "line"}
    assert messages[3]["properties"]["source_type"] == "group"


def test_shopify_customer_identify_and_consent():
    (identify,) = run("shopify_customers_create").messages
    assert identify["traits"] == {
        "email": "wong.siuming@example.com.hk",
        "phone": "+85261234567",
        "first_name": "Siu Ming",
        "last_name": "Wong",
        "address": {"country": "HK", "city": "Wan Chai"},
        "created_at": "2026-01-03T02:15:00.000Z",
        "consent": {"email": True},  # sms 'not_subscribed' says nothing new
    }
    assert identify["context"]["externalIds"] == [
        {"type": "shopify", "id": "7212345678901", "collection": "users"}
    ]


@pytest.mark.parametrize(
    ("fields", "consent"),
    [
        ({"email_marketing_consent": {"state": "subscribed"}}, {"email": True}),
        ({"email_marketing_consent": {"state": "unsubscribed"}}, {"email": False}),
        ({"email_marketing_consent": {"state": "not_subscribed"}}, None),
        ({"email_marketing_consent": {"state": "pending"}}, None),
        ({"accepts_marketing": True}, {"email": True}),  # API versions before 2022-04
        ({"accepts_marketing": False}, None),
        ({"sms_marketing_consent": {"state": "subscribed"}}, {"sms": True}),
    ],
)
def test_shopify_consent_states(fields, consent):
    body = {"id": 1, "created_at": "2026-01-03T10:15:00+08:00", **fields}
    traits = map_shopify("customers/create", body, region="HK").messages[0]["traits"]
    assert traits.get("consent") == consent


def test_shopify_order_has_segment_ecommerce_properties():
    (order,) = run("shopify_orders_create").messages
    props = order["properties"]
    assert {k: props[k] for k in ("order_id", "total", "revenue", "shipping", "discount")} == {
        "order_id": "5834567890123",
        "total": 1210.0,
        "revenue": 1180.0,
        "shipping": 30.0,
        "discount": 120.0,
    }
    assert (props["currency"], props["coupon"], props["channel"]) == ("HKD", "CNY2026", "web")
    assert props["checkout_token"] == "b3f1c9e2a7d64f0e8c5b2a1d9e8f7c6b"
    assert props["products"][0] == {
        "product_id": "8123456789012",
        "variant_id": "44123456789012",
        "sku": "SK-SERUM-30",
        "name": "Hydrating Serum",
        "variant": "30 ml",
        "brand": "Lumi",
        "price": 480.0,
        "quantity": 2,
    }
    assert order["context"]["traits"]["email"] == "wong.siuming@example.com.hk"


def test_shopify_pos_order_is_on_the_pos_channel():
    data = load("shopify_orders_create")
    data["source_name"] = "pos"
    (order,) = map_shopify("orders/create", data, region="HK").messages
    assert order["properties"]["channel"] == "pos"


def test_checkout_and_its_order_share_the_checkout_token():
    (checkout,) = run("shopify_checkouts_create").messages
    (order,) = run("shopify_orders_create").messages
    assert checkout["properties"]["checkout_token"] == order["properties"]["checkout_token"]
    assert checkout["properties"]["checkout_id"] == order["properties"]["checkout_id"]
    assert checkout["properties"]["recovery_url"].endswith("/recover?key=4f1c9e2a7d64")
    assert checkout["anonymousId"] == order["anonymousId"] == "shopify:7212345678901"


def test_guest_checkout_uses_the_workspace_region_for_local_phones():
    (checkout,) = run("shopify_checkouts_create_guest").messages
    assert checkout["context"]["traits"] == {"phone": "+886912345678"}
    assert "externalIds" not in checkout["context"]
    hk = map_shopify("checkouts/create", load("shopify_checkouts_create_guest"), region="HK")
    assert "phone" not in hk.messages[0]["context"].get("traits", {})  # not a valid HK number


def test_shopify_other_topics_are_ignored_and_a_missing_topic_refused():
    assert map_shopify("orders/paid", {"id": 1}, region="HK").ignored == [
        "topic 'orders/paid' (did you mean 'orders/create'?)"
    ]
    with pytest.raises(ValidationError, match="needs the X-Shopify-Topic header"):
        map_shopify(None, {"id": 1}, region="HK")


# -- redelivery: the same provider ids give the same messageIds ----------------------------------
@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e))
def test_redelivered_payload_yields_the_same_message_ids(name):
    first = [m["messageId"] for m in run(name).messages]
    again = [m["messageId"] for m in run(name).messages]
    assert first == again


def test_line_redelivery_flag_does_not_change_ids():
    data = load("line_events")
    redelivered = copy.deepcopy(data)
    for event in redelivered["events"]:
        event["deliveryContext"] = {"isRedelivery": True}
    assert [m["messageId"] for m in map_line(data).messages] == [
        m["messageId"] for m in map_line(redelivered).messages
    ]


def test_statuses_of_one_message_get_distinct_ids():
    ids = [m["messageId"] for m in run("whatsapp_statuses").messages]
    assert len(set(ids)) == 4


# -- unknown shapes: clear errors with a JSON pointer ---------------------------------------------
@pytest.mark.parametrize(
    ("mapper", "body", "message", "location"),
    [
        (
            map_meta,
            load("whatsapp_text_message"),
            "meta webhook 'object' must be 'instagram' or 'page'. "
            "Got 'whatsapp_business_account' instead.",
            "body, /object",
        ),
        (
            lambda b: map_whatsapp(b, region="HK"),
            {"object": "whatsapp_business_account"},
            "whatsapp webhook body needs an 'entry' list.",
            "body, /entry",
        ),
        (
            lambda b: map_whatsapp(b, region="HK"),
            {"object": "whatsapp_business_account", "entry": {"id": "1"}},
            "whatsapp webhook '/entry' must be a list. Got an object instead.",
            "body, /entry",
        ),
        (
            map_line,
            {"destination": "U1", "event": []},
            "line webhook body needs an 'events' list.",
            "body, /events",
        ),
        (
            map_line,
            {"events": [{"type": "message", "source": {"userId": "U1"}, "timestamp": "soon"}]},
            "line webhook timestamp must be Unix time in milliseconds. Got 'soon' instead.",
            "body, /events/0/timestamp",
        ),
    ],
)
def test_unknown_shapes_are_refused_with_a_pointer(mapper, body, message, location):
    with pytest.raises(ValidationError) as info:
        mapper(body)
    assert info.value.message == message
    assert info.value.location == location


def test_wrong_meta_product_points_at_the_right_endpoint():
    with pytest.raises(ValidationError) as info:
        map_whatsapp(load("messenger_messages"), region="HK")
    assert "/webhooks/meta" in info.value.hint


def test_whatsapp_message_without_id_names_the_field():
    data = load("whatsapp_text_message")
    del data["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    with pytest.raises(ValidationError) as info:
        map_whatsapp(data, region="HK")
    assert info.value.location == "body, /entry/0/changes/0/value/messages/0/id"


def test_shopify_bad_amount_is_refused():
    data = load("shopify_orders_create")
    data["total_price"] = "12,3O"
    with pytest.raises(ValidationError, match=r"amount must be a number\. Got '12,3O' instead"):
        map_shopify("orders/create", data, region="HK")


# -- signatures -----------------------------------------------------------------------------------
BODY = (DATA / "whatsapp_text_message.json").read_bytes()


def hub(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


CHECKS = {
    "whatsapp": (lambda b, s: meta_hooks.verify_signature(b, s, "app-secret", provider="whatsapp"),
                 lambda b, k="app-secret": hub(k, b)),
    "line": (lambda b, s: line_hooks.verify_signature(b, s, "app-secret"),
             lambda b, k="app-secret": b64(k, b)),
    "shopify": (lambda b, s: shopify_hooks.verify_signature(b, s, "app-secret"),
                lambda b, k="app-secret": b64(k, b)),
}  # fmt: skip


@pytest.mark.parametrize("provider", sorted(CHECKS))
def test_signature_valid_passes(provider):
    verify, sign = CHECKS[provider]
    verify(BODY, sign(BODY))


@pytest.mark.parametrize("provider", sorted(CHECKS))
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "the signature does not match the body"),
        ("wrong secret", "the signature does not match the body"),
        ("missing", "the signature header is missing"),
    ],
)
def test_signature_refused(provider, case, reason):
    verify, sign = CHECKS[provider]
    tampered = BODY.replace(b"85291234567", b"85291234568")
    signature = {
        "tampered": sign(BODY),
        "wrong secret": sign(BODY, "other-secret"),
        "missing": None,
    }[case]
    with pytest.raises(SignatureError) as info:
        verify(tampered if case == "tampered" else BODY, signature)
    assert info.value.message == f"{provider} webhook refused: {reason}."


def test_signature_malformed():
    with pytest.raises(SignatureError, match="must start with 'sha256='"):
        meta_hooks.verify_signature(BODY, hub("k", BODY)[7:], "k", provider="whatsapp")
    with pytest.raises(SignatureError, match="is not base64"):
        line_hooks.verify_signature(BODY, "not base64!", "k")


def test_subscribe_handshake():
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "42"}
    assert verify_subscription(params, "tok", provider="whatsapp") == "42"
    with pytest.raises(SignatureError, match=r"hub\.verify_token does not match"):
        verify_subscription({**params, "hub.verify_token": "nope"}, "tok", provider="whatsapp")
    with pytest.raises(ValidationError, match=r"needs hub\.challenge"):
        verify_subscription({**params, "hub.challenge": ""}, "tok", provider="whatsapp")


def test_pure_layer_imports_no_web_framework():
    """The mappers are layer 2: no FastAPI/Starlette, no I/O (the routes live in server/)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "src" / "segmint" / "ingest" / "webhooks"
    found = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    assert not found & {"fastapi", "starlette", "httpx", "requests", "duckdb", "ibis"}
