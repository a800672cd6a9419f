"""Segment engine benchmark: preview and library runs on `segmint generate` data (issue 3).

    nice -n -10 python benchmarks/bench_segments.py --customers 1000000 --workdir /tmp/segbench
    python benchmarks/bench_segments.py --customers 100000 --workdir /tmp/segbench --reuse

Steps, each in its own child process (so every peak RSS is that step's own):

1. ``generate``: ``segmint generate --format parquet --canonical-orders`` in shards of at most
   ``--shard-size`` people (seeds ``seed``, ``seed + 1``, …), because one 1M-person run of the
   generator peaks at 11.9 GB (docs/demo-data.md). With ``--reuse`` a shard whose
   ``ground_truth/params.json`` exists is not generated again.
2. ``load``: a fresh workspace; the generated Parquet goes **straight into the canonical tables**
   (no ``segmint import``: stitching 4.4M source records is the importer's benchmark, not this
   one). ``profiles`` from ``ground_truth/persons`` (one per true person; traits income band,
   interests, lifestyle, values), ``orders`` from the canonical ``orders.parquet``, ``events``
   from ``events.parquet`` with ``customer_id`` found through the ground-truth links
   (anonymous id, Shopify id, e-mail, phone). Shard ``i`` prefixes its ids with ``s<i>_``.
3. ``preview``: ``ws.segment_preview`` of a 5-leaf definition with one performed-in-window leaf
   (:data:`PREVIEW`): the first call in a fresh process (cold) and the median of ``--repeat``
   warm calls (one query for the count and the first 20 ids, one lookup of those profiles, and
   the Python around them: definitions, metric expressions, compilation). The floor is the same
   count written by hand in DuckDB SQL, timed in the same process.
4. ``evaluate``: every library definition evaluated at once (``segments.current_members``, the
   rows fetched as Arrow): the cost of the conditions alone, without history.
5. ``run1`` / ``run2``: ``ws.segments_run()`` of the whole library on an empty history (every
   member enters), then the next day (history maintenance: only the changes are written).

Every step prints its wall time, CPU time (all threads) and peak RSS (``VmHWM``); the table at
the end has them all. DuckDB gets a ``memory_limit`` (``--memory-limit``, default 6GB) in every
child. ``--reuse`` keeps the generated data and the loaded workspace (``--workdir``/ws-N);
``--steps preview,evaluate,run`` picks the measured steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

AS_OF = "2026-06-30"  # the last day of the generated data (the generator's default --end)
NEXT_DAY = "2026-07-01"

#: What a marketer would build in a live builder: 5 leaves, one of them performed in a window.
PREVIEW = {
    "slug": "bench_preview",
    "title_en": "Female HK/TW/SG e-mail subscribers, repeat buyers, browsing this month",
    "title_zh_hant": "基準預覽",
    "owner": "bench",
    "reviewed_on": "2026-11-22",
    "where": {
        "all": [
            {"field": "country", "op": "in", "value": ["HK", "TW", "SG"]},
            {"field": "gender", "op": "eq", "value": "female"},
            {"consent": "email"},
            {"ordered": "completed", "op": "gte", "value": 2},
            {"performed": "Product Viewed", "within_last": {"days": 30}},
        ]
    },
}

#: The same count written by hand (as_of = end of AS_OF in UTC; consent as segmint reads it).
PREVIEW_FLOOR_SQL = """
WITH o AS (
    SELECT customer_id FROM orders
    WHERE status = 'completed' AND customer_id IS NOT NULL AND ts <= TIMESTAMP '{as_of}'
    GROUP BY customer_id HAVING count(*) >= 2
), e AS (
    SELECT DISTINCT customer_id FROM events
    WHERE event = 'Product Viewed' AND customer_id IS NOT NULL
      AND ts > TIMESTAMP '{as_of}' - INTERVAL 30 DAY AND ts <= TIMESTAMP '{as_of}'
)
SELECT count(*) FROM profiles p JOIN o USING (customer_id) JOIN e USING (customer_id)
WHERE p.country IN ('HK', 'TW', 'SG') AND p.gender = 'female' AND p.consent_email
  AND (p.consent_email_at IS NULL OR p.consent_email_at <= TIMESTAMP '{as_of}')
