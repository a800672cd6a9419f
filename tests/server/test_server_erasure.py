"""Erasure: DELETE /v1/profiles/{id} and `segmint erase` leave nothing about the person in any
table, suppress re-creation (identify, import, webhook-style externalIds) and audit it."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from tests.server._server_support import NOW, TestClient
from typer.testing import CliRunner

from segmint.cli import app as cli_app
from segmint.server import ServerSettings, create_app
from segmint.workspace import Workspace

AMY = {"email": "amy.chan@shop.hk", "phone": "+85291234567", "whatsapp": "85291234567"}
CUSTOMERS = (
    "customer_id,first_name,last_name,email,phone\n"
    f"C1,Amy,Chan,{AMY['email']},{AMY['phone']}\n"
    "C2,Bob,Lee,bob.lee@shop.hk,+85291234568\n"
)
ORDERS = (
    "order_id,email,ts,amount\n"
    f"O1,{AMY['email']},2026-01-02,120\n"
    "O2,bob.lee@shop.hk,2026-01-03,80\n"
)
ITEMS = "order_id,product_id,category,quantity,price\nO1,P1,tea,2,60\nO2,P2,cups,1,80\n"


def _customer(reader, email: str) -> str | None:
    p = reader.table("profiles")
    rows = p.filter(p.email == email).select("customer_id").to_pyarrow().to_pylist()
    return rows[0]["customer_id"] if rows else None


def _text_hits(reader, values) -> dict[str, int]:
    """(table.column → rows containing any of ``values``) over every text column of every
    table of the workspace."""
    raw = reader.con.con
    cols = raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
    ).fetchall()
    hits = {}
    for table, column in cols:
        for v in values:
            n = raw.execute(
                f'SELECT count(*) FROM "{table}" WHERE contains("{column}", $1)', [v]
            ).fetchone()[0]
            if n:
                hits[f"{table}.{column}={v}"] = n
    return hits


@pytest.fixture
def shop(tmp_path):
    """A workspace with Amy and Bob from files, live events, tags, membership, exports,
    campaign recipients, a saved RFM table and a table nobody told erasure about."""
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    (tmp_path / "order_items.csv").write_text(ITEMS)
    ws = Workspace.create(tmp_path / "shop", default_region="HK")
    ws.import_file("customers", tmp_path / "customers.csv")
    ws.import_file("orders", tmp_path / "orders.csv")
    ws.import_file("order_items", tmp_path / "order_items.csv")
    ws.rfm(save=True)
    amy = _customer(ws, AMY["email"])
    bob = _customer(ws, "bob.lee@shop.hk")
    raw = ws.con.con
    raw.execute(
        "INSERT INTO segment_membership VALUES ('vip', $1, '2026-01-05', NULL), "
        "('vip', $2, '2026-01-05', NULL)",
        [amy, bob],
    )
    raw.execute(
        "INSERT INTO audience_export_recipients VALUES ('exp_1', $1), ('exp_1', $2)", [amy, bob]
    )
    raw.execute(
        "INSERT INTO campaign_recipients (campaign_id, customer_id, variant, status) "
        "VALUES ('cmp_1', $1, 'A', 'sent'), ('cmp_1', $2, 'A', 'sent')",
        [amy, bob],
    )
    raw.execute("CREATE TABLE loyalty_points (customer_id VARCHAR, points BIGINT)")
    raw.execute("INSERT INTO loyalty_points VALUES ($1, 10), ($2, 20)", [amy, bob])
    ws.tags_add("vip", [amy, bob])
    yield ws, amy, bob
    ws.close()


@pytest.fixture
def shop_keys(shop):
    ws, _, _ = shop
    return {s: ws.keys_create(s, name=f"test {s}").token for s in ("ingest", "admin")}


def _live(client, keys):
    """Amy identifies with her email, a user id and her WhatsApp id, browses anonymously
    first; Bob's event mentions Amy's email (a referral)."""
    ingest = (keys["ingest"], "")
    batch = [
        {"type": "page", "anonymousId": "anon-amy-1", "name": "Home", "messageId": "m1"},
        {
            "type": "identify",
            "userId": "user-amy-9",
            "anonymousId": "anon-amy-1",
            "traits": {"email": AMY["email"], "consent": {"whatsapp": True}},
            "context": {"externalIds": [{"type": "whatsapp", "id": AMY["whatsapp"]}]},
            "messageId": "m2",
        },
        {"type": "track", "userId": "user-amy-9", "event": "Product Viewed", "messageId": "m3"},
        {
            "type": "identify",
            "userId": "user-bob-7",
            "traits": {"email": "bob.lee@shop.hk"},
            "messageId": "m4",
        },
        {
            "type": "track",
            "userId": "user-bob-7",
            "event": "Friend Referred",
            "properties": {"friend": AMY["email"], "note": f"call {AMY['phone']}"},
            "messageId": "m5",
        },
    ]
    assert client.post("/v1/batch", json={"batch": batch}, auth=ingest).status_code == 200


def test_erase_leaves_no_row_about_the_person(shop, shop_keys, tmp_path):
    ws, amy, bob = shop
    keys = shop_keys
    app = create_app(ws, settings=ServerSettings(clock=lambda: NOW))
    admin = (keys["admin"], "")
    with TestClient(app) as client:
        _live(client, keys)
        reader = app.state.segmint.reader()
        values = [amy, AMY["email"], AMY["phone"], "user-amy-9", "anon-amy-1", "cust:C1"]
        assert _text_hits(reader, values)  # the scan finds her before

        r = client.delete(f"/v1/profiles/{amy}", auth=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["erasure_id"].startswith("era_")
        for table in (
            "profiles", "source_profiles", "identities", "orders", "order_items", "events",
            "tags", "segment_membership", "audience_export_recipients", "campaign_recipients",
            "rfm", "loyalty_points",
        ):  # fmt: skip
            assert body["removed"].get(table, 0) >= 1, table
        assert body["redacted"] == {"events": 1}  # Bob's referral event
        assert body["suppressed_identifiers"] >= 5

        assert _text_hits(reader, values) == {}
        # Bob is untouched but for the mention of Amy
        assert reader.table("profiles").count().execute() == 1
        assert reader.table("loyalty_points").to_pyarrow().to_pylist() == [
            {"customer_id": bob, "points": 20}
        ]
        referral = reader.table("events").filter(lambda t: t.message_id == "m5").execute()
        assert json.loads(referral.properties[0]) == {
            "friend": "[erased]",
            "note": "call [erased]",
        }
        # the audit row says who and when, and nothing about her
        audit = reader.table("audit_log").to_pyarrow().to_pylist()
        assert [(a["action"], a["subject"]) for a in audit] == [("erase", body["erasure_id"])]
        assert audit[0]["actor"].startswith("key key_") and "test admin" in audit[0]["actor"]
        assert audit[0]["at"] == NOW

        # identify again with the same email (a new user id): skipped, acknowledged
        again = {"userId": "user-amy-new", "traits": {"email": AMY["email"].upper()}}
        r = client.post("/v1/identify", json=again, auth=(keys["ingest"], ""))
        assert r.status_code == 200
        # a WhatsApp webhook-style message with her number: skipped too
        wa = {
            "anonymousId": "wa-1",
            "event": "Message Received",
            "context": {"externalIds": [{"type": "whatsapp", "id": AMY["whatsapp"]}]},
        }
        assert client.post("/v1/track", json=wa, auth=(keys["ingest"], "")).status_code == 200
        assert _customer(reader, AMY["email"]) is None
        assert reader.table("profiles").count().execute() == 1
        assert _text_hits(reader, [AMY["email"], AMY["phone"], "user-amy-new"]) == {}
        # an erased id is gone: 404
        r = client.delete(f"/v1/profiles/{amy}", auth=admin)
        assert r.status_code == 404
        assert r.json()["message"] == f"There is no profile '{amy}' to erase."

    # an import with her phone (another record id) is skipped and says so
    (tmp_path / "again.csv").write_text(
        f"customer_id,first_name,phone\nC9,A.,{AMY['phone'].replace('+852', '')}\n"
    )
    result = ws.import_file("customers", tmp_path / "again.csv")
    assert result.summary()["skipped (erased people)"] == 1
    assert result.summary()["inserted"] == 0
    assert (
        "1 row(s) skipped: they carry an identifier of a person who was erased"
        in (result.warnings[0])
    )
    assert ws.table("profiles").count().execute() == 1


def test_erasure_needs_an_admin_key(client, keys):
    r = client.delete("/v1/profiles/c_1", auth=(keys["ingest"], ""))
    assert r.status_code == 403


def test_erase_of_a_merged_away_id_names_the_survivor(client, keys, reader):
    ingest = (keys["ingest"], "")
    for uid in ("u-a", "u-b"):
        client.post("/v1/identify", json={"userId": uid}, auth=ingest)
    ids = sorted(reader.table("profiles").customer_id.execute())
    client.post("/v1/alias", json={"userId": "u-a", "previousId": "u-b"}, auth=ingest)
    r = client.delete(f"/v1/profiles/{ids[1]}", auth=(keys["admin"], ""))
    assert r.status_code == 404
    assert r.json()["message"] == f"There is no profile '{ids[1]}': it was merged into {ids[0]}."


def test_cli_erase(shop, tmp_path):
    ws, amy, _ = shop
    ws.close()
    out = CliRunner().invoke(cli_app, ["erase", amy, "--by", "dpo", "-w", str(tmp_path / "shop")])
    assert out.exit_code == 0, out.output
    assert f"Erased {amy}:" in out.output and "Erasure id era_" in out.output
    with Workspace.open(tmp_path / "shop") as again:
        assert _customer(again, AMY["email"]) is None
        audit = again.audit_log().to_pyarrow().to_pylist()
        assert audit[0]["actor"] == "dpo" and audit[0]["action"] == "erase"
        assert isinstance(audit[0]["at"], datetime)
    missing = CliRunner().invoke(cli_app, ["erase", "c_nobody", "-w", str(tmp_path / "shop")])
    assert missing.exit_code == 1
    assert "There is no profile 'c_nobody' to erase." in str(missing.exception)
