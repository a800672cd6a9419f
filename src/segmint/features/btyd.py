"""BTYD ("buy till you die") summary columns for CLV models (layer 2: ibis expressions only).

Per customer, with the literature's names (Fader, Hardie & Lee 2005) and the semantics of
``lifetimes.utils.summary_data_from_transaction_data``:

- **frequency**: number of *repeat* transactions. Several orders on one day are one transaction
  (their amounts are summed), so frequency = distinct order days − 1;
- **recency**: time from the first to the last transaction (0 for one-time buyers);
- **T**: time from the first transaction to the end of the as-of day;
- **monetary_value**: mean value of the repeat transactions (the first day left out), 0 when
  there is none.

Which orders count and how the as-of day works: see :mod:`segmint.features.purchases`.

Units: ``unit="D"`` measures recency and T in days; ``unit="W"`` in weeks of 7 days (days / 7,
with fractions) — the convention of the published CDNOW results and of lifetimes'
``freq="D", freq_multiplier=7``. It is *not* lifetimes' ``freq="W"``, which buckets orders into
calendar weeks.

The summary comes from the same GROUP BY pass as RFM: :func:`btyd_from_summary` turns a purchase
summary, or the ``rfm`` table, into these columns without reading the orders again.

Example:
    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"customer_id": ["a", "a", "a", "b"],
    ...     "ts": [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1, 20), dt.datetime(2026, 1, 15),
    ...            dt.datetime(2026, 1, 10)],
    ...     "amount": [10.0, 5.0, 30.0, 8.0], "status": ["completed"] * 4})
    >>> s = btyd_summary(orders, as_of="2026-01-31").order_by("customer_id").to_pandas()
    >>> s.values.tolist()
    [['a', 1, 14.0, 30.0, 30.0], ['b', 0, 0.0, 21.0, 0.0]]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from segmint.errors import ValidationError
from segmint.features.purchases import COUNTED_STATUSES, parse_as_of, purchase_summary

__all__ = ["BTYD_COLUMNS", "UNITS", "btyd_from_summary", "btyd_patterns", "btyd_summary"]

#: Time units: name → days per unit.
UNITS = {"D": 1, "W": 7}

#: Columns of :func:`btyd_summary`, in order.
BTYD_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")

_NEEDED = ("customer_id", "first_order_date", "last_order_date", "order_days", "first_day_revenue")


def _days_per_unit(unit: str) -> int:
    try:
        return UNITS[unit]
    except (KeyError, TypeError):
        raise ValidationError(
            f"The BTYD time unit must be 'D' (days) or 'W' (weeks). Got {unit!r} instead.",
            hint="use unit='W' for the weekly scale of the CLV literature.",
        ) from None


def btyd_from_summary(
    summary: ir.Table, *, as_of: dt.date | dt.datetime | str, unit: str = "D"
) -> ir.Table:
    """BTYD columns from a purchase summary (or from the ``rfm`` table) for the same ``as_of``.

    ``summary`` needs customer_id, first_order_date, last_order_date, order_days,
    first_day_revenue and the total as ``revenue`` (purchase summary) or ``monetary`` (RFM).
    """
    per_unit = _days_per_unit(unit)
    day = parse_as_of(as_of)
    total_col = "revenue" if "revenue" in summary.columns else "monetary"
    missing = [c for c in (*_NEEDED, total_col) if c not in summary.columns]
    if missing:
        raise ValidationError(
            "The summary for the BTYD columns must come from purchase_summary() or rfm(). "
            f"Got a table without {', '.join(missing)} instead.",
            hint="pass the orders to btyd_summary(orders, as_of=...) instead.",
        )
    s = summary
    frequency = (s.order_days - 1).cast("int64")

    def span(later: ir.DateValue, earlier: ir.DateValue) -> ir.FloatingValue:
        days = later.delta(earlier, unit="day").cast("float64")
        return days if per_unit == 1 else days / float(per_unit)

    repeat_value = s[total_col] - s.first_day_revenue
    return s.select(
        customer_id=s.customer_id,
        frequency=frequency,
        recency=span(s.last_order_date, s.first_order_date),
        T=span(ibis.date(day), s.first_order_date),
        monetary_value=ibis.ifelse(frequency > 0, repeat_value / frequency, 0.0).cast("float64"),
    )


def btyd_summary(
    orders: ir.Table,
    *,
    as_of: dt.date | dt.datetime | str,
    unit: str = "D",
    statuses: Sequence[str] = COUNTED_STATUSES,
) -> ir.Table:
    """frequency, recency, T and monetary_value per customer from the orders (columns
    :data:`BTYD_COLUMNS`); equal to lifetimes' ``summary_data_from_transaction_data`` with
    ``observation_period_end=as_of`` and ``freq="D"`` (``freq_multiplier=7`` for ``unit="W"``).
    """
    _days_per_unit(unit)
    summary = purchase_summary(orders, as_of=as_of, statuses=statuses)
    return btyd_from_summary(summary, as_of=as_of, unit=unit)


def btyd_patterns(summary: ir.Table) -> ir.Table:
    """Distinct (frequency, recency, T) with the number of customers sharing each.

    CLV models fit on these patterns with ``n_customers`` as the weight: the likelihood is the
    same as over every customer, and the engine does the condensing.

    >>> import ibis
    >>> s = ibis.memtable({"frequency": [0, 0, 2], "recency": [0.0, 0.0, 5.0],
    ...                    "T": [9.0, 9.0, 9.0]})
    >>> p = btyd_patterns(s).order_by("frequency").to_pandas()
    >>> p.to_dict("list")
    {'frequency': [0, 2], 'recency': [0.0, 5.0], 'T': [9.0, 9.0], 'n_customers': [2, 1]}
    """
    return summary.group_by(["frequency", "recency", "T"]).aggregate(
        n_customers=summary.count().cast("int64")
    )