"""


# -- measuring ------------------------------------------------------------------------------------
def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _status_mb(key: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process from /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


class Clock:
    """Wall and CPU seconds of a block: ``with Clock() as c: ...; c.seconds``."""

    def __enter__(self) -> Clock:
        self.t0, self.c0 = time.perf_counter(), _cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = _cpu_s() - self.c0


# -- generate and load ----------------------------------------------------------------------------
def shard_dirs(data: Path, customers: int, shard_size: int) -> list[tuple[Path, int]]:
    """(folder, people) of every shard: equal parts of at most ``shard_size`` people."""
    n = max(1, -(-customers // shard_size))
    sizes = [customers // n + (1 if i < customers % n else 0) for i in range(n)]
    return [(data / f"shard-{i}", size) for i, size in enumerate(sizes)]


def generate(data: Path, customers: int, shard_size: int, seed: int, reuse: bool) -> dict:
    """Run ``segmint generate`` per shard (skipped for finished shards with ``reuse``)."""
    out = {"seconds": 0.0, "peak_rss_mb": 0.0, "generated": 0, "reused": 0}
    for i, (folder, size) in enumerate(shard_dirs(data, customers, shard_size)):
        if reuse and (folder / "ground_truth" / "params.json").exists():
            out["reused"] += 1
            continue
        shutil.rmtree(folder, ignore_errors=True)
        cmd = [
            "/usr/bin/time", "-f", "%e %M", "segmint", "generate", "-n", str(size),
            "--seed", str(seed + i), "--format", "parquet", "--canonical-orders",
            "--out", str(folder),
        ]  # fmt: skip
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall, rss_kb = done.stderr.strip().splitlines()[-1].split()
        out["seconds"] += float(wall)
        out["peak_rss_mb"] = max(out["peak_rss_mb"], int(rss_kb) / 1024)
        out["generated"] += 1
        print(f"  shard {i}: {size:,} people in {float(wall):.0f} s, "
              f"peak RSS {int(rss_kb) / 2**20:.1f} GB", flush=True)  # fmt: skip
    return out


LOAD_PROFILES = """
INSERT INTO profiles (customer_id, name, email, phone, gender, birth_date, country, region, city,
    language, company, industry, company_size, annual_revenue, created_at,
    consent_whatsapp, consent_whatsapp_at, consent_email, consent_email_at,
    consent_sms, consent_sms_at, traits, updated_at)
SELECT '{p}' || person_id, coalesce(name_en, name_zh), email, phone, gender, birth_date,
    country, region, city, language, company, industry, company_size, annual_revenue,
    coalesce(acquired_at, first_order_at) AT TIME ZONE 'UTC',
    consent_whatsapp = 'yes', consent_whatsapp_at AT TIME ZONE 'UTC',
    consent_email = 'yes', consent_email_at AT TIME ZONE 'UTC',
    consent_sms = 'yes', consent_sms_at AT TIME ZONE 'UTC',
    CAST(json_object('income_band', income_band, 'interests', interests,
                     'lifestyle', lifestyle, 'values', "values") AS VARCHAR),
    TIMESTAMP '2026-07-01'
FROM read_parquet('{dir}/ground_truth/persons.parquet')
"""

LOAD_ORDERS = """
INSERT INTO orders
SELECT '{p}' || order_id, '{p}' || customer_id, ts, amount, currency, channel, discount, status,
       source
FROM read_parquet('{dir}/orders.parquet')
"""

# Every identifier of the ground truth → its true person (a key shared by two people: the
# smaller id; junk identifiers are not in these columns).
ID_MAP = """
CREATE OR REPLACE TEMP TABLE id_map AS
WITH r AS (SELECT * FROM read_parquet('{dir}/ground_truth/records.parquet')),
     p AS (SELECT * FROM read_parquet('{dir}/ground_truth/persons.parquet'))
