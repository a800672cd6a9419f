"""Checking a purchase model against data it has not seen (Fader, Hardie & Lee 2005, §4).

- :func:`calibration_and_holdout` splits an orders table by date into the calibration summary
  the model is fitted on and what each customer then did in the holdout period (an ibis
  expression: the engine does the work).
- :func:`cumulative_tracking`: expected vs actual cumulative repeat transactions of the cohort,
  period by period, across calibration and holdout (FHL 2005, Figure 3).
- :func:`conditional_expectations`: mean holdout transactions vs the model's conditional
  expectation, by calibration frequency (FHL 2005, Figure 5).
- :func:`tracking_figure`, :func:`conditional_expectations_figure`: plotly charts of both.

Conventions: one transaction per customer per calendar day (several orders on a day are one
transaction, values summed); time since the first purchase in days or weeks (days / 7); days are
those of the stored timestamps (naive UTC); both period ends are inclusive; an order counts if
its ``status`` is ``completed`` or missing (as in :mod:`segmint.features.purchases`).

Example:
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-03-10", "2024-01-08"]),
    ...     "amount": [10.0, 20.0, 30.0, 5.0]})
    >>> cal = calibration_and_holdout(orders, "2024-01-31", "2024-03-31", unit="D").to_pandas()
    >>> cal.sort_values("customer_id")[["frequency_cal", "recency_cal", "T_cal",
    ...     "frequency_holdout"]].values.tolist()
    [[1.0, 14.0, 30.0, 1.0], [0.0, 0.0, 23.0, 0.0]]
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError
from segmint.models.base import Interval, check_argument
from segmint.models.clv import _inputs
from segmint.models.clv._units import UNIT_DAYS, normalise_unit

__all__ = [
    "COUNTED_STATUSES",
    "calibration_and_holdout",
    "conditional_expectations",
    "conditional_expectations_figure",
    "cumulative_tracking",
    "tracking_figure",
]

#: order statuses that count as a purchase (a missing status counts too), as in
#: segmint.features.purchases
COUNTED_STATUSES = ("completed",)


def _as_date(value: Any, name: str, where: str) -> _dt.date:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ValidationError(
            f"The '{name}' argument of {where} must be a date like '1997-09-30'. "
            f"Got {value!r} instead."
        )
    return ts.date()


def _as_table(orders: Any, where: str):
    import ibis

    if isinstance(orders, pd.DataFrame):
        return ibis.memtable(orders)
    if _inputs.is_table(orders):
        return orders
    raise ValidationError(
        f"The 'orders' argument of {where} must be an ibis table or a pandas DataFrame. "
        f"Got {type(orders).__name__} instead."
    )


def _transactions(orders: Any, customer_id: str, ts: str, amount: str | None, until, where):
    """One row per customer and day up to ``until``: (customer_id, day, value)."""
    import ibis

    t = _as_table(orders, where)
    needed = [customer_id, ts] + ([amount] if amount else [])
    _inputs.require_columns(list(t.columns), needed, where)
    if "status" in t.columns:
        t = t.filter(t.status.isnull() | t.status.isin(list(COUNTED_STATUSES)))
    typ = t[ts].type()
    if typ.is_timestamp():
        day = t[ts].date()
    elif typ.is_date():
        day = t[ts]
    else:
        raise ValidationError(
            f"Column '{ts}' must be a timestamp or a date. Got {typ} instead. ({where})",
            hint="parse the column as dates before building the summary.",
        )
    t = t.mutate(_day=day).filter(lambda s: s._day <= ibis.literal(until))
    value = t[amount].sum() if amount else ibis.literal(0.0)
    return t.group_by([customer_id, "_day"]).aggregate(_value=value)


def calibration_and_holdout(
    orders: Any,
    calibration_end: Any,
    observation_end: Any = None,
    *,
    unit: str = "W",
    customer_id: str = "customer_id",
    ts: str = "ts",
    amount: str | None = "amount",
):
    """Per-customer calibration summary and holdout outcome, as an ibis expression.

    Customers are those with a purchase on or before ``calibration_end``. Columns:

    - ``frequency_cal`` repeat transactions in calibration; ``recency_cal`` time from the first
      to the last one; ``T_cal`` time from the first purchase to the end of calibration;
      ``monetary_value_cal`` mean value of the repeat transactions (0 without any);
    - with ``observation_end``: ``frequency_holdout`` transactions after calibration up to
      ``observation_end``, ``monetary_value_holdout`` their mean value, ``duration_holdout``
      the holdout length.

    Time is in ``unit`` (``"D"`` days or ``"W"`` weeks = days / 7). Both ends are inclusive.
    ``orders`` is an ibis table or a pandas DataFrame; ``amount=None`` skips the money columns.
    """
    import ibis

    where = "calibration_and_holdout"
    unit = normalise_unit(unit, where)
    per = float(UNIT_DAYS[unit])
    cal_end = _as_date(calibration_end, "calibration_end", where)
    obs_end = _as_date(observation_end, "observation_end", where) if observation_end else None
    if obs_end is not None and obs_end <= cal_end:
        raise ValidationError(
            f"observation_end must be after calibration_end ({cal_end}). Got {obs_end} instead.",
            hint="the holdout period runs from the day after calibration_end to observation_end.",
        )
    tx = _transactions(orders, customer_id, ts, amount, obs_end or cal_end, where)
    cal = tx.filter(tx._day <= ibis.literal(cal_end))
    end = ibis.literal(cal_end)
    summary = cal.group_by(customer_id).aggregate(
        _first=cal._day.min(),
        _last=cal._day.max(),
        _n=cal.count(),
        _total=cal._value.sum(),
        _first_value=cal._value.argmin(cal._day),
    )
    columns = {
        customer_id: summary[customer_id],
        "frequency_cal": (summary._n - 1).cast("float64"),
        "recency_cal": summary._last.delta(summary._first, unit="day").cast("float64") / per,
        "T_cal": end.delta(summary._first, unit="day").cast("float64") / per,
    }
    if amount:
        columns["monetary_value_cal"] = ibis.ifelse(
            summary._n > 1,
            (summary._total - summary._first_value) / (summary._n - 1).cast("float64"),
            0.0,
        )
    out = summary.select(**columns)
    if obs_end is None:
        return out
    hold = tx.filter(tx._day > ibis.literal(cal_end))
    hold = hold.group_by(customer_id).aggregate(_hn=hold.count(), _hv=hold._value.sum())
    joined = out.left_join(hold, customer_id)
    hn = joined._hn.fill_null(0)
    extra = {"frequency_holdout": hn.cast("float64")}
    if amount:
        extra["monetary_value_holdout"] = ibis.ifelse(hn > 0, joined._hv / hn.cast("float64"), 0.0)
    extra["duration_holdout"] = ibis.literal((obs_end - cal_end).days / per, type="float64")
    return joined.select(*out.columns, **extra)


def _to_pandas(data: Any, columns: list[str], where: str) -> pd.DataFrame:
    if _inputs.is_table(data):
        _inputs.require_columns(list(data.columns), columns, where)
        return data.select(*columns).to_pyarrow().to_pandas()
    if isinstance(data, pd.DataFrame):
        _inputs.require_columns(list(data.columns), columns, where)
        return data[columns]
    raise ValidationError(
        f"The data of {where} must be an ibis table or a pandas DataFrame. "
        f"Got {type(data).__name__} instead."
    )


def conditional_expectations(model: Any, data: Any, *, max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout transactions vs the model's conditional expectation, by calibration frequency.

    ``data`` is the output of :func:`calibration_and_holdout` (ibis or pandas). One row per
    ``frequency_cal`` value 0 … ``max_frequency − 1`` plus one for ``max_frequency`` and more
    (label ``"7+"``), with ``customers``, ``actual`` and ``expected`` (means per customer).
    """
    where = "conditional_expectations"
    check_argument(where, "max_frequency", max_frequency, Interval("int", 1, None))
    model._check_fitted(f"{where}()")
    keys = ["frequency_cal", "recency_cal", "T_cal", "duration_holdout"]
    if _inputs.is_table(data):
        _inputs.require_columns(list(data.columns), [*keys, "frequency_holdout"], where)
        grouped = (
            data.group_by(keys)
            .aggregate(_n=data.count(), _actual=data.frequency_holdout.sum())
            .to_pyarrow()
            .to_pandas()
        )
    else:
        frame = _to_pandas(data, [*keys, "frequency_holdout"], where)
        grouped = frame.groupby(keys, as_index=False).agg(
            _n=("frequency_holdout", "size"), _actual=("frequency_holdout", "sum")
        )
    x = grouped.frequency_cal.to_numpy(float)
    expected = model.expected_purchases(
        grouped.duration_holdout.to_numpy(float),
        x,
        grouped.recency_cal.to_numpy(float),
        grouped.T_cal.to_numpy(float),
    )
    bucket = np.minimum(x, max_frequency).astype(int)
    grouped = grouped.assign(_bucket=bucket, _expected=expected * grouped._n)
    out = grouped.groupby("_bucket").agg(
        customers=("_n", "sum"), actual=("_actual", "sum"), expected=("_expected", "sum")
    )
    out["actual"] = out["actual"] / out["customers"]
    out["expected"] = out["expected"] / out["customers"]
    labels = [f"{b}+" if b == max_frequency else str(b) for b in out.index]
    out.index = pd.Index(labels, name="frequency_cal")
    return out.astype({"customers": "int64"})


