"""Time and sampling rules shared by the ibis compiler and the reference evaluator (layer 2).

Both evaluators take every boundary from here, computed in Python from ``as_of`` and the
workspace time zone, so they agree by construction and the SQL only ever sees literals.

The rules (also in docs/segments.md):

- Timestamps are stored as naive UTC; ``as_of`` is a UTC instant (naive = UTC).
- Nothing after ``as_of`` counts: event and order windows always end at ``as_of`` (inclusive).
- ``within_last N`` is ``[as_of - N, as_of]`` and ``within_next N`` is ``[as_of, as_of + N]``,
  both ends inclusive; for date columns N is whole days around today's date.
- A calendar date compared with a timestamp means that whole day in the workspace time zone:
  ``from: 2025-03-01`` starts at local midnight, ``to: 2025-03-31`` ends before the next local
  midnight; ``before D`` is strictly before local midnight of D, ``after D`` from the next one.

Example:
    >>> from datetime import datetime, date
    >>> day_start(date(2025, 3, 2), "Asia/Hong_Kong")
    datetime.datetime(2025, 3, 1, 16, 0)
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from segmint.errors import ValidationError

__all__ = [
    "Range",
    "anniversary_targets",
    "check_as_of",
    "day_start",
    "local_today",
    "sample_member",
    "sample_threshold",
    "temporal_range",
    "utc_offset",
    "window_range",
]


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"The time zone must be an IANA name such as 'Asia/Hong_Kong'. Got '{tz}' instead."
        ) from None


def check_as_of(as_of: Any) -> datetime:
    """``as_of`` as a naive UTC datetime (aware datetimes are converted)."""
    if not isinstance(as_of, datetime):
        raise ValidationError(
            f"as_of must be a datetime (UTC). Got {as_of!r} instead.",
            hint="pass e.g. datetime(2025, 1, 31, 12, 0) or datetime.now(UTC)",
        )
    if as_of.tzinfo is not None:
        return as_of.astimezone(UTC).replace(tzinfo=None)
    return as_of


def to_utc_naive(value: datetime) -> datetime:
    """A datetime from a definition as naive UTC (naive values already are UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def local_today(as_of: datetime, tz: str) -> date:
    """The calendar date in ``tz`` at the instant ``as_of`` (naive UTC)."""
    return as_of.replace(tzinfo=UTC).astimezone(_zone(tz)).date()


def day_start(d: date, tz: str) -> datetime:
    """Local midnight of ``d`` in ``tz``, as a naive UTC datetime."""
    local = datetime(d.year, d.month, d.day, tzinfo=_zone(tz))
    return local.astimezone(UTC).replace(tzinfo=None)


def utc_offset(as_of: datetime, tz: str) -> timedelta:
    """Offset of ``tz`` from UTC at ``as_of`` (used to turn timestamps into local dates)."""
    offset = as_of.replace(tzinfo=UTC).astimezone(_zone(tz)).utcoffset()
    return offset or timedelta(0)


@dataclass(frozen=True)
class Range:
    """An interval over dates or naive UTC timestamps, optionally negated.

    A missing value is never inside a range, negated or not.
    """

    lo: date | None = None
    lo_incl: bool = True
    hi: date | None = None
    hi_incl: bool = True
    negate: bool = False

    def contains(self, v: date | None) -> bool:
        if v is None:
            return False
        inside = True
        if self.lo is not None:
            inside = v >= self.lo if self.lo_incl else v > self.lo
        if inside and self.hi is not None:
            inside = v <= self.hi if self.hi_incl else v < self.hi
        return inside != self.negate


def _ts_lo(v: date, tz: str) -> datetime:
    return to_utc_naive(v) if isinstance(v, datetime) else day_start(v, tz)


def _ts_hi(v: date, tz: str) -> tuple[datetime, bool]:
    """Upper bound for a value given as a date (end of that local day) or a datetime."""
    if isinstance(v, datetime):
        return to_utc_naive(v), True
    return day_start(v + timedelta(days=1), tz), False


def temporal_range(
    kind: str, op: str, value: Any, duration: timedelta | None, as_of: datetime, tz: str
) -> Range:
    """The range a date/timestamp comparison selects (ops eq, ne, gt…between, before…within_next).

    >>> temporal_range("timestamp", "eq", date(2025, 1, 2), None, datetime(2025, 2, 1), "UTC")
    Range(lo=datetime.datetime(2025, 1, 2, 0, 0), lo_incl=True, hi=datetime.datetime(2025, 1, 3, 0, 0), hi_incl=False, negate=False)
    """  # noqa: E501
    if kind == "date":
        today = local_today(as_of, tz)
        if op == "within_last":
            return Range(today - timedelta(days=duration.days), True, today, True)
        if op == "within_next":
            return Range(today, True, today + timedelta(days=duration.days), True)
        bounds = {
            "eq": Range(value, True, value, True),
            "ne": Range(value, True, value, True, negate=True),
            "gt": Range(lo=value, lo_incl=False),
            "after": Range(lo=value, lo_incl=False),
            "gte": Range(lo=value),
            "lt": Range(hi=value, hi_incl=False),
            "before": Range(hi=value, hi_incl=False),
            "lte": Range(hi=value),
        }
        if op == "between":
            return Range(value[0], True, value[1], True)
        return bounds[op]
    # timestamps
    if op == "within_last":
        return Range(as_of - duration, True, as_of, True)
    if op == "within_next":
        return Range(as_of, True, as_of + duration, True)
    if op == "between":
        hi, hi_incl = _ts_hi(value[1], tz)
        return Range(_ts_lo(value[0], tz), True, hi, hi_incl)
    lo = _ts_lo(value, tz)
    hi, hi_incl = _ts_hi(value, tz)
    if op in ("eq", "ne"):
        return Range(lo, True, hi, hi_incl, negate=op == "ne")
    if op in ("gt", "after"):
        return Range(lo=hi, lo_incl=not hi_incl)
    if op == "gte":
        return Range(lo=lo)
    if op in ("lt", "before"):
        return Range(hi=lo, hi_incl=False)
    if op == "lte":
        return Range(hi=hi, hi_incl=hi_incl)
    raise AssertionError(op)  # pragma: no cover - resolve admits only the ops above


def window_range(
    last: timedelta | None, start: date | None, end: date | None, as_of: datetime, tz: str
) -> Range:
    """The time range of an activity window; it never reaches past ``as_of``.

    >>> window_range(timedelta(days=7), None, None, datetime(2025, 1, 31), "UTC").lo
    datetime.datetime(2025, 1, 24, 0, 0)
    """
    if last is not None:
        return Range(as_of - last, True, as_of, True)
    lo = _ts_lo(start, tz) if start is not None else None
    if end is None:
        return Range(lo, True, as_of, True)
    hi, hi_incl = _ts_hi(end, tz)
    if hi > as_of or (hi == as_of and not hi_incl):
        return Range(lo, True, as_of, True)
    return Range(lo, True, hi, hi_incl)


def anniversary_targets(days: int, as_of: datetime, tz: str) -> dict[int, frozenset[int]]:
    """Year → month*100+day of the dates from today through today+``days`` (local dates).

    A Feb 29 date celebrates on Feb 28 in years without Feb 29. A date matches in year ``y``
    only if it lies in an earlier year (a first birthday or first signup anniversary counts).

    >>> anniversary_targets(1, datetime(2025, 12, 31, 12), "UTC")
    {2025: frozenset({1231}), 2026: frozenset({101})}
    """
    today = local_today(as_of, tz)
    out: dict[int, set[int]] = {}
    for i in range(days + 1):
        d = today + timedelta(days=i)
        mds = out.setdefault(d.year, set())
        mds.add(d.month * 100 + d.day)
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            mds.add(229)
    return {y: frozenset(v) for y, v in out.items()}


def anniversary_member(d: date | None, targets: dict[int, frozenset[int]]) -> bool:
    """True when the date ``d`` has an anniversary on one of ``targets`` (see above)."""
    if d is None:
        return False
    md = d.month * 100 + d.day
    return any(md in mds and d.year < y for y, mds in targets.items())


_HASH_SPACE = 16**8


def sample_threshold(percent: float) -> str | None:
    """Upper bound (8 hex digits) for the md5 hex of ``salt:customer_id``; None = everyone."""
    if percent >= 100:
        return None
    return f"{int(percent * _HASH_SPACE / 100):08x}"


def sample_member(customer_id: str, salt: str, percent: float) -> bool:
    """Whether a customer falls in a sample (the same rule the compiled SQL applies).

    >>> sample_member("c1", "holdout", 100.0)
    True
    """
    threshold = sample_threshold(percent)
    if threshold is None:
        return True
    digest = hashlib.md5(f"{salt}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return digest < threshold
