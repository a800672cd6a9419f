"""The official ``segment-analytics-python`` client, unmodified, pointed at a uvicorn server on
127.0.0.1 (its ``host`` setting)."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from tests.server._server_support import NOW, events

from segmint.server import ServerSettings, create_app

segment = pytest.importorskip("segment.analytics.client")
request = pytest.importorskip("segment.analytics.request")


@pytest.fixture
def served(ws, keys):
    """(base url, app) of a uvicorn server in a thread of this process."""
    app = create_app(ws, settings=ServerSettings(clock=lambda: NOW))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(30)


@pytest.mark.parametrize("gzip", [False, True])
def test_official_client_every_call(served, keys, gzip):
    url, app = served
    errors = []
    client = segment.Client(
        keys["ingest"], host=url, sync_mode=True, gzip=gzip, on_error=lambda e, b: errors.append(e)
    )
    client.identify("u1", {"email": "amy@shop.hk", "firstName": "Amy"}, anonymous_id="anon-1")
    client.track("u1", "Order Completed", {"revenue": 120.5, "currency": "HKD"})
    client.page("u1", category="Docs", name="Pricing")
    client.screen("u1", name="Cart")
    client.group("u1", "acme", {"plan": "team"})
    client.alias("u1-old", "u1")
    client.track(anonymous_id="anon-1", event="Product Viewed", properties={"sku": "tea"})
    assert errors == []
    reader = app.state.segmint.reader()
    rows = events(reader)
    assert sorted(r["type"] for r in rows) == sorted(
        ["identify", "track", "page", "screen", "group", "alias", "track"]
    )
    assert {r["event"] for r in rows} >= {"Order Completed", "Pricing", "Cart", "Product Viewed"}
    people = reader.table("profiles").to_pyarrow().to_pylist()
    assert [(p["email"], p["first_name"]) for p in people] == [("amy@shop.hk", "Amy")]
    assert {r["customer_id"] for r in rows} == {people[0]["customer_id"]}


def test_official_client_queue_and_flush(served, keys):
    url, app = served
    client = segment.Client(keys["ingest"], host=url, upload_size=10)
    for i in range(35):
        client.track(f"user-{i % 5}", "Product Viewed", {"i": i}, message_id=f"q-{i}")
    client.flush()
    client.join()
    rows = events(app.state.segmint.reader())
    assert sorted(r["message_id"] for r in rows) == sorted(f"q-{i}" for i in range(35))


def test_official_client_sees_a_401_for_a_wrong_key(served):
    url, _ = served
    client = segment.Client("sgm_wrong", host=url, sync_mode=True)
    with pytest.raises(request.APIError) as err:
        client.track("u1", "Order Completed")
    assert err.value.status == 401
