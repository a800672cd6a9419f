"""Cost of the ``occasions`` metric (orders before each holiday) next to the purchase summary.

    nice -n 5 python benchmarks/bench_occasions.py --orders 10000000 --customers 1000000

Random orders (seed 0) over 6.5 years from 2020 go into an in-memory DuckDB table; each builder
(:func:`segmint.features.purchases.purchase_summary`, the pass RFM and BTYD share, and
:func:`segmint.features.occasions.occasion_orders`, a range join of the orders to the
non-overlapping holiday season pieces) is run once and fetched as Arrow. Prints wall seconds.
"""

from __future__ import annotations

import argparse
import time

import ibis
import numpy as np
import pyarrow as pa

from segmint.features.occasions import occasion_orders
from segmint.features.purchases import purchase_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.orders
    start = np.datetime64("2020-01-01T00:00:00", "us")
    ts = start + (rng.random(n) * 6.5 * 365 * 86400e6).astype("timedelta64[us]")
    ids = np.char.add("c", rng.integers(0, args.customers, n).astype(str))
    status = np.where(rng.random(n) < 0.97, "completed", "refunded")
    orders = pa.table(
        {"customer_id": ids, "ts": pa.array(ts), "amount": rng.gamma(2, 100, n), "status": status}
    )
    con = ibis.duckdb.connect()
    con.create_table("orders", orders)
    o = con.table("orders")
    steps = {
        "purchase_summary": lambda: purchase_summary(o, as_of="2026-06-30"),
        "occasion_orders": lambda: occasion_orders(
            o, as_of="2026-06-30", timezone="Asia/Hong_Kong"
        ),
    }
    for name, build in steps.items():
        t0 = time.perf_counter()
        rows = build().to_pyarrow().num_rows
        print(f"{name:18s} {rows:>10,} rows {time.perf_counter() - t0:7.2f} s")


if __name__ == "__main__":
    main()
