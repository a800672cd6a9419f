"""Resolved segments → ibis expressions (layer 2: builds expressions, never executes).

Every leaf becomes a boolean over one wide row per profile. Leaves that need other tables
(events, orders, tags, metrics) become one small table keyed by customer_id each — events are
filtered to the window and aggregated per customer (``GROUP BY customer_id``) before a left join,
so the engine never joins raw events to profiles. Identical leaves share one such table, also
across the segments of a set. Missing values never match (every leaf is coalesced to false), so
``not`` and the reference evaluator agree under SQL's three-valued logic.

User values reach the engine only as ibis literals; column names come from the catalog.

Example:
    >>> import ibis
    >>> from datetime import datetime
    >>> from segmint.schema import TABLES
    >>> from segmint.rules import resolve, SegmentSpec
    >>> spec = SegmentSpec.model_validate({"slug": "hk", "title_en": "HK", "title_zh_hant": "香港",
    ...     "owner": "crm", "reviewed_on": "2025-01-15",
    ...     "where": {"field": "country", "op": "eq", "value": "HK"}})
    >>> tables = Tables(profiles=ibis.table(TABLES["profiles"], name="profiles"))
    >>> expr = compile_segment(resolve(spec)["hk"], tables, datetime(2025, 1, 31))
    >>> expr.columns
    ('customer_id',)
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.errors import ValidationError
from segmint.rules.reference import Rows
from segmint.rules.resolve import (
    KNOWN_EVENTS,
    Catalog,
    FieldRef,
    RActivity,
    RAll,
    RAnniversary,
    RAny,
    RCompare,
    RConsent,
    ResolvedSegment,
    ResolvedSet,
    RInSegment,
    RMetric,
    RNode,
    RNot,
    RSample,
    RSequence,
    RTag,
)
from segmint.rules.semantics import (
    Range,
    anniversary_targets,
    check_as_of,
    sample_threshold,
    temporal_range,
    utc_offset,
    window_range,
)
from segmint.schema import TABLES

__all__ = ["Tables", "compile_flags", "compile_segment", "compile_set"]

Predicate = Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class Tables:
    """The ibis tables a segment is evaluated over.

    ``metrics`` maps a provider name (``rfm``, ``abc``, later ``clv``…) to a table keyed by
    ``customer_id``; the workspace supplies them. ``engine`` ("duckdb" or "pyspark") picks the
    engine-specific form of a few JSON operations; it is found from bound tables when omitted.
    """

    profiles: ir.Table
    events: ir.Table | None = None
    orders: ir.Table | None = None
    tags: ir.Table | None = None
    metrics: Mapping[str, ir.Table] = field(default_factory=dict)
    engine: str | None = None

    def table(self, name: str) -> ir.Table:
        if name.startswith("metric:"):
            return self.metrics[name.removeprefix("metric:")]
        found = getattr(self, name)
        if found is None:
            raise ValidationError(f"The segment needs the '{name}' table, which was not given.")
        return found

    def catalog(self, *, event_names: Iterable[str] | None = KNOWN_EVENTS) -> Catalog:
        """A :class:`Catalog` of these tables' schemas (no query runs)."""
        tables = {
            name: t.schema()
            for name in ("profiles", "events", "orders", "tags")
            if (t := getattr(self, name)) is not None
        }
        return Catalog(
            tables=tables,
            metrics={k: v.schema() for k, v in self.metrics.items()},
            event_names=frozenset(event_names) if event_names is not None else None,
        )

    def resolved_engine(self) -> str:
        if self.engine:
            return self.engine
        try:
            return self.profiles._find_backend(use_default=False).name
        except Exception:  # unbound tables and memtables have no backend yet
            return "duckdb"

    @classmethod
    def from_rows(cls, rows: Rows) -> Tables:
        """Memtables of plain rows with the canonical column types (for tests and previews).

        Columns missing from the rows are null; metric tables take their types from the rows.
        """

        def canonical(name: str, data: list[Mapping]) -> ir.Table:
            schema = TABLES[name]
            arrow = schema.to_pyarrow()
            cols = {c: [r.get(c) for r in data] for c in schema.names}
            return ibis.memtable(pa.table(cols, schema=arrow))

        return cls(
            profiles=canonical("profiles", rows.profiles),
            events=canonical("events", rows.events),
            orders=canonical("orders", rows.orders),
            tags=canonical("tags", rows.tags),
            metrics={
                k: ibis.memtable(pa.Table.from_pylist(list(v))) for k, v in rows.metrics.items()
            },
        )


