"""Tables computed from the orders, stored once per version of the orders (layer 4).

RFM scores, ABC classes, orders before holidays and the per-customer order totals of the live
segment builder depend only on the orders and an as-of day (or instant), yet each costs a pass
over every order: seconds at ten million orders, on every evaluation that reads them. Here they
are computed once and kept as tables named ``_segmint_m_<kind>_<parameters>_<version>``; every
later evaluation with the same parameters reads the stored rows while the orders stay as they
are. The results are the same rows the expression gives (it is the expression, stored).

The version of the orders (:func:`orders_version`) is a handful of cheap facts: the number of
orders, the first and last order time, and how many order imports, identity merges and
audit-log entries (erasures, consent changes) the workspace recorded — every way segmint itself
changes the orders. Orders edited by hand with SQL (same count, same first and last time) are
not noticed: call :func:`drop_all` after such an edit. Older versions of a table are dropped
when a new one is stored; erasure scrubs these tables like every table with a ``customer_id``.

Example:
    >>> import ibis
    >>> from segmint.connect import connect
    >>> from segmint.storage import ensure_schema
    >>> con = connect(); _ = ensure_schema(con)
    >>> o = con.table("orders")
    >>> t = stored(con, "demo", {"x": 1}, o.group_by("customer_id").agg(n=o.count()))
    >>> t.get_name().startswith("_segmint_m_demo_"), t.count().execute()
    (True, 0)
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import ibis.expr.types as ir

from segmint import storage
from segmint.errors import ValidationError

__all__ = ["PREFIX", "drop_all", "existing", "orders_version", "stored"]

log = logging.getLogger("segmint")

#: Name prefix of the stored tables (the service's real-time evaluator ignores ``_segmint_``
#: names when it watches the stored tables).
PREFIX = "_segmint_m_"
#: Most tables kept per kind (different as-of days or parameters); stale versions always go.
KEEP_PER_KIND = 4

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def orders_version(con) -> tuple:
    """The version of the orders: (orders, first and last order time, order imports, merges,
    audit-log entries). Cheap: row counts and min/max that the engine keeps as statistics.

    >>> from segmint.connect import connect
    >>> from segmint.storage import ensure_schema
    >>> con = connect(); _ = ensure_schema(con)
    >>> orders_version(con)
    (0, None, None, 0, 0, 0)
    """
    o = con.table("orders")
    row = o.aggregate(n=o.count(), first=o.ts.min(), last=o.ts.max()).to_pyarrow().to_pylist()[0]
    tables = set(con.list_tables())
    logs = []
    for name, where in (("import_log", "orders"), ("merge_log", None), ("audit_log", None)):
        if name not in tables:
            logs.append(-1)
            continue
        t = con.table(name)
        logs.append(int((t.filter(t.kind == where) if where else t).count().execute()))
    stamp = [None if v is None else str(v) for v in (row["first"], row["last"])]
    return (int(row["n"]), *stamp, *logs)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _name(kind: str, params: Mapping[str, Any], version: tuple) -> tuple[str, str]:
    """(table name, its prefix for ``kind`` and ``params``)."""
    if not kind.isidentifier() or not kind.islower():
        raise ValidationError(
            f"A stored table's kind must be a lower-case identifier. Got {kind!r} instead."
        )
    prefix = f"{PREFIX}{kind}_{_digest(dict(params))}_"
    return prefix + _digest(list(version)), prefix


def existing(
    con, kind: str, params: Mapping[str, Any], *, version: tuple | None = None
) -> ir.Table | None:
    """The stored table of (``kind``, ``params``, the orders' version) if there is one; nothing
    is computed (``None`` otherwise, and on engines other than DuckDB)."""
    if con.name != "duckdb":
        return None
    name, _ = _name(kind, params, tuple(orders_version(con) if version is None else version))
    return con.table(name) if name in con.list_tables() else None


def stored(
    con,
    kind: str,
    params: Mapping[str, Any],
    expr: ir.Table,
    *,
    version: tuple | None = None,
) -> ir.Table:
    """``expr`` stored once per (``kind``, ``params``, :func:`orders_version`): the stored table
    (same columns and types), computed and stored first when it is not there.

    ``params`` must say everything ``expr`` depends on besides the orders (as-of day, bins, time
    zone…). On engines other than DuckDB, and when storing fails (e.g. two processes storing the
    same table at once), ``expr`` itself is returned: the same rows, computed again.
    """
    if con.name != "duckdb":
        return expr
    version = tuple(orders_version(con) if version is None else version)
    name, prefix = _name(kind, params, version)
    if name in con.list_tables():
        return con.table(name)
    with _guard:
        lock = _locks.setdefault(name, threading.Lock())
    with lock:  # concurrent callers in this process wait for one computation
        if name in con.list_tables():
            return con.table(name)
        try:
            with storage.transaction(con):
                storage.replace_table(con, name, expr)
        except Exception as exc:  # the expression still answers
            log.warning("could not store %s (%s): %s; computing it in the query", kind, name, exc)
            return expr
        if orders_version(con) != version:
            # the orders changed while it was computed (an erasure, a merge, an import): the
            # stored rows may hold what was just removed, so they do not stay
            con.drop_table(name, force=True)
            return expr
        _drop_others(con, name, prefix, kind)
    return con.table(name)


def _drop_others(con, name: str, prefix: str, kind: str) -> None:
    """Drop older versions of ``name`` (same kind and parameters), then other tables of ``kind``
    beyond :data:`KEEP_PER_KIND`."""
    mine = sorted(t for t in con.list_tables() if t.startswith(f"{PREFIX}{kind}_") and t != name)
    stale = [t for t in mine if t.startswith(prefix)]
    rest = [t for t in mine if not t.startswith(prefix)]
    extra = rest[: max(0, len(rest) - (KEEP_PER_KIND - 1))]
    for table in stale + extra:
        try:
            con.drop_table(table, force=True)
        except Exception as exc:  # e.g. dropped by another process
            log.debug("could not drop %s: %s", table, exc)


def drop_all(con) -> int:
    """Drop every stored table of this module (e.g. after editing orders by hand); returns how
    many. The next evaluation computes what it needs again."""
    names = [t for t in con.list_tables() if t.startswith(PREFIX)]
    for table in names:
        con.drop_table(table, force=True)
    return len(names)
