"""Second stage: specs checked against the workspace schema into resolved trees (layer 2).

:func:`resolve` looks every field, event name, metric and segment reference up in a
:class:`Catalog` (table schemas and names, built from ibis schemas without executing anything),
coerces values to the type of what they are compared with, refuses cycles between segments and
reports every problem at once in one :class:`~segmint.errors.DefinitionError`.

The resolved nodes (``R*`` dataclasses) are what the ibis compiler (:mod:`.compile`), the
reference evaluator (:mod:`.reference`) and ``explain`` consume, so they share one meaning.

Example:
    >>> from segmint.rules.spec import SegmentSpec
    >>> spec = SegmentSpec.model_validate({"slug": "hk", "title_en": "HK", "title_zh_hant": "香港",
    ...     "owner": "crm", "reviewed_on": "2025-01-15",
    ...     "where": {"field": "country", "op": "eq", "value": "HK"}})
    >>> r = resolve(spec)
    >>> r["hk"].where.field.kind, r["hk"].where.value
    ('string', 'HK')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Union

import ibis.expr.datatypes as dt
from ibis.expr.schema import Schema

from segmint.errors import DefinitionError, DefinitionProblem, close_matches
from segmint.rules import spec as s
from segmint.rules.load import parse_specs
from segmint.rules.semantics import to_utc_naive
from segmint.schema import TABLES

__all__ = [
    "KNOWN_EVENTS",
    "Catalog",
    "FieldRef",
    "RActivity",
    "RAll",
    "RAnniversary",
    "RAny",
    "RCompare",
    "RConsent",
    "RInSegment",
    "RMetric",
    "RNot",
    "RSample",
    "RSequence",
    "RStep",
    "RTag",
    "Resolved",
    "ResolvedSegment",
    "ResolvedSet",
    "resolve",
]

#: Event names of the Segment e-commerce spec v2, message and survey events (DESIGN.md).
KNOWN_EVENTS: frozenset[str] = frozenset(
    {
        "Products Searched",
        "Product List Viewed",
        "Product List Filtered",
        "Promotion Viewed",
        "Promotion Clicked",
        "Product Clicked",
        "Product Viewed",
        "Product Added",
        "Product Removed",
        "Cart Viewed",
        "Checkout Started",
        "Checkout Step Viewed",
        "Checkout Step Completed",
        "Payment Info Entered",
        "Order Updated",
        "Order Completed",
        "Order Refunded",
        "Order Cancelled",
        "Coupon Entered",
        "Coupon Applied",
        "Coupon Denied",
        "Coupon Removed",
        "Product Added to Wishlist",
        "Product Removed from Wishlist",
        "Wishlist Product Added to Cart",
        "Product Shared",
        "Cart Shared",
        "Product Reviewed",
        "Message Sent",
        "Message Delivered",
        "Message Read",
        "Message Clicked",
        "Survey Responded",
    }
)

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_STRING_OPS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"}
    | {"contains", "starts_with", "ends_with", "exists", "is_null"}
)
_NUMBER_OPS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"}
    | {
        "exists",
        "is_null",
    }
)
_BOOLEAN_OPS = frozenset({"eq", "ne", "exists", "is_null"})
_DATE_OPS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "is_null"}
    | {"before", "after", "within_last", "within_next"}
)
_TIMESTAMP_OPS = _DATE_OPS - {"in", "not_in"}
OPS_BY_KIND: dict[str, frozenset[str]] = {
    "string": _STRING_OPS,
    "number": _NUMBER_OPS,
    "boolean": _BOOLEAN_OPS,
    "date": _DATE_OPS,
    "timestamp": _TIMESTAMP_OPS,
}
_KIND_WORDS = {
    "string": "text",
    "number": "a number",
    "boolean": "true/false",
    "date": "a date",
    "timestamp": "a timestamp",
    "json": "JSON text",
}


def kind_of(dtype: dt.DataType) -> str | None:
    """The comparison kind of an ibis type: string, number, boolean, date, timestamp or json."""
    if dtype.is_json():
        return "json"
    if dtype.is_string():
        return "string"
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_timestamp():
        return "timestamp"
    if dtype.is_date():
        return "date"
    return None


# -- the catalog -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    """What definitions can refer to: table schemas, JSON columns, event names and metrics.

    ``event_names=None`` turns the event name check off. ``metrics`` maps a provider name (``rfm``)
    to the schema of its table, keyed by ``customer_id``.

    >>> Catalog.default().has_field("profiles", "country")
    True
    """

    tables: Mapping[str, Schema]
    metrics: Mapping[str, Schema] = field(default_factory=dict)
    event_names: frozenset[str] | None = KNOWN_EVENTS
    json_columns: frozenset[tuple[str, str]] = frozenset(
        {("profiles", "traits"), ("events", "properties")}
    )

    @classmethod
    def default(
        cls,
        *,
        metrics: Mapping[str, Schema] | None = None,
        event_names: Iterable[str] | None = KNOWN_EVENTS,
    ) -> Catalog:
        """The canonical workspace tables (segmint.schema) with the given metrics and events."""
        names = frozenset(event_names) if event_names is not None else None
        tables = {k: TABLES[k] for k in ("profiles", "events", "orders", "tags")}
        return cls(tables=tables, metrics=dict(metrics or {}), event_names=names)

    def has_field(self, table: str, column: str) -> bool:
        return table in self.tables and column in self.tables[table]

    def is_json(self, table: str, column: str) -> bool:
        schema = self.tables.get(table)
        if schema is None or column not in schema:
            return False
        return (table, column) in self.json_columns or schema[column].is_json()

    def metric_names(self) -> list[str]:
        return [
            f"{p}.{c}" for p, sch in self.metrics.items() for c in sch.names if c != "customer_id"
        ]


# -- resolved nodes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldRef:
    """A column, or a key path inside a JSON text column, and the kind of value it is compared as.

    ``kind`` is string/number/boolean/date/timestamp; for a JSON path it is the kind extracted
    from the JSON value (``any`` for exists/is_null).
    """

    table: str
    column: str
    kind: str
    path: tuple[str, ...] = ()
    name: str = field(default="", compare=False)


@dataclass(frozen=True)
class RCompare:
    """A comparison, its value coerced to the field's kind (dates and naive UTC datetimes)."""

    field: FieldRef
    op: str
    value: Any = None
    duration: timedelta | None = None
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RActivity:
    """Performed / did not perform / ordered: an aggregate over matching rows in a window.

    ``names`` (event names or order statuses; ``None`` = any) match ``name_column``. Counts and
    sums over no rows are 0; avg/min/max over no rows are missing (so the leaf is false).
    """

    table: str
    name_column: str
    names: tuple[str, ...] | None
    filters: tuple[RCompare, ...]
    measure: str
    of: FieldRef | None
    op: str
    value: Any
    last: timedelta | None = None
    start: date | None = None
    end: date | None = None
    label: str = field(default="performed", compare=False)
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RStep:
    names: tuple[str, ...] | None
    filters: tuple[RCompare, ...]