# -- entry points ----------------------------------------------------------------------------------
def compile_segment(
    segment: ResolvedSegment, tables: Tables, as_of: datetime, *, timezone: str = "UTC"
) -> ir.Table:
    """Members of ``segment`` at ``as_of``: a table with one column, ``customer_id``.

    ``timezone`` says where calendar days start (absolute dates, birthdays); timestamps are
    naive UTC. Count them with ``.count()``; nothing runs until the caller executes.
    """
    c = _Compiler(tables, as_of, timezone)
    pred = c.pred(segment.where)
    wide = c.wide()
    return wide.filter(pred(wide)).select("customer_id")


def compile_flags(
    segments: Iterable[ResolvedSegment],
    tables: Tables,
    as_of: datetime,
    *,
    timezone: str = "UTC",
) -> ir.Table:
    """One row per profile: ``customer_id`` and one boolean column per segment slug.

    All segments are evaluated in one query that shares identical leaves.
    """
    c = _Compiler(tables, as_of, timezone)
    preds = {seg.slug: c.pred(seg.where) for seg in segments}
    if "customer_id" in preds:
        raise ValidationError(
            "A segment slug must not be 'customer_id' here: it names the key column.",
            hint="rename the segment",
        )
    wide = c.wide()
    return wide.select("customer_id", **{slug: p(wide) for slug, p in preds.items()})


def compile_set(
    segment_set: ResolvedSet, tables: Tables, as_of: datetime, *, timezone: str = "UTC"
) -> ir.Table:
    """Memberships of a set: rows ``(customer_id, segment)``.

    In an exclusive set each customer appears at most once, in the first segment by priority
    that they match; otherwise once per segment they match.
    """
    c = _Compiler(tables, as_of, timezone)
    order = segment_set.order
    preds = [(seg.slug, c.pred(seg.where)) for seg in order]
    wide = c.wide()
    if segment_set.exclusive:
        label = ibis.cases(*[(p(wide), ibis.literal(slug)) for slug, p in preds], else_=None)
        out = wide.select("customer_id", segment=label)
        return out.filter(out.segment.notnull())
    parts = [
        wide.filter(p(wide)).select("customer_id", segment=ibis.literal(slug)) for slug, p in preds
    ]
    return functools.reduce(lambda a, b: a.union(b, distinct=False), parts)


# -- the compiler ----------------------------------------------------------------------------------
def _lit(value: Any) -> ir.Scalar:
    return ibis.literal(value)


def _and(parts: list[ir.BooleanValue]) -> ir.BooleanValue:
    return functools.reduce(operator.and_, parts) if parts else ibis.literal(True)


def _range_expr(x: ir.Value, rng: Range) -> ir.BooleanValue:
    parts = [x.notnull()]
    if rng.lo is not None:
        parts.append(x >= _lit(rng.lo) if rng.lo_incl else x > _lit(rng.lo))
    if rng.hi is not None:
        parts.append(x <= _lit(rng.hi) if rng.hi_incl else x < _lit(rng.hi))
    inside = _and(parts[1:]) if len(parts) > 1 else ibis.literal(True)
    return parts[0] & (~inside if rng.negate else inside)


def _number_cmp(x: ir.Value, op: str, value: Any) -> ir.BooleanValue:
    if op == "between":
        return x.between(_lit(value[0]), _lit(value[1]))
    ops = {
        "eq": operator.eq,
        "ne": operator.ne,
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }
    return ops[op](x, _lit(value))


