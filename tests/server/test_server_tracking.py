"""The Segment Tracking API: every endpoint, gzip, limits and their 400s, messageId handling,
clock-skew correction."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import pytest
from tests.server._server_support import NOW, events


def post(client, keys, path, body, **kw):
    return client.post(path, auth=(keys["ingest"], ""), json=body, **kw)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1/identify", {"userId": "u1", "traits": {"plan": "gold"}}, ("identify", None)),
        ("/v1/track", {"userId": "u1", "event": "Product Viewed"}, ("track", "Product Viewed")),
        ("/v1/page", {"anonymousId": "a1", "name": "Home"}, ("page", "Home")),
        ("/v1/screen", {"userId": "u1", "name": "Cart"}, ("screen", "Cart")),
        ("/v1/group", {"userId": "u1", "groupId": "acme"}, ("group", None)),
        ("/v1/alias", {"userId": "u1", "previousId": "a1"}, ("alias", None)),
    ],
)
def test_each_endpoint_stores_one_event_of_its_type(client, keys, reader, path, body, expected):
    r = post(client, keys, path, {**body, "messageId": "m-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    [row] = events(reader)
    assert (row["type"], row["event"]) == expected
    assert row["message_id"] == "m-1" and row["source"] == "api"
    if path == "/v1/page":
        assert row["channel"] == "web"
    if path == "/v1/group":
        assert json.loads(row["properties"]) == {"groupId": "acme"}


def test_batch_with_every_type_and_gzip(client, keys, reader):
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "amy@shop.hk"}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"total": 9}},
        {"type": "page", "userId": "u1", "name": "Home"},
    ]
    body = gzip.compress(json.dumps({"batch": batch}).encode())
    r = client.post(
        "/v1/batch",
        auth=(keys["ingest"], ""),
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    rows = events(reader)
    assert sorted(r["type"] for r in rows) == ["identify", "page", "track"]
    track = next(r for r in rows if r["type"] == "track")
    assert json.loads(track["properties"]) == {"total": 9}
    assert all(r["message_id"] for r in rows)  # generated when absent
    assert len({r["message_id"] for r in rows}) == 3


def test_import_is_an_alias_of_batch(client, keys, reader):
    r = post(
        client, keys, "/v1/import", {"batch": [{"type": "track", "userId": "u", "event": "E"}]}
    )
    assert r.status_code == 200
    assert len(events(reader)) == 1


def test_repeated_message_id_is_acknowledged_and_stored_once(client, keys, reader):
    msg = {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "dup-1"}
    assert post(client, keys, "/v1/batch", {"batch": [msg, msg]}).status_code == 200
    assert post(client, keys, "/v1/track", msg).status_code == 200
    assert [r["message_id"] for r in events(reader)] == ["dup-1"]


def test_a_resend_with_another_clock_skew_is_still_a_duplicate(client, keys, reader):
    # the same message sent again a day later by a client whose clock moved by two days
    first = {
        "type": "track",
        "userId": "u1",
        "event": "A",
        "messageId": "resent",
        "timestamp": "2026-06-01T12:00:00Z",
        "sentAt": "2026-06-01T12:00:00Z",
    }
    again = {**first, "sentAt": "2026-05-30T12:00:00Z"}
    for body in (first, again):
        assert post(client, keys, "/v1/track", body).status_code == 200
    assert [r["message_id"] for r in events(reader)].count("resent") == 1


def test_clock_skew_is_corrected_by_received_minus_sent(client, keys, reader):
    # the client's clock runs 1 hour fast: it says it sent at 13:00:05 when we received at 12:00
    batch = {
        "sentAt": "2026-06-01T13:00:05Z",
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "A",
                "timestamp": "2026-06-01T13:00:00Z",
                "messageId": "skewed",
            },
            {
                "type": "track",
                "userId": "u1",
                "event": "B",
                "timestamp": "2026-06-01T20:00:00+08:00",
                "sentAt": "2026-06-01T20:00:00+08:00",
                "messageId": "own-sent-at",
            },
            {"type": "track", "userId": "u1", "event": "C", "messageId": "no-timestamp"},
        ],
    }
    assert post(client, keys, "/v1/batch", batch).status_code == 200
    ts = {r["message_id"]: r["ts"] for r in events(reader)}
    assert ts["skewed"] == datetime(2026, 6, 1, 11, 59, 55)
    assert ts["own-sent-at"] == NOW  # a message's own sentAt wins over the batch's
    assert ts["no-timestamp"] == NOW


def test_without_sent_at_the_timestamp_is_kept(client, keys, reader):
    body = {"userId": "u1", "event": "A", "timestamp": "2026-05-01T10:00:00+08:00"}
    assert post(client, keys, "/v1/track", body).status_code == 200
    [row] = events(reader)
    assert row["ts"] == datetime(2026, 5, 1, 2, 0, 0)


def test_channel_comes_from_properties_or_external_ids(client, keys, reader):
    batch = [
        {
            "type": "track",
            "userId": "u1",
            "event": "Message Read",
            "messageId": "a",
            "context": {
                "externalIds": [{"type": "whatsapp", "id": "85291234567", "collection": "users"}]
            },
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Clicked",
            "messageId": "b",
            "properties": {"channel": "LINE"},
        },
    ]
    assert post(client, keys, "/v1/batch", {"batch": batch}).status_code == 200
    assert [r["channel"] for r in events(reader)] == ["whatsapp", "line"]


# -- limits and validation ------------------------------------------------------------------------
def test_a_message_over_32_kb_in_a_batch_is_refused_naming_its_index(client, keys, reader):
    small = {"type": "track", "userId": "u", "event": "E"}
    big = {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 33_000}}
    r = post(client, keys, "/v1/batch", {"batch": [small, small, big]})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "validation_error"
    assert body["message"].startswith("Message 2 is 33,")
    assert body["message"].endswith("bytes; a message may be at most 32 KB (32,768 bytes).")
    assert body["location"] == "/batch/2"
    assert events(reader) == []  # nothing of a refused batch is stored


def test_a_single_message_over_32_kb_is_refused(client, keys):
    r = post(
        client, keys, "/v1/track", {"userId": "u", "event": "E", "properties": {"x": "y" * 40_000}}
    )
    assert r.status_code == 400
    assert r.json()["message"] == (
        "The message is more than 32,768 bytes; it may be at most 32 KB (32,768 bytes)."
    )


def test_a_batch_over_500_kb_is_refused(client, keys):
    msg = {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 30_000}}
    r = post(client, keys, "/v1/batch", {"batch": [msg] * 20})
    assert r.status_code == 400
    assert r.json()["message"] == (
        "The batch is more than 512,000 bytes; it may be at most 500 KB (512,000 bytes)."
    )
    assert r.json()["hint"] == "send fewer messages per /v1/batch request."


def test_a_gzip_bomb_is_refused_by_its_decompressed_size(client, keys):
    body = gzip.compress(b'{"batch": [' + b" " * 2_000_000 + b"]}")
    assert len(body) < 32_000
    r = client.post(
        "/v1/batch", auth=(keys["ingest"], ""), content=body, headers={"Content-Encoding": "gzip"}
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("The batch is more than 512,000 bytes")


@pytest.mark.parametrize(
    ("batch", "message", "location"),
    [
        (
            [{"type": "track", "userId": "u", "event": "E"}, {"type": "track", "userId": "u"}],
            "In message 1, 'event' is required.",
            "/batch/1/event",
        ),
        (
            [{"type": "trak", "userId": "u", "event": "E"}],
            "In message 0, 'type' must be one of identify, track, page, screen, group, alias. "
            "Got 'trak' instead.",
            "/batch/0",
        ),
        (
            [{"type": "track", "event": "E"}],
            "In message 0: a message needs a userId or an anonymousId.",
            "/batch/0",
        ),
        (
            [{"type": "alias", "userId": "u"}],
            "In message 0, 'previousId' is required.",
            "/batch/0/previousId",
        ),
    ],
)
def test_invalid_messages_get_a_400_naming_the_message(client, keys, batch, message, location):
    r = post(client, keys, "/v1/batch", {"batch": batch})
    assert r.status_code == 400
    body = r.json()
    assert (body["message"], body["location"]) == (message, location)
    assert set(body) >= {"type", "message", "location", "suggestions"}


def test_type_typo_suggests_the_type(client, keys):
    r = post(client, keys, "/v1/batch", {"batch": [{"type": "trak", "userId": "u", "event": "E"}]})
    assert r.json()["suggestions"] == ["track"]


def test_body_must_be_json(client, keys):
    r = client.post("/v1/track", auth=(keys["ingest"], ""), content=b"{not json")
    assert r.status_code == 400
    assert r.json()["message"].startswith("The body is not valid JSON")


def test_empty_batch_is_refused(client, keys):
    r = post(client, keys, "/v1/batch", {"batch": []})
    assert r.status_code == 400
    assert r.json()["message"] == "'batch' must be a non-empty list of messages."


def test_the_type_of_a_single_endpoint_must_match(client, keys):
    r = post(client, keys, "/v1/track", {"type": "page", "userId": "u", "event": "E"})
    assert r.status_code == 400
    assert r.json()["message"] == "'type' must be 'track' on /v1/track. Got 'page' instead."


def test_openapi_document_has_stable_operation_ids_and_body_schemas(client):
    doc = client.get("/openapi.json").json()
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {"batch", "identify", "track", "page", "screen", "group", "alias", "get_profile"} <= ops
    body = doc["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Batch"}
    assert "Track" in doc["components"]["schemas"]


def test_unknown_route_is_json_with_suggestions(client):
    r = client.post("/v1/trak", json={})
    assert r.status_code == 404
    assert r.json()["type"] == "not_found"
    assert r.json()["suggestions"][0] == "/v1/track"
