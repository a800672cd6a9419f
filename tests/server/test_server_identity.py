"""Live identity stitching: identify/alias/identifiers in events link people like an import does;
anonymous activity joins the person; merges are logged; consent traits land with their times."""

from __future__ import annotations

from datetime import datetime

from tests._import_support import SHOPIFY_CUSTOMERS, write
from tests.server._server_support import NOW, TestClient, events

from segmint.server import ServerSettings, create_app


def send(client, keys, *batch):
    r = client.post("/v1/batch", json={"batch": list(batch)}, auth=(keys["ingest"], ""))
    assert r.status_code == 200, r.text


def profiles(reader) -> list[dict]:
    return reader.table("profiles").order_by("customer_id").to_pyarrow().to_pylist()


def identities(reader, customer_id) -> set[tuple[str, str]]:
    t = reader.table("identities")
    rows = t.filter(t.customer_id == customer_id).to_pyarrow().to_pylist()
    return {(r["id_type"], r["id_value"]) for r in rows}


def test_identify_creates_a_person_and_tracks_join_them(client, keys, reader):
    send(
        client,
        keys,
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "i1",
            "traits": {"email": " Amy.Chan@Gmail.com ", "phone": "9123 4567", "firstName": "Amy"},
        },
        {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "t1"},
    )
    [p] = profiles(reader)
    assert (p["email"], p["phone"], p["first_name"]) == (
        "amy.chan@gmail.com",
        "+85291234567",
        "Amy",
    )
    assert identities(reader, p["customer_id"]) == {
        ("user_id", "u1"),
        ("email", "amy.chan@gmail.com"),
        ("phone", "+85291234567"),
    }
    assert {r["customer_id"] for r in events(reader)} == {p["customer_id"]}
    # a later track in another request finds the same person
    send(client, keys, {"type": "track", "userId": "u1", "event": "Product Viewed"})
    assert {r["customer_id"] for r in events(reader)} == {p["customer_id"]}
    assert len(profiles(reader)) == 1


def test_anonymous_activity_joins_the_person_once_identified(client, keys, reader):
    send(
        client,
        keys,
        {"type": "page", "anonymousId": "anon-9", "name": "Home", "messageId": "p1"},
        {"type": "track", "anonymousId": "anon-9", "event": "Product Viewed", "messageId": "t1"},
    )
    assert [r["customer_id"] for r in events(reader)] == [None, None]
    assert profiles(reader) == []  # an anonymous visitor is nobody yet
    send(
        client,
        keys,
        {
            "type": "identify",
            "userId": "u7",
            "anonymousId": "anon-9",
            "traits": {"email": "kit@shop.hk"},
            "messageId": "i1",
        },
    )
    [p] = profiles(reader)
    assert {r["customer_id"] for r in events(reader)} == {p["customer_id"]}
    # later anonymous events of that device belong to the person straight away
    send(
        client,
        keys,
        {"type": "track", "anonymousId": "anon-9", "event": "Cart Viewed", "messageId": "t2"},
    )
    assert events(reader, message_id="t2")[0]["customer_id"] == p["customer_id"]