class _Compiler:
    def __init__(self, tables: Tables, as_of: datetime, tz: str) -> None:
        self.tables = tables
        self.as_of = check_as_of(as_of)
        self.tz = tz
        utc_offset(self.as_of, tz)  # raises for an unknown time zone
        self.engine = tables.resolved_engine()
        self.features: dict[Any, tuple[str, str, ir.Table]] = {}

    # plumbing ---------------------------------------------------------------------------------
    def feature(self, key: Any, build: Callable[[str, str], ir.Table]) -> str:
        """Register a per-customer table (built once per distinct key); return its value column."""
        if key not in self.features:
            i = len(self.features)
            k, v = f"__seg_k{i}", f"__seg_v{i}"
            self.features[key] = (k, v, build(k, v))
        return self.features[key][1]

    def wide(self) -> ir.Table:
        profiles = self.tables.profiles
        if not self.features:
            return profiles
        w = profiles
        for k, _, t in self.features.values():
            w = w.left_join(t, profiles.customer_id == t[k])
        return w

    # values -----------------------------------------------------------------------------------
    def json(self, col: ir.Value, path: tuple[str, ...]) -> ir.Value:
        if col.type().is_json():
            j = col
        elif self.engine == "pyspark":
            j = col.cast("json")
        else:
            j = col.try_cast("json")  # invalid JSON text is missing, not an error
        for key in path:
            j = j[key]
        return j

    def value(self, table: ir.Table, ref: FieldRef) -> ir.Value:
        col = table[ref.column]
        if not ref.path:
            return col
        j = self.json(col, ref.path)
        if ref.kind == "string":
            # ibis's Spark unwrap UDF fails on text (GET_JSON_OBJECT already unquotes it)
            return j.cast("string") if self.engine == "pyspark" else j.str
        if ref.kind == "number":
            return j.float
        if ref.kind == "boolean":
            return j.bool
        return j

    def json_exists(self, j: ir.Value) -> ir.BooleanValue:
        if self.engine == "pyspark":  # GET_JSON_OBJECT turns a JSON null into NULL
            return j.notnull()
        return (
            j.str.notnull()
            | j.float.notnull()
            | j.bool.notnull()
            | j.array.notnull()
            | (j.map.notnull())
        )

    def compare(self, table: ir.Table, rc: RCompare) -> ir.BooleanValue:
        ref, op, value = rc.field, rc.op, rc.value
        x = self.value(table, ref)
        if op in ("exists", "is_null"):
            present = self.json_exists(x) if ref.path else x.notnull()
            return present if op == "exists" else ~present
        if ref.kind in ("date", "timestamp") and op not in ("in", "not_in"):
            rng = temporal_range(ref.kind, op, value, rc.duration, self.as_of, self.tz)
            out = _range_expr(x, rng)
        elif op == "in":
            out = x.isin([_lit(v) for v in value])
        elif op == "not_in":
            out = x.notin([_lit(v) for v in value])
        elif op == "contains":
            if ref.path:
                as_list = self.json(table[ref.column], ref.path).array.map(lambda e: e.str)
                out = ibis.coalesce(x.contains(_lit(value)), as_list.contains(_lit(value)))
            else:
                out = x.contains(_lit(value))
        elif op == "starts_with":
            out = x.startswith(_lit(value))
        elif op == "ends_with":
            out = x.endswith(_lit(value))
        else:
            out = _number_cmp(x, op, value)
        return out.fill_null(False)

    def window(self, t: ir.Table, last: Any, start: Any, end: Any) -> list[ir.BooleanValue]:
        rng = window_range(last, start, end, self.as_of, self.tz)
        return [t.customer_id.notnull(), _range_expr(t.ts, rng)]

    def step_filter(self, t: ir.Table, table: str, name_col: str, names: Any, filters: Any) -> list:
        conds = []
        if names is not None:
            conds.append(t[name_col].isin([_lit(n) for n in names]))
        conds += [self.compare(t, f) for f in filters]
        return conds

    # predicates -------------------------------------------------------------------------------
    def pred(self, node: RNode) -> Predicate:
        if isinstance(node, RAll | RAny):
            kids = [self.pred(c) for c in node.children]
            op = operator.and_ if isinstance(node, RAll) else operator.or_
            return lambda w: functools.reduce(op, [k(w) for k in kids])
        if isinstance(node, RNot):
            kid = self.pred(node.child)
            return lambda w: ~kid(w)
        if isinstance(node, RInSegment):
            return self.pred(node.segment.where)
        if isinstance(node, RCompare):
            return lambda w: self.compare(w, node)
        if isinstance(node, RActivity):
            return self.activity(node)
        if isinstance(node, RSequence):
            col = self.feature(node, lambda k, v: self.sequence(node, k, v))
            return lambda w: w[col].fill_null(False)
        if isinstance(node, RTag):
            col = self.feature(node, lambda k, v: self.tag(node, k, v))
            return lambda w: w[col].fill_null(False)
        if isinstance(node, RMetric):
            col = self.feature(node, lambda k, v: self.metric(node, k, v))
            return lambda w: w[col].fill_null(False)
        if isinstance(node, RConsent):
            return lambda w: self.consent(w, node)
        if isinstance(node, RAnniversary):
            return lambda w: self.anniversary(w, node)
        if isinstance(node, RSample):
            return lambda w: self.sample(w, node)
        raise AssertionError(type(node))  # pragma: no cover

    def activity(self, node: RActivity) -> Predicate:
        def build(k: str, v: str) -> ir.Table:
            t = self.tables.table(node.table)
            conds = self.window(t, node.last, node.start, node.end)
            conds += self.step_filter(t, node.table, node.name_column, node.names, node.filters)
            f = t.filter(*conds)
            if node.measure == "count":
                agg = f.customer_id.count()
            else:
                x = self.value(f, node.of)
                x = x if x.type().is_floating() else x.cast("float64")
                agg = {"sum": x.sum, "avg": x.mean, "min": x.min, "max": x.max}[node.measure]()
            return f.group_by(**{k: f.customer_id}).aggregate(**{v: agg})

        col = self.feature(node, build)
        zero_is_value = node.measure in ("count", "sum")

        def pred(w: ir.Table) -> ir.BooleanValue:
            x = w[col].fill_null(0) if zero_is_value else w[col]
            return _number_cmp(x, node.op, node.value).fill_null(False)

        return pred

    def sequence(self, node: RSequence, k: str, v: str) -> ir.Table:
        ev = self.tables.table("events")
        a_conds = self.window(ev, node.last, node.start, node.end)
        if node.negate_then:  # the follow-up time must be over before we call it abandoned
            a_conds.append(ev.ts <= _lit(self.as_of - node.within))
        a_conds += self.step_filter(ev, "events", "event", node.first.names, node.first.filters)
        a = ev.filter(*a_conds).select(**{k: ev.customer_id, "seg_ta": ev.ts})
        b_conds = [ev.customer_id.notnull(), ev.ts.notnull(), ev.ts <= _lit(self.as_of)]
        b_conds += self.step_filter(ev, "events", "event", node.then.names, node.then.filters)
        b = ev.filter(*b_conds).select(seg_kb=ev.customer_id, seg_tb=ev.ts)
        within = ibis.interval(seconds=int(node.within.total_seconds()))
        on = [a[k] == b.seg_kb, b.seg_tb >= a.seg_ta, b.seg_tb <= a.seg_ta + within]
        joined = a.anti_join(b, on) if node.negate_then else a.join(b, on)
        return joined.select(k).distinct().mutate(**{v: ibis.literal(True)})

    def tag(self, node: RTag, k: str, v: str) -> ir.Table:
        t = self.tables.table("tags")
        f = t.filter(t.customer_id.notnull(), t.tag == _lit(node.tag))
        return f.select(**{k: f.customer_id}).distinct().mutate(**{v: ibis.literal(True)})

    def metric(self, node: RMetric, k: str, v: str) -> ir.Table:
        t = self.tables.metrics.get(node.provider)
        if t is None:
            raise ValidationError(
                f"The segment needs the metric table '{node.provider}', which was not given.",
                hint="compute it first and pass it in Tables(metrics={...})",
            )
        f = t.filter(t.customer_id.notnull(), self.compare(t, node.compare))
        return f.select(**{k: f.customer_id}).distinct().mutate(**{v: ibis.literal(True)})

    def consent(self, w: ir.Table, node: RConsent) -> ir.BooleanValue:
        given, at = w[f"consent_{node.channel}"], w[f"consent_{node.channel}_at"]
        out = given & (at.isnull() | (at <= _lit(self.as_of)))
        if node.within is not None:
            out = out & (at >= _lit(self.as_of - node.within))
        return out.fill_null(False)

    def anniversary(self, w: ir.Table, node: RAnniversary) -> ir.BooleanValue:
        d = w[node.column]
        if node.is_timestamp:
            offset = int(utc_offset(self.as_of, self.tz).total_seconds())
            d = (d + ibis.interval(seconds=offset)).date() if offset else d.date()
        md = d.month() * 100 + d.day()
        year = d.year()
        targets = anniversary_targets(node.days, self.as_of, self.tz)
        parts = [md.isin(sorted(mds)) & (year < y) for y, mds in sorted(targets.items())]
        return functools.reduce(operator.or_, parts).fill_null(False)

    def sample(self, w: ir.Table, node: RSample) -> ir.BooleanValue:
        threshold = sample_threshold(node.percent)
        if threshold is None:
            return ibis.literal(True)
        key = _lit(node.salt + ":") + w.customer_id.cast("string")
        return (key.hexdigest("md5") < _lit(threshold)).fill_null(False)