@dataclass(frozen=True)
class RSequence:
    """``first`` then (not) ``then`` within ``within``; the window applies to the first step."""

    first: RStep
    then: RStep
    negate_then: bool
    within: timedelta
    last: timedelta | None = None
    start: date | None = None
    end: date | None = None
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RInSegment:
    slug: str
    segment: ResolvedSegment | None = field(default=None, compare=False, repr=False)
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RMetric:
    provider: str
    compare: RCompare
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RConsent:
    channel: str
    within: timedelta | None = None
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RAnniversary:
    kind: str
    column: str
    days: int
    is_timestamp: bool
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RSample:
    percent: float
    salt: str
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RTag:
    tag: str
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RAll:
    children: tuple[RNode, ...]
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RAny:
    children: tuple[RNode, ...]
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class RNot:
    child: RNode
    pointer: str = field(default="", compare=False)


RNode = Union[  # noqa: UP007
    RAll,
    RAny,
    RNot,
    RCompare,
    RActivity,
    RSequence,
    RInSegment,
    RMetric,
    RConsent,
    RAnniversary,
    RSample,
    RTag,
]


def children(node: RNode) -> tuple[RNode, ...]:
    """Direct sub-conditions of a node (not following segment references)."""
    if isinstance(node, RAll | RAny):
        return node.children
    if isinstance(node, RNot):
        return (node.child,)
    return ()


def walk(node: RNode) -> Iterator[RNode]:
    """Every node of a tree, depth first (not following segment references)."""
    yield node
    for child in children(node):
        yield from walk(child)


