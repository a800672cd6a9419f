"""Keys: stored hashed, required on every /v1 route; ingest keys never read; CLI commands."""

from __future__ import annotations

import base64
import hashlib

import pytest
from typer.testing import CliRunner

from segmint.cli import app as cli_app

TRACK = {"userId": "u1", "event": "Signed Up"}


def test_keys_are_stored_as_sha256_only(ws, keys):
    stored = ws.table("api_keys").to_pyarrow().to_pylist()
    assert {r["scope"] for r in stored} == {"ingest", "admin"}
    hashes = {r["hash"] for r in stored}
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in keys.values()}
    flat = repr(stored)
    assert not any(token in flat for token in keys.values())
    assert all(t.startswith("sgm_") and len(t) > 40 for t in keys.values())


def test_write_key_as_basic_user_name(client, keys):
    header = "Basic " + base64.b64encode(f"{keys['ingest']}:".encode()).decode()
    r = client.post("/v1/track", json=TRACK, headers={"Authorization": header})
    assert r.status_code == 200


def test_bearer_key(client, keys):
    r = client.post("/v1/track", json=TRACK, headers={"Authorization": f"Bearer {keys['ingest']}"})
    assert r.status_code == 200


def test_admin_keys_can_ingest(client, keys):
    assert client.post("/v1/track", json=TRACK, auth=(keys["admin"], "")).status_code == 200


def test_missing_key_is_401_with_json_error(client):
    r = client.post("/v1/track", json=TRACK)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="segmint"'
    body = r.json()
    assert body["type"] == "unauthorized"
    assert body["message"] == "This request has no API key."
    assert "segmint keys create --scope ingest" in body["hint"]
    assert set(body) >= {"type", "message", "location", "suggestions"}


def test_wrong_key_is_401(client):
    r = client.post("/v1/track", json=TRACK, auth=("sgm_not-a-key", ""))
    assert r.status_code == 401
    assert r.json()["message"] == "The API key is not valid for this workspace."


def test_revoked_key_is_401(ws, tmp_path):
    from tests.server._server_support import TestClient

    from segmint.server import create_app

    key = ws.keys_create("ingest")
    ws.keys_revoke(key.key_id)
    with TestClient(create_app(ws)) as client:
        r = client.post("/v1/track", json=TRACK, auth=(key.token, ""))
    assert r.status_code == 401
    assert r.json()["message"].startswith(f"The API key {key.key_id} was revoked on ")


def test_ingest_key_cannot_read_profiles(client, keys, reader):
    assert (
        client.post(
            "/v1/identify",
            json={"userId": "u1", "traits": {"email": "a@shop.hk"}},
            auth=(keys["ingest"], ""),
        ).status_code
        == 200
    )
    cid = reader.table("profiles").to_pyarrow().column("customer_id")[0].as_py()
    r = client.get(f"/v1/profiles/{cid}", auth=(keys["ingest"], ""))
    assert r.status_code == 403
    body = r.json()
    assert body["type"] == "forbidden"
    assert body["message"].endswith("may only send events; this needs an admin key.")
    assert "profile" not in body
    ok = client.get(f"/v1/profiles/{cid}", auth=(keys["admin"], ""))
    assert ok.status_code == 200
    assert ok.json()["profile"]["email"] == "a@shop.hk"


def test_reading_without_a_key_is_401(client):
    assert client.get("/v1/profiles/c_1").status_code == 401


def test_unknown_profile_is_404_json(client, keys):
    r = client.get("/v1/profiles/c_nobody", auth=(keys["admin"], ""))
    assert r.status_code == 404
    assert r.json()["message"] == "There is no profile 'c_nobody'."


def test_key_use_is_recorded_on_a_later_commit(ws, keys):
    from tests.server._server_support import TestClient

    from segmint.server import ServerSettings, create_app

    with TestClient(create_app(ws, settings=ServerSettings(key_touch_seconds=0))) as client:
        client.post("/v1/track", json=TRACK, auth=(keys["ingest"], ""))
        client.post("/v1/track", json={**TRACK, "event": "Again"}, auth=(keys["ingest"], ""))
    used = {k.scope: k.last_used_at for k in ws.keys_list()}
    assert used["ingest"] is not None
    assert used["admin"] is None


# -- CLI ------------------------------------------------------------------------------------------
def _cli(*args):
    return CliRunner().invoke(cli_app, list(args), catch_exceptions=False)


def test_cli_keys_create_list_revoke(tmp_path):
    from segmint.workspace import Workspace

    Workspace.create(tmp_path / "shop").close()
    made = _cli("keys", "create", "--scope", "admin", "--name", "ops", "-w", str(tmp_path / "shop"))
    assert made.exit_code == 0, made.output
    token = next(line for line in made.output.splitlines() if line.startswith("sgm_"))
    listed = _cli("keys", "list", "-w", str(tmp_path / "shop"))
    key_id = next(w for w in listed.output.split() if w.startswith("key_"))
    assert "admin" in listed.output and "never" in listed.output
    assert token not in listed.output
    revoked = _cli("keys", "revoke", key_id, "-w", str(tmp_path / "shop"))
    assert revoked.exit_code == 0 and f"Revoked {key_id}" in revoked.output
    with Workspace.open(tmp_path / "shop") as ws:
        assert [k.revoked_at is not None for k in ws.keys_list()] == [True]


def test_cli_refuses_unknown_scope_and_key(tmp_path, capsys):
    from segmint.cli import main
    from segmint.workspace import Workspace

    Workspace.create(tmp_path / "shop").close()
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--scope", "admn", "-w", str(tmp_path / "shop")])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "The key scope must be one of ingest, admin. Got 'admn' instead." in out
    assert "Did you mean 'admin'?" in out


def test_serve_refuses_to_start_without_a_key(tmp_path, capsys):
    from segmint.cli import main
    from segmint.workspace import Workspace

    Workspace.create(tmp_path / "shop").close()
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(tmp_path / "shop"), "--port", "1"])
    assert exit_.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "The workspace has no active API key and no web app user, so nobody could use the "
        "service." in out
    )
    assert "segmint keys create --scope ingest" in out and "segmint users create NAME" in out
