"""The two CLV formulas marketers use, measured from an orders table, with every input shown.

**Retention formula** (Gupta & Lehmann's margin-multiple form)::

    CLTV = (ACR − CS) × RR ÷ (1 + d − RR) − CAC

- ACR, average customer revenue per period: revenue of complete periods ÷ active customer-periods
  (a customer is *active* in a period if they ordered in it);
- CS, customer service (and other serving) cost per customer per period — supplied by you;
- RR, retention rate per period, measured period over period: of the customers active in period
  k, the share also active in period k+1, pooled over all consecutive complete periods
  (Σ retained ÷ Σ active);
- d, discount rate per period, from the annual rate you supply: (1 + d_year)^(months/12) − 1;
- CAC, acquisition cost per customer — supplied by you.
Margins start one period after the present (the RR factor): the value of a customer from now on.

**Purchase formula**::

    CLTV = APFR × APP × ACL [× gross margin]

- APFR, average purchase frequency rate: orders ÷ distinct customers over the last
  ``window_months`` months (to ``as_of``), per year;
- APP, average purchase price: revenue ÷ orders over the same window;
- ACL, average customer lifespan in years, measured in one of two ways:
  ``"retention"`` (default) 1 ÷ (1 − RR) periods with RR measured as above (a constant churn
  rate gives a geometric lifetime), or ``"observed"`` the mean time from first to last order
  over all customers (a lower bound: current customers' lifespans are not over);
- gross margin (0–1) — optional, supplied by you; without it the result is revenue, not profit.

Measurement choices: periods are calendar months, quarters or years; a period counts only if it
is complete (the one containing ``as_of`` is dropped unless ``as_of`` is its last day);
``as_of`` defaults to the last order date; an order counts if its ``status`` is ``completed``
or missing; one row of the orders table is one order.

Example:
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
    ...     "ts": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-01-10", "2024-03-01",
    ...                           "2024-02-20"]), "amount": [10.0, 20.0, 30.0, 30.0, 40.0]})
    >>> res = retention_cltv(orders, period="month", discount_rate_annual=0.0, as_of="2024-03-31")
    >>> res.retention_rate, round(res.average_customer_revenue, 2)
    (0.25, 26.0)
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from segmint.errors import DataError, ValidationError
from segmint.models.base import Interval, NoneOr, Options, check_argument
from segmint.models.clv import _inputs
from segmint.models.clv.validation import COUNTED_STATUSES, _as_date, _as_table

__all__ = [
    "PurchaseCLTV",
    "RetentionCLTV",
    "purchase_cltv",
    "purchase_cltv_table",
    "retention_cltv",
    "retention_cltv_table",
]

Period = Literal["month", "quarter", "year"]
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
ALL = "(all)"


@dataclass(frozen=True)
class RetentionCLTV:
    """CLTV = (ACR − CS) × RR ÷ (1 + d − RR) − CAC, with every input."""

    group: str
    average_customer_revenue: float
    customer_service_cost: float
    retention_rate: float
    discount_rate: float
    acquisition_cost: float
    value: float
    period: str
    complete_periods: int
    customers: int
    discount_rate_annual: float

    def explain(self) -> str:
        """The formula with the numbers in it.

        >>> RetentionCLTV("(all)", 50.0, 5.0, 0.4, 0.02, 10.0, 19.03, "quarter", 4, 100,
        ...               0.08).explain()
        'CLTV = (ACR 50.00 − CS 5.00) × RR 0.400 ÷ (1 + d 0.020 − RR 0.400) − CAC 10.00 = 19.03'
        """
        return (
            f"CLTV = (ACR {self.average_customer_revenue:.2f} − CS "
            f"{self.customer_service_cost:.2f}) × RR {self.retention_rate:.3f} ÷ (1 + d "
            f"{self.discount_rate:.3f} − RR {self.retention_rate:.3f}) − CAC "
            f"{self.acquisition_cost:.2f} = {self.value:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PurchaseCLTV:
    """CLTV = APFR × APP × ACL (× gross margin), with every input."""

    group: str
    average_purchase_frequency_rate: float
    average_purchase_price: float
    average_customer_lifespan: float
    gross_margin: float | None
    value: float
    window_months: int
    lifespan_method: str
    customers: int
    orders: int
    retention_rate: float | None
    retention_period: str | None

    def explain(self) -> str:
        """The formula with the numbers in it."""
        margin = "" if self.gross_margin is None else f" × margin {self.gross_margin:.2f}"
        return (
            f"CLTV = APFR {self.average_purchase_frequency_rate:.3f}/year × APP "
            f"{self.average_purchase_price:.2f} × ACL {self.average_customer_lifespan:.2f} "
            f"years{margin} = {self.value:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- measuring -----------------------------------------------------------------------------------
def _orders(orders, where, customer_id, ts, amount, group):
    t = _as_table(orders, where)
    cols = [customer_id, ts, amount] + ([group] if group else [])
    _inputs.require_columns(list(t.columns), cols, where)
    if "status" in t.columns:
        t = t.filter(t.status.isnull() | t.status.isin(list(COUNTED_STATUSES)))
    typ = t[ts].type()
    if not (typ.is_timestamp() or typ.is_date()):
        raise ValidationError(f"Column '{ts}' must be a timestamp or a date. Got {typ} instead.")
    day = t[ts].date() if typ.is_timestamp() else t[ts]
    g = t[group].cast("string") if group else None
    return t.select(
        _c=t[customer_id],
        _day=day,
        _amount=t[amount].cast("float64"),
        _g=g if g is not None else _literal_all(),
    )


def _literal_all():
    import ibis

    return ibis.literal(ALL)


def _last_day(t) -> _dt.date:
    value = t._day.max().to_pyarrow().as_py()
    if value is None:
        raise DataError("The orders table has no orders. Got 0 rows instead.")
    return value


def _period_index(day, months: int):
    return (day.year() * 12 + day.month() - 1) // months


def _complete_until(as_of: _dt.date, months: int) -> int:
    """Index of the last complete period at ``as_of``."""
    k = (as_of.year * 12 + as_of.month - 1) // months
    next_start = k + 1
    y, m = divmod(next_start * months, 12)
    end = _dt.date(y, m + 1, 1) - _dt.timedelta(days=1)
    return k if as_of >= end else k - 1


def _retention_stats(t, as_of: _dt.date, period: str) -> pd.DataFrame:
    """Per group: complete periods, active customer-periods, retained pairs, revenue."""
    import ibis

    months = _MONTHS[period]
    last = _complete_until(as_of, months)
    act = (
        t.filter(t._day <= ibis.literal(as_of))
        .mutate(_k=_period_index(t._day, months))
        .filter(lambda s: s._k <= last)
        .group_by(["_g", "_c", "_k"])
        .aggregate(_rev=lambda s: s._amount.sum())
    )
    nxt = act.view()
    pairs = act.join(nxt, [act._g == nxt._g, act._c == nxt._c, (act._k + 1) == nxt._k])
    retained = pairs.group_by("_g").aggregate(retained=pairs.count())
    # customers active in a period that has a complete next period
    base = act.filter(act._k < last).group_by("_g").aggregate(at_risk=lambda s: s.count())
    per = act.group_by("_g").aggregate(
        active=lambda s: s.count(),
        revenue=lambda s: s._rev.sum(),
        first_k=lambda s: s._k.min(),
        customers=lambda s: s._c.nunique(),
    )
    out = per.left_join(base, "_g").left_join(retained, "_g")
    frame = (
        out.select("_g", "active", "revenue", "first_k", "customers", "at_risk", "retained")
        .to_pyarrow()
        .to_pandas()
    )
    frame["periods"] = last - frame["first_k"] + 1
    return frame.fillna({"at_risk": 0, "retained": 0}).set_index("_g")


def _shorter(period: str) -> str:
    if period == "month":
        return "pass a later as_of (orders must span at least two complete months)."
    return "use a shorter period (e.g. period='month') or a later as_of."


def _check_common(where, period, discount_rate_annual=None):
    check_argument(where, "period", period, Options(tuple(_MONTHS)))
    if discount_rate_annual is not None:
        check_argument(where, "discount_rate_annual", discount_rate_annual, Interval("float", 0, 1))


def _retention_rows(
    orders,
    *,
    period,
    customer_service_cost,
    discount_rate_annual,
    acquisition_cost,
    as_of,
    group,
    customer_id,
    ts,
    amount,
    where,
):
    _check_common(where, period, discount_rate_annual)
    for name, value in (
        ("customer_service_cost", customer_service_cost),
        ("acquisition_cost", acquisition_cost),
    ):
        check_argument(where, name, value, Interval("float", 0, None))
    t = _orders(orders, where, customer_id, ts, amount, group)
    as_of_d = _as_date(as_of, "as_of", where) if as_of is not None else _last_day(t)
    months = _MONTHS[period]
    d = (1.0 + discount_rate_annual) ** (months / 12.0) - 1.0
    stats = [("", _retention_stats(t, as_of_d, period))]
    if group:
        stats.insert(0, (ALL, _retention_stats(t.mutate(_g=_literal_all()), as_of_d, period)))
    rows = []
    for _, frame in stats:
        if frame.empty:
            raise DataError(
                f"Retention per {period} needs at least 2 complete {period}s of orders. "
                "Got 0 instead.",
                hint=_shorter(period),
            )
        for g, s in frame.iterrows():
            if s["at_risk"] <= 0:
                raise DataError(
                    f"Retention per {period} needs at least 2 complete {period}s of orders"
                    + (f" in group '{g}'" if group else "")
                    + f". Got {max(int(s['periods']), 0)} instead.",
                    hint=_shorter(period),
                )
            acr = float(s["revenue"]) / float(s["active"])
            rr = float(s["retained"]) / float(s["at_risk"])
            if 1.0 + d - rr <= 0:
                raise DataError(
                    f"The retention formula needs 1 + d − RR > 0. Got RR={rr:.3f} and "
                    f"d={d:.3f} instead.",
                    hint="with every customer retained, supply a discount rate above 0.",
                )
            value = (acr - customer_service_cost) * rr / (1.0 + d - rr) - acquisition_cost
            rows.append(
                RetentionCLTV(
                    group=str(g),
                    average_customer_revenue=acr,
                    customer_service_cost=float(customer_service_cost),
                    retention_rate=rr,
                    discount_rate=d,
                    acquisition_cost=float(acquisition_cost),
                    value=value,
                    period=period,
                    complete_periods=int(s["periods"]),
                    customers=int(s["customers"]),
                    discount_rate_annual=float(discount_rate_annual),
                )
            )
    return rows


def retention_cltv(
    orders: Any,
    *,
    period: Period = "quarter",
    customer_service_cost: float = 0.0,
    discount_rate_annual: float = 0.10,
    acquisition_cost: float = 0.0,
    as_of: Any = None,
    customer_id: str = "customer_id",
    ts: str = "ts",
    amount: str = "amount",
) -> RetentionCLTV:
    """CLTV = (ACR − CS) × RR ÷ (1 + d − RR) − CAC over all customers (see the module docstring).

    ``customer_service_cost`` is per customer per period; ``acquisition_cost`` per customer.
    """
    return _retention_rows(
        orders,
        period=period,
        customer_service_cost=customer_service_cost,
        discount_rate_annual=discount_rate_annual,
        acquisition_cost=acquisition_cost,
        as_of=as_of,
        group=None,
        customer_id=customer_id,
        ts=ts,
        amount=amount,
        where="retention_cltv",
    )[0]


def retention_cltv_table(orders: Any, group: str, **kwargs: Any) -> pd.DataFrame:
    """:func:`retention_cltv` per value of the ``group`` column, plus an ``(all)`` row first.

    Returns one row per group with every input and the value (columns as in
    :class:`RetentionCLTV`).
    """
    rows = _retention_rows(
        orders,
        group=group,
        where="retention_cltv_table",
        **{
            "period": "quarter",
            "customer_service_cost": 0.0,
            "discount_rate_annual": 0.10,
            "acquisition_cost": 0.0,
            "as_of": None,
            "customer_id": "customer_id",
            "ts": "ts",
            "amount": "amount",
            **kwargs,
        },
    )
    return _frame(rows)


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame([r.to_dict() for r in rows])
    rest = frame.iloc[1:].sort_values("group") if len(frame) > 1 else frame.iloc[1:]
    return pd.concat([frame.iloc[:1], rest]).set_index("group")


def _purchase_rows(
    orders,
    *,
    window_months,
    gross_margin,
    lifespan,
    retention_period,
    as_of,
    group,
    customer_id,
    ts,
    amount,
    where,
):
    import ibis

    check_argument(where, "window_months", window_months, Interval("int", 1, 600))
    check_argument(where, "gross_margin", gross_margin, NoneOr(Interval("float", 0, 1)))
    check_argument(where, "lifespan", lifespan, Options(("retention", "observed")))
    _check_common(where, retention_period)
    t = _orders(orders, where, customer_id, ts, amount, group)
    as_of_d = _as_date(as_of, "as_of", where) if as_of is not None else _last_day(t)
    start = (pd.Timestamp(as_of_d) - pd.DateOffset(months=window_months)).date()

    def window_stats(tab):
        return (
            tab.group_by("_g")
            .aggregate(orders=tab.count(), revenue=tab._amount.sum(), customers=tab._c.nunique())
            .to_pyarrow()
            .to_pandas()
            .set_index("_g")
        )

    def spans(tab):
        tab = tab.filter(tab._day <= ibis.literal(as_of_d))
        per_c = tab.group_by(["_g", "_c"]).aggregate(
            _span=tab._day.max().delta(tab._day.min(), unit="day")
        )
        return (
            per_c.group_by("_g")
            .aggregate(mean_span_days=per_c._span.mean())
            .to_pyarrow()
            .to_pandas()
            .set_index("_g")
        )

    parts = [t.mutate(_g=_literal_all()), t] if group else [t]
    rows = []
    for tab in parts:
        wtab = tab.filter((tab._day > ibis.literal(start)) & (tab._day <= ibis.literal(as_of_d)))
        ws = window_stats(wtab)
        if lifespan == "retention":
            rs = _retention_stats(tab, as_of_d, retention_period)
        else:
            rs = spans(tab)
        for g, s in ws.iterrows():
            apfr = float(s["orders"]) / float(s["customers"]) * 12.0 / window_months
            app = float(s["revenue"]) / float(s["orders"])
            rr = None
            if lifespan == "retention":
                r = rs.loc[g] if g in rs.index else {"at_risk": 0, "periods": 0}
                if r["at_risk"] <= 0:
                    raise DataError(
                        f"Lifespan from retention per {retention_period} needs at least 2 "
                        f"complete {retention_period}s of orders. Got "
                        f"{max(int(r['periods']), 0)} instead.",
                        hint="use lifespan='observed'"
                        + ("" if retention_period == "month" else " or retention_period='month'")
                        + ".",
                    )
                rr = float(r["retained"]) / float(r["at_risk"])
                if rr >= 1.0:
                    raise DataError(
                        "Lifespan from retention needs a retention rate below 1. Got 1 instead.",
                        hint="no customer was lost between periods; use lifespan='observed'.",
                    )
                acl = 1.0 / (1.0 - rr) * _MONTHS[retention_period] / 12.0
            else:
                acl = float(rs.loc[g, "mean_span_days"]) / 365.25
            value = apfr * app * acl * (1.0 if gross_margin is None else gross_margin)
            rows.append(
                PurchaseCLTV(
                    group=str(g),
                    average_purchase_frequency_rate=apfr,
                    average_purchase_price=app,
                    average_customer_lifespan=acl,
                    gross_margin=None if gross_margin is None else float(gross_margin),
                    value=value,
                    window_months=int(window_months),
                    lifespan_method=lifespan,
                    customers=int(s["customers"]),
                    orders=int(s["orders"]),
                    retention_rate=rr,
                    retention_period=retention_period if lifespan == "retention" else None,
                )
            )
    if not rows:
        raise DataError(
            f"No orders in the {window_months} months to {as_of_d}. Got 0 instead.",
            hint="choose a later as_of or a longer window_months.",
        )
    return rows


def purchase_cltv(
    orders: Any,
    *,
    window_months: int = 12,
    gross_margin: float | None = None,
    lifespan: Literal["retention", "observed"] = "retention",
    retention_period: Period = "quarter",
    as_of: Any = None,
    customer_id: str = "customer_id",
    ts: str = "ts",
    amount: str = "amount",
) -> PurchaseCLTV:
    """CLTV = APFR × APP × ACL (× gross margin) over all customers (see the module docstring)."""
    return _purchase_rows(
        orders,
        window_months=window_months,
        gross_margin=gross_margin,
        lifespan=lifespan,
        retention_period=retention_period,
        as_of=as_of,
        group=None,
        customer_id=customer_id,
        ts=ts,
        amount=amount,
        where="purchase_cltv",
    )[0]


def purchase_cltv_table(orders: Any, group: str, **kwargs: Any) -> pd.DataFrame:
    """:func:`purchase_cltv` per value of the ``group`` column, plus an ``(all)`` row first."""
    rows = _purchase_rows(
        orders,
        group=group,
        where="purchase_cltv_table",
        **{
            "window_months": 12,
            "gross_margin": None,
            "lifespan": "retention",
            "retention_period": "quarter",
            "as_of": None,
            "customer_id": "customer_id",
            "ts": "ts",
            "amount": "amount",
            **kwargs,
        },
    )
    return _frame(rows)