SELECT key, min(person_id) AS person_id FROM (
    SELECT link AS key, person_id FROM r
    UNION ALL SELECT link2, person_id FROM r
    UNION ALL SELECT 'e:' || email, person_id FROM p
    UNION ALL SELECT 'p:' || phone, person_id FROM p
) WHERE key IS NOT NULL GROUP BY key
"""

LOAD_EVENTS = """
INSERT INTO events
SELECT '{p}' || e.message_id,
       '{p}' || coalesce(a.person_id, u.person_id, m.person_id, f.person_id),
       e.anonymous_id, e.type, e.event, e.timestamp AT TIME ZONE 'UTC', e.properties, e.channel,
       'segment'
FROM read_parquet('{dir}/events.parquet') e
LEFT JOIN id_map a ON a.key = 'anon:' || e.anonymous_id
LEFT JOIN id_map u ON u.key = 'shopify:' || e.user_id
LEFT JOIN id_map m ON m.key = 'e:' || e.email
LEFT JOIN id_map f ON f.key = 'p:' || e.phone
ORDER BY e.timestamp
"""


def load(ws_dir: Path, data: Path, customers: int, shard_size: int, memory_limit: str) -> dict:
    """A fresh workspace with the shards' profiles, orders and events (see the module doc)."""
    from segmint.workspace import Workspace

    shutil.rmtree(ws_dir, ignore_errors=True)
    ws = Workspace.create(ws_dir, default_region="HK", currency="HKD")
    con = ws.con.con
    con.execute("SET timezone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    for i, (folder, _) in enumerate(shard_dirs(data, customers, shard_size)):
        fill = {"p": f"s{i}_", "dir": str(folder)}
        con.execute("BEGIN")
        for sql in (LOAD_PROFILES, LOAD_ORDERS, ID_MAP, LOAD_EVENTS):
            con.execute(sql.format(**fill))
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("profiles", "orders", "events")
    }
    counts["events without customer"] = con.execute(
        "SELECT count(*) FROM events WHERE customer_id IS NULL"
    ).fetchone()[0]
    ws.close()
    return counts


# -- the measured steps ---------------------------------------------------------------------------
def _open(ws_dir: Path, memory_limit: str):
    from segmint.workspace import Workspace

    ws = Workspace.open(ws_dir)
    ws.con.con.execute(f"SET memory_limit = '{memory_limit}'")
    return ws


def step_preview(ws_dir: Path, memory_limit: str, repeat: int) -> dict:
    from segmint import segments

    ws = _open(ws_dir, memory_limit)
    with Clock() as cold:
        first = ws.segment_preview(PREVIEW, as_of=AS_OF)
    warm, warm_cpu = [], []
    for _ in range(repeat):
        with Clock() as c:
            again = ws.segment_preview(PREVIEW, as_of=AS_OF)
        warm.append(c.seconds)
        warm_cpu.append(c.cpu)
        assert again.count == first.count
    # the count alone, as the builder would ask it while the user types
    at = segments.as_of_instant(AS_OF)
    tables = ws._segment_tables(at)
    slug, sets = ws._with_spec(PREVIEW)
    seg = segments.resolve_all(sets, tables)[slug]
    count_only = []
    for _ in range(repeat):
        from segmint.rules import compile_segment

        with Clock() as c:
            n = int(compile_segment(seg, tables, at, timezone=ws.config.timezone).count().execute())
        count_only.append(c.seconds)
    floor = []
    sql = PREVIEW_FLOOR_SQL.format(as_of=at.isoformat(sep=" "))
    for _ in range(repeat):
        with Clock() as c:
            n_floor = ws.con.con.execute(sql).fetchone()[0]
        floor.append(c.seconds)
    ws.close()
    return {
        "count": first.count,
        "count_floor": n_floor,
        "count_only": n,
        "cold_s": cold.seconds,
        "cold_cpu_s": cold.cpu,
        "warm_median_s": statistics.median(warm),
        "warm_cpu_median_s": statistics.median(warm_cpu),
        "warm_max_s": max(warm),
        "count_only_median_s": statistics.median(count_only),
        "floor_median_s": statistics.median(floor),
        "peak_rss_mb": _status_mb("VmHWM"),
    }


