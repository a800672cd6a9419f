"""Open an ibis connection: DuckDB by default, other engines lazily with install hints (layer 1).

Example:
    >>> con = connect()            # in-memory DuckDB
    >>> con.name
    'duckdb'
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import ibis

from segmint.errors import EngineMissingError, ValidationError, close_matches

__all__ = ["ENGINES", "connect"]

#: engine name → (python module that must import, pip extra that provides it)
ENGINES: dict[str, tuple[str, str | None]] = {
    "duckdb": ("duckdb", None),
    "pyspark": ("pyspark", "spark"),
}


def _require(engine: str) -> None:
    if engine not in ENGINES:
        raise ValidationError(
            f"Engine must be one of {', '.join(ENGINES)}. Got '{engine}' instead.",
            suggestions=close_matches(engine, ENGINES),
        )
    module, extra = ENGINES[engine]
    try:
        importlib.import_module(module)
    except ImportError:
        raise EngineMissingError(
            f"The {engine} engine needs extra packages.",
            hint=f'python -m pip install "segmint[{extra}]"',
        ) from None


def connect(engine: str = "duckdb", path: str | Path | None = None, **kwargs: Any):
    """Return an ibis backend.

    Args:
        engine: ``"duckdb"`` (default, embedded) or ``"pyspark"``.
        path: DuckDB database file; ``None`` for in-memory.
        **kwargs: passed to the backend's ``connect`` (for PySpark: ``session=``).
    """
    _require(engine)
    if engine == "duckdb":
        return ibis.duckdb.connect(str(path) if path is not None else ":memory:", **kwargs)
    if engine == "pyspark":
        session = kwargs.pop("session", None)
        if session is None:
            from pyspark.sql import SparkSession

            session = SparkSession.builder.master("local[2]").getOrCreate()
        return ibis.pyspark.connect(session, **kwargs)
    raise AssertionError(engine)  # pragma: no cover - _require covers every engine
