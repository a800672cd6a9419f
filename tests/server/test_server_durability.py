"""SIGKILL durability: a 2xx means committed.

A server subprocess is killed with SIGKILL several times while a client process sends batches
continuously and records every acknowledged messageId; the client re-sends a batch that was
not acknowledged (at-least-once), which also exercises de-duplication. At the end every
acknowledged messageId is stored exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from segmint.workspace import Workspace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

CLIENT = textwrap.dedent(
    """
    import sys, time, pathlib, httpx
    url, key, acked_path, stop_path = sys.argv[1:5]
    acked = open(acked_path, "a", encoding="utf-8")
    seq = 0
    with httpx.Client(timeout=10) as http:
        while not pathlib.Path(stop_path).exists():
            ids = [f"b{seq}-{i}" for i in range(50)]
            batch = [{"type": "track", "userId": f"u{i % 7}", "event": "Product Viewed",
                      "messageId": m} for i, m in enumerate(ids)]
            while not pathlib.Path(stop_path).exists():  # the same batch until acknowledged
                try:
                    r = http.post(url + "/v1/batch", json={"batch": batch}, auth=(key, ""))
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if r.status_code == 200:
                    acked.write("\\n".join(ids) + "\\n")
                    acked.flush()
                    break
                time.sleep(0.02)
            seq += 1
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(folder, port) -> subprocess.Popen:
    code = "from segmint.cli import main; main()"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            str(folder),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited while starting"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server did not start")


def _acked(path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def _wait_for_more_acks(path, than: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(_acked(path))
        if n > than:
            return n
        time.sleep(0.05)
    raise AssertionError(f"no acknowledgement after {than} in {timeout} s")


def test_every_acknowledged_message_survives_sigkill_exactly_once(tmp_path):
    folder = tmp_path / "shop"
    with Workspace.create(folder) as ws:
        key = ws.keys_create("ingest").token
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    acked_path, stop_path = tmp_path / "acked.txt", tmp_path / "stop"
    script = tmp_path / "client.py"
    script.write_text(CLIENT, encoding="utf-8")

    server = _start_server(folder, port)
    client = None
    kills = 0
    try:
        _wait_ready(url, server)
        client = subprocess.Popen(
            [sys.executable, str(script), url, key, str(acked_path), str(stop_path)]
        )
        seen = 0
        for _ in range(3):
            seen = _wait_for_more_acks(acked_path, seen + 100)
            time.sleep(0.3)  # kill in the middle of the stream, not right after an ack
            os.kill(server.pid, signal.SIGKILL)
            server.wait(30)
            kills += 1
            server = _start_server(folder, port)
            _wait_ready(url, server)
        seen = _wait_for_more_acks(acked_path, len(_acked(acked_path)) + 50)
        stop_path.touch()
        assert client.wait(60) == 0
    finally:
        stop_path.touch()
        if client is not None and client.poll() is None:
            client.kill()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(30)

    acked = _acked(acked_path)
    assert kills == 3
    assert len(acked) == len(set(acked)) > 400
    with Workspace.open(folder) as ws:
        t = ws.table("events")
        stored = t.group_by("message_id").aggregate(n=t.count()).to_pyarrow().to_pylist()
    counts = {r["message_id"]: r["n"] for r in stored}
    missing = [m for m in acked if m not in counts]
    assert missing == []
    assert {m: n for m, n in counts.items() if n != 1} == {}