def step_evaluate(ws_dir: Path, memory_limit: str) -> dict:
    from segmint import segments

    ws = _open(ws_dir, memory_limit)
    at = segments.as_of_instant(AS_OF)
    rss0 = _status_mb("VmRSS")
    with Clock() as c:
        tables = ws._segment_tables(at)
        resolved = segments.resolve_all(segments.load_definitions(ws.path), tables)
        members = segments.current_members(resolved, tables, at, timezone=ws.config.timezone)
    ws.close()
    return {
        "seconds": c.seconds,
        "cpu_seconds": c.cpu,
        "segments": len(list(resolved)),
        "memberships": members.num_rows,
        "rss_before_mb": rss0,
        "peak_rss_mb": _status_mb("VmHWM"),
    }


def step_run(ws_dir: Path, memory_limit: str, as_of: str, fresh: bool) -> dict:
    ws = _open(ws_dir, memory_limit)
    if fresh:  # an empty history (and no auto-tags) before the first run, not timed
        ws.con.con.execute("DELETE FROM segment_membership")
        ws.con.con.execute("DELETE FROM tags")
        ws.con.con.execute("CHECKPOINT")
    rss0 = _status_mb("VmRSS")
    with Clock() as c:
        result = ws.segments_run(as_of=as_of)
    history = ws.con.con.execute(
        "SELECT count(*), count(exited_at) FROM segment_membership"
    ).fetchone()
    ws.close()
    return {
        "seconds": c.seconds,
        "cpu_seconds": c.cpu,
        "segments": len(result.members),
        "members": sum(result.members.values()),
        "entered": sum(result.entered.values()),
        "exited": sum(result.exited.values()),
        "tagged": sum(result.tagged.values()),
        "history_rows": history[0],
        "closed_rows": history[1],
        "rss_before_mb": rss0,
        "peak_rss_mb": _status_mb("VmHWM"),
    }


# -- driver ---------------------------------------------------------------------------------------
def _child(args: argparse.Namespace, step: str, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--workdir", str(args.workdir),
           "--customers", str(args.customers), "--shard-size", str(args.shard_size),
           "--memory-limit", args.memory_limit, "--repeat", str(args.repeat), *extra]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"step {step} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _versions() -> str:
    import duckdb
    import ibis
    import pandas
    import pyarrow

    return (f"python {platform.python_version()}, duckdb {duckdb.__version__}, "
            f"ibis {ibis.__version__}, pandas {pandas.__version__}, "
            f"pyarrow {pyarrow.__version__}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--shard-size", type=int, default=500_000, help="people per generator run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/segbench"))
    ap.add_argument("--reuse", action="store_true", help="keep generated data and workspace")
    ap.add_argument("--repeat", type=int, default=5, help="warm preview calls")
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit in every step")
    ap.add_argument("--steps", default="preview,evaluate,run", help="measured steps to run")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--as-of", default=AS_OF, help=argparse.SUPPRESS)
    args = ap.parse_args()

    data = args.workdir / f"data-{args.customers}"
    ws_dir = args.workdir / f"ws-{args.customers}"
    if args.child == "load":
        print(json.dumps(load(ws_dir, data, args.customers, args.shard_size, args.memory_limit)))
        return
    if args.child == "preview":
        print(json.dumps(step_preview(ws_dir, args.memory_limit, args.repeat)))
        return
    if args.child == "evaluate":
        print(json.dumps(step_evaluate(ws_dir, args.memory_limit)))
        return
    if args.child in ("run1", "run2"):
        fresh = args.child == "run1"
        print(json.dumps(step_run(ws_dir, args.memory_limit, args.as_of, fresh)))
        return

    load1 = os.getloadavg()
    print(f"segmint segment benchmark · {args.customers:,} customers · {_versions()}")
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(f"{os.cpu_count()} cores · {ram:.0f} GB RAM"
          f" · load average {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} at the start"
          f" · DuckDB memory_limit {args.memory_limit}", flush=True)  # fmt: skip
    rows: list[tuple[str, float, float | None, float | None, str]] = []

    gen = generate(data, args.customers, args.shard_size, args.seed, args.reuse)
    if gen["generated"]:
        rows.append(("generate (segmint generate, all shards)", gen["seconds"], None,
                     gen["peak_rss_mb"], ""))  # fmt: skip
    else:
        print(f"reusing {gen['reused']} generated shard(s) in {data}")

    if args.reuse and (ws_dir / "segmint.yaml").exists():
        print(f"reusing the workspace {ws_dir}")
    else:
        t0 = time.perf_counter()
        counts = _child(args, "load")
        took = time.perf_counter() - t0
        rows.append(("load Parquet into the canonical tables", took, None, None, ""))
        print(f"loaded in {took:.1f} s: {counts}")
    counts = workspace_counts(ws_dir)
    print(f"workspace: {counts['profiles']:,} profiles, {counts['orders']:,} orders, "
              f"{counts['events']:,} events ({counts['events_with_customer']:,} with a customer), "
              f"{counts['mb']:,.0f} MB DuckDB file", flush=True)  # fmt: skip

    steps = args.steps.split(",")
    if "preview" in steps:
        rows += _preview_rows(_child(args, "preview"), args.repeat)
    if "evaluate" in steps:
        e = _child(args, "evaluate")
        print(f"evaluate: {e}", flush=True)
        rows.append((f"evaluate the library ({e['segments']} segments), no history",
                     e["seconds"], e["cpu_seconds"], e["peak_rss_mb"],
                     f"{e['memberships']:,} memberships"))  # fmt: skip
    if "run" in steps:
        rows += _run_rows(args)
    _print_table(rows)


