"""ABC (Pareto) classes of customers by their share of revenue (layer 2: ibis expressions only).

Why here and not in ``models/`` (where DESIGN.md first sketched it): ABC has nothing to fit — it
is a sort and a running sum, a pure expression like RFM. Keeping it in ``features/`` lets it
compile to any engine unchanged, and lets segment rules (layer 2, which cannot import layer-3
models) use the ABC class as a computed metric.

Classes, with thresholds ``(a, b)`` = (0.8, 0.95) by default: customers are sorted by revenue,
highest first; ``share_above`` is the share of revenue brought by customers with *strictly more*
revenue than this one.

- **A**: ``share_above < a`` — the top customers who together bring the first 80 % of revenue.
  The customer who crosses the 80 % line is in A, so A always reaches at least 80 % and the
  biggest customer is always A;
- **B**: ``a ≤ share_above < b`` — the next 15 %;
- **C**: everyone else, and every customer whose revenue is zero or negative.

Customers with equal revenue always share a class (and a ``revenue_rank``). Shares are of the
total *positive* revenue. Which orders count and how the as-of day works: see
:mod:`segmint.features.purchases`.

Example:
    >>> import ibis
    >>> rev = ibis.memtable({"customer_id": list("abcde"), "revenue": [50.0, 30.0, 10.0, 6.0, 4.0]})
    >>> t = abc_classes(rev).order_by("revenue_rank").to_pandas()
    >>> t[["customer_id", "share_above", "abc_class"]].values.tolist()
    [['a', 0.0, 'A'], ['b', 0.5, 'A'], ['c', 0.8, 'B'], ['d', 0.9, 'B'], ['e', 0.96, 'C']]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from segmint.errors import ValidationError
from segmint.features.purchases import COUNTED_STATUSES, MONEY_DECIMALS, counted_orders

__all__ = [
    "ABC_COLUMNS",
    "DEFAULT_THRESHOLDS",
    "abc",
    "abc_classes",
    "abc_curve",
    "abc_summary",
    "check_thresholds",
    "revenue_per_customer",
]

#: Cumulative revenue shares that close class A and class B.
DEFAULT_THRESHOLDS = (0.8, 0.95)

#: Columns of :func:`abc_classes`, in order.
ABC_COLUMNS = (
    "customer_id",
    "revenue",
    "revenue_rank",
    "revenue_share",
    "share_above",
    "cumulative_share",
    "abc_class",
)


def check_thresholds(thresholds: Sequence[float]) -> tuple[float, float]:
    """Return ``(a, b)`` if ``0 < a < b ≤ 1``; raise a ValidationError otherwise."""
    try:
        a, b = (float(x) for x in thresholds)
    except (TypeError, ValueError):
        a = b = float("nan")
    if not 0 < a < b <= 1:
        raise ValidationError(
            "The ABC thresholds must be two revenue shares 0 < A < B ≤ 1. "
            f"Got {tuple(thresholds) if thresholds is not None else None!r} instead.",
            hint="e.g. thresholds=(0.8, 0.95): A brings 80 % of revenue, B the next 15 %.",
        )
    return a, b


def revenue_per_customer(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """customer_id, revenue (total of the counted orders up to the end of ``as_of``)."""
    counted = counted_orders(orders, as_of=as_of, statuses=statuses)
    agg = counted.group_by(counted.customer_id).aggregate(revenue=counted.amount.sum())
    return agg.mutate(revenue=agg.revenue.fill_null(0.0).round(MONEY_DECIMALS).cast("float64"))


def abc_classes(
    revenues: ir.Table, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> ir.Table:
    """ABC class per customer of a table with ``customer_id`` and ``revenue``.

    Columns (:data:`ABC_COLUMNS`): customer_id, revenue, revenue_rank (1 = highest; ties share
    the rank), revenue_share (own share), share_above (share of customers with more revenue),
    cumulative_share (share of customers with as much or more), abc_class ("A", "B", "C").
    """
    a, b = check_thresholds(thresholds)
    t = revenues.select("customer_id", "revenue")
    positive = ibis.greatest(t.revenue, 0.0)
    total = positive.sum().over(ibis.window())
    # running sums over RANGE frames include the whole tie group of the current row
    up_to_me = positive.sum().over(ibis.window(order_by=t.revenue, range=(None, 0)))
    me_and_above = positive.sum().over(ibis.window(order_by=ibis.desc(t.revenue), range=(None, 0)))
    safe_total = ibis.ifelse(total > 0, total, ibis.null("float64"))
    shares = t.mutate(
        revenue_rank=(ibis.rank().over(order_by=ibis.desc(t.revenue)) + 1).cast("int64"),
        revenue_share=(positive / safe_total).fill_null(0.0),
        share_above=((total - up_to_me) / safe_total).fill_null(1.0),
        cumulative_share=(me_and_above / safe_total).fill_null(1.0),
    )
    cls = ibis.cases(
        (shares.revenue <= 0, "C"),
        (shares.share_above < a, "A"),
        (shares.share_above < b, "B"),
        else_="C",
    )
    return shares.mutate(abc_class=cls).select(*ABC_COLUMNS)


def abc(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """ABC classes of the customers with a counted order up to the end of ``as_of``."""
    check_thresholds(thresholds)
    return abc_classes(
        revenue_per_customer(orders, as_of=as_of, statuses=statuses), thresholds=thresholds
    )


def abc_summary(classes: ir.Table) -> ir.Table:
    """Per class: customers, customer_share, revenue, revenue_share (of :func:`abc_classes`)."""
    positive = ibis.greatest(classes.revenue, 0.0)
    agg = classes.group_by("abc_class").aggregate(
        customers=classes.count().cast("int64"), revenue=positive.sum()
    )
    everyone = ibis.window()
    total = agg.revenue.sum().over(everyone)
    return agg.mutate(
        customer_share=agg.customers / agg.customers.sum().over(everyone),
        revenue_share=ibis.ifelse(total > 0, agg.revenue / total, 0.0),
    ).select("abc_class", "customers", "customer_share", "revenue", "revenue_share")


def abc_curve(classes: ir.Table, *, points: int = 100) -> ir.Table:
    """The Pareto (Lorenz-style) curve: cumulative share of customers vs of revenue.

    Customers are taken highest revenue first and cut into ``points`` equal buckets; each row is
    the end of a bucket: ``customer_share`` (0..1] and ``revenue_share`` (0..1], ending at
    (1, 1). Prepend (0, 0) when drawing. Works on :func:`abc_classes` or any table with
    ``customer_id`` and ``revenue``.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValidationError(f"points must be an integer ≥ 2. Got {points!r} instead.")
    t = classes.select("customer_id", "revenue")
    positive = ibis.greatest(t.revenue, 0.0)
    order = [ibis.desc(t.revenue), t.customer_id]
    everyone = ibis.window()
    ranked = t.mutate(
        pos=(ibis.row_number().over(order_by=order) + 1).cast("int64"),
        cum=positive.sum().over(ibis.cumulative_window(order_by=order)),
        n=t.count().over(everyone),
        total=positive.sum().over(everyone),
    )
    bucket = ((ranked.pos * points + ranked.n - 1) // ranked.n).cast("int64")  # ceil(pos·k/n)
    curve = ranked.group_by(bucket=bucket).aggregate(
        pos=ranked.pos.max(), cum=ranked.cum.max(), n=ranked.n.max(), total=ranked.total.max()
    )
    return curve.select(
        customer_share=curve.pos / curve.n,
        revenue_share=ibis.ifelse(curve.total > 0, curve.cum / curve.total, 1.0),
    ).order_by("customer_share")
