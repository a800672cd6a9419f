"""The admin API: every route refuses ingest keys; profiles, consent, segments, tags,
audiences, model runs; per-key rate limits."""

from __future__ import annotations

import time

import pytest
from tests.server._server_support import NOW, TestClient

from segmint.config import RateLimit, ServerConfig
from segmint.server import ServerSettings, create_app

VIP = {
    "slug": "vip_api",
    "title_en": "VIP (API)",
    "title_zh_hant": "貴賓",
    "owner": "crm",
    "reviewed_on": "2026-01-15",
    "where": {"tag": "vip"},
}
ADMIN_TAGS = {"profiles", "segments", "tags", "audiences", "model runs"}


def _admin_routes(app) -> list[tuple[str, str]]:
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            if ADMIN_TAGS & set(op.get("tags", [])):
                out.append((method.upper(), path))
    return out


def test_every_admin_route_refuses_ingest_keys(app, client, keys):
    routes = _admin_routes(app)
    assert len(routes) >= 20
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")  # any value will do
        r = client.request(method, url, json={}, auth=(keys["ingest"], ""))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["type"] == "forbidden"
        assert client.request(method, url, json={}).status_code == 401


def test_openapi_operation_ids_are_stable(app):
    ids = {op["operationId"] for ops in app.openapi()["paths"].values() for op in ops.values()}
    assert {
        "profiles_search", "profiles_view", "profiles_erase", "profiles_set_consent",
        "segments_list", "segments_get", "segments_create", "segments_update",
        "segments_delete", "segments_validate", "segments_preview", "segments_members",
        "segments_export", "tags_list", "tags_add", "tags_remove", "tags_remove_all",
        "audiences_exports", "model_runs_start", "model_runs_get", "model_runs_list",
    } <= ids  # fmt: skip


@pytest.fixture
def people(client, keys, reader):
    ingest = (keys["ingest"], "")
    for i, (name, email, phone) in enumerate(
        [("Amy Chan", "amy@shop.hk", "91234567"), ("Bob Lee", "bob@shop.hk", "92345678"),
         ("陳大文", "tai@shop.hk", "93456789")]
    ):  # fmt: skip
        traits = {"name": name, "email": email, "phone": phone, "country": "HK"}
        r = client.post("/v1/identify", json={"userId": f"u{i}", "traits": traits}, auth=ingest)
        assert r.status_code == 200
    client.post(
        "/v1/track",
        json={"userId": "u0", "event": "Order Completed", "properties": {"revenue": 10}},
        auth=ingest,
    )
    p = reader.table("profiles")
    return dict(p.select("email", "customer_id").execute().itertuples(index=False))


def test_profile_search_and_pagination(client, keys, people):
    admin = (keys["admin"], "")
    r = client.get("/v1/profiles", params={"q": "AMY@shop"}, auth=admin).json()
    assert [p["email"] for p in r["items"]] == ["amy@shop.hk"] and r["total"] == 1
    r = client.get("/v1/profiles", params={"q": "9345 6789"}, auth=admin).json()
    assert [p["name"] for p in r["items"]] == ["陳大文"]
    r = client.get("/v1/profiles", params={"q": people["bob@shop.hk"]}, auth=admin).json()
    assert [p["email"] for p in r["items"]] == ["bob@shop.hk"]
    first = client.get("/v1/profiles", params={"limit": 2}, auth=admin).json()
    second = client.get("/v1/profiles", params={"limit": 2, "offset": 2}, auth=admin).json()
    assert first["total"] == second["total"] == 3
    ids = [p["customer_id"] for p in first["items"] + second["items"]]
    assert ids == sorted(people.values())