@dataclass(frozen=True, eq=False)
class ResolvedSegment:
    """A segment whose condition tree is checked and typed; references point at their targets."""

    spec: s.SegmentSpec
    where: RNode
    source: str | None = None
    pointer: str = ""

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Slugs this segment refers to directly (``in_segment``)."""
        return tuple(dict.fromkeys(n.slug for n in walk(self.where) if isinstance(n, RInSegment)))

    def __repr__(self) -> str:
        return f"ResolvedSegment({self.slug!r})"


@dataclass(frozen=True, eq=False)
class ResolvedSet:
    """A resolved :class:`~segmint.rules.spec.SegmentSet`; ``order`` is by priority."""

    spec: s.SegmentSet
    segments: tuple[ResolvedSegment, ...]

    @property
    def exclusive(self) -> bool:
        return self.spec.exclusive

    @property
    def order(self) -> tuple[ResolvedSegment, ...]:
        by_slug = {x.slug: x for x in self.segments}
        return tuple(by_slug[slug] for slug in self.spec.ordered_slugs())


@dataclass(frozen=True, eq=False)
class Resolved:
    """Every resolved segment by slug, and the sets they came in."""

    sets: tuple[ResolvedSet, ...]

    @property
    def segments(self) -> dict[str, ResolvedSegment]:
        return {x.slug: x for st in self.sets for x in st.segments}

    def __getitem__(self, slug: str) -> ResolvedSegment:
        found = self.segments
        if slug not in found:
            from segmint.errors import NotFoundError

            raise NotFoundError(
                f"There is no segment '{slug}'.", suggestions=close_matches(slug, found)
            )
        return found[slug]

    def __iter__(self) -> Iterator[ResolvedSegment]:
        return iter(self.segments.values())

    def __len__(self) -> int:
        return len(self.segments)


# -- resolution ------------------------------------------------------------------------------------
Specs = Union[s.SegmentSpec, s.SegmentSet, Mapping, Iterable]  # noqa: UP007


def _as_sets(specs: Any) -> list[s.SegmentSet]:
    if isinstance(specs, s.SegmentSet | s.SegmentSpec | Mapping):
        return [parse_specs(specs)]
    out: list[s.SegmentSet] = []
    for item in specs:
        out += _as_sets(item)
    return out


def resolve(specs: Specs, catalog: Catalog | None = None) -> Resolved:
    """Check specs against ``catalog`` (default: the canonical tables) and type them.

    Accepts a segment, a set, parsed data, or an iterable of them (e.g. what
    :func:`~segmint.rules.load_specs` returns). Slugs must be unique across everything given;
    segments may refer to each other across sets. Raises one
    :class:`~segmint.errors.DefinitionError` listing every problem.
    """
    return _Resolver(catalog or Catalog.default()).run(_as_sets(specs))


@dataclass
class _Ctx:
    file: str | None
    slug: str
    pointer: str


class _Resolver:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.problems: list[DefinitionProblem] = []
        self.specs: dict[str, tuple[s.SegmentSpec, str | None, str]] = {}
        self.done: dict[str, ResolvedSegment] = {}
        self.on_cycle: set[str] = set()
        self._busy: set[str] = set()  # segments being resolved (guards against cycles)

    # problems ---------------------------------------------------------------------------------
    def problem(
        self,
        ctx: _Ctx,
        pointer: str,
        message: str,
        suggestions: Iterable[str] = (),
        hint: str | None = None,
    ) -> None:
        text = f"Segment '{ctx.slug}' {message}" if ctx.slug else message
        self.problems.append(DefinitionProblem(ctx.file, pointer, text, tuple(suggestions), hint))

    # entry ------------------------------------------------------------------------------------
    def run(self, sets: list[s.SegmentSet]) -> Resolved:
        where: dict[str, str] = {}
        for st in sets:
            base = "" if st._single else "/segments/{i}"
            for i, seg in enumerate(st.segments):
                ptr = base.format(i=i)
                if seg.slug in self.specs:
                    self.problem(
                        _Ctx(st.source, "", ptr),
                        ptr + "/slug",
                        f"Segment slug '{seg.slug}' is defined twice (first at {where[seg.slug]}).",
                        hint="give each segment its own slug",
                    )
                    continue
                self.specs[seg.slug] = (seg, st.source, ptr)
                where[seg.slug] = f"{st.source}, {ptr}" if st.source else ptr or "/"
            self._check_priorities(st)
        self._find_cycles()
        for slug in self.specs:
            self._segment(slug)
        if self.problems:
            raise DefinitionError(self.problems)
        out = []
        for st in sets:
            segs = tuple(self.done[x.slug] for x in st.segments if x.slug in self.done)
            out.append(ResolvedSet(spec=st, segments=segs))
        return Resolved(sets=tuple(out))

    def _check_priorities(self, st: s.SegmentSet) -> None:
        slugs = [x.slug for x in st.segments]
        ctx = _Ctx(st.source, "", "")
        seen: set[str] = set()
        for i, slug in enumerate(st.priorities):
            ptr = f"/priorities/{i}"
            if slug not in slugs:
                self.problem(
                    ctx,
                    ptr,
                    f"Priority '{slug}' is not a segment of this set.",
                    close_matches(slug, slugs),
                )
            elif slug in seen:
                self.problem(ctx, ptr, f"Priority '{slug}' is listed twice.")
            seen.add(slug)
        if st.priorities and not st.exclusive:
            self.problem(
                ctx,
                "/priorities",
                "'priorities' only matter for an exclusive set.",
                hint="add 'exclusive: true' or remove 'priorities'",
            )

    # cycles -----------------------------------------------------------------------------------
    def _refs(self, cond: Any, ptr: str) -> Iterator[tuple[str, str]]:
        if isinstance(cond, s.InSegment):
            yield cond.in_segment, ptr + "/in_segment"
        elif isinstance(cond, s.AllOf):
            for i, c in enumerate(cond.all):
                yield from self._refs(c, f"{ptr}/all/{i}")
        elif isinstance(cond, s.AnyOf):
            for i, c in enumerate(cond.any):
                yield from self._refs(c, f"{ptr}/any/{i}")
        elif isinstance(cond, s.Not):
            yield from self._refs(cond.not_, f"{ptr}/not")

    def _find_cycles(self) -> None:
        edges = {
            slug: list(self._refs(seg.where, ptr + "/where"))
            for slug, (seg, _, ptr) in self.specs.items()
        }
        state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
        stack: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(slug: str) -> None:
            state[slug] = 1
            stack.append(slug)
            for target, ptr in edges.get(slug, []):
                if target not in self.specs:
                    continue
                if state.get(target) == 1:
                    cycle = [*stack[stack.index(target) :], target]
                    key = frozenset(cycle)
                    self.on_cycle.update(cycle)
                    if key not in reported:
                        reported.add(key)
                        _, file, _ = self.specs[slug]
                        self.problem(
                            _Ctx(file, slug, ""),
                            ptr,
                            "is part of a cycle of segment references: " + " → ".join(cycle) + ".",
                            hint="a segment cannot contain itself, directly or through others",
                        )
                elif target not in state:
                    visit(target)
            stack.pop()
            state[slug] = 2

        for slug in self.specs:
            if slug not in state:
                visit(slug)

    # segments ---------------------------------------------------------------------------------
    def _segment(self, slug: str) -> ResolvedSegment | None:
        if slug in self.done:
            return self.done[slug]
        if slug in self._busy:
            return None
        seg, file, ptr = self.specs[slug]
        self._busy.add(slug)
        where = self._node(seg.where, _Ctx(file, slug, ptr + "/where"))
        self._busy.discard(slug)
        out = ResolvedSegment(spec=seg, where=where, source=file, pointer=ptr)  # type: ignore[arg-type]
        self.done[slug] = out
        return out

    # conditions -------------------------------------------------------------------------------
    def _node(self, cond: Any, ctx: _Ctx) -> RNode | None:
        p = ctx.pointer
        if isinstance(cond, s.AllOf | s.AnyOf):
            key = "all" if isinstance(cond, s.AllOf) else "any"
            items = cond.all if key == "all" else cond.any
            kids = tuple(
                self._node(c, _Ctx(ctx.file, ctx.slug, f"{p}/{key}/{i}"))
                for i, c in enumerate(items)
            )
            return (RAll if key == "all" else RAny)(kids, pointer=p)  # type: ignore[arg-type]
        if isinstance(cond, s.Not):
            return RNot(self._node(cond.not_, _Ctx(ctx.file, ctx.slug, f"{p}/not")), pointer=p)  # type: ignore[arg-type]
        if isinstance(cond, s.Compare):
            return self._compare("profiles", cond, ctx, p)
        if isinstance(cond, s.Performed | s.NotPerformed | s.Ordered):
            return self._activity(cond, ctx)
        if isinstance(cond, s.EventSequence):
            return self._sequence(cond, ctx)
        if isinstance(cond, s.InSegment):
            return self._in_segment(cond, ctx)
        if isinstance(cond, s.Metric):
            return self._metric(cond, ctx)
        if isinstance(cond, s.Consent):
            return self._consent(cond, ctx)
        if isinstance(cond, s.Anniversary):
            return self._anniversary(cond, ctx)
        if isinstance(cond, s.Sample):
            return RSample(cond.sample, cond.salt if cond.salt is not None else ctx.slug, p)
        if isinstance(cond, s.HasTag):
            if self._need_table("tags", ctx, p + "/tag", "a tag condition"):
                return RTag(cond.tag, p)
            return None
        raise AssertionError(type(cond))  # pragma: no cover - spec admits only the kinds above

    def _need_table(self, table: str, ctx: _Ctx, ptr: str, what: str) -> bool:
        if table in self.catalog.tables:
            return True
        self.problem(
            ctx,
            ptr,
            f"uses {what}, but the workspace has no '{table}' table.",
            close_matches(table, self.catalog.tables),
        )
        return False

    # fields -----------------------------------------------------------------------------------
    def _field(self, table: str, name: str, ctx: _Ctx, ptr: str) -> tuple[str, str, tuple] | None:
        """(column, kind, json path) of ``name`` in ``table``, or None after a problem."""
        schema = self.catalog.tables[table]
        if name in schema:
            kind = kind_of(schema[name])
            if kind is None:
                self.problem(
                    ctx,
                    ptr,
                    f"compares field '{name}' of type {schema[name]}, which conditions cannot use.",
                )
                return None
            if self.catalog.is_json(table, name):
                kind = "json"
            return name, kind, ()
        head, _, rest = name.partition(".")
        if rest and head in schema and (self.catalog.is_json(table, head)):
            path = tuple(rest.split("."))
            bad = [k for k in path if not _KEY_RE.match(k)]
            if bad:
                self.problem(
                    ctx,
                    ptr,
                    f"uses the key '{bad[0]}' in '{name}'; keys must be letters, digits and "
                    f"underscores, starting with a letter or underscore. Got {bad[0]!r} instead.",
                )
                return None
            return head, "json", path
        json_cols = [c for c in schema.names if self.catalog.is_json(table, c)]
        candidates = [c for c in schema.names if c != "customer_id"]
        suggestions = close_matches(name, candidates)
        hint = None
        if json_cols:
            hint = f"keys inside JSON columns are written {json_cols[0]}.<key>"
        metrics = self.catalog.metric_names()
        by_column = {m.split(".", 1)[1]: m for m in metrics}
        hits = [by_column[c] for c in close_matches(name, by_column, n=1)]
        hits += close_matches(name, metrics, n=1)
        if hits:
            if not suggestions:
                suggestions = hits[:1]
            hint = f"'{hits[0]}' is a computed metric: write it as  metric: {hits[0]}"
        self.problem(ctx, ptr, f"refers to unknown field '{name}' of {table}.", suggestions, hint)
        return None

    def _compare(
        self, table: str, cond: s.Compare, ctx: _Ctx, p: str, *, metric: str | None = None
    ) -> RCompare | None:
        ptr_field = p + ("/metric" if metric else "/field")
        name = cond.field if metric is None else metric
        if metric is None:
            if not self._need_table(table, ctx, ptr_field, f"field '{name}'"):
                return None
            found = self._field(table, name, ctx, ptr_field)
            if found is None:
                return None
            column, kind, path = found
            tkey = table
        else:
            provider, column = metric.split(".", 1)
            schema = self.catalog.metrics[provider]
            kind = kind_of(schema[column])
            path, tkey = (), f"metric:{provider}"
            if kind in (None, "json"):
                self.problem(
                    ctx,
                    ptr_field,
                    f"compares metric '{metric}' of type "
                    f"{schema[column]}, which conditions cannot use.",
                )
                return None
        op, value = cond.op, cond.value
        if kind == "json":
            kind = self._json_kind(name, op, value, ctx, p)
            if kind is None:
                return None
        elif op not in OPS_BY_KIND[kind]:
            allowed = sorted(OPS_BY_KIND[kind])
            self.problem(
                ctx,
                p + "/op",
                f"uses op '{op}' on '{name}', which holds {_KIND_WORDS[kind]}; "
                f"ops for it are {', '.join(allowed)}.",
                close_matches(op, allowed),
                "compare timestamps with between, before or after"
                if kind == "timestamp" and op in ("in", "not_in")
                else None,
            )
            return None
        duration = cond.days, cond.hours
        td = None
        if op in ("within_last", "within_next"):
            if kind == "date" and cond.hours:
                self.problem(
                    ctx,
                    p + "/hours",
                    f"uses hours on '{name}', which holds dates; use days.",
                )
                return None
            td = timedelta(days=duration[0] or 0, hours=duration[1] or 0)
        coerced = self._coerce(kind, op, value, name, ctx, p + "/value")
        if coerced is _BAD:
            return None
        ref = FieldRef(table=tkey, column=column, kind=kind, path=path, name=name)
        return RCompare(field=ref, op=op, value=coerced, duration=td, pointer=p)

    def _json_kind(self, name: str, op: str, value: Any, ctx: _Ctx, p: str) -> str | None:
        if op in ("exists", "is_null"):
            return "any"
        if op in ("before", "after", "within_last", "within_next"):
            self.problem(
                ctx,
                p + "/op",
                f"uses op '{op}' on '{name}', a key inside a JSON column; date ops need a "
                "date or timestamp column.",
                hint="compare an ISO date kept as text with gte/lte and a quoted value",
            )
            return None
        items = value if isinstance(value, tuple) else (value,)
        kinds = {_value_kind(v) for v in items}
        if len(kinds) != 1:
            self.problem(
                ctx,
                p + "/value",
                f"compares '{name}' with values of mixed types: {list(items)!r}.",
                hint="use values of one type (all text or all numbers)",
            )
            return None
        kind = kinds.pop()
        if kind in ("date", "timestamp"):
            self.problem(
                ctx,
                p + "/value",
                f"compares '{name}', a key inside a JSON column, with the date {items[0]}. "
                "JSON values are text, numbers or true/false.",
                hint=f"quote it to compare as text: '{items[0]}'",
            )
            return None
        if op not in OPS_BY_KIND[kind]:
            if op in ("contains", "starts_with", "ends_with"):
                self.problem(
                    ctx,
                    p + "/value",
                    f"uses op '{op}' on '{name}', which needs text. Got {value!r} instead.",
                    hint=f"quote it: '{value}'",
                )
            else:
                self.problem(
                    ctx,
                    p + "/op",
                    f"uses op '{op}' with {_KIND_WORDS[kind]} on '{name}'; "
                    f"ops for it are {', '.join(sorted(OPS_BY_KIND[kind]))}.",
                )
            return None
        return kind

    def _coerce(self, kind: str, op: str, value: Any, name: str, ctx: _Ctx, ptr: str) -> Any:
        if value is None or kind == "any":
            return value
        items = value if isinstance(value, tuple) else (value,)
        out = []
        for i, v in enumerate(items):
            got = _coerce_one(kind, v)
            if got is _BAD:
                where = f"{ptr}/{i}" if isinstance(value, tuple) else ptr
                self.problem(
                    ctx,
                    where,
                    f"compares '{name}', which holds {_KIND_WORDS[kind]}, with {_describe(v)}.",
                    hint=_coerce_hint(kind, v),
                )
                return _BAD
            out.append(got)
        if op == "between" and _order_key(out[0]) > _order_key(out[1]):
            self.problem(
                ctx,
                ptr,
                f"uses between with low {out[0]!r} above high {out[1]!r}.",
                hint="write [low, high]",
            )
            return _BAD
        return tuple(out) if isinstance(value, tuple) else out[0]

    # leaves -----------------------------------------------------------------------------------
    def _window(self, cond: s._Window) -> tuple[timedelta | None, Any, Any]:
        last = cond.within_last.to_timedelta() if cond.within_last is not None else None
        start = to_utc_naive(cond.from_) if isinstance(cond.from_, datetime) else cond.from_
        end = to_utc_naive(cond.to) if isinstance(cond.to, datetime) else cond.to
        return last, start, end

    def _names(self, names: Any, table: str, ctx: _Ctx, ptr: str) -> tuple[str, ...] | None:
        items = names if isinstance(names, tuple) else (names,)
        if s.ANY in items:
            return None
        known = self.catalog.event_names
        if table == "events" and known is not None:
            for i, n in enumerate(items):
                if n not in known:
                    self.problem(
                        ctx,
                        f"{ptr}/{i}" if isinstance(names, tuple) else ptr,
                        f"refers to unknown event '{n}'.",
                        close_matches(n, known),
                        "events come from the data and the Segment e-commerce spec; if this "
                        "event is new, add it to the catalog's event_names",
                    )
        return tuple(dict.fromkeys(items))

    def _filters(
        self, table: str, filters: tuple[s.Compare, ...], ctx: _Ctx, ptr: str
    ) -> tuple[RCompare, ...]:
        out = []
        for i, f in enumerate(filters):
            r = self._compare(table, f, ctx, f"{ptr}/{i}")
            if r is not None:
                out.append(r)
        return tuple(out)

    def _activity(self, cond: Any, ctx: _Ctx) -> RActivity | None:
        p = ctx.pointer
        if isinstance(cond, s.Ordered):
            table, name_col, key, names = "orders", "status", "ordered", cond.ordered
        elif isinstance(cond, s.Performed):
            table, name_col, key, names = "events", "event", "performed", cond.performed
        else:
            table, name_col, key, names = "events", "event", "not_performed", cond.not_performed
        if not self._need_table(table, ctx, f"{p}/{key}", f"'{key}'"):
            return None
        resolved_names = self._names(names, table, ctx, f"{p}/{key}")
        filters = self._filters(table, cond.where, ctx, f"{p}/where")
        last, start, end = self._window(cond)
        if isinstance(cond, s.NotPerformed):
            measure, of, op, value = "count", None, "eq", 0
        else:
            measure, op, value = cond.measure, cond.op, cond.value
            of = None
            if cond.of is not None:
                found = self._field(table, cond.of, ctx, f"{p}/of")
                if found is None:
                    return None
                column, kind, path = found
                if kind not in ("number", "json") or (kind == "json" and not path):
                    self.problem(
                        ctx,
                        f"{p}/of",
                        f"takes the {measure} of '{cond.of}', which holds "
                        f"{_KIND_WORDS.get(kind, kind)}, not numbers.",
                    )
                    return None
                of = FieldRef(table, column, "number", path, cond.of)
            if isinstance(value, tuple):
                value = tuple(float(v) for v in value)
                if value[0] > value[1]:
                    self.problem(
                        ctx,
                        f"{p}/value",
                        f"uses between with low {value[0]} above high {value[1]}.",
                        hint="write [low, high]",
                    )
                    return None
            else:
                value = float(value)
        return RActivity(
            table=table,
            name_column=name_col,
            names=resolved_names,
            filters=filters,
            measure=measure,
            of=of,
            op=op,
            value=value,
            last=last,
            start=start,
            end=end,
            label=key,
            pointer=p,
        )

    def _sequence(self, cond: s.EventSequence, ctx: _Ctx) -> RSequence | None:
        p = ctx.pointer
        if not self._need_table("events", ctx, f"{p}/first", "a sequence"):
            return None
        steps = []
        then_key = "then" if cond.then is not None else "then_not"
        for key, step in (("first", cond.first), (then_key, cond.then or cond.then_not)):
            names = self._names(step.performed, "events", ctx, f"{p}/{key}/performed")
            filters = self._filters("events", step.where, ctx, f"{p}/{key}/where")
            steps.append(RStep(names, filters))
        last, start, end = self._window(cond)
        return RSequence(
            first=steps[0],
            then=steps[1],
            negate_then=cond.then_not is not None,
            within=cond.within.to_timedelta(),
            last=last,
            start=start,
            end=end,
            pointer=p,
        )

    def _in_segment(self, cond: s.InSegment, ctx: _Ctx) -> RInSegment | None:
        p, target = ctx.pointer, cond.in_segment
        if target not in self.specs:
            self.problem(
                ctx,
                f"{p}/in_segment",
                f"refers to unknown segment '{target}'.",
                close_matches(target, self.specs),
            )
            return None
        if target in self.on_cycle and ctx.slug in self.on_cycle:
            return None  # reported by _find_cycles
        return RInSegment(target, self._segment(target), pointer=p)

    def _metric(self, cond: s.Metric, ctx: _Ctx) -> RMetric | None:
        p = ctx.pointer
        provider, _, column = cond.metric.partition(".")
        names = self.catalog.metric_names()
        if provider not in self.catalog.metrics or not column:
            hint = None
            if not self.catalog.metrics:
                hint = "no metric tables were supplied (e.g. compute RFM first)"
            elif not column:
                hint = "write <provider>.<column>, e.g. " + (names[0] if names else "rfm.segment")
            self.problem(
                ctx,
                f"{p}/metric",
                f"refers to unknown metric '{cond.metric}'.",
                close_matches(cond.metric, names),
                hint,
            )
            return None
        schema = self.catalog.metrics[provider]
        if column not in schema.names or column == "customer_id":
            self.problem(
                ctx,
                f"{p}/metric",
                f"refers to unknown metric '{cond.metric}'.",
                close_matches(cond.metric, names),
            )
            return None
        as_compare = s.Compare.model_construct(
            field=cond.metric, op=cond.op, value=cond.value, days=cond.days, hours=cond.hours
        )
        r = self._compare("", as_compare, ctx, p, metric=cond.metric)
        return RMetric(provider, r, pointer=p) if r is not None else None

    def _consent(self, cond: s.Consent, ctx: _Ctx) -> RConsent | None:
        p = ctx.pointer
        for col in (f"consent_{cond.consent}", f"consent_{cond.consent}_at"):
            if not self.catalog.has_field("profiles", col):
                self.problem(
                    ctx,
                    f"{p}/consent",
                    f"needs the profile field '{col}', which the workspace does not have.",
                )
                return None
        within = cond.given_within_last.to_timedelta() if cond.given_within_last else None
        return RConsent(cond.consent, within, pointer=p)

    def _anniversary(self, cond: s.Anniversary, ctx: _Ctx) -> RAnniversary | None:
        p = ctx.pointer
        column = "birth_date" if cond.anniversary == "birthday" else "created_at"
        schema = self.catalog.tables.get("profiles")
        kind = kind_of(schema[column]) if schema is not None and column in schema else None
        if kind not in ("date", "timestamp"):
            self.problem(
                ctx,
                f"{p}/anniversary",
                f"needs the profile field '{column}' holding dates; the workspace "
                + ("does not have it." if kind is None else f"has it as {kind}."),
            )
            return None
        return RAnniversary(cond.anniversary, column, cond.within_next_days, kind == "timestamp", p)


# -- value coercion --------------------------------------------------------------------------------
class _Bad:
    def __repr__(self) -> str:  # pragma: no cover
        return "<bad value>"


_BAD: Any = _Bad()


def _value_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, datetime):
        return "timestamp"
    if isinstance(v, date):
        return "date"
    return "string"


def _coerce_one(kind: str, v: Any) -> Any:
    if kind == "string":
        return v if isinstance(v, str) else _BAD
    if kind == "number":
        return v if isinstance(v, int | float) and not isinstance(v, bool) else _BAD
    if kind == "boolean":
        return v if isinstance(v, bool) else _BAD
    if kind == "date":
        if isinstance(v, datetime):
            return v.date() if v.time() == datetime.min.time() and v.tzinfo is None else _BAD
        if isinstance(v, date):
            return v
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                return _BAD
        return _BAD
    if kind == "timestamp":
        if isinstance(v, datetime):
            return to_utc_naive(v)
        if isinstance(v, date):
            return v
        if isinstance(v, str):
            try:
                return (
                    date.fromisoformat(v)
                    if len(v) == 10
                    else to_utc_naive(datetime.fromisoformat(v))
                )
            except ValueError:
                return _BAD
        return _BAD
    raise AssertionError(kind)  # pragma: no cover


def _order_key(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    if isinstance(v, date):
        return (v.year, v.month, v.day, 0, 0, 0, 0)
    return v


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return f"true/false ({str(v).lower()})"
    if isinstance(v, int | float):
        return f"the number {v}"
    if isinstance(v, datetime):
        return f"the timestamp {v.isoformat()}"
    if isinstance(v, date):
        return f"the date {v.isoformat()}"
    return f"the text {v!r}"


def _coerce_hint(kind: str, v: Any) -> str | None:
    if kind == "string" and isinstance(v, bool):
        return (
            "YAML reads unquoted yes/no/on/off/true/false as true/false: quote the value, e.g. 'NO'"
        )
    if kind == "string":
        return f"quote it to compare as text: '{v}'"
    if kind in ("date", "timestamp"):
        return "write dates as YYYY-MM-DD (timestamps as YYYY-MM-DDTHH:MM:SS, UTC)"
    if kind == "number" and isinstance(v, str):
        return "write numbers without quotes"
    return None
