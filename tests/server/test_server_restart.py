"""A repeated messageId is stored once across restarts, and the writer commits what is queued
when the app stops."""

from __future__ import annotations

from tests.server._server_support import TestClient

from segmint.server import create_app
from segmint.workspace import Workspace


def _send(client, key, *ids):
    batch = [{"type": "track", "userId": "u1", "event": "E", "messageId": i} for i in ids]
    r = client.post("/v1/batch", json={"batch": batch}, auth=(key, ""))
    assert r.status_code == 200, r.text


def test_message_id_dedupe_survives_a_restart(tmp_path):
    folder = tmp_path / "shop"
    with Workspace.create(folder) as ws:
        key = ws.keys_create("ingest").token
    with TestClient(create_app(folder)) as client:  # the app opens and closes the folder
        _send(client, key, "m1", "m2")
    with TestClient(create_app(folder)) as client:
        _send(client, key, "m2", "m3", "m1")
    with Workspace.open(folder) as ws:
        ids = ws.table("events").to_pyarrow().column("message_id").to_pylist()
    assert sorted(ids) == ["m1", "m2", "m3"]


def test_submit_messages_is_the_in_process_entry_point(tmp_path):
    import asyncio

    with Workspace.create(tmp_path / "shop") as ws:
        app = create_app(ws)
        with TestClient(app):
            submit = app.state.submit_messages
            msg = {
                "type": "track",
                "userId": "u1",
                "event": "Message Read",
                "messageId": "w1",
                "context": {"externalIds": [{"type": "line", "id": "U123", "collection": "users"}]},
            }
            first = asyncio.run(submit([msg], source="line"))
            again = asyncio.run(submit([msg], source="line"))
        rows = ws.table("events").to_pyarrow().to_pylist()
        ids = ws.table("identities").to_pyarrow().to_pylist()
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (1, 0, 0, 1)
    assert [(r["source"], r["channel"]) for r in rows] == [("line", "line")]
    assert ("line", "U123") in {(r["id_type"], r["id_value"]) for r in ids}


def test_duckdb_threads_setting(tmp_path):
    from segmint.server import ServerSettings

    with Workspace.create(tmp_path / "shop") as ws:
        key = ws.keys_create("ingest").token
        app = create_app(ws, settings=ServerSettings(duckdb_threads=1))
        with TestClient(app) as client:
            _send(client, key, "t1")
            threads = (
                app.state.segmint.reader()
                .con.raw_sql("SELECT current_setting('threads')")
                .fetchone()[0]
            )
        assert ws.table("events").count().execute() == 1
    assert threads == 1
