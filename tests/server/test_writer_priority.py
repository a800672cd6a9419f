"""Accepted events go before background work: writer order and thread priorities."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime

import pytest

from segmint.server.messages import parse_messages
from segmint.server.threads import background_thread, lower_priority
from segmint.server.writer import Writer
from segmint.workspace import Workspace


@pytest.fixture
def writer(tmp_path):
    ws = Workspace.create(tmp_path / "shop")
    w = Writer(ws, max_defer_seconds=30)
    w.start()
    yield w
    w.stop()
    ws.close()


def _track(n: int):
    return parse_messages(
        [{"type": "track", "userId": f"u{n}", "event": "Signed Up", "messageId": f"m{n}"}],
        datetime(2026, 1, 1),
    )


def test_a_background_call_waits_behind_messages_queued_after_it(writer):
    order: list[str] = []
    gate = threading.Event()
    blocker = writer.call(lambda ws: gate.wait(10), transaction=False)  # holds the thread
    late = writer.call(lambda ws: order.append("background"), background=True)
    first = writer.call(lambda ws: order.append("ordinary call"))
    acks = [writer.submit(_track(i)) for i in range(3)]
    writer.add_listener(lambda done: order.append(f"commit of {done.messages}"))
    gate.set()
    blocker.result(10), first.result(10), late.result(10)
    assert [a.result(10).stored for a in acks] == [1, 1, 1]
    # queue order for ordinary work; the background call only once nothing else waits
    assert order[0] == "ordinary call"
    assert order[-1] == "background"
    assert sum(int(x.split()[-1]) for x in order if x.startswith("commit")) == 3


def test_a_background_call_runs_once_it_waited_long_enough(tmp_path):
    ws = Workspace.create(tmp_path / "shop")
    w = Writer(ws, max_defer_seconds=0)
    w.start()
    try:
        order: list[str] = []
        gate = threading.Event()
        w.call(lambda ws: gate.wait(10), transaction=False)
        late = w.call(lambda ws: order.append("background"), background=True)
        acks = [w.submit(_track(i)) for i in range(3)]
        w.add_listener(lambda done: order.append("commit"))
        gate.set()
        late.result(10)
        [a.result(10) for a in acks]
        assert order[0] == "background"  # overdue: it does not wait for the messages
    finally:
        w.stop()
        ws.close()


def test_stop_runs_the_background_calls_still_waiting(writer):
    gate = threading.Event()
    writer.call(lambda ws: gate.wait(10), transaction=False)
    late = writer.call(lambda ws: "done", background=True)
    ack = writer.submit(_track(1))
    gate.set()
    writer.stop()
    assert late.result(0) == "done" and ack.result(0).stored == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux")
def test_background_threads_run_nicer_than_the_caller():
    seen: dict[str, int] = {}

    def probe():
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = background_thread(probe, "probe", nice=5)
    t.start()
    t.join()
    assert seen["nice"] == min(base + 5, 19)
    # the caller's own priority is untouched
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    assert lower_priority(0) is False


def test_serving_shortens_the_switch_interval_and_restores_it(tmp_path):
    from fastapi.testclient import TestClient

    from segmint.server import ServerSettings, create_app

    ws = Workspace.create(tmp_path / "shop")
    before = sys.getswitchinterval()
    try:
        app = create_app(ws, settings=ServerSettings(workflows=False))
        with TestClient(app):
            assert sys.getswitchinterval() == pytest.approx(0.0005)
        assert sys.getswitchinterval() == pytest.approx(before)
        app = create_app(ws, settings=ServerSettings(workflows=False, switch_interval_seconds=None))
        with TestClient(app):
            assert sys.getswitchinterval() == pytest.approx(before)
    finally:
        sys.setswitchinterval(before)
        ws.close()
