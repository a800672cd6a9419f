"""Real-time membership: micro-batches after commits, the time sweep, stream = batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from tests.server._server_support import NOW, TestClient

from segmint.config import RealtimeSettings
from segmint.server import ServerSettings, create_app
from segmint.server.realtime import members_of, quantise, segments_reading
from segmint.workspace import Workspace

VIEWERS = {
    "slug": "rt_viewers",
    "title_en": "Viewers",
    "title_zh_hant": "瀏覽者",
    "owner": "crm",
    "reviewed_on": "2026-01-01",
    "where": {"performed": "Product Viewed", "within_last": {"days": 1}},
}
HK_BUYERS = {
    "slug": "rt_hk_checkout",
    "title_en": "HK checkout",
    "title_zh_hant": "香港結帳",
    "owner": "crm",
    "reviewed_on": "2026-01-01",
    "where": {
        "all": [
            {"field": "country", "op": "eq", "value": "HK"},
            {"performed": "Checkout Started", "where": [
                {"field": "properties.total", "op": "gte", "value": 100}
            ]},
        ]
    },
}  # fmt: skip


class Clock:
    """A clock the test moves (naive UTC)."""

    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


@pytest.fixture
def shop(tmp_path):
    ws = Workspace.create(tmp_path / "shop", default_region="HK")
    (ws.path / "segments").mkdir()
    (ws.path / "segments" / "rt.yaml").write_text(
        yaml.safe_dump({"segments": [VIEWERS, HK_BUYERS]}), encoding="utf-8"
    )
    yield ws
    ws.close()


def _serve(ws, clock):
    key = ws.keys_create("ingest").token
    settings = ServerSettings(
        clock=clock, realtime=RealtimeSettings(batch_seconds=0, sweep_minutes=0), workflows=False
    )
    return create_app(ws, settings=settings), key


def _open_rows(reader, segment=None) -> list[dict]:
    h = reader.table("segment_membership")
    if segment is not None:
        h = h.filter(h.segment == segment)
    return sorted(h.to_pyarrow().to_pylist(), key=lambda r: (r["segment"], r["customer_id"]))


def _customer(reader, user_id: str) -> str:
    i = reader.table("identities")
    rows = i.filter((i.id_type == "user_id") & (i.id_value == user_id)).to_pyarrow().to_pylist()
    return rows[0]["customer_id"]


def test_track_event_enters_segment_then_window_passes_and_sweep_exits(shop):
    clock = Clock(NOW)
    app, key = _serve(shop, clock)
    with TestClient(app) as client:
        state = app.state.segmint
        reader = state.reader()
        r = client.post(
            "/v1/track", auth=(key, ""), json={"userId": "u1", "event": "Product Viewed"}
        )
        assert r.status_code == 200
        assert state.realtime.wait_idle(60)
        cid = _customer(reader, "u1")
        rows = _open_rows(reader, "rt_viewers")
        assert rows == [
            {"segment": "rt_viewers", "customer_id": cid, "entered_at": NOW, "exited_at": None}
        ]
        # an event that matches no segment of the batch changes nothing
        client.post("/v1/track", auth=(key, ""), json={"userId": "u1", "event": "Page Liked"})
        assert state.realtime.wait_idle(60)
        assert len(_open_rows(reader, "rt_viewers")) == 1

        # two days later the one-day window has passed: only the sweep can see that
        clock.at = NOW + timedelta(days=2)
        state.realtime.sweep_now()
        assert state.realtime.wait_idle(120)
        rows = _open_rows(reader, "rt_viewers")
        assert rows == [
            {
                "segment": "rt_viewers",
                "customer_id": cid,
                "entered_at": NOW,
                "exited_at": NOW + timedelta(days=2),
            }
        ]
        # coming back opens a second row; history is never overwritten
        client.post("/v1/track", auth=(key, ""), json={"userId": "u1", "event": "Product Viewed"})
        assert state.realtime.wait_idle(60)
        rows = _open_rows(reader, "rt_viewers")
        assert [(r["entered_at"], r["exited_at"]) for r in rows] == [
            (NOW, NOW + timedelta(days=2)),
            (NOW + timedelta(days=2), None),
        ]
        assert state.realtime.errors == 0


def test_identify_then_filtered_event_enters_a_profile_and_event_segment(shop):
    clock = Clock(NOW)
    app, key = _serve(shop, clock)
    with TestClient(app) as client:
        state = app.state.segmint
        reader = state.reader()
        batch = [
            {"type": "identify", "userId": "amy", "traits": {"address": {"country": "HK"}}},
            {"type": "identify", "userId": "tom", "traits": {"address": {"country": "TW"}}},
            {"type": "track", "userId": "amy", "event": "Checkout Started",
             "properties": {"total": 150}},
            {"type": "track", "userId": "tom", "event": "Checkout Started",
             "properties": {"total": 150}},
        ]  # fmt: skip
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        assert state.realtime.wait_idle(60)
        amy = _customer(reader, "amy")
        assert [r["customer_id"] for r in _open_rows(reader, "rt_hk_checkout")] == [amy]
        # a small checkout does not count; amy stays, a second HK shopper stays out
        batch = [
            {"type": "identify", "userId": "kay", "traits": {"address": {"country": "HK"}}},
            {"type": "track", "userId": "kay", "event": "Checkout Started",
             "properties": {"total": 20}},
        ]  # fmt: skip
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        assert state.realtime.wait_idle(60)
        assert [r["customer_id"] for r in _open_rows(reader, "rt_hk_checkout")] == [amy]


def test_streamed_membership_equals_a_batch_run_at_the_same_instant(shop):
    """Events of many kinds stream in; then `segments run` at the same instant (the library and
    the workspace's segments) finds nothing to change."""
    clock = Clock(NOW)
    app, key = _serve(shop, clock)
    people = [
        ("p1", {"address": {"country": "HK"}, "gender": "female", "birthday": "1990-06-05"}),
        ("p2", {"address": {"country": "TW"}, "email": "p2@shop.tw", "consent": {"email": True}}),
        ("p3", {"address": {"country": "HK"}, "company": {"name": "Acme", "employee_count": 300}}),
        ("p4", {"gender": "male", "whatsapp_opt_in": True, "phone": "+85291234567"}),
    ]
    events = [
        ("p1", "Product Viewed", {"category": "shoes"}),
        ("p1", "Checkout Started", {"total": 300}),
        ("p2", "Product Added", {"category": "bags"}),
        ("p2", "Checkout Started", {"total": 50}),
        ("p3", "Order Completed", {"revenue": 1200}),
        ("p4", "Message Read", {}),
        ("p4", "Survey Responded", {"score": 9}),
        ("p3", "Product Viewed", {"category": "shoes"}),
    ]
    with TestClient(app) as client:
        state = app.state.segmint
        for n, (uid, traits) in enumerate(people):
            msg = {
                "userId": uid,
                "traits": traits,
                "timestamp": (NOW - timedelta(days=n)).isoformat(),
            }
            assert client.post("/v1/identify", auth=(key, ""), json=msg).status_code == 200
        state.realtime.sweep_now()  # a sweep on its own thread while the events stream in
        for n, (uid, name, props) in enumerate(events):
            ts = (NOW - timedelta(hours=3 * n + 1)).isoformat()
            msg = {"userId": uid, "event": name, "properties": props, "timestamp": ts}
            assert client.post("/v1/track", auth=(key, ""), json=msg).status_code == 200
        assert state.realtime.wait_idle(120)
        streamed = _open_rows(state.reader())
        assert state.realtime.errors == 0
    assert streamed  # the stream recorded someone somewhere
    result = shop.segments_run(as_of=NOW)
    assert sum(result.entered.values()) == 0, result.entered
    assert sum(result.exited.values()) == 0, result.exited
    assert _open_rows(shop) == streamed


def test_event_only_batches_evaluate_only_segments_reading_those_events(shop):
    resolved = shop.segment_definitions()
    viewed = {s.slug for s in segments_reading(resolved, {"Product Viewed"})}
    assert "rt_viewers" in viewed
    assert "rt_hk_checkout" not in viewed
    assert "rt_hk_checkout" in {s.slug for s in segments_reading(resolved, {"Checkout Started"})}
    # segments on profile fields only never need an event-only re-evaluation
    assert not any(
        s.slug.startswith(("geo_", "demo_")) for s in segments_reading(resolved, {"Page Liked"})
    )


def test_rounds_reuse_one_compiled_query_and_find_what_an_uncached_evaluation_finds(shop):
    """The clock is 25 s past a minute: rounds evaluate at the next full minute with the query
    compiled once; other ids give other members through the same query; a batch run at the
    quantised instant finds nothing to change."""
    clock = Clock(NOW + timedelta(seconds=25))
    app, key = _serve(shop, clock)
    batch = [
        {"type": "identify", "userId": "amy", "traits": {"address": {"country": "HK"}}},
        {"type": "identify", "userId": "tom", "traits": {"address": {"country": "TW"}}},
        {"type": "identify", "userId": "kay", "traits": {"address": {"country": "HK"}}},
        {"type": "track", "userId": "amy", "event": "Checkout Started",
         "properties": {"total": 150}},
        {"type": "track", "userId": "kay", "event": "Product Viewed",
         "timestamp": (NOW - timedelta(hours=2)).isoformat()},
        {"type": "track", "userId": "tom", "event": "Product Viewed"},
    ]  # fmt: skip
    as_of = quantise(clock.at, 60)
    assert as_of == NOW + timedelta(minutes=1)
    with TestClient(app) as client:
        state = app.state.segmint
        ev = state.realtime
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        assert ev.wait_idle(60)
        assert ev.errors == 0
        reader = state.reader()
        ids = [_customer(reader, u) for u in ("amy", "tom", "kay")]
        resolved = reader.segment_definitions()
        tables = reader.segment_tables(as_of)
        compiled = ev.compiled
        seen = []
        for part in (ids[:1], ids[1:], ids):
            cached = ev.members(part)
            uncached = members_of(resolved, tables, part, as_of, reader.config.timezone)
            assert sorted(cached.to_pylist(), key=str) == sorted(uncached.to_pylist(), key=str)
            seen.append({r["segment"] for r in cached.to_pylist()})
        assert ev.compiled == compiled + 1  # this thread compiled once, then reused it
        assert "rt_hk_checkout" in seen[0] and "rt_hk_checkout" not in seen[1]
        assert "rt_viewers" in seen[1]
        # an event-only batch's part of the definitions: its own query, the same answer
        viewed = ev.members(ids, names={"Product Viewed"})
        sub = segments_reading(resolved, {"Product Viewed"})
        expect = members_of(sub, tables, ids, as_of, reader.config.timezone)
        assert sorted(viewed.to_pylist(), key=str) == sorted(expect.to_pylist(), key=str)
        assert ev.compiled == compiled + 2
        streamed = {(r["segment"], r["customer_id"]) for r in _open_rows(reader)}
        stamps = {r["entered_at"] for r in _open_rows(reader)}
    assert stamps == {clock.at}  # changes keep the real instant
    result = shop.segments_run(as_of=as_of)
    assert sum(result.entered.values()) == 0, result.entered
    assert sum(result.exited.values()) == 0, result.exited
    assert {(r["segment"], r["customer_id"]) for r in _open_rows(shop)} == streamed


def test_quantise_rounds_up_so_no_event_is_missed():
    assert quantise(NOW + timedelta(seconds=1), 60) == NOW + timedelta(minutes=1)
    assert quantise(NOW, 60) == NOW
    assert quantise(NOW + timedelta(seconds=1), 0) == NOW + timedelta(seconds=1)
    assert quantise(NOW + timedelta(minutes=14), 900) == NOW + timedelta(minutes=15)


def test_a_large_round_is_written_in_pieces_with_the_same_history(shop, monkeypatch):
    """Many entrants at once are applied in pieces (events can be committed between them);
    the recorded history is the same as in one piece."""
    from segmint.server import realtime

    monkeypatch.setattr(realtime, "WRITE_CHUNK_ROWS", 2)
    calls = []
    app, key = _serve(shop, Clock(NOW))
    with TestClient(app) as client:
        state = app.state.segmint
        real_call = state.writer.call

        def counting(fn, **kw):
            if kw.get("background"):
                calls.append(1)
            return real_call(fn, **kw)

        monkeypatch.setattr(state.writer, "call", counting)
        batch = [
            {"type": "track", "userId": f"u{n}", "event": "Product Viewed",
             "timestamp": NOW.isoformat() + "Z"}
            for n in range(7)
        ]  # fmt: skip
        assert client.post("/v1/batch", auth=(key, ""), json={"batch": batch}).status_code == 200
        assert state.realtime.wait_idle(60)
        rows = _open_rows(state.reader(), "rt_viewers")
    assert len(rows) == 7 and all(r["exited_at"] is None for r in rows)
    assert len(calls) >= 3  # 7 entrants in pieces of 2 (at most 4 pieces a round)


def test_stop_interrupts_a_long_sweep_instead_of_waiting_for_it(shop, monkeypatch):
    """A sweep at a million customers outlasts a stop; stop() interrupts its query (a query
    still running when the process ends would abort it) and it is not counted as an error."""
    import threading as th
    import time

    from segmint.server.realtime import MembershipEvaluator

    started = th.Event()
    real_round = MembershipEvaluator._round

    def slow(self, kind, *args):
        if kind != "sweep":
            return real_round(self, kind, *args)
        started.set()
        self.state.reader().con.con.execute(
            "SELECT count(*) FROM range(100000000000) a"  # minutes
        ).fetchall()

    monkeypatch.setattr(MembershipEvaluator, "_round", slow)
    app, _ = _serve(shop, Clock(NOW))
    with TestClient(app) as client:
        state = app.state.segmint
        state.realtime.sweep_now()
        assert started.wait(30)
        assert client.get("/health").status_code == 200
        clock = time.monotonic()
        state.realtime.stop(timeout=30)
        assert time.monotonic() - clock < 10
        assert state.realtime.errors == 0
