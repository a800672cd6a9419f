"""Campaign outcomes and KPIs as ibis expressions (layer 2, pure: nothing executes here).

Inputs are the workspace tables ``campaigns``, ``campaign_recipients``, ``events`` and
``orders``. One row per recipient (:func:`recipient_outcomes`) says what happened to them;
:func:`campaign_kpis` adds those rows up per campaign and group (variant, segment, …).

Which events belong to a campaign (the contract; docs/campaigns.md)
    ``Message Delivered`` / ``Message Read`` / ``Message Clicked`` events count for recipient R
    of campaign C, at or after C's ``sent_at``, when
    1. ``properties.campaign_id`` is C and the event's ``customer_id`` is R (what a channel tool
       or an import of its report should send); or
    2. ``properties.message_id`` equals R's ``message_id`` (the id segmint gave the message:
       its ``Message Sent`` event) or R's ``provider_message_id`` (the id the channel returned
       when the webhook accepted the message, or one mapped later). The WhatsApp webhook
       reports statuses this way: ``properties.message_id`` is the ``wamid``.
    A read or click implies delivery: ``delivered`` counts recipients with any of the three.
Conversions (attribution)
    A counted order (status ``completed`` or missing) of R with
    ``sent_at ≤ ts < sent_at + attribution_days`` — an order exactly at the end of the window
    belongs to the next period, an order before the send never counts, several orders all add
    to ``orders`` and ``revenue`` but make one converted recipient. The holdout is measured the
    same way from the campaign's ``sent_at``.
    **Offer codes** attribute directly: an ``Order Completed`` or ``Coupon Applied`` event at or
    after the send whose ``properties.coupon`` is R's offer code (case and spaces ignored)
    converts R, inside the window or after it, even when the order was not linked to R's
    profile (in-store redemption). Its amount is the order's (``properties.order_id`` found in
    ``orders``), else ``properties.total`` or ``properties.revenue``. An order both in the
    window and redeemed counts once.

Example:
    >>> import ibis
    >>> from segmint.schema import TABLES
    >>> t = {n: ibis.table(TABLES[n], name=n)
    ...      for n in ("campaigns", "campaign_recipients", "events", "orders")}
    >>> out = recipient_outcomes(t["campaigns"], t["campaign_recipients"], t["events"],
    ...                          t["orders"])
    >>> out.columns[:6]
    ('campaign_id', 'customer_id', 'variant', 'segment', 'status', 'sent')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from segmint.errors import ValidationError, close_matches

__all__ = [
    "KPI_COLUMNS",
    "OUTCOME_COLUMNS",
    "OUTCOME_EVENTS",
    "REDEMPTION_EVENTS",
    "SENT_STATUSES",
    "campaign_kpis",
    "recipient_outcomes",
]

#: Message events that measure a sent campaign (status webhooks, channel tool reports).
OUTCOME_EVENTS = ("Message Delivered", "Message Read", "Message Clicked")
#: Events whose ``properties.coupon`` redeems an offer code.
REDEMPTION_EVENTS = ("Order Completed", "Coupon Applied")
#: Recipient statuses that mean the message left segmint.
SENT_STATUSES = ("sent", "exported")

#: Columns of :func:`recipient_outcomes`.
OUTCOME_COLUMNS = (
    "campaign_id",
    "customer_id",
    "variant",
    "segment",
    "status",
    "sent",
    "delivered",
    "read",
    "clicked",
    "converted",
    "redeemed",
    "orders",
    "revenue",
)
#: Columns of :func:`campaign_kpis` after the grouping columns.
KPI_COLUMNS = (
    "recipients",
    "sent",
    "delivered",
    "read",
    "clicked",
    "converted",
    "redeemed",
    "orders",
    "revenue",
    "revenue_sq",
    "conversion_rate",
    "cost",
    "roi",
)
_GROUPS = ("variant", "segment", "status")


def _json(col: ir.Value, engine: str) -> ir.Value:
    return col.cast("json") if engine == "pyspark" else col.try_cast("json")


def _prop_text(col: ir.Value, key: str, engine: str) -> ir.StringValue:
    j = _json(col, engine)[key]
    if engine == "pyspark":
        return j.cast("string")
    return ibis.coalesce(j.str, j.cast("string"))


def _prop_number(col: ir.Value, key: str, engine: str) -> ir.FloatingValue:
    j = _json(col, engine)[key]
    return j.cast("string").cast("float64") if engine == "pyspark" else j.float


def _normal_code(x: ir.StringValue) -> ir.StringValue:
    return x.strip().upper()


def recipient_outcomes(
    campaigns: ir.Table,
    recipients: ir.Table,
    events: ir.Table,
    orders: ir.Table,
    *,
    since: datetime | None = None,
    engine: str = "duckdb",
) -> ir.Table:
    """One row per recipient (:data:`OUTCOME_COLUMNS`); the rules are in the module docstring.

    Campaigns without ``sent_at`` (not sent yet) give no rows. ``since`` (the earliest
    ``sent_at`` of the campaigns measured) lets the engine skip older events and orders early;
    the result is the same with or without it.
    """
    c = campaigns.filter(campaigns.sent_at.notnull()).select(
        _c_id=campaigns.campaign_id,
        _start=campaigns.sent_at,
        _end=campaigns.sent_at + campaigns.attribution_days.cast("int32").as_interval("D"),
    )
    r = recipients.join(c, recipients.campaign_id == c._c_id).select(
        "campaign_id", "customer_id", "variant", "segment", "status", "offer_code",
        "message_id", "provider_message_id", "_start", "_end",
    )  # fmt: skip
    r = r.mutate(sent=r.status.isin(list(SENT_STATUSES)).fill_null(False))

    # message outcomes -------------------------------------------------------------------------
    if since is not None:
        events = events.filter(events.ts >= ibis.literal(since))
        orders = orders.filter(orders.ts >= ibis.literal(since))
    ev = events.filter(events.event.isin(list(OUTCOME_EVENTS)), events.ts.notnull())
    ev = ev.select(
        event=ev.event,
        ts=ev.ts,
        customer_id=ev.customer_id,
        cid=_prop_text(ev.properties, "campaign_id", engine),
        mid=_prop_text(ev.properties, "message_id", engine),
    )
    keys = r.select(k_c=r.campaign_id, k_r=r.customer_id, k_start=r._start,
                    k_mid=r.message_id, k_pid=r.provider_message_id)  # fmt: skip
    e1 = ev.filter(ev.cid.notnull(), ev.customer_id.notnull())
    linked = [
        e1.join(keys, [e1.cid == keys.k_c, e1.customer_id == keys.k_r]),
        ev.filter(ev.mid.notnull()).join(keys, ev.mid == keys.k_mid),
        ev.filter(ev.mid.notnull()).join(keys, ev.mid == keys.k_pid),
    ]
    parts = [
        t.filter(t.ts >= t.k_start).select(
            o_c=t.k_c, o_r=t.k_r, d=t.event == "Message Delivered",
            rd=t.event == "Message Read", cl=t.event == "Message Clicked",
        )
        for t in linked
    ]  # fmt: skip
    msg = parts[0].union(parts[1]).union(parts[2])
    flags = msg.group_by(["o_c", "o_r"]).aggregate(
        delivered=msg.d.any(), read=msg.rd.any(), clicked=msg.cl.any()
    )

    # conversions ------------------------------------------------------------------------------
    counted = orders.filter(
        orders.customer_id.notnull(),
        orders.ts.notnull(),
        orders.status.isnull() | (orders.status == "completed"),
    )
    win = r.select(w_c=r.campaign_id, w_r=r.customer_id, w_start=r._start, w_end=r._end)
    in_window = counted.join(
        win,
        [counted.customer_id == win.w_r, counted.ts >= win.w_start, counted.ts < win.w_end],
    ).select(
        a_c=win.w_c,
        a_r=win.w_r,
        a_key=counted.order_id.cast("string"),
        amount=counted.amount.fill_null(0.0),
        via_code=ibis.literal(False),
    )
    red = events.filter(
        events.event.isin(list(REDEMPTION_EVENTS)),
        events.ts.notnull(),
        events.properties.contains("coupon"),  # cheap text test before parsing JSON
    )
    red = red.select(
        ts=red.ts,
        coupon=_normal_code(_prop_text(red.properties, "coupon", engine)),
        order_id=_prop_text(red.properties, "order_id", engine),
        key=ibis.coalesce(_prop_text(red.properties, "order_id", engine), red.message_id),
        given=ibis.coalesce(
            _prop_number(red.properties, "total", engine),
            _prop_number(red.properties, "revenue", engine),
        ),
    )
    codes = r.filter(r.offer_code.notnull()).select(
        x_c=r.campaign_id, x_r=r.customer_id, x_code=_normal_code(r.offer_code), x_start=r._start
    )
    matched = red.join(codes, [red.coupon == codes.x_code, red.ts >= codes.x_start])
    amounts = orders.select(m_id=orders.order_id.cast("string"), m_amount=orders.amount)
    matched = matched.left_join(amounts, matched.order_id == amounts.m_id)
    redeemed = matched.select(
        a_c=matched.x_c,
        a_r=matched.x_r,
        a_key=matched.key,
        amount=ibis.coalesce(matched.m_amount, matched.given, 0.0),
        via_code=ibis.literal(True),
    )
    both = in_window.union(redeemed)
    per_order = both.group_by(["a_c", "a_r", "a_key"]).aggregate(
        amount=both.amount.max(), via_code=both.via_code.any()
    )
    bought = per_order.group_by(["a_c", "a_r"]).aggregate(
        orders=per_order.count(), revenue=per_order.amount.sum(), redeemed=per_order.via_code.any()
    )

    out = r.left_join(flags, [r.campaign_id == flags.o_c, r.customer_id == flags.o_r])
    out = out.left_join(bought, [out.campaign_id == bought.a_c, out.customer_id == bought.a_r])
    sent = out.sent
    clicked = sent & out.clicked.fill_null(False)
    read = sent & out.read.fill_null(False)
    n_orders = out.orders.fill_null(0).cast("int64")
    return out.select(
        "campaign_id", "customer_id", "variant", "segment", "status",
        sent=sent,
        delivered=sent & (out.delivered.fill_null(False) | read | clicked),
        read=read,
        clicked=clicked,
        converted=n_orders > 0,
        redeemed=out.redeemed.fill_null(False),
        orders=n_orders,
        revenue=out.revenue.fill_null(0.0).round(4).cast("float64"),
    )  # fmt: skip


def campaign_kpis(
    outcomes: ir.Table, campaigns: ir.Table, by: Sequence[str] = ("variant",)
) -> ir.Table:
    """Outcomes added up per campaign and ``by`` (any of variant, segment, status; ``()`` for
    whole campaigns): counts, revenue, ``revenue_sq`` (sum of squared revenue per recipient,
    for Welch's test), conversion rate, the campaign cost shared by messages sent, and ROI
    ``(revenue − cost) / cost`` (null without a cost)."""
    by = tuple(by)
    for g in by:
        if g not in _GROUPS:
            raise ValidationError(
                f"KPIs can be grouped by {', '.join(_GROUPS)}. Got {g!r} instead.",
                suggestions=close_matches(str(g), _GROUPS),
            )
    o = outcomes
    agg = o.group_by(["campaign_id", *by]).aggregate(
        recipients=o.count(),
        sent=o.sent.cast("int64").sum(),
        delivered=o.delivered.cast("int64").sum(),
        read=o.read.cast("int64").sum(),
        clicked=o.clicked.cast("int64").sum(),
        converted=o.converted.cast("int64").sum(),
        redeemed=o.redeemed.cast("int64").sum(),
        orders=o.orders.sum(),
        revenue=o.revenue.sum(),
        revenue_sq=(o.revenue * o.revenue).sum(),
    )
    total = agg.sent.sum().over(ibis.window(group_by=agg.campaign_id))
    c = campaigns.select(_k_id=campaigns.campaign_id, _cost=campaigns.cost)
    j = agg.left_join(c, agg.campaign_id == c._k_id)
    share = ibis.ifelse(total > 0, j.sent.cast("float64") / total, 0.0)
    cost = (j._cost * share).round(4)
    return j.select(
        "campaign_id", *by,
        recipients=j.recipients.cast("int64"),
        sent=j.sent.cast("int64"),
        delivered=j.delivered.cast("int64"),
        read=j.read.cast("int64"),
        clicked=j.clicked.cast("int64"),
        converted=j.converted.cast("int64"),
        redeemed=j.redeemed.cast("int64"),
        orders=j.orders.cast("int64"),
        revenue=j.revenue.round(4).cast("float64"),
        revenue_sq=j.revenue_sq.cast("float64"),
        conversion_rate=ibis.ifelse(
            j.recipients > 0, j.converted.cast("float64") / j.recipients, 0.0
        ),
        cost=cost.cast("float64"),
        roi=ibis.ifelse(cost > 0, (j.revenue - cost) / cost, ibis.null("float64")),
    ).order_by(["campaign_id", *by])  # fmt: skip
