"""A plain-Python evaluator of resolved segments over rows, with the compiler's semantics.

It exists to check the ibis compiler (property tests compare the two on random data and random
definitions), to explain one customer's result leaf by leaf, and later to re-evaluate a few
touched profiles as events stream in without a query.

Rows are dicts with the canonical column names: timestamps are naive UTC ``datetime``s, dates are
``date``s, JSON columns (``traits``, ``properties``) hold JSON text.

Example:
    >>> from datetime import datetime
    >>> from segmint.rules import resolve, SegmentSpec
    >>> spec = SegmentSpec.model_validate({"slug": "hk", "title_en": "HK", "title_zh_hant": "香港",
    ...     "owner": "crm", "reviewed_on": "2025-01-15",
    ...     "where": {"field": "country", "op": "eq", "value": "HK"}})
    >>> rows = Rows(profiles=[{"customer_id": "c1", "country": "HK"},
    ...                       {"customer_id": "c2", "country": "TW"}])
    >>> evaluate(resolve(spec)["hk"], rows, datetime(2025, 1, 31))
    {'c1'}
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segmint.rules.resolve import (
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
    RStep,
    RTag,
)
from segmint.rules.semantics import (
    anniversary_member,
    anniversary_targets,
    check_as_of,
    sample_member,
    temporal_range,
    utc_offset,
    window_range,
)

__all__ = ["Evaluator", "Rows", "evaluate", "evaluate_set"]

_MISSING = object()


@dataclass
class Rows:
    """Plain rows of the tables a segment reads (missing tables are empty)."""

    profiles: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]] = ()
    orders: Sequence[Mapping[str, Any]] = ()
    tags: Sequence[Mapping[str, Any]] = ()
    metrics: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


def evaluate(
    segment: ResolvedSegment, rows: Rows, as_of: datetime, *, timezone: str = "UTC"
) -> set[str]:
    """Customer ids of the members of ``segment`` at ``as_of``."""
    return Evaluator(rows, as_of, timezone=timezone).members(segment)


def evaluate_set(
    segment_set: ResolvedSet, rows: Rows, as_of: datetime, *, timezone: str = "UTC"
) -> set[tuple[str, str]]:
    """``(customer_id, slug)`` memberships of a set (one per customer when it is exclusive)."""
    ev = Evaluator(rows, as_of, timezone=timezone)
    out: set[tuple[str, str]] = set()
    for row in rows.profiles:
        cid = row["customer_id"]
        for seg in segment_set.order:
            if ev.matches(seg, cid):
                out.add((cid, seg.slug))
                if segment_set.exclusive:
                    break
    return out


def _by_customer(rows: Sequence[Mapping[str, Any]]) -> dict[Any, list[Mapping[str, Any]]]:
    out: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("customer_id") is not None:
            out[r["customer_id"]].append(r)
    return out


def _json_get(text: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in JSON text; ``_MISSING`` when absent or not valid JSON."""
    if text is None:
        return _MISSING
    if isinstance(text, str):
        try:
            obj = json.loads(text)
        except ValueError:
            return _MISSING
    else:
        obj = text
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _typed(value: Any, kind: str) -> Any:
    """A JSON value as the kind it is compared as; None when it is not of that kind."""
    if value is _MISSING:
        return None
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    return value  # "any": the raw JSON value (None for a JSON null)


_CMP = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _number_cmp(x: Any, op: str, value: Any) -> bool:
    if x is None:
        return False
    if op == "between":
        return value[0] <= x <= value[1]
    return bool(_CMP[op](x, value))


