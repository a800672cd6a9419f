"""RFM + BTYD summary through segmint vs hand-written DuckDB SQL, on the same data in one run.

    python benchmarks/bench_rfm.py                       # 10M orders / 1M customers, 3 rounds
    python benchmarks/bench_rfm.py --orders 1e6 --customers 1e5 --rounds 2   # quick look

Generates orders with numpy (seeded; every customer has at least one order, the rest follow
gamma-distributed purchase rates; 94 % completed, 4 % refunded, 2 % cancelled; two years of
timestamps) into the ``orders`` table of a fresh segmint workspace in a temporary folder. Then,
round after round, each variant runs in its own child process (so its peak RSS is its own) and
materialises its result in the workspace database (BTYD columns: as Arrow, except where said):

- ``floor``: hand-written DuckDB SQL computing exactly the aggregates segmint needs (orders and
  their days per customer, first/last day, revenue, first-day revenue): a GROUP BY per
  (customer, day) under a GROUP BY per customer;
- ``floor_distinct``: the single GROUP BY with ``count(DISTINCT day)`` — fewer columns (no
  first-day revenue, so no exact ``monetary_value``), shown for reference;
- ``floor_rfm``: hand-written SQL for the *whole* result segmint gives (scores, code, segment,
  stored as a table, then the BTYD columns fetched as Arrow): what segmint adds over SQL;
- ``segmint``: ``ws.rfm(as_of, save=True)`` (scores, codes, named segments, stored as table
  ``rfm``) then ``ws.btyd_summary(from_rfm=True).to_pyarrow()``: one pass over the orders;
- ``segmint_tables``: the same, but the BTYD summary is stored as table ``btyd`` too (a second
  write and commit);
- ``segmint_2pass``: like ``segmint``, but ``ws.btyd_summary(as_of)`` reads the orders again.

The ratio uses the best (minimum) time per variant; the medians are printed too. The machine is
shared and noisy, so use several rounds.
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
import tempfile
import time
from pathlib import Path

AS_OF = "2026-06-30"
VARIANTS = ("floor", "segmint", "floor_rfm", "floor_distinct", "segmint_tables", "segmint_2pass")

FLOOR_SQL = """
CREATE OR REPLACE TABLE floor_out AS
WITH daily AS (
    SELECT customer_id, CAST(ts AS DATE) AS day, count(*) AS n, sum(amount) AS v
    FROM orders
    WHERE (status = 'completed' OR status IS NULL) AND customer_id IS NOT NULL
      AND ts < TIMESTAMP '{end}'
    GROUP BY ALL
)
SELECT customer_id, min(day) AS first_day, max(day) AS last_day, sum(n) AS n_orders,
       count(*) AS n_days, sum(v) AS revenue, arg_min(v, day) AS first_day_revenue
FROM daily
GROUP BY customer_id
"""

FLOOR_DISTINCT_SQL = """
CREATE OR REPLACE TABLE floor_distinct_out AS
SELECT customer_id, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n_orders,
       count(DISTINCT CAST(ts AS DATE)) AS n_days, sum(amount) AS revenue
FROM orders
WHERE (status = 'completed' OR status IS NULL) AND customer_id IS NOT NULL
  AND ts < TIMESTAMP '{end}'
GROUP BY customer_id
"""


#: The R × FM grid of docs/rfm.md, typed again for the hand-written SQL (R = 5 … 1, FM = 1 … 5).
GRID = {
    5: ("new_customers", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    4: ("promising", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    3: ("about_to_sleep", "need_attention", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    1: ("lost", "lost", "at_risk", "cant_lose_them", "cant_lose_them"),
}


def floor_rfm_sql(end: str, as_of: str) -> str:
    """Hand-written DuckDB SQL for the whole RFM result (scores, code, segment) and BTYD inputs."""
    cells = " ".join(
        f"WHEN {r * 10 + fm} THEN '{slug}'"
        for r, row in GRID.items()
        for fm, slug in enumerate(row, start=1)
    )
    return f"""
CREATE OR REPLACE TABLE floor_rfm AS
WITH daily AS (
    SELECT customer_id, CAST(ts AS DATE) AS day, count(*) AS n, sum(amount) AS v
    FROM orders
    WHERE (status = 'completed' OR status IS NULL) AND customer_id IS NOT NULL
      AND ts < TIMESTAMP '{end}'
    GROUP BY ALL
), s AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, sum(n) AS n_orders,
           count(*) AS n_days, round(sum(v), 4) AS revenue,
           round(arg_min(v, day), 4) AS first_day_revenue
    FROM daily GROUP BY customer_id
), scored AS (
    SELECT *, date_diff('day', last_day, DATE '{as_of}') AS recency_days,
           1 + (rank() OVER (ORDER BY last_day) - 1) * 5 // count(*) OVER () AS r,
           1 + (rank() OVER (ORDER BY n_orders) - 1) * 5 // count(*) OVER () AS f,
           1 + (rank() OVER (ORDER BY revenue) - 1) * 5 // count(*) OVER () AS m
    FROM s
)
SELECT *, CAST(r * 100 + f * 10 + m AS VARCHAR) AS rfm,
       CASE r * 10 + (f + m) // 2 {cells} END AS segment
