"""Per-customer purchase summary: the one pass over ``orders`` that RFM and BTYD share (layer 2).

Everything here builds ibis expressions and never executes them, so the same summary compiles to
DuckDB, PySpark or any other ibis engine.

Which orders count
    An order counts when its ``status`` is one of ``statuses`` (default ``("completed",)``) **or
    is missing** (files without a status column are lists of sales), it has a ``customer_id``,
    and it happened on or before the as-of date. ``refunded`` and ``cancelled`` orders never
    count. Status values are compared as stored; the canonical values are lower case.

The as-of date
    ``as_of`` is a calendar **day** and includes that whole day: orders with
    ``ts < as_of + 1 day`` count. Days are those of the stored (naive UTC) timestamps.

Money
    ``revenue`` and ``first_day_revenue`` are rounded to :data:`MONEY_DECIMALS` decimals. The
    engine adds floats in whatever order its threads finish, so without rounding two customers
    with the same spend (0.1 + 0.2 and 0.3) could differ in the last bit, and their M score
    could differ between runs and between engines. Four decimals keep sub-cent prices intact.

Example:
    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"customer_id": ["a", "a", "b"],
    ...     "ts": [dt.datetime(2026, 1, 1, 9), dt.datetime(2026, 1, 1, 18),
    ...            dt.datetime(2026, 3, 1)],
    ...     "amount": [10.0, 5.0, 7.0], "status": ["completed", "completed", "refunded"]})
    >>> s = purchase_summary(orders, as_of="2026-06-30").to_pandas()
    >>> s[["customer_id", "order_count", "order_days", "revenue"]].values.tolist()
    [['a', 2, 1, 15.0]]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from segmint.errors import ValidationError

__all__ = [
    "COUNTED_STATUSES",
    "MONEY_DECIMALS",
    "SUMMARY_COLUMNS",
    "counted_orders",
    "parse_as_of",
    "purchase_summary",
]

#: Order statuses that count as a purchase (a missing status counts too).
COUNTED_STATUSES: tuple[str, ...] = ("completed",)

#: Decimals kept on money totals (see the module docstring, "Money").
MONEY_DECIMALS = 4

#: Columns of :func:`purchase_summary`, in order.
SUMMARY_COLUMNS = (
    "customer_id",
    "first_order_date",
    "last_order_date",
    "order_count",
    "order_days",
    "revenue",
    "first_day_revenue",
)


def parse_as_of(value: dt.date | dt.datetime | str) -> dt.date:
    """Return ``value`` as a calendar day, or raise a :class:`~segmint.errors.ValidationError`.

    Accepts a ``date``, ``YYYY-MM-DD`` text, or a ``datetime`` at midnight (a time of day would
    be silently ignored otherwise, so it is refused).

    >>> parse_as_of("2026-06-30")
    datetime.date(2026, 6, 30)
    >>> parse_as_of("2026-13-01")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The as-of date must be a date written YYYY-MM-DD. Got ...
    """
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0) or value.tzinfo is not None:
            raise ValidationError(
                "The as-of date must be a calendar day (the whole day counts). "
                f"Got the time {value.isoformat(sep=' ')} instead.",
                hint=f"pass the day, e.g. as_of='{value.date().isoformat()}'.",
            )
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"The as-of date must be a date written YYYY-MM-DD. Got '{value}' instead.",
            hint="e.g. --as-of 2026-06-30.",
        ) from None


def _statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    if isinstance(statuses, str) or not statuses:
        raise ValidationError(
            f"statuses must be a non-empty list of order statuses. Got {statuses!r} instead.",
            hint="e.g. statuses=('completed',).",
        )
    return tuple(statuses)


def counted_orders(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str | None,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """Orders that count as purchases up to the end of ``as_of`` (see the module docstring).

    ``as_of=None`` keeps every counted order, whatever its date (e.g. to find the latest one).
    """
    wanted = _statuses(statuses)
    status_ok = orders.status.isnull() | (
        orders.status == wanted[0] if len(wanted) == 1 else orders.status.isin(wanted)
    )
    keep = [status_ok, orders.customer_id.notnull(), orders.ts.notnull()]
    if as_of is not None:
        end = dt.datetime.combine(parse_as_of(as_of) + dt.timedelta(days=1), dt.time(0))
        keep[-1] = orders.ts < ibis.timestamp(end)
    return orders.filter(*keep)


def purchase_summary(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """One row per customer with a counted order: the aggregates RFM and BTYD are built from.

    Columns (:data:`SUMMARY_COLUMNS`):
        customer_id; first_order_date, last_order_date (dates); order_count (orders);
        order_days (distinct days with an order: several orders on one day are one transaction,
        as in ``lifetimes``); revenue (total amount); first_day_revenue (amount of the first day).

    Orders are first summed per (customer, day), then per customer: two GROUP BYs in one query,
    which DuckDB runs about twice as fast as ``count(DISTINCT day)`` in a single GROUP BY.
    """
    counted = counted_orders(orders, as_of=as_of, statuses=statuses)
    daily = counted.group_by([counted.customer_id, counted.ts.date().name("day")]).aggregate(
        n=counted.count(), value=counted.amount.sum()
    )
    summary = daily.group_by(daily.customer_id).aggregate(
        first_order_date=daily.day.min(),
        last_order_date=daily.day.max(),
        order_count=daily.n.sum(),
        order_days=daily.count(),
        revenue=daily.value.sum(),
        first_day_revenue=daily.value.argmin(daily.day),
    )
    return summary.mutate(
        order_count=summary.order_count.cast("int64"),
        order_days=summary.order_days.cast("int64"),
        revenue=summary.revenue.fill_null(0.0).round(MONEY_DECIMALS).cast("float64"),
        first_day_revenue=summary.first_day_revenue.fill_null(0.0)
        .round(MONEY_DECIMALS)
        .cast("float64"),
    )