class Evaluator:
    """Evaluates resolved segments for customers of ``rows`` at ``as_of``.

    Results per (segment, customer) are cached, so segments referring to each other are
    evaluated once per customer.
    """

    def __init__(self, rows: Rows, as_of: datetime, *, timezone: str = "UTC") -> None:
        self.rows = rows
        self.as_of = check_as_of(as_of)
        self.tz = timezone
        self.offset = utc_offset(self.as_of, timezone)
        self.profiles = {r["customer_id"]: r for r in rows.profiles}
        self.events = _by_customer(rows.events)
        self.orders = _by_customer(rows.orders)
        self.tags = _by_customer(rows.tags)
        self.metrics = {k: _by_customer(v) for k, v in rows.metrics.items()}
        self._cache: dict[tuple[str, Any], bool] = {}
        self._targets: dict[int, dict[int, frozenset[int]]] = {}

    # public -----------------------------------------------------------------------------------
    def members(self, segment: ResolvedSegment) -> set[str]:
        return {cid for cid in self.profiles if self.matches(segment, cid)}

    def matches(self, segment: ResolvedSegment, customer_id: Any) -> bool:
        key = (segment.slug, customer_id)
        if key not in self._cache:
            self._cache[key] = self.test(segment.where, customer_id)
        return self._cache[key]

    def test(self, node: RNode, cid: Any) -> bool:
        """Whether ``node`` holds for customer ``cid``."""
        if isinstance(node, RAll):
            return all(self.test(c, cid) for c in node.children)
        if isinstance(node, RAny):
            return any(self.test(c, cid) for c in node.children)
        if isinstance(node, RNot):
            return not self.test(node.child, cid)
        if isinstance(node, RInSegment):
            return self.matches(node.segment, cid)
        return self.observe(node, cid)[0]

    def observe(self, node: RNode, cid: Any) -> tuple[bool, Any]:
        """(result, what was seen) for a leaf: the field value, the aggregate, the tags…"""
        profile = self.profiles.get(cid, {})
        if isinstance(node, RCompare):
            return self.compare_row(profile, node)
        if isinstance(node, RActivity):
            agg = self.aggregate(node, cid)
            x = agg if agg is not None or node.measure not in ("count", "sum") else 0.0
            return _number_cmp(x, node.op, node.value), agg
        if isinstance(node, RSequence):
            hits = self.sequence(node, cid)
            return bool(hits), hits
        if isinstance(node, RTag):
            tags = sorted({r.get("tag") for r in self.tags.get(cid, []) if r.get("tag")})
            return node.tag in tags, tags
        if isinstance(node, RMetric):
            seen = [
                r.get(node.compare.field.column) for r in self.metrics[node.provider].get(cid, [])
            ]
            return any(self.compare_value(x, node.compare) for x in seen), seen
        if isinstance(node, RConsent):
            given = profile.get(f"consent_{node.channel}")
            at = profile.get(f"consent_{node.channel}_at")
            ok = given is True and (at is None or at <= self.as_of)
            if node.within is not None:
                ok = ok and at is not None and at >= self.as_of - node.within
            return ok, {"given": given, "at": at}
        if isinstance(node, RAnniversary):
            d = profile.get(node.column)
            if node.is_timestamp and d is not None:
                d = (d + self.offset).date()
            if node.days not in self._targets:
                self._targets[node.days] = anniversary_targets(node.days, self.as_of, self.tz)
            return anniversary_member(d, self._targets[node.days]), d
        if isinstance(node, RSample):
            return sample_member(str(cid), node.salt, node.percent), None
        if isinstance(node, RAll | RAny | RNot | RInSegment):
            return self.test(node, cid), None
        raise AssertionError(type(node))  # pragma: no cover

    # leaves -----------------------------------------------------------------------------------
    def value(self, row: Mapping[str, Any], ref: FieldRef) -> Any:
        x = row.get(ref.column)
        if not ref.path:
            return x
        return _typed(_json_get(x, ref.path), ref.kind)

    def compare_row(self, row: Mapping[str, Any], rc: RCompare) -> tuple[bool, Any]:
        """(result, value seen) of a comparison on one row (a profile, event or order)."""
        x = self.value(row, rc.field)
        if rc.op == "contains" and rc.field.path and not isinstance(x, str):
            raw = _json_get(row.get(rc.field.column), rc.field.path)
            if isinstance(raw, list):  # a JSON list contains an element equal to the value
                return rc.value in [e for e in raw if isinstance(e, str)], raw
            return False, x
        return self.compare_value(x, rc), x

    def compare_value(self, x: Any, rc: RCompare) -> bool:
        """A comparison on an already extracted value (missing values never match)."""
        op, value, kind = rc.op, rc.value, rc.field.kind
        if op == "exists":
            return x is not None
        if op == "is_null":
            return x is None
        if kind in ("date", "timestamp") and op not in ("in", "not_in"):
            rng = temporal_range(kind, op, value, rc.duration, self.as_of, self.tz)
            return rng.contains(x)
        if x is None:
            return False
        if op == "in":
            return x in value
        if op == "not_in":
            return x not in value
        if op == "contains":
            return value in x
        if op == "starts_with":
            return x.startswith(value)
        if op == "ends_with":
            return x.endswith(value)
        return _number_cmp(x, op, value)

    def _matching(
        self, rows: list[Mapping[str, Any]], name_col: str, names: Any, filters: Any, rng: Any
    ) -> list[Mapping[str, Any]]:
        out = []
        for r in rows:
            if not rng.contains(r.get("ts")):
                continue
            if names is not None and r.get(name_col) not in names:
                continue
            if all(self.compare_row(r, f)[0] for f in filters):
                out.append(r)
        return out

    def aggregate(self, node: RActivity, cid: Any) -> float | None:
        rows = (self.events if node.table == "events" else self.orders).get(cid, [])
        rng = window_range(node.last, node.start, node.end, self.as_of, self.tz)
        hits = self._matching(rows, node.name_column, node.names, node.filters, rng)
        if node.measure == "count":
            return float(len(hits))
        nums = [v for r in hits if (v := self._number(r, node.of)) is not None]
        if node.measure == "sum":
            return float(sum(nums)) if nums else None
        if not nums:
            return None
        if node.measure == "avg":
            return sum(nums) / len(nums)
        return float(min(nums) if node.measure == "min" else max(nums))

    def _number(self, row: Mapping[str, Any], ref: FieldRef) -> float | None:
        x = self.value(row, ref)
        if x is None or isinstance(x, bool):
            return None
        return float(x)

    def sequence(self, node: RSequence, cid: Any) -> list[datetime]:
        """Times of the first-step events that satisfy the sequence."""
        rows = self.events.get(cid, [])
        rng = window_range(node.last, node.start, node.end, self.as_of, self.tz)
        firsts = self._step(rows, node.first, rng)
        if node.negate_then:
            firsts = [r for r in firsts if r["ts"] <= self.as_of - node.within]
        upto = window_range(None, None, None, self.as_of, self.tz)
        thens = [r["ts"] for r in self._step(rows, node.then, upto)]
        out = []
        for a in firsts:
            ta = a["ts"]
            followed = any(ta <= tb <= ta + node.within for tb in thens)
            if followed != node.negate_then:
                out.append(ta)
        return sorted(out)

    def _step(self, rows: list[Mapping[str, Any]], step: RStep, rng: Any) -> list:
        return self._matching(rows, "event", step.names, step.filters, rng)
