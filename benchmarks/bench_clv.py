"""CLV pipeline benchmark: segmint vs lifetimes on the same orders, one command.

Pipeline, end to end from a Parquet file of orders (customer_id, ts, amount):
BTYD summary (frequency, recency, T, monetary_value in days) → BG/NBD fit → Gamma-Gamma fit
(repeat customers) → 12-month discounted CLV (1 % a month) for every customer.

- segmint: summary in DuckDB through ibis (``segmint.features.btyd.btyd_summary`` if present,
  else ``segmint.models.clv.calibration_and_holdout``), materialised once; the models pull the
  distinct patterns they need; CLV is scored on distinct (frequency, recency, T) patterns and
  joined back in the engine; the result is fetched as Arrow.
- lifetimes 0.11.3 (a reference installed only for benchmarks, never a dependency):
  ``summary_data_from_transaction_data`` + ``BetaGeoFitter`` + ``GammaGammaFitter`` +
  ``customer_lifetime_value``.

Each side runs in its own subprocess so its peak RSS (``ru_maxrss``) is its own. Data: a seeded
BG/NBD + Gamma-Gamma simulation (numpy) over two years, written once to a cache folder.

Usage::

    python benchmarks/bench_clv.py                        # 10M orders / 1M customers, both sides
    python benchmarks/bench_clv.py --customers 10000000 --only segmint   # 100M orders, segmint
    python benchmarks/bench_clv.py --write-results        # also append to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
START = np.datetime64("2022-01-01")
DAYS = 730  # two years of orders
AS_OF = "2023-12-31"
#: simulation parameters (days): BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, gamma)
BGNBD = {"r": 1.5, "alpha": 37.0, "a": 1.2, "b": 8.0}
GG = {"p": 6.0, "q": 4.0, "gamma": 30.0}
SAME_DAY_SHARE = 0.05  # share of transactions split into two orders on the same day


# -- data ----------------------------------------------------------------------------------------
def _simulate_chunk(rng: np.random.Generator, first_id: int, n: int):
    """Orders of ``n`` customers: first purchase in year 1, BG/NBD repeats, Gamma-Gamma spend."""
    first = rng.integers(0, 365, n)
    T = (DAYS - 1) - first  # days from first purchase to the as-of day
    lam = rng.gamma(BGNBD["r"], 1.0 / BGNBD["alpha"], n)
    p = rng.beta(BGNBD["a"], BGNBD["b"], n)
    drop_after = rng.geometric(p)  # dies right after this repeat purchase
    n_events = rng.poisson(lam * T)  # repeat purchases if alive throughout
    k = np.minimum(n_events, drop_after)
    # the first k order statistics of n_events uniforms on (0, T]
    owner = np.repeat(np.arange(n), n_events)
    u = rng.random(owner.size)
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < k[owner]
    owner, u = owner[keep], u[keep]
    day = np.concatenate([first, first[owner] + np.floor(u * T[owner]).astype(np.int64)])
    cust = np.concatenate([np.arange(n), owner])
    nu = rng.gamma(GG["q"], 1.0 / GG["gamma"], n)
    amount = rng.gamma(GG["p"], 1.0, cust.size) / nu[cust]
    # split some transactions into two orders on the same day
    split = rng.random(cust.size) < SAME_DAY_SHARE
    share = rng.uniform(0.2, 0.8, int(split.sum()))
    extra_amount = amount[split] * (1 - share)
    amount[split] = amount[split] * share
    cust = np.concatenate([cust, cust[split]])
    day = np.concatenate([day, day[split]])
    amount = np.round(np.concatenate([amount, extra_amount]), 2)
    seconds = rng.integers(0, 86_400, cust.size)
    ts = (START + day.astype("timedelta64[D]")).astype("datetime64[s]") + seconds.astype(
        "timedelta64[s]"
    )
    ids = np.char.add("C", np.char.zfill((cust + first_id).astype(str), 8))
    return ids, ts.astype("datetime64[us]"), np.maximum(amount, 0.01)


def generate(path: Path, customers: int, seed: int = 20250101, chunk: int = 500_000) -> int:
    """Write the orders of ``customers`` simulated customers to ``path``; returns the row count.

    Columns: customer_id, ts, amount and status (all ``completed``), as in the canonical orders.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema(
        [
            ("customer_id", pa.string()),
            ("ts", pa.timestamp("us")),
            ("amount", pa.float64()),
            ("status", pa.string()),
        ]
    )
    rows = 0
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, customers, chunk):
            n = min(chunk, customers - start)
            ids, ts, amount = _simulate_chunk(rng, start, n)
            order = np.argsort(ts, kind="stable")  # orders arrive in time order
            status = pa.array(np.full(len(ids), "completed"), pa.string())
            writer.write_table(
                pa.table(
                    {
                        "customer_id": ids[order],
                        "ts": ts[order],
                        "amount": amount[order],
                        "status": status,
                    },
                    schema=schema,
                )
            )
            rows += len(ids)
    tmp.rename(path)
    return rows