def test_consent_api_and_identify_share_the_rule_latest_time_wins(client, keys, people, reader):
    admin, ingest = (keys["admin"], ""), (keys["ingest"], "")
    amy = people["amy@shop.hk"]
    r = client.put(f"/v1/profiles/{amy}/consent", json={"whatsapp": True}, auth=admin)
    assert r.status_code == 200, r.text
    assert r.json()["consent"]["whatsapp"] is True
    assert r.json()["consent_at"]["whatsapp"] == NOW.isoformat()
    # an identify that happened earlier does not undo it; a later one does
    old = {"userId": "u0", "traits": {"consent": {"whatsapp": False}}}
    client.post("/v1/identify", json={**old, "timestamp": "2026-05-01T00:00:00Z"}, auth=ingest)
    view = client.get(f"/v1/profiles/{amy}", auth=admin).json()["profile"]
    assert view["consent_whatsapp"] is True
    client.post("/v1/identify", json={**old, "timestamp": "2026-06-01T12:30:00Z"}, auth=ingest)
    view = client.get(f"/v1/profiles/{amy}", auth=admin).json()["profile"]
    assert view["consent_whatsapp"] is False
    # withdrawal through the API with its own time; audited
    r = client.put(
        f"/v1/profiles/{amy}/consent",
        json={"email": False, "at": "2026-06-01T13:00:00+08:00"},
        auth=admin,
    )
    assert r.json()["consent"]["email"] is False
    assert r.json()["consent_at"]["email"] == "2026-06-01T05:00:00"
    audit = reader.table("audit_log").to_pyarrow().to_pylist()
    assert [(a["action"], a["subject"]) for a in audit] == [("consent", amy)] * 2
    # errors
    r = client.put(f"/v1/profiles/{amy}/consent", json={}, auth=admin)
    assert r.status_code == 400 and r.json()["suggestions"] == ["whatsapp", "email", "sms"]
    r = client.put("/v1/profiles/c_nobody/consent", json={"sms": True}, auth=admin)
    assert r.status_code == 404 and r.json()["message"] == "There is no profile 'c_nobody'."


def _run(client, admin, model: str) -> dict:
    r = client.post("/v1/model-runs", json={"model": model}, auth=admin)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    run = r.json()["run_id"]
    for _ in range(600):  # polls until the background run ends (no timing is asserted)
        status = client.get(f"/v1/model-runs/{run}", auth=admin).json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"run {run} did not end: {status}")


