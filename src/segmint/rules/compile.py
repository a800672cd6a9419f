"""Resolved segments → ibis expressions (layer 2: builds expressions, never executes).

Every leaf becomes a boolean over one wide row per profile. Leaves that need other tables
(events, orders, tags, metrics) become columns of small tables keyed by customer_id — events are
filtered to the window and aggregated per customer (``GROUP BY customer_id``) before a left join,
so the engine never joins raw events to profiles. All leaves over the rows of one table with the
same event names (order statuses) share one such pass, each leaf a filtered aggregate in it, and
so do all leaves on one metric table and all tag leaves (sequences keep a table each); identical
leaves share one column, also across segments. Missing values never match (every leaf is
coalesced to false), so ``not`` and the reference evaluator agree under SQL's three-valued logic.

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

import dataclasses
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
    walk,
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

__all__ = [
    "Tables",
    "compile_flags",
    "compile_segment",
    "compile_set",
    "order_totals",
    "reads_order_totals",
]

Predicate = Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class Tables:
    """The ibis tables a segment is evaluated over.

    ``metrics`` maps a provider name (``rfm``, ``abc``, later ``clv``…) to a table keyed by
    ``customer_id``; the workspace supplies them. ``engine`` ("duckdb" or "pyspark") picks the
    engine-specific form of a few JSON operations; it is found from bound tables when omitted.

    ``order_totals`` (optional) is :func:`order_totals` of ``orders`` up to the instant
    ``order_totals_as_of``: a segment evaluated at that very instant reads its order leaves
    without property filters over the whole past ("ever") from it instead of every order.
    """

    profiles: ir.Table
    events: ir.Table | None = None
    orders: ir.Table | None = None
    tags: ir.Table | None = None
    metrics: Mapping[str, ir.Table] = field(default_factory=dict)
    engine: str | None = None
    order_totals: ir.Table | None = None
    order_totals_as_of: datetime | None = None

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
    # conditions on the profile row that every member meets: the passes over events and
    # orders aggregate only the rows of the customers who meet them
    on_profile = [c.pred(n) for n in _profile_conjuncts(segment.where)]
    wide = c.wide(lambda w: _and([p(w) for p in on_profile]) if on_profile else None)
    return wide.filter(pred(wide)).select("customer_id")


def _profile_conjuncts(node: RNode) -> list[RNode]:
    """The conditions of ``node`` joined by ``all`` (at any depth) that read only the profile.

    >>> _profile_conjuncts(RAll((RConsent("email"), RNot(RConsent("sms")))))
    [RConsent(channel='email', within=None, pointer='')]
    """
    if isinstance(node, RAll):
        return [x for child in node.children for x in _profile_conjuncts(child)]
    if isinstance(node, RCompare) and node.field.table != "profiles":
        return []
    return [node] if isinstance(node, RCompare | RConsent | RAnniversary | RSample) else []


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


# -- per-customer order totals (the live builder's shortcut) --------------------------------------
def order_totals(orders: ir.Table, as_of: datetime) -> ir.Table:
    """Totals of the orders up to instant ``as_of`` per (customer_id, status): ``orders`` (rows)
    and, per numeric column ``c`` of ``orders``, ``sum_c``, ``n_c`` (values present), ``min_c``
    and ``max_c``. An order leaf over the whole past without property filters ("at least 2
    completed orders", "spent at least 1,000") reads these instead of every order: a million
    customers' totals instead of ten million orders. Store it once (the workspace does, per
    version of the orders) and pass it as ``Tables(order_totals=…, order_totals_as_of=as_of)``.

    >>> import ibis
    >>> from segmint.schema import TABLES
    >>> t = order_totals(ibis.table(TABLES["orders"], name="orders"), datetime(2025, 1, 31))
    >>> t.columns[:4]
    ('customer_id', 'status', 'orders', 'sum_amount')
    """
    o = orders.filter(orders.customer_id.notnull(), orders.ts <= _lit(check_as_of(as_of)))
    values: dict[str, ir.Scalar] = {"orders": o.count()}
    for name, dtype in orders.schema().items():
        if dtype.is_numeric() and name not in ("customer_id", "status"):
            x = o[name]
            values.update({f"sum_{name}": x.sum(), f"n_{name}": x.count(),
                           f"min_{name}": x.min(), f"max_{name}": x.max()})  # fmt: skip
    return o.group_by("customer_id", "status").aggregate(**values)


def _totals_window(rng: Range, as_of: datetime) -> bool:
    """Whether a window is the whole past up to ``as_of`` (what order totals hold)."""
    return rng.lo is None and rng.hi == as_of and rng.hi_incl and not rng.negate


def _reads_totals(node: RActivity, as_of: datetime, tz: str) -> bool:
    """Whether an activity leaf can read order totals: orders, no property filters, the whole
    past, a plain column measured."""
    if node.table != "orders" or node.filters:
        return False
    if node.of is not None and node.of.path:
        return False
    return _totals_window(window_range(node.last, node.start, node.end, as_of, tz), as_of)


def reads_order_totals(segment: ResolvedSegment, as_of: datetime, *, timezone: str = "UTC") -> bool:
    """Whether ``segment`` (through ``in_segment`` too) has an order leaf that
    :func:`order_totals` at ``as_of`` can answer: worth storing them for a live preview."""
    at = check_as_of(as_of)
    seen: set[str] = set()

    def visit(seg: ResolvedSegment) -> bool:
        if seg.slug in seen:
            return False
        seen.add(seg.slug)
        for node in walk(seg.where):
            if isinstance(node, RActivity) and _reads_totals(node, at, timezone):
                return True
            if isinstance(node, RInSegment) and node.segment is not None and visit(node.segment):
                return True
        return False

    return visit(segment)


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


#: characters Jackson (Spark's JSON writer) escapes with a backslash and a letter
_JSON_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _spark_json_string(text: str) -> str:
    """``text`` as Spark (Jackson) writes a JSON string: quoted, short escapes, ``\\u001F``.

    >>> _spark_json_string('say "hi"\\n\\x1f')
    '"say \\\\"hi\\\\"\\\\n\\\\u001F"'
    """
    out = []
    for ch in text:
        if ch in _JSON_SHORT_ESCAPES:
            out.append(_JSON_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _hull(ranges: list[Range]) -> Range:
    """The smallest inclusive range around ``ranges`` (an open end stays open).

    >>> _hull([Range(1, True, 5, False), Range(3, True, 9, True)])
    Range(lo=1, lo_incl=True, hi=9, hi_incl=True, negate=False)
    """
    los = [r.lo for r in ranges]
    his = [r.hi for r in ranges]
    return Range(None if None in los else min(los), True, None if None in his else max(his), True)


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


@dataclass
class _Family:
    """Per-customer values that share one pass over one table: one ``GROUP BY customer_id``.

    ``values`` maps a value column to its reduction over the family's rows (each reduction
    carries its own conditions as ``where=``); ``prune`` gives conditions every row that any
    reduction can use meets (the time window around all of them, the names they use), so the
    engine skips the rest of the table. Adding a leaf adds a column, not a scan and a join.
    """

    table: str
    prune: Callable[[ir.Table], list[ir.BooleanValue]]
    values: dict[str, Callable[[ir.Table], ir.Scalar]] = field(default_factory=dict)
    #: JSON values read once per row of the pass (ref → column): eight leaves on
    #: ``properties.category`` parse the JSON once
    derived: dict[FieldRef, str] = field(default_factory=dict)


class _Compiler:
    def __init__(self, tables: Tables, as_of: datetime, tz: str) -> None:
        self.tables = tables
        self.as_of = check_as_of(as_of)
        self.tz = tz
        utc_offset(self.as_of, tz)  # raises for an unknown time zone
        self.engine = tables.resolved_engine()
        #: leaf key → value column (identical leaves share one column, also across segments)
        self.features: dict[Any, str] = {}
        self.families: dict[Any, _Family] = {}
        #: tables keyed by their first column that are joined as they are (sequences)
        self.own: list[tuple[str, ir.Table]] = []
        #: time windows of the leaves of each activity pass (its rows: the range around them)
        self.windows: dict[Any, list[Range]] = {}

    # plumbing ---------------------------------------------------------------------------------
    def _column(self) -> str:
        return f"__seg_v{len(self.features)}"

    def feature(self, key: Any, build: Callable[[str, str], ir.Table]) -> str:
        """Register a per-customer table (built once per distinct key); return its value column."""
        if key not in self.features:
            k, v = f"__seg_k{len(self.own)}", self._column()
            self.own.append((k, build(k, v)))
            self.features[key] = v
        return self.features[key]

    def reduction(
        self,
        family: Any,
        key: Any,
        table: str,
        prune: Callable[[ir.Table], list[ir.BooleanValue]],
        build: Callable[[ir.Table], ir.Scalar],
    ) -> str:
        """Register a per-customer reduction over ``table`` in ``family`` (one pass for all of
        its reductions); return its value column. Rows of customers without a match give the
        reduction over no rows (0 for a count, missing otherwise)."""
        if key not in self.features:
            fam = self.families.setdefault(family, _Family(table, prune))
            v = self._column()
            fam.values[v] = build
            self.features[key] = v
        return self.features[key]

    def wide(self, only: Callable[[ir.Table], ir.BooleanValue | None] | None = None) -> ir.Table:
        """Profiles with every registered per-customer value joined on; ``only(profiles)``
        (optional) restricts the profiles, and the passes to those profiles' rows."""
        profiles = self.tables.profiles
        keep = only(profiles) if only is not None and (self.families or self.own) else None
        if keep is not None:
            profiles = profiles.filter(keep)
        joined = list(self.own)
        for i, fam in enumerate(self.families.values()):
            t = self.tables.table(fam.table)
            f = t.filter(t.customer_id.notnull(), *fam.prune(t))
            if keep is not None:
                f = f.filter(f.customer_id.isin(profiles.customer_id))
            if fam.derived:
                f = f.mutate(**{col: self.value(f, ref) for ref, col in fam.derived.items()})
            k = f"__seg_f{i}"
            agg = f.group_by(**{k: f.customer_id}).aggregate(
                **{v: build(f) for v, build in fam.values.items()}
            )
            joined.append((k, agg))
        w = profiles
        for k, t in joined:
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
            out = self.json_contains(table, ref, x, value) if ref.path else x.contains(_lit(value))
        elif op == "starts_with":
            out = x.startswith(_lit(value))
        elif op == "ends_with":
            out = x.endswith(_lit(value))
        else:
            out = _number_cmp(x, op, value)
        return out.fill_null(False)

    def json_contains(
        self, table: ir.Table, ref: FieldRef, x: ir.Value, value: str
    ) -> ir.BooleanValue:
        """``contains`` on a JSON key: a substring of text, or an element of a list of text."""
        j = self.json(table[ref.column], ref.path)
        if self.engine != "pyspark":
            as_list = j.array.map(lambda e: e.str)
            return ibis.coalesce(x.contains(_lit(value)), as_list.contains(_lit(value)))
        # ibis cannot unwrap JSON arrays on Spark; GET_JSON_OBJECT gives a list as compact JSON
        # text (Jackson), so an element is the quoted value between '[' or ',' and ',' or ']'.
        elem = _spark_json_string(value)
        in_list = functools.reduce(
            operator.or_, [x.contains(_lit(a + elem + b)) for a in "[," for b in ",]"]
        )
        # an empty list has no first element either: it is no text to search
        text = (x != _lit("[]")) & x.contains(_lit(value))
        return ibis.ifelse(j[0].notnull(), in_list, text)

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
            col = self.tag(node)
            return lambda w: w[col].fill_null(False)
        if isinstance(node, RMetric):
            col = self.metric(node)
            return lambda w: w[col].fill_null(False)
        if isinstance(node, RConsent):
            return lambda w: self.consent(w, node)
        if isinstance(node, RAnniversary):
            return lambda w: self.anniversary(w, node)
        if isinstance(node, RSample):
            return lambda w: self.sample(w, node)
        raise AssertionError(type(node))  # pragma: no cover

    def derive(self, family: Any, ref: FieldRef, rc: RCompare | None = None) -> Any:
        """``rc`` (or ``ref``) reading a column of ``family``'s pass that holds the JSON value
        of ``ref``, extracted once per row however many leaves use it; other refs and the ops
        that read the JSON itself are unchanged."""
        if not ref.path or ref.kind not in ("string", "number", "boolean"):
            return rc if rc is not None else ref
        if rc is not None and rc.op in ("exists", "is_null", "contains"):
            return rc
        fam = self.families[family]
        col = fam.derived.setdefault(ref, f"__seg_j{len(fam.derived)}")
        plain = FieldRef(table=ref.table, column=col, kind=ref.kind, name=ref.name)
        return plain if rc is None else dataclasses.replace(rc, field=plain)

    def activity(self, node: RActivity) -> Predicate:
        """Count / sum / … of matching rows in the window, as one reduction of the pass over the
        rows with the leaf's names (one pass per table and set of names: each pass reads only
        its rows, leaves share it); leaves that differ only in the comparison share a value."""
        totals = self.tables.order_totals
        if (
            totals is not None
            and self.tables.order_totals_as_of == self.as_of
            and _reads_totals(node, self.as_of, self.tz)
            and (node.of is None or f"sum_{node.of.column}" in totals.columns)
        ):
            return self.from_totals(node)
        family = ("activity", node.table, node.names)
        rng = window_range(node.last, node.start, node.end, self.as_of, self.tz)
        self.windows.setdefault(family, []).append(rng)

        def prune(t: ir.Table) -> list[ir.BooleanValue]:
            conds = [_range_expr(t.ts, _hull(self.windows[family]))]
            return conds + self.step_filter(t, node.table, node.name_column, node.names, ())

        self.families.setdefault(family, _Family(node.table, prune))
        filters = [self.derive(family, f.field, f) for f in node.filters]
        of = self.derive(family, node.of) if node.of is not None else None

        def build(t: ir.Table) -> ir.Scalar:
            # rows of the pass have the leaf's names; property filters and the measured value
            # run only on rows in this leaf's window (CASE)
            where = _range_expr(t.ts, rng)
            if filters:
                where = ibis.ifelse(where, _and([self.compare(t, f) for f in filters]), False)
            if node.measure == "count":
                return t.customer_id.count(where=where)
            x = self.value(t, of)
            x = x if x.type().is_floating() else x.cast("float64")
            x = ibis.ifelse(where, x, ibis.null("float64"))
            return {"sum": x.sum, "avg": x.mean, "min": x.min, "max": x.max}[node.measure]()

        aggregate = dataclasses.replace(node, op="", value=None)
        col = self.reduction(family, aggregate, node.table, prune, build)
        zero_is_value = node.measure in ("count", "sum")

        def pred(w: ir.Table) -> ir.BooleanValue:
            x = w[col].fill_null(0) if zero_is_value else w[col]
            return _number_cmp(x, node.op, node.value).fill_null(False)

        return pred

    def from_totals(self, node: RActivity) -> Predicate:
        """:meth:`activity` of an order leaf over the whole past, from the per-customer totals
        (one pass over them per set of statuses): counts and sums add up, avg is their ratio."""
        family = ("order_totals", node.names)

        def prune(t: ir.Table) -> list[ir.BooleanValue]:
            return [t.status.isin([_lit(n) for n in node.names])] if node.names is not None else []

        def build(t: ir.Table) -> ir.Scalar:
            if node.measure == "count":
                return t.orders.sum()
            c = node.of.column
            if node.measure == "sum":
                return t[f"sum_{c}"].sum().cast("float64")
            if node.measure == "avg":
                n = t[f"n_{c}"].sum()
                mean = t[f"sum_{c}"].sum().cast("float64") / n.cast("float64")
                return ibis.ifelse(n > 0, mean, ibis.null("float64"))
            part = t[f"{node.measure}_{c}"]
            return (part.min() if node.measure == "min" else part.max()).cast("float64")

        aggregate = ("totals", dataclasses.replace(node, op="", value=None))
        col = self.reduction(family, aggregate, "order_totals", prune, build)
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
        # a follow-up lies between the first step and ``within`` after it: only the rows from
        # the window's start to its end plus ``within`` can be one, so the engine skips the rest
        # of the events (stored mostly in time order, zone maps skip whole row groups)
        rng = window_range(node.last, node.start, node.end, self.as_of, self.tz)
        b_hi = self.as_of if rng.hi is None else min(self.as_of, rng.hi + node.within)
        b_conds = [ev.customer_id.notnull(), ev.ts.notnull(), ev.ts <= _lit(b_hi)]
        if rng.lo is not None:
            b_conds.append(ev.ts >= _lit(rng.lo))
        b_conds += self.step_filter(ev, "events", "event", node.then.names, node.then.filters)
        b = ev.filter(*b_conds).select(seg_kb=ev.customer_id, seg_tb=ev.ts)
        within = ibis.interval(seconds=int(node.within.total_seconds()))
        on = [a[k] == b.seg_kb, b.seg_tb >= a.seg_ta, b.seg_tb <= a.seg_ta + within]
        joined = a.anti_join(b, on) if node.negate_then else a.join(b, on)
        return joined.select(k).distinct().mutate(**{v: ibis.literal(True)})

    def tag(self, node: RTag) -> str:
        def prune(t: ir.Table) -> list[ir.BooleanValue]:
            tags = sorted(n.tag for n in self.features if isinstance(n, RTag))
            return [t.tag.isin([_lit(x) for x in tags])]

        return self.reduction(
            ("tags",), node, "tags", prune, lambda t: (t.tag == _lit(node.tag)).any()
        )

    def metric(self, node: RMetric) -> str:
        if self.tables.metrics.get(node.provider) is None:
            raise ValidationError(
                f"The segment needs the metric table '{node.provider}', which was not given.",
                hint="compute it first and pass it in Tables(metrics={...})",
            )
        return self.reduction(
            ("metric", node.provider),
            node,
            f"metric:{node.provider}",
            lambda t: [],
            lambda t: self.compare(t, node.compare).any(),
        )

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
