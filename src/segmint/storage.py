"""Tables on the engine: creation, schema version, migrations, transactions (layer 4).

This is the one place besides the workspace facade, the CLI and the server that executes
statements. Nothing here builds SQL text from user input: tables are created from the canonical
ibis schemas and data moves as Arrow tables through ibis.

Example:
    >>> from segmint.connect import connect
    >>> con = connect()
    >>> ensure_schema(con) == SCHEMA_VERSION
    True
    >>> {"profiles", "orders", "events"} <= set(con.list_tables())
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import ibis
import pyarrow as pa

from segmint.errors import WorkspaceError
from segmint.schema import SCHEMA_VERSION, TABLES

__all__ = [
    "META_TABLE",
    "MIGRATIONS",
    "ensure_schema",
    "read_schema_version",
    "replace_table",
    "transaction",
]

META_TABLE = "segmint_meta"

#: version N → function that migrates a workspace from N-1 to N (version 1 creates everything).
MIGRATIONS: dict[int, Callable] = {}


def _migration(version: int):
    def register(fn: Callable) -> Callable:
        MIGRATIONS[version] = fn
        return fn

    return register


@_migration(1)
def _create_canonical_tables(con) -> None:
    existing = set(con.list_tables())
    for name, schema in TABLES.items():
        if name not in existing:
            con.create_table(name, schema=schema)


@_migration(2)
def _create_tables_added_in_v2(con) -> None:
    """Version 2 only adds tables (exports, service keys and logs, campaigns): create the
    missing ones; existing tables and their rows are untouched."""
    _create_canonical_tables(con)


def read_schema_version(con) -> int:
    """The schema version stored in the workspace (0 for an empty database)."""
    if META_TABLE not in con.list_tables():
        return 0
    meta = con.table(META_TABLE)
    rows = meta.filter(meta.key == "schema_version").select("value").to_pyarrow()
    return int(rows.column("value")[0].as_py()) if rows.num_rows else 0


def _write_schema_version(con, version: int) -> None:
    data = pa.table({"key": ["schema_version"], "value": [str(version)]})
    con.create_table(META_TABLE, data, overwrite=True)  # a pyarrow table leaves no temp view


def ensure_schema(con) -> int:
    """Create or migrate the canonical tables; return the schema version now in force."""
    current = read_schema_version(con)
    if current > SCHEMA_VERSION:
        raise WorkspaceError(
            f"This workspace has schema version {current}, newer than this segmint "
            f"understands ({SCHEMA_VERSION}).",
            hint="upgrade segmint: python -m pip install -U segmint",
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(con):
            MIGRATIONS[version](con)
            _write_schema_version(con, version)
    # A new table needs no version bump: any canonical table still missing is created
    # (changing an existing table does need one, with its migration).
    if not set(TABLES) <= set(con.list_tables()):
        with transaction(con):
            _create_canonical_tables(con)
    return SCHEMA_VERSION


@contextlib.contextmanager
def transaction(con) -> Iterator[None]:
    """All-or-nothing block on engines that support it (DuckDB); a plain block elsewhere.

    Callers validate everything before writing, so on engines without transactions a refused
    import still writes nothing.
    """
    raw = getattr(con, "con", None)
    if con.name != "duckdb" or raw is None:
        yield
        return
    raw.begin()
    try:
        yield
    except BaseException:
        raw.rollback()
        raise
    else:
        raw.commit()


def replace_table(con, name: str, data: pa.Table | ibis.Table) -> None:
    """Replace the content of ``name`` with ``data`` (inside the caller's transaction).

    On DuckDB the rows are written without keeping the order the query produced them in
    (``preserve_insertion_order``), which lets both threads write: a stored table has no
    order anyway, readers sort. Measured on the 1M-customer RFM table: 0.5–0.8 s less.
    """
    raw = getattr(con, "con", None) if con.name == "duckdb" else None
    if raw is not None:
        raw.execute("SET preserve_insertion_order = false")
    try:
        con.create_table(name, data, overwrite=True)
    finally:
        if raw is not None:
            raw.execute("RESET preserve_insertion_order")