def test_segments_tags_360_export_and_model_runs(client, keys, people, ws):
    admin = (keys["admin"], "")
    amy = people["amy@shop.hk"]
    # tags
    r = client.post("/v1/tags/vip", json={"customer_ids": [amy]}, auth=admin)
    assert r.json() == {"tag": "vip", "changed": 1}
    assert client.get("/v1/tags", auth=admin).json() == [
        {"tag": "vip", "source": "api", "customers": 1}
    ]
    r = client.post("/v1/tags/vip", json={"customer_ids": ["c_nobody"]}, auth=admin)
    assert r.status_code == 404
    # validate: problems with JSON pointers
    bad = {**VIP, "where": {"field": "contry", "op": "eq", "value": "HK"}}
    r = client.post("/v1/segments/validate", json=bad, auth=admin).json()
    assert r["valid"] is False
    assert r["problems"][0]["pointer"] == "/where/field"
    assert "country" in r["problems"][0]["suggestions"]
    assert client.post("/v1/segments/validate", json=VIP, auth=admin).json() == {
        "valid": True,
        "problems": [],
    }
    # create, get, list, update, preview
    r = client.post("/v1/segments", json=VIP, auth=admin)
    assert r.status_code == 201 and r.json()["origin"] == "workspace"
    assert (ws.path / "segments" / "vip_api.yaml").exists()
    assert client.post("/v1/segments", json=VIP, auth=admin).status_code == 400
    got = client.get("/v1/segments/vip_api", auth=admin).json()
    assert got["definition"]["where"] == {"tag": "vip"}
    slugs = {s["slug"]: s["origin"] for s in client.get("/v1/segments", auth=admin).json()}
    assert slugs["vip_api"] == "workspace" and slugs["geo_hong_kong"] == "library"
    r = client.put("/v1/segments/vip_api", json={**VIP, "owner": "growth"}, auth=admin)
    assert r.status_code == 200 and r.json()["owner"] == "growth"
    r = client.put("/v1/segments/geo_hong_kong", json={**VIP, "slug": "geo_hong_kong"}, auth=admin)
    assert r.status_code == 400
    r = client.post("/v1/segments/preview", json={"slug": "vip_api"}, auth=admin).json()
    assert r["count"] == 1 and r["sample"][0]["customer_id"] == amy
    r = client.get("/v1/segments/vip_apx", auth=admin)
    assert r.status_code == 404 and r.json()["suggestions"] == ["vip_api"]
    # members (as recorded) and the 360 view
    app_state = client.app.state.segmint
    app_state.writer.call(
        lambda w: w.con.con.execute(
            "INSERT INTO segment_membership VALUES ('vip_api', $1, '2026-06-01 12:00', NULL)",
            [amy],
        )
    ).result()
    r = client.get("/v1/segments/vip_api/members", auth=admin).json()
    assert r["total"] == 1 and r["items"][0]["customer_id"] == amy
    # export through the writer; the log lists it
    client.put(f"/v1/profiles/{amy}/consent", json={"whatsapp": True}, auth=admin)
    r = client.post("/v1/segments/vip_api/export", json={"channel": "whatsapp"}, auth=admin)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1
    log = client.get("/v1/audiences/exports", auth=admin).json()
    assert [e["export_id"] for e in log] == [r.json()["export_id"]]
    assert log[0]["segments"] == ["vip_api"]
    # model runs in the background: without orders it fails and says why; then it succeeds
    status = _run(client, admin, "rfm")
    assert status["status"] == "failed"
    assert status["error"].startswith("DataError: The workspace has no completed orders")
    app_state.writer.call(
        lambda w: w.con.con.execute(
            "INSERT INTO orders (order_id, customer_id, ts, amount, status) "
            "VALUES ('o1', $1, '2026-05-30', 120, 'completed')",
            [amy],
        )
    ).result()
    status = _run(client, admin, "rfm")
    assert status["status"] == "succeeded", status
    assert status["rows"] == 1 and status["finished_at"] is not None
    view = client.get(f"/v1/profiles/{amy}/360", auth=admin).json()
    assert view["profile"]["email"] == "amy@shop.hk"
    assert [t["tag"] for t in view["tags"]] == ["vip"]
    # the real-time sweep may have recorded library segments too: find ours among them
    vip = [s for s in view["segments"] if s["segment"] == "vip_api"]
    assert len(vip) == 1 and vip[0]["entered_at"] == "2026-06-01T12:00:00"
    timeline = [(i["kind"], i["name"], i["ts"]) for i in view["timeline"]]
    assert ("event", "Order Completed", NOW.isoformat()) in timeline
    assert timeline[-1] == ("order", "Order", "2026-05-30T00:00:00")  # newest first
    assert view["models"]["rfm"]["frequency"] == 1
    # tags removed; segment deleted
    r = client.delete(f"/v1/tags/vip/customers/{amy}", auth=admin)
    assert r.json()["changed"] == 1
    assert client.delete("/v1/segments/vip_api", auth=admin).status_code == 204
    assert not (ws.path / "segments" / "vip_api.yaml").exists()
    assert client.delete("/v1/segments/geo_hong_kong", auth=admin).status_code == 400


def test_rate_limit_is_per_key_with_retry_after(ws, keys):
    limits = ServerConfig(
        admin_rate_limit=RateLimit(per_second=0.01, burst=2),
        ingest_rate_limit=RateLimit(per_second=0.01, burst=1),
    )
    app = create_app(ws, settings=ServerSettings(clock=lambda: NOW, rate_limits=limits))
    admin = (keys["admin"], "")
    with TestClient(app) as client:
        assert client.get("/v1/profiles", auth=admin).status_code == 200
        assert client.get("/v1/tags", auth=admin).status_code == 200
        r = client.get("/v1/profiles", auth=admin)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "100"
        body = r.json()
        assert body["type"] == "rate_limited"
        assert body["message"].startswith("The key key_")
        assert "2 requests at once" in body["message"]
        # another key has its own bucket
        track = {"userId": "u1", "event": "x"}
        assert client.post("/v1/track", json=track, auth=(keys["ingest"], "")).status_code == 200
        assert client.post("/v1/track", json=track, auth=(keys["ingest"], "")).status_code == 429


def test_rate_limits_come_from_segmint_yaml(tmp_path):
    from segmint.config import Config

    cfg = Config.model_validate(
        {"server": {"admin_rate_limit": None, "keys": {"k": {"per_second": 1, "burst": 3}}}}
    )
    assert cfg.server.admin_rate_limit is None
    assert cfg.server.keys["k"].burst == 3
    assert cfg.server.ingest_rate_limit == RateLimit(per_second=1000, burst=2000)