def cumulative_tracking(
    model: Any,
    orders: Any,
    calibration_end: Any,
    observation_end: Any,
    *,
    unit: str = "W",
    customer_id: str = "customer_id",
    ts: str = "ts",
) -> pd.DataFrame:
    """Expected vs actual cumulative repeat transactions of the calibration cohort over time.

    The cohort is every customer whose first purchase is on or before ``calibration_end``. At
    the end of each period (one ``unit`` long, from the cohort's first purchase day) ``actual``
    counts repeat transactions so far and ``expected`` sums ``E[X(t)]`` of each customer since
    their own first purchase (unconditional: the model sees no individual history). Columns:
    ``date``, ``t`` (units since the cohort began), ``actual``, ``expected``, ``actual_period``,
    ``expected_period`` (increments) and ``period`` (``"calibration"`` / ``"holdout"``).
    """
    import ibis

    where = "cumulative_tracking"
    unit = normalise_unit(unit, where)
    per = UNIT_DAYS[unit]
    model._check_fitted(f"{where}()")
    cal_end = _as_date(calibration_end, "calibration_end", where)
    obs_end = _as_date(observation_end, "observation_end", where)
    if obs_end <= cal_end:
        raise ValidationError(
            f"observation_end must be after calibration_end ({cal_end}). Got {obs_end} instead."
        )
    tx = _transactions(orders, customer_id, ts, None, obs_end, where)
    firsts = tx.group_by(customer_id).aggregate(_first=tx._day.min())
    firsts = firsts.filter(firsts._first <= ibis.literal(cal_end))
    cohort = firsts.group_by("_first").aggregate(_n=firsts.count()).to_pyarrow().to_pandas()
    rep = tx.inner_join(firsts, customer_id)
    rep = rep.filter(rep._day > rep._first)
    daily = rep.group_by("_day").aggregate(_n=rep.count()).to_pyarrow().to_pandas()
    if cohort.empty:
        raise ValidationError(
            f"{where} needs customers with a purchase on or before {cal_end}. Got none instead."
        )
    day0 = min(cohort._first)
    first_off = np.array([(d - day0).days for d in cohort._first], dtype=float)
    counts = cohort._n.to_numpy(float)
    rep_off = np.array([(d - day0).days for d in daily._day], dtype=float)
    rep_n = daily._n.to_numpy(float)
    last = (obs_end - day0).days
    ends = list(range(per, last + 1, per))
    if not ends or ends[-1] != last:
        ends.append(last)
    ends_arr = np.asarray(ends, dtype=float)
    actual = np.array([rep_n[rep_off <= e].sum() for e in ends_arr])
    age = np.clip(ends_arr[:, None] - first_off[None, :], 0.0, None) / per
    expected_new = model.expected_purchases_new_customer(age.ravel()).reshape(age.shape)
    expected = (expected_new * counts[None, :]).sum(axis=1)
    dates = [day0 + _dt.timedelta(days=int(e)) for e in ends]
    return pd.DataFrame(
        {
            "date": dates,
            "t": ends_arr / per,
            "actual": actual,
            "expected": expected,
            "actual_period": np.diff(actual, prepend=0.0),
            "expected_period": np.diff(expected, prepend=0.0),
            "period": ["calibration" if d <= cal_end else "holdout" for d in dates],
        }
    )


def tracking_figure(frame: pd.DataFrame, *, cumulative: bool = True):
    """A plotly figure of :func:`cumulative_tracking` (cumulative or per period)."""
    import plotly.graph_objects as go

    a, e = ("actual", "expected") if cumulative else ("actual_period", "expected_period")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["t"], y=frame[a], name="actual", mode="lines"))
    fig.add_trace(
        go.Scatter(x=frame["t"], y=frame[e], name="model", mode="lines", line={"dash": "dash"})
    )
    cal = frame.loc[frame["period"] == "calibration", "t"]
    if len(cal):
        fig.add_vline(x=float(cal.max()), line={"dash": "dot", "color": "grey"})
    fig.update_layout(
        xaxis_title="time since the cohort's first purchase",
        yaxis_title=("cumulative " if cumulative else "") + "repeat transactions",
    )
    return fig


def conditional_expectations_figure(frame: pd.DataFrame):
    """A plotly figure of :func:`conditional_expectations`."""
    import plotly.graph_objects as go

    x = list(frame.index)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=frame["actual"], name="actual", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(
            x=x, y=frame["expected"], name="model", mode="lines+markers", line={"dash": "dash"}
        )
    )
    fig.update_layout(
        xaxis_title="repeat transactions in calibration",
        yaxis_title="mean transactions in holdout",
    )
    return fig
