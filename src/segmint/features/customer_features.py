"""One row per customer of behaviour and profile features, for clustering (layer 2, pure ibis).

:func:`customer_features` builds (never executes) a table with, per customer:

- from counted orders up to the end of ``as_of`` (:func:`~segmint.features.purchases.counted_orders`):
  ``order_count``, ``revenue``, ``aov`` (revenue / orders), ``recency_days`` (as-of day minus
  the last order day), ``tenure_days`` (as-of day minus the first order day),
  ``orders_per_year`` (orders / max(tenure, 30 days) × 365), ``discount_share`` (share of
  orders with a discount > 0) and ``top_channel`` (the channel of most orders; ties → first
  in alphabetical order);
- from ``events`` (optional): ``events`` (events up to the as-of day) and ``browse_only``
  (1 when the customer has events but no counted order);
- from ``profiles`` (optional): the listed ``profile_columns`` (e.g. gender, country,
  language, industry).

With ``profiles`` every profile and every customer with a counted order is a row (customers
without orders get 0 orders, 0 revenue and null recency/tenure; customers without a profile
null profile columns); without it, only customers with a counted order.

Example:
    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"customer_id": ["a", "a", "b"],
    ...     "ts": [dt.datetime(2026, 1, 1), dt.datetime(2026, 6, 1), dt.datetime(2026, 6, 20)],
    ...     "amount": [10.0, 30.0, 7.0], "discount": [0.0, 5.0, None],
    ...     "channel": ["web", "web", "pos"], "status": ["completed"] * 3})
    >>> f = customer_features(orders, as_of="2026-06-30").order_by("customer_id").to_pandas()
    >>> f[["customer_id", "order_count", "aov", "recency_days", "discount_share"]].values.tolist()
    [['a', 2, 20.0, 29, 0.5], ['b', 1, 7.0, 10, 0.0]]
"""  # noqa: E501

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from segmint.features.purchases import COUNTED_STATUSES, counted_orders, parse_as_of

__all__ = ["NUMERIC_FEATURES", "customer_features"]

#: The numeric order features :func:`customer_features` always returns.
NUMERIC_FEATURES: tuple[str, ...] = (
    "order_count",
    "revenue",
    "aov",
    "recency_days",
    "tenure_days",
    "orders_per_year",
    "discount_share",
)


def customer_features(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    profiles: ir.Table | None = None,
    events: ir.Table | None = None,
    profile_columns: Sequence[str] = ("gender", "country", "language"),
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """The per-customer feature table (see the module docstring); an ibis expression."""
    day = ibis.date(parse_as_of(as_of))
    o = counted_orders(orders, as_of=as_of, statuses=statuses)
    has_discount = (
        (o.discount.fill_null(0.0) > 0).cast("float64") if "discount" in o.columns else 0.0
    )
    o = o.mutate(_day=o.ts.date(), _disc=has_discount)
    agg = o.group_by("customer_id").aggregate(
        order_count=o.count(),
        revenue=o.amount.sum().fill_null(0.0),
        first_day=o._day.min(),
        last_day=o._day.max(),
        discount_share=o._disc.mean(),
    )
    feats = agg.mutate(
        order_count=agg.order_count.cast("int64"),
        revenue=agg.revenue.round(4).cast("float64"),
        aov=(agg.revenue / agg.order_count).round(4).cast("float64"),
        recency_days=day.delta(agg.last_day, unit="day").cast("int64"),
        tenure_days=day.delta(agg.first_day, unit="day").cast("int64"),
        discount_share=agg.discount_share.cast("float64"),
    )
    feats = feats.mutate(
        orders_per_year=(
            feats.order_count / ibis.greatest(feats.tenure_days, 30).cast("float64") * 365.0
        ).round(6)
    ).drop("first_day", "last_day")
    if "channel" in o.columns:
        withc = o.filter(o.channel.notnull())
        per = withc.group_by(["customer_id", "channel"]).aggregate(n=withc.count())
        rank = ibis.row_number().over(
            group_by=per.customer_id, order_by=[per.n.desc(), per.channel]
        )
        top = (
            per.mutate(_r=rank)
            .filter(lambda t: t._r == 0)
            .select("customer_id", top_channel="channel")
        )
        feats = feats.left_join(top, "customer_id").drop("customer_id_right")
    if profiles is not None:
        base = profiles.select("customer_id", *profile_columns)
        joined = base.outer_join(feats, "customer_id")
        feats = joined.mutate(
            customer_id=joined.customer_id.coalesce(joined.customer_id_right)
        ).drop("customer_id_right")
        feats = feats.mutate(
            order_count=feats.order_count.fill_null(0),
            revenue=feats.revenue.fill_null(0.0),
            aov=feats.aov.fill_null(0.0),
            orders_per_year=feats.orders_per_year.fill_null(0.0),
            discount_share=feats.discount_share.fill_null(0.0),
        )
    if events is not None:
        end = dt.datetime.combine(parse_as_of(as_of) + dt.timedelta(days=1), dt.time(0))
        ev = events.filter(events.customer_id.notnull(), events.ts < ibis.timestamp(end))
        counts = ev.group_by("customer_id").aggregate(events=ev.count())
        feats = feats.left_join(counts, "customer_id").drop("customer_id_right")
        feats = feats.mutate(
            events=feats.events.fill_null(0).cast("int64"),
        )
        feats = feats.mutate(
            browse_only=((feats.events > 0) & (feats.order_count == 0)).cast("int64")
        )
    return feats
