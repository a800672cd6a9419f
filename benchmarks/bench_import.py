"""Import benchmark: N customers (Shopify-style CSV) and M orders (CSV), then both again.

    python benchmarks/bench_import.py --customers 200000 --orders 2000000

Writes the files and a workspace under a temporary folder (or --dir), prints seconds per step
and the peak RSS. The second round re-imports the same files (idempotent: nothing changes).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv


def write_files(folder: Path, n: int, m: int, seed: int = 1) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    email = np.char.add(np.char.add("user", ids.astype(str)), "@mail.hk")
    phone = np.char.add("9", (1_000_000 + ids).astype(str))
    customers = pa.table(
        {
            "Customer ID": (10_000 + ids).astype(str),
            "First Name": np.full(n, "Amy"),
            "Last Name": np.char.add("Chan", (ids % 97).astype(str)),
            "Email": email,
            "Phone": phone,
            "Accepts Email Marketing": np.where(ids % 3 == 0, "yes", "no"),
            "Tags": np.where(ids % 5 == 0, "vip", ""),
            "Total Spent": np.round(rng.random(n) * 1000, 2).astype(str),
        }
    )
    buyer = rng.integers(0, n, m)
    ts = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 86400 * 900, m).astype(
        "timedelta64[s]"
    )
    text = np.char.add(np.char.replace(np.datetime_as_string(ts, unit="s"), "T", " "), " +0800")
    orders = pa.table(
        {
            "Order ID": np.char.add("O", np.arange(m).astype(str)),
            "Email": email[buyer],
            "Total": np.char.add("HK$", np.round(rng.random(m) * 500, 2).astype(str)),
            "Created at": text,
            "Status": np.where(rng.random(m) < 0.02, "refunded", "paid"),
        }
    )
    c, o = folder / "customers.csv", folder / "orders.csv"
    pacsv.write_csv(customers, c)
    pacsv.write_csv(orders, o)
    return c, o


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="segmint-import-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    c, o = write_files(folder, args.customers, args.orders)
    from segmint import Workspace

    ws = Workspace.create(folder / "ws", exist_ok=True)
    for round_ in ("first", "again"):
        for kind, path in (("customers", c), ("orders", o)):
            started = time.perf_counter()
            r = ws.import_file(kind, path)
            took = time.perf_counter() - started
            print(
                f"{round_:5} {kind:9} {r.rows_read:>10,} rows {took:7.1f} s  "
                f"inserted {r.inserted:,} unchanged {r.unchanged:,} people {r.people_created:,}"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MB  (files in {folder})")


if __name__ == "__main__":
    main()