# -- the two sides (each in its own process) ---------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): less sensitive than wall time to other load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_segmint(data: Path, out: Path, memory_limit: str, threads: int) -> dict:
    import ibis

    from segmint.models.clv import (
        BetaGeoModel,
        GammaGammaModel,
        calibration_and_holdout,
        customer_lifetime_value,
    )

    times = {}
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    con = ibis.duckdb.connect(memory_limit=memory_limit, threads=threads)
    orders = con.read_parquet(str(data), table_name="orders")
    try:
        from segmint.features.btyd import btyd_summary

        summary_expr = btyd_summary(orders, as_of=AS_OF, unit="D")
        source = "segmint.features.btyd.btyd_summary"
    except ImportError:
        summary_expr = calibration_and_holdout(orders, AS_OF, unit="D").rename(
            frequency="frequency_cal",
            recency="recency_cal",
            T="T_cal",
            monetary_value="monetary_value_cal",
        )
        source = "segmint.models.clv.calibration_and_holdout"
    summary = summary_expr.cache()
    n_customers = summary.count().to_pyarrow().as_py()
    times["summary"] = time.perf_counter() - t0
    t = time.perf_counter()
    bg = BetaGeoModel().fit(summary)
    times["bgnbd_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    gg = GammaGammaModel().fit(summary)
    times["gamma_gamma_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    clv = customer_lifetime_value(
        bg, gg, summary, horizon_months=12, discount_rate_monthly=0.01, unit="D"
    )
    result = clv.select("customer_id", "clv").to_pyarrow()
    times["clv"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    _write_clv(
        out,
        result.column("customer_id").to_numpy(zero_copy_only=False),
        result.column("clv").to_numpy(),
    )
    return {
        "side": "segmint",
        "summary_source": source,
        "customers": int(n_customers),
        "bgnbd_patterns": bg.n_patterns_,
        "times": times,
        "bgnbd": bg.params_,
        "bgnbd_se": bg.standard_errors_,
        "gamma_gamma": gg.params_,
        "peak_rss_mb": _peak_rss_mb(),
        "cpu_s": cpu,
    }


def run_lifetimes(data: Path, out: Path) -> dict:
    import warnings

    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    warnings.filterwarnings("ignore")
    times = {}
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    orders = pd.read_parquet(data, columns=["customer_id", "ts", "amount"])
    s = summary_data_from_transaction_data(
        orders,
        "customer_id",
        "ts",
        monetary_value_col="amount",
        observation_period_end=AS_OF,
        freq="D",
    )
    times["summary"] = time.perf_counter() - t0
    t = time.perf_counter()
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    times["bgnbd_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    times["gamma_gamma_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    clv = gg.customer_lifetime_value(
        bg,
        s["frequency"],
        s["recency"],
        s["T"],
        s["monetary_value"],
        time=12,
        discount_rate=0.01,
        freq="D",
    )
    times["clv"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    _write_clv(out, clv.index.to_numpy(), clv.to_numpy())
    return {
        "side": "lifetimes",
        "customers": len(s),
        "times": times,
        "bgnbd": {k: float(v) for k, v in bg.params_.items()},
        "gamma_gamma": {
            "p": float(gg.params_["p"]),
            "q": float(gg.params_["q"]),
            "gamma": float(gg.params_["v"]),
        },
        "peak_rss_mb": _peak_rss_mb(),
        "cpu_s": cpu,
    }


def _write_clv(path: Path, ids, values) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"customer_id": ids, "clv": values}), path)


def _side(name: str, data: Path, workdir: Path, args) -> dict:
    out = workdir / f"clv_{name}_{data.stem}.parquet"
    cmd = [
        sys.executable,
        __file__,
        "--side",
        name,
        "--data",
        str(data),
        "--out",
        str(out),
        "--memory-limit",
        args.memory_limit,
        "--threads",
        str(args.threads),
    ]
    print(f"running {name} …", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["clv_file"] = str(out)
    return result


def _compare(seg: dict, ref: dict) -> dict:
    import pyarrow.parquet as pq

    rel = {}
    for model in ("bgnbd", "gamma_gamma"):
        for k, v in seg[model].items():
            rel[f"{model}.{k}"] = abs(v / ref[model][k] - 1.0)
    a = pq.read_table(seg["clv_file"]).to_pandas().set_index("customer_id")["clv"]
    b = pq.read_table(ref["clv_file"]).to_pandas().set_index("customer_id")["clv"]
    a = a.reindex(b.index)
    clv_rel = np.abs(a.to_numpy() / b.to_numpy() - 1.0)
    return {
        "param_rel_diff": rel,
        "max_param_rel_diff": max(rel.values()),
        "clv_rel_diff_median": float(np.nanmedian(clv_rel)),
        "clv_rel_diff_max": float(np.nanmax(clv_rel)),
        "clv_missing": int(a.isna().sum()),
    }


def _machine() -> str:
    import platform

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GB RAM, Python {platform.python_version()}"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) at the start"


def _versions() -> str:
    import duckdb
    import ibis
    import pandas as pd
    import scipy

    parts = [
        f"duckdb {duckdb.__version__}",
        f"ibis {ibis.__version__}",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"pandas {pd.__version__}",
    ]
    try:
        import lifetimes

        parts.append(f"lifetimes {lifetimes.__version__}")
    except ImportError:
        pass
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["segmint", "lifetimes"], default=None)
    ap.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "segmint-bench-clv"
    )
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit (segmint side)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument(
        "--write-results",
        action="store_true",
        help="append the figures to benchmarks/RESULTS.md under 'CLV'",
    )
    ap.add_argument("--side", choices=["segmint", "lifetimes"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.side:  # child process
        if args.side == "segmint":
            res = run_segmint(args.data, args.out, args.memory_limit, args.threads)
        else:
            res = run_lifetimes(args.data, args.out)
        print(json.dumps(res))
        return 0

    args.data_dir.mkdir(parents=True, exist_ok=True)
    data = args.data_dir / f"orders_{args.customers}.parquet"
    if not data.exists():
        t = time.perf_counter()
        rows = generate(data, args.customers)
        print(
            f"generated {rows:,} orders of {args.customers:,} customers in "
            f"{time.perf_counter() - t:.1f} s → {data}"
        )
    import pyarrow.parquet as pq

    n_orders = pq.ParquetFile(data).metadata.num_rows
    print(f"data: {n_orders:,} orders, {args.customers:,} customers ({data})")
    results = {}
    load = _load()
    sides = [args.only] if args.only else ["segmint", "lifetimes"]
    for side in sides:
        if side == "lifetimes":
            try:
                import lifetimes  # noqa: F401
            except ImportError:
                print("lifetimes is not installed: pip install lifetimes==0.11.3 (benchmark only)")
                continue
        results[side] = _side(side, data, args.data_dir, args)

    lines = _report(results, n_orders, args, load)
    print("\n".join(lines))
    if args.write_results:
        _append_results(lines)
    return 0


def _report(results: dict, n_orders: int, args, load: str) -> list[str]:
    stages = ["summary", "bgnbd_fit", "gamma_gamma_fit", "clv", "total"]
    lines = [
        f"### {n_orders / 1e6:.0f}M orders / {args.customers / 1e6:g}M customers",
        "",
        f"Command: `python benchmarks/bench_clv.py --customers {args.customers}"
        + (f" --only {args.only}" if args.only else "")
        + f"` ({_machine()}; {_versions()}; DuckDB memory_limit {args.memory_limit}; {load}).",
        "",
        "| stage (s) | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---:" for _ in results) + " |",
    ]
    for st in stages:
        lines.append(
            f"| {st} | " + " | ".join(f"{r['times'][st]:.2f}" for r in results.values()) + " |"
        )
    lines.append(
        "| CPU time, all threads (s) | "
        + " | ".join(f"{r['cpu_s']:.2f}" for r in results.values())
        + " |"
    )
    lines.append(
        "| peak RSS (GB) | "
        + " | ".join(f"{r['peak_rss_mb'] / 1024:.2f}" for r in results.values())
        + " |"
    )
    lines.append("")
    for name, r in results.items():
        bg = ", ".join(f"{k}={v:.6g}" for k, v in r["bgnbd"].items())
        gg = ", ".join(f"{k}={v:.6g}" for k, v in r["gamma_gamma"].items())
        lines.append(f"- {name}: BG/NBD {bg}; Gamma-Gamma {gg}")
    seg = results.get("segmint")
    if seg:
        lines.append(
            f"- segmint summary from `{seg['summary_source']}`; BG/NBD fitted on "
            f"{seg['bgnbd_patterns']:,} distinct (frequency, recency, T) patterns of "
            f"{seg['customers']:,} customers"
        )
        lines.append(f"- simulated with BG/NBD {BGNBD} and Gamma-Gamma {GG} (days)")
    if "segmint" in results and "lifetimes" in results:
        cmp_ = _compare(results["segmint"], results["lifetimes"])
        speed = results["lifetimes"]["times"]["total"] / results["segmint"]["times"]["total"]
        cpu = results["lifetimes"]["cpu_s"] / results["segmint"]["cpu_s"]
        lines.append(
            f"- **speed-up {speed:.1f}×** end to end, wall clock (target ≥ 7×); "
            f"{cpu:.1f}× in CPU time"
        )
        lines.append(
            f"- largest parameter relative difference {cmp_['max_param_rel_diff']:.1e} "
            "(target ≤ 1e-3); "
            + ", ".join(f"{k} {v:.1e}" for k, v in cmp_["param_rel_diff"].items())
        )
        lines.append(
            f"- CLV per customer, relative difference: median "
            f"{cmp_['clv_rel_diff_median']:.1e}, max {cmp_['clv_rel_diff_max']:.1e} "
            f"({cmp_['clv_missing']} customers missing)"
        )
    lines.append("")
    return lines


def _append_results(lines: list[str]) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if "\n## CLV\n" not in text:
        text = text.rstrip("\n") + "\n\n## CLV\n\n"
    # insert at the end of the CLV section (before the next "## " heading, if any)
    head, _, tail = text.partition("\n## CLV\n")
    body, sep, rest = tail.partition("\n## ")
    body = (body.rstrip("\n") + "\n\n" if body.strip() else "\n") + "\n".join(lines).rstrip("\n")
    body += "\n"
    text = head + "\n## CLV\n" + body + (("\n## " + rest) if sep else "")
    path.write_text(text, encoding="utf-8")
    print(f"appended to {path}")


if __name__ == "__main__":
    sys.exit(main())
