"""Gift-giving holidays as data, and who buys in the days before them (layer 2: ibis only).

The calendar is plain data: Lunar New Year's day for 2015–2035 as a table of fixed dates (it
follows the Chinese lunisolar calendar, so it is looked up, never computed), Valentine's Day
(14 Feb), Mother's Day (second Sunday of May, as in Hong Kong, Taiwan, Singapore and the US),
11.11 (Singles' Day sales) and Christmas (25 Dec). The demo generator plants its holiday
shoppers on the same calendar.

A holiday's **season** is the ``lead_days`` calendar days up to and including the holiday
(default 14: for Christmas, 12–25 Dec), as local days of the workspace time zone. Seasons may
overlap (Valentine's Day often falls in the Lunar New Year season); an order in both counts for
both holidays and once in ``holiday_orders``.

:func:`occasion_orders` is the computed metric ``occasions`` of segment definitions, e.g.
``{metric: occasions.lunar_new_year_orders, op: gte, value: 1}``. Which orders count and how the
as-of day works: see :mod:`segmint.features.purchases`.

Example:
    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"customer_id": ["a", "a", "b"],
    ...     "ts": [dt.datetime(2026, 2, 10, 4), dt.datetime(2026, 6, 1), dt.datetime(2025, 12, 20)],
    ...     "amount": [10.0, 5.0, 7.0], "status": ["completed"] * 3})
    >>> t = occasion_orders(orders, as_of="2026-06-30").order_by("customer_id").to_pandas()
    >>> t[["customer_id", "orders", "holiday_orders", "lunar_new_year_orders",
    ...    "valentines_day_orders", "christmas_orders"]].values.tolist()
    [['a', 2, 1, 1, 1, 0], ['b', 1, 1, 0, 0, 1]]
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.errors import ValidationError
from segmint.features.purchases import COUNTED_STATUSES, counted_orders, parse_as_of

__all__ = [
    "FIRST_YEAR",
    "HOLIDAYS",
    "LEAD_DAYS",
    "LUNAR_NEW_YEAR",
    "OCCASION_COLUMNS",
    "holiday_date",
    "holiday_seasons",
    "holidays",
    "occasion_orders",
]

#: Lunar New Year's day (the first day of the first lunar month), 2015–2035.
LUNAR_NEW_YEAR: dict[int, dt.date] = {
    2015: dt.date(2015, 2, 19),
    2016: dt.date(2016, 2, 8),
    2017: dt.date(2017, 1, 28),
    2018: dt.date(2018, 2, 16),
    2019: dt.date(2019, 2, 5),
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
    2031: dt.date(2031, 1, 23),
    2032: dt.date(2032, 2, 11),
    2033: dt.date(2033, 1, 31),
    2034: dt.date(2034, 2, 19),
    2035: dt.date(2035, 2, 8),
}

#: holiday key (metric column prefix) → display name, in calendar order.
HOLIDAYS: dict[str, str] = {
    "lunar_new_year": "Lunar New Year",
    "valentines_day": "Valentine's Day",
    "mothers_day": "Mother's Day",
    "singles_day": "11.11",
    "christmas": "Christmas",
}

#: Orders before this year are never in a season.
FIRST_YEAR = 2000

#: Days of a holiday's season: the holiday and the days before it.
LEAD_DAYS = 14

#: Columns of :func:`occasion_orders`, in order.
OCCASION_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "orders",
    "holiday_orders",
    "holiday_share",
    *(f"{k}_orders" for k in HOLIDAYS),
)


def _second_sunday_of_may(year: int) -> dt.date:
    first = dt.date(year, 5, 1)
    return first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7)


def holiday_date(key: str, year: int) -> dt.date | None:
    """The date of holiday ``key`` in ``year`` (None where the calendar has no date).

    >>> holiday_date("mothers_day", 2026), holiday_date("lunar_new_year", 2040)
    (datetime.date(2026, 5, 10), None)
    """
    if key == "lunar_new_year":
        return LUNAR_NEW_YEAR.get(year)
    fixed = {"valentines_day": (2, 14), "singles_day": (11, 11), "christmas": (12, 25)}
    if key in fixed:
        return dt.date(year, *fixed[key])
    if key == "mothers_day":
        return _second_sunday_of_may(year)
    raise ValidationError(f"Unknown holiday '{key}'.", suggestions=tuple(HOLIDAYS))


def holidays(first: dt.date, last: dt.date) -> list[tuple[str, dt.date]]:
    """Holidays between ``first`` and ``last`` (inclusive) as (display name, date), oldest first.

    >>> holidays(dt.date(2025, 11, 1), dt.date(2026, 2, 28))[:2]
    [('11.11', datetime.date(2025, 11, 11)), ('Christmas', datetime.date(2025, 12, 25))]
    """
    out = []
    for year in range(first.year, last.year + 1):
        for key, name in HOLIDAYS.items():
            d = holiday_date(key, year)
            if d is not None and first <= d <= last:
                out.append((name, d))
    return sorted(out, key=lambda nd: (nd[1], nd[0]))


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"The time zone must be an IANA name such as 'Asia/Hong_Kong'. Got '{timezone}' "
            "instead."
        ) from None


def _utc_midnight(d: dt.date, zone: ZoneInfo) -> dt.datetime:
    local = dt.datetime(d.year, d.month, d.day, tzinfo=zone)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def holiday_seasons(
    years: Sequence[int], *, timezone: str = "UTC", lead_days: int = LEAD_DAYS
) -> pa.Table:
    """The seasons of ``years`` cut into pieces that do not overlap (a plain Arrow table).

    Columns: ``start``, ``end`` (naive UTC instants, ``start <= ts < end``) and one boolean per
    holiday key saying whether the piece lies in that holiday's season. Every instant is in at
    most one piece, so an order joined to the pieces is counted once.

    >>> t = holiday_seasons([2026], timezone="Asia/Hong_Kong").to_pylist()
    >>> t[0]["start"], t[0]["valentines_day"], t[0]["lunar_new_year"]
    (datetime.datetime(2026, 1, 31, 16, 0), True, False)
    >>> t[1]["start"], t[1]["valentines_day"], t[1]["lunar_new_year"]
    (datetime.datetime(2026, 2, 3, 16, 0), True, True)
    """
    if isinstance(lead_days, bool) or not isinstance(lead_days, int) or not 1 <= lead_days <= 60:
        raise ValidationError(
            f"lead_days must be a whole number of days from 1 to 60. Got {lead_days!r} instead."
        )
    zone = _zone(timezone)
    seasons = []  # (first local day, day after the holiday, key)
    for year in years:
        for key in HOLIDAYS:
            d = holiday_date(key, year)
            if d is not None:
                seasons.append(
                    (d - dt.timedelta(days=lead_days - 1), d + dt.timedelta(days=1), key)
                )
    cuts = sorted({s for s, _, _ in seasons} | {e for _, e, _ in seasons})
    rows = []
    for lo, hi in itertools.pairwise(cuts):
        inside = {k for s, e, k in seasons if s <= lo and hi <= e}
        if inside:
            rows.append((lo, hi, inside))
    return pa.table(
        {
            "start": pa.array([_utc_midnight(lo, zone) for lo, _, _ in rows], pa.timestamp("us")),
            "end": pa.array([_utc_midnight(hi, zone) for _, hi, _ in rows], pa.timestamp("us")),
            **{k: pa.array([k in ks for _, _, ks in rows], pa.bool_()) for k in HOLIDAYS},
        }
    )


def _by_utc_day(pieces: pa.Table) -> pa.Table:
    """``pieces`` with a ``utc_day`` column: one row per UTC calendar day a piece touches."""
    rows = pieces.to_pylist()
    out = []
    for r in rows:
        day, last = r["start"].date(), (r["end"] - dt.timedelta(microseconds=1)).date()
        while day <= last:
            out.append({"utc_day": day, **r})
            day += dt.timedelta(days=1)
    schema = pa.schema([pa.field("utc_day", pa.date32()), *pieces.schema])
    return pa.Table.from_pylist(out, schema=schema)


def occasion_orders(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    timezone: str = "UTC",
    lead_days: int = LEAD_DAYS,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """Per customer with a counted order: how many of their orders fell in holiday seasons.

    Columns (:data:`OCCASION_COLUMNS`): ``orders`` (counted orders up to ``as_of``),
    ``holiday_orders`` (those in any season), ``holiday_share`` (their share) and
    ``<holiday>_orders`` per holiday of :data:`HOLIDAYS`, over the years from
    :data:`FIRST_YEAR` to ``as_of`` (Lunar New Year only in the years of :data:`LUNAR_NEW_YEAR`).
    """
    day = parse_as_of(as_of)
    years = range(FIRST_YEAR, day.year + 1)
    counted = counted_orders(orders, as_of=day, statuses=statuses)
    pieces = holiday_seasons(years, timezone=timezone, lead_days=lead_days)
    days = ibis.memtable(_by_utc_day(pieces))
    o = counted.select(customer_id=counted.customer_id, order_ts=counted.ts)
    # an equality on the UTC day first (a hash join), then the exact bounds
    on = [o.order_ts.date() == days.utc_day, o.order_ts >= days.start, o.order_ts < days.end]
    hits = o.join(days, on)
    per_holiday = hits.group_by("customer_id").aggregate(
        holiday_orders=hits.count(),
        **{f"{k}_orders": hits[k].cast("int64").sum() for k in HOLIDAYS},
    )
    totals = o.group_by("customer_id").aggregate(orders=o.count())
    joined = totals.left_join(per_holiday, totals.customer_id == per_holiday.customer_id)
    counts = {c: joined[c].fill_null(0).cast("int64") for c in OCCASION_COLUMNS[4:]}
    holiday_orders = joined.holiday_orders.fill_null(0).cast("int64")
    return joined.select(
        customer_id=joined.customer_id,
        orders=joined.orders.cast("int64"),
        holiday_orders=holiday_orders,
        holiday_share=(holiday_orders / joined.orders).cast("float64"),
        **counts,
    )
