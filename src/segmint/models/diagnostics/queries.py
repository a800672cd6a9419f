"""The condensed inputs of the segment checks as ibis expressions (layer 3: builds, never runs).

The workspace executes these and hands the small results (a few counts per field, a list of
recent buyers) to :func:`segmint.models.diagnostics.diagnose`.

**Filled** means what the report's coverage table means: not null, and for text not blank and
not an empty JSON value (``""``, ``{}``, ``[]``, ``null``). A traits key is filled when the
profile's traits JSON has the key with such a value. Values are compared **normalised**: as text,
trimmed and lower-cased (JSON strings unquoted), so ``HK`` and `` hk`` agree.

Example:
    >>> import ibis
    >>> from segmint.schema import TABLES
    >>> p = ibis.table(TABLES["profiles"], name="profiles")
    >>> profile_coverage(p, ["country", "traits.income_band"]).columns
    ('profiles', 'f0', 'f1')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from segmint.features.purchases import COUNTED_STATUSES, counted_orders

__all__ = [
    "disagreement_counts",
    "filled",
    "normalised",
    "profile_coverage",
    "recent_buyers",
    "trait_key_counts",
    "value_of",
]

_EMPTY = ("", "{}", "[]", "null", '""')


def _json(col: ir.Value, engine: str) -> ir.Value:
    return col.cast("json") if engine == "pyspark" else col.try_cast("json")


def _json_text(j: ir.Value) -> ir.StringValue:
    """A JSON value as text: strings unquoted, anything else as JSON text."""
    return ibis.coalesce(j.str, j.cast("string"))


def value_of(table: ir.Table, name: str, *, engine: str = "duckdb") -> ir.Value:
    """Column ``name`` of ``table``, or the text of traits key ``traits.<key>``."""
    column, _, key = name.partition(".")
    if not key:
        return table[column]
    return _json_text(_json(table[column], engine)[key])


def normalised(value: ir.Value) -> ir.StringValue:
    """Trimmed, lower-case text of a value (null stays null)."""
    return value.cast("string").strip().lower()


def filled(value: ir.Value) -> ir.BooleanValue:
    """True where a value is present (see the module docstring)."""
    known = value.notnull()
    if value.type().is_string():
        known = known & ~value.strip().isin(list(_EMPTY))
    return known.fill_null(False)


def profile_coverage(
    profiles: ir.Table, fields: Sequence[str], *, engine: str = "duckdb"
) -> ir.Table:
    """One row: ``profiles`` (how many) and ``f<i>``, how many have ``fields[i]`` filled."""
    aggs: dict[str, ir.Value] = {"profiles": profiles.count()}
    for i, name in enumerate(fields):
        aggs[f"f{i}"] = filled(value_of(profiles, name, engine=engine)).sum().fill_null(0)
    return profiles.aggregate(**aggs)


def trait_key_counts(profiles: ir.Table) -> ir.Table:
    """``key``, ``filled``: how many profiles hold each traits key with a value (DuckDB)."""
    obj = profiles.select("customer_id", obj=profiles.traits.try_cast("json").map)
    obj = obj.filter(obj.obj.notnull())
    keys = obj.mutate(key=obj.obj.keys().unnest())
    keys = keys.mutate(ok=filled(_json_text(keys.obj[keys.key])))
    keys = keys.filter(keys.ok)
    return keys.group_by("key").aggregate(filled=keys.customer_id.nunique())


def disagreement_counts(
    source_profiles: ir.Table, fields: Sequence[str], *, engine: str = "duckdb"
) -> ir.Table:
    """One row: ``m<i>`` people with ``fields[i]`` filled in two or more source records, and
    ``d<i>`` of them whose records hold two or more different normalised values."""
    sp = source_profiles.filter(source_profiles.customer_id.notnull())
    per: dict[str, ir.Value] = {}
    for i, name in enumerate(fields):
        v = value_of(sp, name, engine=engine)
        ok = filled(v)
        per[f"n{i}"] = ok.cast("int64").sum()
        per[f"k{i}"] = normalised(v).nunique(where=ok)
    people = sp.group_by("customer_id").aggregate(**per)
    totals: dict[str, ir.Value] = {}
    for i in range(len(fields)):
        totals[f"m{i}"] = (people[f"n{i}"] >= 2).cast("int64").sum().fill_null(0)
        totals[f"d{i}"] = (
            ((people[f"n{i}"] >= 2) & (people[f"k{i}"] >= 2)).cast("int64").sum().fill_null(0)
        )
    return people.aggregate(**totals)


def recent_buyers(
    orders: ir.Table,
    profiles: ir.Table,
    at: datetime,
    *,
    days: int,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """``customer_id`` of profiles with a counted order in the ``days`` days before ``at``."""
    o = counted_orders(orders, as_of=None, statuses=statuses)
    start = ibis.timestamp(at - timedelta(days=days))
    o = o.filter(o.ts >= start, o.ts < ibis.timestamp(at))
    return o.select("customer_id").distinct().semi_join(profiles, "customer_id")