def _preview_rows(p: dict, repeat: int) -> list[tuple]:
    print(f"preview: {p}", flush=True)
    rows = []
    rows.append(("preview, cold (first call of the process)", p["cold_s"], p["cold_cpu_s"],
                 p["peak_rss_mb"], "target ≤ 1 s"))  # fmt: skip
    rows.append((f"preview, warm (median of {repeat})", p["warm_median_s"],
                 p["warm_cpu_median_s"], None, "target ≤ 1 s"))  # fmt: skip
    rows.append(("  its count alone (median)", p["count_only_median_s"], None, None,
                 f"{p['count_only_median_s'] / p['floor_median_s']:.2f}× the floor"))  # fmt: skip
    same = p["count"] == p["count_floor"]
    note = f"{p['count']:,} customers" + ("" if same else f" ≠ floor {p['count_floor']:,}")
    rows.append(("  floor: the count in hand-written SQL (median)", p["floor_median_s"], None,
                 None, note))  # fmt: skip

    return rows


def _run_rows(args: argparse.Namespace) -> list[tuple]:
    rows = []
    r1 = _child(args, "run1", "--as-of", AS_OF)
    print(f"run 1: {r1}", flush=True)
    rows.append(("segments_run, first run (empty history)", r1["seconds"], r1["cpu_seconds"],
                 r1["peak_rss_mb"], f"target ≤ 60 s; {r1['entered']:,} entered"))  # fmt: skip
    r2 = _child(args, "run2", "--as-of", NEXT_DAY)
    print(f"run 2: {r2}", flush=True)
    rows.append(("segments_run, the next day", r2["seconds"], r2["cpu_seconds"], r2["peak_rss_mb"],
                 f"target ≤ 60 s; {r2['entered']:,} entered, {r2['exited']:,} exited; "
                 f"history {r2['history_rows']:,} rows"))  # fmt: skip
    return rows


def _print_table(rows: list[tuple]) -> None:
    print()
    print("| step | wall (s) | CPU (s) | peak RSS (GB) | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, secs, cpu, rss, note in rows:
        cpu_cell = f"{cpu:.2f}" if cpu is not None else ""
        rss_cell = f"{rss / 1024:.2f}" if rss is not None else ""
        print(f"| {name} | {secs:.2f} | {cpu_cell} | {rss_cell} | {note} |")
    load2 = os.getloadavg()
    print(f"\nload average at the end {load2[0]:.1f} / {load2[1]:.1f} / {load2[2]:.1f}")


def workspace_counts(ws_dir: Path) -> dict:
    """Row counts and file size of the benchmark workspace (opened read-only)."""
    import duckdb

    db = ws_dir / "segmint.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
           for t in ("profiles", "orders", "events")}  # fmt: skip
    out["events_with_customer"] = con.execute("SELECT count(customer_id) FROM events").fetchone()[0]
    con.close()
    out["mb"] = db.stat().st_size / 1e6
    return out


if __name__ == "__main__":
    main()