def test_anonymous_and_identify_in_one_batch(client, keys, reader):
    send(
        client,
        keys,
        {"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "messageId": "t1"},
        {"type": "identify", "userId": "u1", "anonymousId": "a-1", "messageId": "i1"},
    )
    [p] = profiles(reader)
    assert [r["customer_id"] for r in events(reader)] == [p["customer_id"]] * 2


def test_events_link_to_imported_customers_by_email_phone_and_channel_ids(tmp_path, keys, ws):
    # the import runs before serving: while serving, the writer thread owns the connection
    ws.import_file("customers", write(tmp_path / "shopify_customers.csv", SHOPIFY_CUSTOMERS))
    before = {r["email"]: r["customer_id"] for r in ws.table("profiles").to_pyarrow().to_pylist()}
    app = create_app(ws, settings=ServerSettings(clock=lambda: NOW))
    with TestClient(app) as client:
        send(
            client,
            keys,
            # the same email as Shopify customer 1, written differently
            {
                "type": "identify",
                "userId": "web-1",
                "messageId": "i1",
                "traits": {"email": "AMY.CHAN@gmail.com"},
            },
            # a phone in context.traits (Shopify customer 2 has 6123 4567)
            {
                "type": "track",
                "anonymousId": "dev-2",
                "event": "Product Viewed",
                "messageId": "t2",
                "context": {"traits": {"phone": "+852 6123 4567"}},
            },
            # a WhatsApp id (international digits) equal to customer 1's phone
            {
                "type": "track",
                "anonymousId": "wa-x",
                "event": "Message Read",
                "messageId": "t3",
                "context": {
                    "externalIds": [
                        {"type": "whatsapp", "id": "85291234567", "collection": "users"}
                    ]
                },
            },
        )
        reader = app.state.segmint.reader()
        got = {r["message_id"]: r["customer_id"] for r in events(reader)}
        n_profiles = reader.table("profiles").count().execute()
    assert got == {
        "i1": before["amy.chan@gmail.com"],
        "t2": before["chan.taiman@yahoo.com.hk"],
        "t3": before["amy.chan@gmail.com"],
    }
    assert n_profiles == len(before)  # nobody new


def test_alias_merges_two_known_people_and_logs_it(client, keys, reader):
    send(
        client,
        keys,
        {"type": "identify", "userId": "old-id", "traits": {"email": "a@shop.hk"}},
        {"type": "identify", "userId": "new-id", "traits": {"email": "b@shop.hk"}},
        {"type": "track", "userId": "old-id", "event": "Order Completed", "messageId": "t-old"},
    )
    assert len(profiles(reader)) == 2
    send(
        client,
        keys,
        {"type": "alias", "userId": "new-id", "previousId": "old-id", "messageId": "al"},
    )
    [p] = profiles(reader)
    assert {("email", "a@shop.hk"), ("email", "b@shop.hk")} <= identities(reader, p["customer_id"])
    assert {r["customer_id"] for r in events(reader)} == {p["customer_id"]}
    log = reader.table("merge_log").to_pyarrow().to_pylist()
    absorbed = [r for r in log if r["absorbed_customer_id"] is not None]
    assert len(absorbed) == 1
    assert absorbed[0]["customer_id"] == p["customer_id"]
    assert absorbed[0]["absorbed_customer_id"] != p["customer_id"]


def test_junk_identifiers_never_link_people(client, keys, reader):
    send(
        client,
        keys,
        {"type": "identify", "userId": "u1", "traits": {"email": "test@example.com"}},
        {"type": "identify", "userId": "u2", "traits": {"email": "test@example.com"}},
    )
    assert len(profiles(reader)) == 2
    assert ("email", "test@example.com") not in identities(
        reader, profiles(reader)[0]["customer_id"]
    )


def test_consent_traits_land_with_their_time(client, keys, reader):
    send(
        client,
        keys,
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "i1",
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {"consent": {"whatsapp": True}, "email_opt_in": "no", "plan": "gold"},
        },
    )
    [p] = profiles(reader)
    assert (p["consent_whatsapp"], p["consent_whatsapp_at"]) == (True, datetime(2026, 5, 1, 10))
    assert (p["consent_email"], p["consent_email_at"]) == (False, datetime(2026, 5, 1, 10))
    assert p["consent_sms"] is None
    assert p["traits"] == '{"plan": "gold"}'  # consent traits are not free traits
    # a later withdrawal wins; other channels keep their consent
    send(
        client,
        keys,
        {
            "type": "identify",
            "userId": "u1",
            "timestamp": "2026-05-02T09:00:00Z",
            "traits": {"whatsapp_opt_in": False},
        },
    )
    [p] = profiles(reader)
    assert (p["consent_whatsapp"], p["consent_whatsapp_at"]) == (False, datetime(2026, 5, 2, 9))
    assert p["consent_email"] is False


def test_profile_traits_merge_key_by_key(client, keys, reader):
    send(
        client,
        keys,
        {
            "type": "identify",
            "userId": "u1",
            "traits": {
                "plan": "gold",
                "address": {"city": "Taipei", "country": "TW"},
                "gender": "F",
                "birthday": "1990-05-17",
            },
        },
    )
    send(client, keys, {"type": "identify", "userId": "u1", "traits": {"pets": 2}})
    [p] = profiles(reader)
    assert (p["city"], p["country"], p["gender"]) == ("Taipei", "TW", "female")
    assert str(p["birth_date"]) == "1990-05-17"
    assert p["traits"] == '{"pets": 2, "plan": "gold"}'


def test_admin_profile_route_shows_identities(client, keys, reader):
    send(client, keys, {"type": "identify", "userId": "u1", "traits": {"email": "a@shop.hk"}})
    [p] = profiles(reader)
    body = client.get(f"/v1/profiles/{p['customer_id']}", auth=(keys["admin"], "")).json()
    assert body["customer_id"] == p["customer_id"]
    assert [(i["id_type"], i["id_value"]) for i in body["identities"]] == [
        ("email", "a@shop.hk"),
        ("user_id", "u1"),
    ]


def test_after_a_merge_both_records_send_to_the_survivor(client, keys, reader):
    """Known records skip stitching (a cache); a merge must not leave them pointing at the
    absorbed person."""
    send(client, keys, {"type": "identify", "userId": "u1", "traits": {"email": "a@shop.hk"}})
    send(client, keys, {"type": "identify", "userId": "u2", "traits": {"phone": "91234567"}})
    send(client, keys, {"type": "track", "userId": "u1", "event": "E", "messageId": "before-1"})
    send(client, keys, {"type": "track", "userId": "u2", "event": "E", "messageId": "before-2"})
    assert len(profiles(reader)) == 2
    send(client, keys, {"type": "identify", "userId": "u2", "traits": {"email": "a@shop.hk"}})
    send(client, keys, {"type": "track", "userId": "u1", "event": "E", "messageId": "after-1"})
    send(client, keys, {"type": "track", "userId": "u2", "event": "E", "messageId": "after-2"})
    [p] = profiles(reader)
    assert {r["customer_id"] for r in events(reader)} == {p["customer_id"]}
