"""Ingestion benchmark: `segmint serve` with durable acknowledgements.

    python benchmarks/bench_ingest.py                       # defaults below
    python benchmarks/bench_ingest.py --seconds 20 --senders 4 --batch 100

1. Throughput: a load generator (a separate process) keeps ``--senders`` connections busy
   posting ``/v1/batch`` requests of ``--batch`` track events (users drawn from ``--users``);
   an event counts once its request was answered 200, i.e. committed. A warm-up (people are
   created on their first event) is not counted.
2. Latency: single ``/v1/track`` requests at ``--rate`` per second (open loop: sends follow the
   clock, not the answers) for ``--latency-seconds``; p50/p95/p99/max from the scheduled send
   instant to the answer, over keep-alive connections of a small hand-written HTTP/1.1 client
   (the generator's own send lag and CPU per request are printed too).

The server runs as ``segmint serve`` in its own process on 127.0.0.1; everything stops by
itself. At the end the workspace is opened and every acknowledged event is counted. Targets
(issue 5): ≥ 10,000 events/s on 2 cores; p99 ≤ 50 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


# -- load generator (runs in its own process) -----------------------------------------------------
async def _throughput(url, key, seconds, senders, batch, users, seed) -> dict:
    import httpx

    rng_state = [seed]

    def pick() -> int:  # a tiny LCG: cheap, deterministic
        rng_state[0] = (rng_state[0] * 6364136223846793005 + 1442695040888963407) % 2**64
        return (rng_state[0] >> 33) % users

    acked = errors = requests = 0
    latencies: list[float] = []
    prefix = uuid.uuid4().hex[:8]
    stop_at = time.monotonic() + seconds
    counter = [0]

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal acked, errors, requests
        while time.monotonic() < stop_at:
            counter[0] += 1
            n = counter[0]
            msgs = [
                {
                    "type": "track",
                    "userId": f"user-{pick()}",
                    "event": "Product Viewed",
                    "messageId": f"{prefix}-{n}-{i}",
                    "properties": {"sku": f"sku-{i % 50}", "price": 12.5},
                    "timestamp": "2026-06-01T12:00:00Z",
                }
                for i in range(batch)
            ]
            body = json.dumps({"batch": msgs}).encode()
            t0 = time.perf_counter()
            try:
                r = await client.post(
                    url + "/v1/batch",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    auth=(key, ""),
                )
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            requests += 1
            if r.status_code == 200:
                acked += batch
            else:
                errors += 1

    limits = httpx.Limits(max_connections=senders)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.monotonic()
        await asyncio.gather(*(sender(client) for _ in range(senders)))
        took = time.monotonic() - started
    latencies.sort()
    return {
        "events": acked,
        "seconds": took,
        "requests": requests,
        "errors": errors,
        "batch_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "batch_p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
    }


class _Connections:
    """Keep-alive HTTP/1.1 connections to the server, written by hand for the latency phase.

    httpx costs the generator ~1 ms of CPU per request and more as connections pile up; after
    a hiccup of the server the generator itself then fell behind and measured its own queue
    (seconds, while the server sat idle: seen with ``py-spy dump``). Here a request is one
    write and one read of a ``Content-Length`` body."""

    def __init__(self, url: str, key: str) -> None:
        import base64
        from urllib.parse import urlsplit

        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        token = base64.b64encode(f"{key}:".encode()).decode()
        self.head = (
            f"POST {{path}} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def post(self, path: str, body: bytes) -> int:
        """Status of ``POST path`` with ``body`` (a connection is reused when one is idle; one
        the server closed meanwhile, after its keep-alive timeout, is replaced)."""
        request = self.head.format(path=path, length=len(body)).encode() + body
        while self.idle:
            reader, writer = self.idle.pop()
            writer.write(request)
            line = await reader.readline()
            if line:
                break
            writer.close()  # closed by the server while idle: nothing was read
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
            writer.write(request)
            line = await reader.readline()
        status = int(line.split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _latency(url, key, seconds, rate, users) -> dict:
    """Single tracks open loop; latency from the *scheduled* send instant to the answer, so a
    generator that falls behind shows up in the figures instead of hiding the server's
    slowness (coordinated omission)."""
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    prefix = uuid.uuid4().hex[:8]
    conns = _Connections(url, key)

    async def one(i: int, due: float) -> None:
        nonlocal errors
        body = json.dumps(
            {"userId": f"user-{i % users}", "event": "Product Viewed", "messageId": f"{prefix}-{i}"}
        ).encode()
        lags.append(time.perf_counter() - due)
        try:
            status = await conns.post("/v1/track", body)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            errors += 1
            return
        latencies.append(time.perf_counter() - due)
        if status != 200:
            errors += 1

    n = int(seconds * rate)
    tasks = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    took = time.perf_counter() - start
    conns.close()
    latencies.sort()
    lags.sort()

    def q(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    return {
        "requests": n,
        "achieved_rate": n / took,
        "errors": errors,
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": 1000 * latencies[-1],
        "connections": conns.opened,
        "generator_lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)],
        "generator_cpu_ms_per_request": 1000 * (time.process_time() - cpu0) / n,
    }


def _generator_main(argv: list[str]) -> None:
    mode, url, key, *rest = argv
    if mode == "throughput":
        seconds, senders, batch, users, seed = rest
        out = asyncio.run(
            _throughput(url, key, float(seconds), int(senders), int(batch), int(users), int(seed))
        )
    else:
        seconds, rate, users = rest
        out = asyncio.run(_latency(url, key, float(seconds), float(rate), int(users)))
    print(json.dumps(out))


def _generate(*args) -> dict:
    cmd = [sys.executable, __file__, "--generator", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- orchestration --------------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited while starting")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="throughput phase length")
    ap.add_argument("--warmup", type=float, default=5.0, help="uncounted warm-up length")
    ap.add_argument("--senders", type=int, default=8, help="concurrent batch connections")
    ap.add_argument("--batch", type=int, default=100, help="events per /v1/batch request")
    ap.add_argument("--users", type=int, default=5_000, help="distinct userIds")
    ap.add_argument("--rate", type=float, default=200.0, help="single /v1/track per second")
    ap.add_argument("--latency-seconds", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=None, help="segmint serve --threads")
    ap.add_argument("--dir", type=Path, default=None, help="workspace parent (default: temp)")
    ap.add_argument(
        "--no-realtime",
        action="store_true",
        help="turn real-time membership off (realtime.enabled: false) to see ingestion alone",
    )
    ap.add_argument(
        "--realtime-batch-seconds",
        type=float,
        default=None,
        help="realtime.batch_seconds of the served workspace (default: the config's default)",
    )
    args = ap.parse_args()

    from segmint.workspace import Workspace

    root = args.dir or Path(tempfile.mkdtemp(prefix="segmint-bench-ingest-"))
    folder = root / "ws"
    with Workspace.create(folder, exist_ok=True) as ws:
        key = ws.keys_create("ingest", name="bench").token
        if args.no_realtime:
            ws.config.realtime.enabled = False
        if args.realtime_batch_seconds is not None:
            ws.config.realtime.batch_seconds = args.realtime_batch_seconds
        ws.config.save(folder / "segmint.yaml")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from segmint.cli import main; main()",
            "serve",
            str(folder),
            "--port",
            str(port),
            "--log-level",
            "warning",
            *(["--threads", str(args.threads)] if args.threads else []),
        ],
    )
    try:
        _wait_ready(url, server)
        warm = _generate(
            "throughput", url, key, args.warmup, args.senders, args.batch, args.users, 1
        )
        cpu0 = _cpu_seconds(server.pid)
        tp = _generate(
            "throughput", url, key, args.seconds, args.senders, args.batch, args.users, 2
        )
        cpu_tp = _cpu_seconds(server.pid) - cpu0
        cpu0 = _cpu_seconds(server.pid)
        lat = _generate("latency", url, key, args.latency_seconds, args.rate, args.users)
        cpu_lat = _cpu_seconds(server.pid) - cpu0
    finally:
        server.send_signal(signal.SIGINT)  # graceful: commits what is queued
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    load_after = os.getloadavg()
    with Workspace.open(folder) as ws:
        stored = ws.table("events").count().execute()
    expected = warm["events"] + tp["events"] + lat["requests"] - lat["errors"]

    rate = tp["events"] / tp["seconds"]
    print(f"workspace: {folder} (segmint serve --threads {args.threads or 'default'})")
    print(
        f"cores: {os.cpu_count()}, load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f}"
    )
    print(f"warm-up: {warm['events']:,} events in {warm['seconds']:.1f} s (people created)")
    print(
        f"throughput: {tp['events']:,} events acknowledged in {tp['seconds']:.1f} s = "
        f"{rate:,.0f} events/s ({args.senders} senders × {args.batch} per batch; "
        f"batch p50 {tp['batch_p50_ms']:.0f} ms, p99 {tp['batch_p99_ms']:.0f} ms; "
        f"{tp['errors']} errors)"
    )
    print(
        f"latency: {lat['requests']:,} single /v1/track at {lat['achieved_rate']:.0f}/s: "
        f"p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
        f"max {lat['max_ms']:.1f} ms ({lat['errors']} errors; {lat['connections']} "
        f"connections; generator: send lag p99 {lat['generator_lag_p99_ms']:.1f} ms, "
        f"{lat['generator_cpu_ms_per_request']:.2f} ms CPU per request)"
    )
    print(
        f"server CPU: {cpu_tp:.1f} s for the throughput phase = "
        f"{tp['events'] / max(cpu_tp, 1e-9):,.0f} events per CPU-second; "
        f"{1000 * cpu_lat / max(lat['requests'], 1):.2f} ms CPU per single track"
    )
    print(f"stored events: {stored:,} (acknowledged: {expected:,})")
    print(
        f"targets: ≥ 10,000 events/s: {'met' if rate >= 10_000 else 'NOT met'}; "
        f"p99 ≤ 50 ms: {'met' if lat['p99_ms'] <= 50 else 'NOT met'}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generator":
        _generator_main(sys.argv[2:])
    else:
        main()
