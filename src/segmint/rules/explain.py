"""Why is (or isn't) this customer in a segment? Leaf by leaf, with the values seen (layer 2).

Runs the reference evaluator on one customer's rows, so it answers with the engine's meaning.

Example:
    >>> from datetime import datetime
    >>> from segmint.rules import resolve, SegmentSpec, Rows
    >>> spec = SegmentSpec.model_validate({"slug": "hk", "title_en": "HK", "title_zh_hant": "香港",
    ...     "owner": "crm", "reviewed_on": "2025-01-15",
    ...     "where": {"field": "country", "op": "eq", "value": "HK"}})
    >>> e = explain(resolve(spec)["hk"], Rows(profiles=[{"customer_id": "c1", "country": "TW"}]),
    ...             "c1", datetime(2025, 1, 31))
    >>> print(e.render())
    ✗ segment hk
      ✗ country eq 'HK'  (seen: 'TW')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from segmint.errors import NotFoundError
from segmint.rules.reference import Evaluator, Rows
from segmint.rules.resolve import (
    RActivity,
    RAll,
    RAnniversary,
    RAny,
    RCompare,
    RConsent,
    ResolvedSegment,
    RInSegment,
    RMetric,
    RNode,
    RNot,
    RSample,
    RSequence,
    RStep,
    RTag,
)

__all__ = ["Explanation", "describe", "explain"]


@dataclass(frozen=True)
class Explanation:
    """One node of a definition for one customer: what it says, whether it held, what was seen."""

    label: str
    result: bool
    seen: Any = None
    pointer: str = ""
    children: tuple[Explanation, ...] = ()

    def render(self, indent: int = 0) -> str:
        mark = "✓" if self.result else "✗"
        line = "  " * indent + f"{mark} {self.label}"
        if self.seen is not None:
            line += f"  (seen: {_fmt(self.seen)})"
        return "\n".join([line, *(c.render(indent + 1) for c in self.children)])

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "result": self.result,
            "seen": self.seen,
            "pointer": self.pointer,
            "children": [c.to_dict() for c in self.children],
        }


def explain(
    segment: ResolvedSegment,
    rows: Rows,
    customer_id: Any,
    as_of: datetime,
    *,
    timezone: str = "UTC",
) -> Explanation:
    """Explain ``segment`` for one customer (``rows`` may hold only that customer's rows)."""
    ev = Evaluator(rows, as_of, timezone=timezone)
    if customer_id not in ev.profiles:
        raise NotFoundError(f"There is no profile for customer '{customer_id}' in the rows given.")
    return _segment(ev, segment, customer_id)


def _segment(ev: Evaluator, segment: ResolvedSegment, cid: Any) -> Explanation:
    inner = _node(ev, segment.where, cid)
    return Explanation(f"segment {segment.slug}", inner.result, None, segment.pointer, (inner,))


def _node(ev: Evaluator, node: RNode, cid: Any) -> Explanation:
    if isinstance(node, RAll | RAny):
        kids = tuple(_node(ev, c, cid) for c in node.children)
        ok = all(k.result for k in kids) if isinstance(node, RAll) else any(k.result for k in kids)
        return Explanation(describe(node), ok, None, node.pointer, kids)
    if isinstance(node, RNot):
        kid = _node(ev, node.child, cid)
        return Explanation("not", not kid.result, None, node.pointer, (kid,))
    if isinstance(node, RInSegment):
        inner = _segment(ev, node.segment, cid)
        return Explanation(describe(node), inner.result, None, node.pointer, inner.children)
    ok, seen = ev.observe(node, cid)
    return Explanation(describe(node), ok, seen, node.pointer)


# -- words -----------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, timedelta):
        return _span(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return repr(v)


def _span(td: timedelta) -> str:
    hours = int(td.total_seconds() // 3600)
    n, unit = (hours // 24, "day") if hours % 24 == 0 else (hours, "hour")
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _names(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "any event"
    return " or ".join(f"'{n}'" for n in names)


def _window(last: Any, start: Any, end: Any) -> str:
    if last is not None:
        return f" in the last {_span(last)}"
    if start is not None and end is not None:
        return f" from {_fmt(start)} to {_fmt(end)}"
    if start is not None:
        return f" since {_fmt(start)}"
    if end is not None:
        return f" until {_fmt(end)}"
    return ""


def _where(filters: tuple[RCompare, ...]) -> str:
    return (" where " + " and ".join(describe(f) for f in filters)) if filters else ""


def _step(step: RStep) -> str:
    return _names(step.names) + _where(step.filters)


def describe(node: RNode) -> str:
    """A short English phrase for a resolved node.

    >>> from segmint.rules.resolve import RTag
    >>> describe(RTag("vip"))
    "has tag 'vip'"
    """
    if isinstance(node, RAll):
        return "all of"
    if isinstance(node, RAny):
        return "any of"
    if isinstance(node, RNot):
        return "not"
    if isinstance(node, RCompare):
        name = node.field.name or node.field.column
        if node.op in ("exists", "is_null"):
            return f"{name} {node.op}"
        if node.duration is not None:
            return f"{name} {node.op} {_span(node.duration)}"
        return f"{name} {node.op} {_fmt(node.value)}"
    if isinstance(node, RActivity):
        what = "ordered" if node.table == "orders" else "performed"
        names = "any status" if node.names is None and node.table == "orders" else None
        subject = names or _names(node.names)
        measure = "count" if node.measure == "count" else f"{node.measure} of {node.of.name}"
        return (
            f"{what} {subject}{_where(node.filters)}{_window(node.last, node.start, node.end)}: "
            f"{measure} {node.op} {_fmt(node.value)}"
        )
    if isinstance(node, RSequence):
        then = "then not" if node.negate_then else "then"
        return (
            f"{_step(node.first)}{_window(node.last, node.start, node.end)}, {then} "
            f"{_step(node.then)} within {_span(node.within)}"
        )
    if isinstance(node, RInSegment):
        return f"in segment {node.slug}"
    if isinstance(node, RMetric):
        return "metric " + describe(node.compare)
    if isinstance(node, RConsent):
        extra = f", given in the last {_span(node.within)}" if node.within else ""
        return f"consent for {node.channel} given and current{extra}"
    if isinstance(node, RAnniversary):
        return f"{node.kind} from today through the next {node.days} days"
    if isinstance(node, RSample):
        return f"in the {node.percent:g}% sample '{node.salt}'"
    if isinstance(node, RTag):
        return f"has tag '{node.tag}'"
    raise AssertionError(type(node))  # pragma: no cover