FROM scored
"""


FLOOR_BTYD_SQL = """
SELECT customer_id, n_days - 1 AS frequency,
       CAST(date_diff('day', first_day, last_day) AS DOUBLE) AS recency,
       CAST(date_diff('day', first_day, DATE '{as_of}') AS DOUBLE) AS T,
       CASE WHEN n_days > 1 THEN (revenue - first_day_revenue) / (n_days - 1) ELSE 0 END
           AS monetary_value
FROM floor_rfm
"""


def _cpu_s() -> float:
    """CPU time (user + system, all threads) of this process so far, in seconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(ws_dir: Path, n_orders: int, n_customers: int, seed: int) -> float:
    import numpy as np
    import pyarrow as pa

    from segmint.workspace import Workspace

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.6, 1.0, n_customers)
    extra = rng.choice(n_customers, size=n_orders - n_customers, p=rate / rate.sum())
    cust = np.concatenate([np.arange(n_customers), extra])
    rng.shuffle(cust)
    start = np.datetime64("2024-07-01T00:00:00", "s").astype(np.int64)
    secs = start + rng.integers(0, 730 * 86400, n_orders)
    ts = secs.astype("datetime64[s]").astype("datetime64[us]")
    amount = np.round(rng.lognormal(4.0, 0.8, n_orders), 2)
    status = rng.choice(np.array([0, 1, 2], dtype=np.int8), size=n_orders, p=[0.94, 0.04, 0.02])
    raw = pa.table({"i": np.arange(n_orders), "c": cust, "ts": ts, "amount": amount, "st": status})
    ws = Workspace.create(ws_dir)
    con = ws.con.con  # the DuckDB connection under ibis: bulk load with SQL, not row by row
    con.register("raw", raw)
    con.execute(
        """INSERT INTO orders (order_id, customer_id, ts, amount, currency, channel, discount,
                               status, source)
           SELECT 'o' || i, 'c' || lpad(CAST(c AS VARCHAR), 7, '0'), ts, amount, 'HKD', 'web',
                  0.0, ['completed', 'refunded', 'cancelled'][st + 1], 'bench'
           FROM raw ORDER BY ts"""
    )
    con.unregister("raw")
    ws.close()
    return time.perf_counter() - t0


def child(variant: str, ws_dir: Path) -> dict:
    """Run one variant once; return its wall time and peak RSS."""
    import datetime as dt

    from segmint.workspace import Workspace

    ws = Workspace.open(ws_dir)
    end = (dt.date.fromisoformat(AS_OF) + dt.timedelta(days=1)).isoformat()
    # warm up the library (imports, first ibis compile), not the data: the same for every variant
    ws.table("segmint_meta").count().execute()
    rss_before = _rss_mb()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    if variant == "floor":
        ws.con.con.execute(FLOOR_SQL.format(end=end))
    elif variant == "floor_rfm":
        ws.con.con.execute(floor_rfm_sql(end, AS_OF))
        ws.con.con.execute(FLOOR_BTYD_SQL.format(as_of=AS_OF)).fetch_arrow_table()
    elif variant == "floor_distinct":
        ws.con.con.execute(FLOOR_DISTINCT_SQL.format(end=end))
    elif variant == "segmint":
        ws.rfm(as_of=AS_OF, bins=5, save=True)
        ws.btyd_summary(unit="D", from_rfm=True).to_pyarrow()
    elif variant == "segmint_tables":
        ws.rfm(as_of=AS_OF, bins=5, save=True)
        ws.save("btyd", ws.btyd_summary(unit="D", from_rfm=True))
    elif variant == "segmint_2pass":
        ws.rfm(as_of=AS_OF, bins=5, save=True)
        ws.btyd_summary(as_of=AS_OF, unit="D").to_pyarrow()
    else:
        raise SystemExit(f"unknown variant {variant}")
    seconds, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    ws.close()
    return {"variant": variant, "seconds": seconds, "cpu_seconds": cpu,
            "rss_before_mb": rss_before, "peak_rss_mb": _rss_mb()}  # fmt: skip


