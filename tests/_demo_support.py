"""Shared demo data for the tests/test_demo_*.py modules (generated once per session)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from segmint.demo import DemoData, generate

N = 3000
SEED = 7


@lru_cache(maxsize=1)
def demo() -> DemoData:
    """3,000 people, seed 7 (about 4 s)."""
    return generate(N, seed=SEED)


def header(path: Path) -> list[str]:
    """The header row of a CSV file."""
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def read_csv(path: Path) -> pa.Table:
    """A CSV file with every column as text (as an importer first sees it)."""
    import pyarrow.csv as pcsv

    names = header(path)
    return pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )
