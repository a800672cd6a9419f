"""Audience export benchmark (issue 3): writers alone, then a whole export with its log.

    nice -n 5 python benchmarks/bench_audience.py --customers 1000000 --workdir /tmp/audbench

1. ``writers``: ``write_csv`` / ``write_json`` of ``--customers`` synthetic audience rows (one
   name in three a formula, Chinese names, E.164 phones) to memory.
2. ``export``: a fresh workspace with ``--customers`` profiles inserted straight into the
   canonical table (seed 0: consent given 60 %, refused 15 %, missing 20 %, in the future 5 %;
   2 % of phones not E.164), one workspace segment ``everyone``, then
   ``ws.audience_export("everyone", "whatsapp")``: segment evaluation, classification, fetch,
   CSV file, sha256, log and recipient rows in one transaction, rename.

Every step prints wall and CPU time; the peak RSS of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

SEGMENT = """\
slug: everyone
title_en: Everyone
title_zh_hant: 所有人
owner: bench
reviewed_on: 2026-11-22
where: {field: customer_id, op: exists}
"""
COLUMNS = ["customer_id", "name", "first_name", "phone", "language", "country", "rfm_segment"]


def _timed(label: str, fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<40} {wall:7.2f} s wall  {cpu:7.2f} s CPU", flush=True)
    return out


def _rows(n: int) -> pa.Table:
    ids = [f"c_{i:016x}" for i in range(n)]
    names = np.array(["陳大文", "Ann Chan", '=HYPERLINK("x")'], dtype=object)[np.arange(n) % 3]
    phones = [f"+8529{i % 10_000_000:07d}" for i in range(n)]
    return pa.table(
        {
            "customer_id": ids,
            "name": names.tolist(),
            "first_name": ["大文"] * n,
            "phone": phones,
            "language": ["zh-Hant"] * n,
            "country": ["HK"] * n,
            "rfm_segment": ["champions"] * n,
        }
    )


def bench_writers(n: int) -> None:
    from segmint.activation.writers import write_csv, write_json

    rows = _rows(n)
    for name, fn in (("csv", write_csv), ("json", write_json)):
        out = io.BytesIO()
        _timed(f"writers: {name}, {n:,} rows", lambda fn=fn, out=out: fn(rows, COLUMNS, out))
        print(f"{'':<40} {len(out.getvalue()) / 1e6:.0f} MB")


def _profiles(n: int) -> pa.Table:
    from segmint.schema import TABLES

    rng = np.random.default_rng(0)
    state = rng.choice(4, size=n, p=[0.60, 0.15, 0.20, 0.05])
    base = datetime(2026, 1, 1)
    given = np.where(state == 2, None, np.where(state == 1, False, True)).tolist()
    at = [
        None if s == 2 else base + timedelta(days=400 if s == 3 else int(d))
        for s, d in zip(state, rng.integers(0, 150, size=n), strict=True)
    ]
    bad = rng.random(n) < 0.02
    phones = [
        f"9{i % 10_000_000:07d}" if b else f"+8529{i % 10_000_000:07d}" for i, b in enumerate(bad)
    ]
    cols = {
        "customer_id": [f"c_{i:016x}" for i in range(n)],
        "name": np.array(["陳大文", "Ann Chan", "=1+1"], dtype=object)[np.arange(n) % 3].tolist(),
        "phone": phones,
        "country": ["HK"] * n,
        "consent_whatsapp": given,
        "consent_whatsapp_at": at,
    }
    schema = TABLES["profiles"].to_pyarrow()
    return pa.table({f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)


def bench_export(n: int, workdir: Path) -> None:
    from segmint.workspace import Workspace

    folder = workdir / "ws"
    if folder.exists():
        shutil.rmtree(folder)
    ws = Workspace.create(folder, default_region="HK")
    data = _timed(f"export: make {n:,} profiles", lambda: _profiles(n))
    _timed("export: insert profiles", lambda: ws.con.insert("profiles", data))
    (folder / "segments").mkdir()
    (folder / "segments" / "everyone.yaml").write_text(SEGMENT, encoding="utf-8")
    r = _timed(
        "export: ws.audience_export(csv)",
        lambda: ws.audience_export("everyone", "whatsapp", as_of="2026-11-22"),
    )
    print(f"{'':<40} {r.rows:,} rows written, dropped {r.dropped}")
    print(f"{'':<40} {r.path.stat().st_size / 1e6:.0f} MB")
    ws.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/audbench"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    bench_writers(args.customers)
    bench_export(args.customers, args.workdir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