def check(ws_dir: Path) -> dict:
    """The saved ``rfm`` table and the BTYD summary agree with the floor on every aggregate."""
    from segmint.workspace import Workspace

    with Workspace.open(ws_dir) as ws:
        con = ws.con.con
        joined, mismatched = con.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE f.n_orders <> r.frequency OR f.n_days <> r.order_days
                                       OR f.last_day <> r.last_order_date
                                       OR f.first_day <> r.first_order_date
                                       OR abs(f.revenue - r.monetary) > 1e-6
                                       OR abs(f.first_day_revenue - r.first_day_revenue) > 1e-6)
               FROM floor_out f JOIN rfm r USING (customer_id)"""
        ).fetchone()
        differ = con.execute(
            """SELECT count(*) FROM floor_rfm f JOIN rfm r USING (customer_id)
               WHERE f.rfm <> r.rfm OR f.segment <> r.segment
                  OR f.recency_days <> r.recency_days"""
        ).fetchone()[0]
        n_floor, repeats_floor = con.execute(
            "SELECT count(*), sum(n_days - 1) FROM floor_out"
        ).fetchone()
        btyd = ws.btyd_summary(from_rfm=True)
        n_btyd, repeats_btyd = (
            btyd.aggregate(n=btyd.count(), f=btyd.frequency.sum()).execute().iloc[0]
        )
    ok = joined == n_floor == n_btyd and mismatched == differ == 0
    ok = ok and repeats_btyd == repeats_floor
    return {
        "customers": int(n_floor),
        "aggregates differing": int(mismatched),
        "scores/segments differing": int(differ),
        "ok": bool(ok),
    }


def report(runs: dict[str, list[dict]], variants: list[str]) -> None:
    """Best and median wall and CPU time, peak RSS, and the ratios to the floor."""

    def best(v: str, key: str = "seconds") -> float:
        return min(x[key] for x in runs[v])

    def med(v: str, key: str = "seconds") -> float:
        return statistics.median(x[key] for x in runs[v])

    print()
    heads = ("wall best", "wall med", "CPU best", "CPU med", "peak RSS MB", "before query")
    print(f"{'variant':15s} " + " ".join(f"{h:>12s}" for h in heads))
    for v in variants:
        cells = (
            best(v),
            med(v),
            best(v, "cpu_seconds"),
            med(v, "cpu_seconds"),
            max(x["peak_rss_mb"] for x in runs[v]),
            best(v, "rss_before_mb"),
        )
        print(f"{v:15s} " + " ".join(f"{c:12.2f}" if i < 4 else f"{c:12.0f}"
                                      for i, c in enumerate(cells)))  # fmt: skip
    if "floor" not in runs:
        return
    print()
    for other in ("segmint", "floor_rfm", "segmint_tables", "segmint_2pass", "floor_distinct"):
        if other not in runs:
            continue
        pairs = zip(runs[other], runs["floor"], strict=True)
        paired = statistics.median(o["seconds"] / f["seconds"] for o, f in pairs)
        wall = best(other) / best("floor")
        cpu = best(other, "cpu_seconds") / best("floor", "cpu_seconds")
        print(f"{other} / floor: wall {wall:.2f}x (best of each), {paired:.2f}x "
              f"(median of paired rounds), CPU {cpu:.2f}x (best of each)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=float, default=10_000_000)
    ap.add_argument("--customers", type=float, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20260630)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument(
        "--reuse", action="store_true", help="keep the data of an earlier --workdir run"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "generate":  # in a child too, so the parent stays small (ru_maxrss is
        # inherited through fork, which would inflate every later child's figure)
        print(json.dumps(generate(args.workdir, int(args.orders), int(args.customers), args.seed)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.workdir)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="segmint-bench-")) if args.workdir is None else None
    work = args.workdir or tmp
    ws_dir = work / "ws"
    try:
        n_orders, n_customers = int(args.orders), int(args.customers)
        print(f"segmint RFM benchmark · {n_orders:,} orders · {n_customers:,} customers")
        print(f"python {platform.python_version()} · {os.cpu_count()} cores · {platform.machine()}")
        reuse = args.reuse and (ws_dir / "segmint.yaml").exists()
        if ws_dir.exists() and not reuse:
            shutil.rmtree(ws_dir)
        out = None if reuse else subprocess.run(
            [sys.executable, __file__, "--child", "generate", "--workdir", str(ws_dir),
             "--orders", str(n_orders), "--customers", str(n_customers), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        size = (ws_dir / "segmint.duckdb").stat().st_size / 1e6
        if out is None:
            print(f"reusing {ws_dir} ({size:.0f} MB DuckDB file)\n")
        else:
            gen = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"generated in {gen:.1f} s ({size:.0f} MB DuckDB file)\n")

        variants = args.variants.split(",")
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for v in variants:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", v, "--workdir", str(ws_dir)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                res = json.loads(out.stdout.strip().splitlines()[-1])
                runs[v].append(res)
                print(f"round {r + 1} {v:15s} {res['seconds']:6.2f} s wall "
                      f"{res['cpu_seconds']:6.2f} s CPU  peak RSS {res['peak_rss_mb']:5.0f} MB",
                      flush=True)  # fmt: skip
        if args.rounds > 0:
            report(runs, variants)
        if args.rounds > 0 and {"floor", "segmint", "floor_rfm"} <= set(variants):
            print(f"agreement with the hand-written SQL: {check(ws_dir)}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
