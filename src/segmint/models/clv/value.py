"""Discounted customer lifetime value from a purchase model and a spend model.

``CLV = Σ_{m=1..H} expected_spend × (E[purchases by month m] − E[purchases by month m−1])
÷ (1 + d)^m`` — the expected margin of each coming month, discounted monthly, like lifetimes'
``customer_lifetime_value``. A month is 30 days or 4.345 weeks (lifetimes' conventions).

Example:
    >>> from segmint.models.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
    >>> bg = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> gg = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
    >>> clv = customer_lifetime_value(bg, gg, [2], [30.43], [38.86], [22.5], unit="W")
    >>> round(float(clv[0]), 2)
    36.47
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError
from segmint.models.base import Interval, check_argument
from segmint.models.clv import _inputs
from segmint.models.clv._units import PERIODS_PER_MONTH, normalise_unit

__all__ = ["customer_lifetime_value", "discounted_expected_purchases"]

_NAME = "customer_lifetime_value"


def _discounted_growth(purchase_model, x, T, horizon_months, discount_rate_monthly, per_month):
    """``Σ_m (G(m) − G(m−1)) / (1+d)^m`` where G = expected purchases given alive (x, T only)."""
    total = np.zeros(np.shape(x))
    previous = np.zeros_like(total)
    for month in range(1, horizon_months + 1):
        current = purchase_model._growth(month * per_month, x, T)
        total = total + (current - previous) / (1.0 + discount_rate_monthly) ** month
        previous = current
    return total


def _pairs(x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, T) pairs and, for each row, the index of its pair."""
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([x, T]))
    return (
        codes,
        np.asarray(uniques.get_level_values(0), dtype=float),
        np.asarray(uniques.get_level_values(1), dtype=float),
    )


def discounted_expected_purchases(
    purchase_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    unit: str,
) -> np.ndarray:
    """``Σ_m (E[Y(m)] − E[Y(m−1)]) / (1+d)^m``: expected purchases month by month, discounted.

    Both purchase models factor as ``E[Y(t) | x, tx, T] = P(alive) · G(t; x, T)``, so the
    monthly sums (special functions) are computed once per distinct (x, T) pair.
    """
    per_month = PERIODS_PER_MONTH[normalise_unit(unit, _NAME)]
    x, tx, tt = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, T))
    codes, ux, uT = _pairs(x, tt)
    dg = _discounted_growth(
        purchase_model, ux, uT, horizon_months, discount_rate_monthly, per_month
    )
    return np.asarray(purchase_model.probability_alive(x, tx, tt), dtype=float) * dg[codes]


def customer_lifetime_value(
    purchase_model: Any,
    spend_model: Any,
    frequency: Any,
    recency: Any = None,
    T: Any = None,
    monetary_value: Any = None,
    *,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    unit: str,
) -> Any:
    """Discounted CLV of each customer over the next ``horizon_months`` months.

    Args:
        purchase_model: a fitted :class:`BetaGeoModel` or :class:`ParetoNBDModel`.
        spend_model: a fitted :class:`GammaGammaModel`.
        frequency, recency, T, monetary_value: arrays, or one table (ibis or pandas) with these
            columns. On an ibis table the result is the table with ``expected_spend`` and ``clv``
            columns (the distinct (frequency, recency, T) patterns are scored and joined back).
        horizon_months: months ahead.
        discount_rate_monthly: monthly discount rate (0.01 ≈ 12.7 % a year).
        unit: time unit of recency and T: ``"D"`` (days) or ``"W"`` (weeks).
    """
    check_argument(_NAME, "horizon_months", horizon_months, Interval("int", 1, 1200))
    check_argument(_NAME, "discount_rate_monthly", discount_rate_monthly, Interval("float", 0, 1))
    unit = normalise_unit(unit, _NAME)
    for role, model, method in (
        ("purchase_model", purchase_model, "expected_purchases"),
        ("spend_model", spend_model, "expected_spend"),
    ):
        if not hasattr(type(model), method):
            raise ValidationError(
                f"The '{role}' argument of {_NAME} must be a model with {method}(). Got "
                f"{type(model).__name__} instead.",
                hint="pass a BetaGeoModel or ParetoNBDModel, then a GammaGammaModel.",
            )
        model._check_fitted(f"{_NAME}()")

    def factor(x, tx, tt):
        return discounted_expected_purchases(
            purchase_model,
            x,
            tx,
            tt,
            horizon_months=horizon_months,
            discount_rate_monthly=discount_rate_monthly,
            unit=unit,
        )

    names = ("frequency", "recency", "T", "monetary_value")
    if _inputs.is_table(frequency):
        _inputs.reject_arrays_with_table((recency, T, monetary_value), names, _NAME)
        _inputs.require_columns(list(frequency.columns), names, _NAME)
        table = spend_model.expected_spend(frequency)
        if hasattr(purchase_model, "_probability_alive_expr"):
            return _clv_in_engine(
                table, purchase_model, horizon_months, discount_rate_monthly, unit
            )
        scored = _inputs.score_table(
            table,
            ("frequency", "recency", "T"),
            lambda c: {"_discounted_purchases": _checked_factor(c, factor)},
            where=_NAME,
        )
        return scored.mutate(clv=scored.expected_spend * scored._discounted_purchases).drop(
            "_discounted_purchases"
        )
    cols, _, _ = _inputs.gather(frequency, (recency, T, monetary_value), names, None, where=_NAME)
    _inputs.check_rft(cols, None, False, _NAME, min_rows=0)
    x, tx, tt, m = (cols[n] for n in names)
    spend = spend_model.expected_spend(x, m)
    return spend * factor(x, tx, tt)


def _checked_factor(cols, factor):
    _inputs.check_rft(cols, None, True, _NAME, min_rows=0)
    return factor(cols["frequency"], cols["recency"], cols["T"])


def _clv_in_engine(table, purchase_model, horizon_months, discount_rate_monthly, unit):
    """CLV as an ibis expression: P(alive) and spend in the engine, the monthly sums per
    distinct (frequency, T) pair computed here and joined back."""
    import ibis
    import pyarrow as pa

    bad = (
        (table.recency < 0)
        | (table.recency > table["T"] * (1 + 1e-9) + 1e-12)
        | ((table.frequency == 0) & (table.recency != 0))
        | (table.frequency < 0)
    )
    n_bad = table.filter(bad).count().to_pyarrow().as_py()
    if n_bad:
        raise ValidationError(
            f"recency must be within [0, T] (and 0 when frequency is 0). Got {n_bad:,} "
            f"customer(s) outside instead. ({_NAME})",
            hint="measure recency and T up to the same date.",
        )
    pairs = table.select("frequency", "T").distinct().to_pyarrow()
    x = np.asarray(pairs.column("frequency").to_numpy(zero_copy_only=False), dtype=float)
    tt = np.asarray(pairs.column("T").to_numpy(zero_copy_only=False), dtype=float)
    _inputs.check_finite({"frequency": x, "T": tt}, True, _NAME)
    per_month = PERIODS_PER_MONTH[unit]
    dg = _discounted_growth(purchase_model, x, tt, horizon_months, discount_rate_monthly, per_month)
    lookup = ibis.memtable(
        pa.table(
            {
                "frequency": pairs.column("frequency"),
                "T": pairs.column("T"),
                "_discounted_growth": dg,
            }
        )
    )
    joined = table.left_join(lookup, ["frequency", "T"])
    alive = purchase_model._probability_alive_expr(joined)
    clv = joined.expected_spend * alive * joined._discounted_growth
    return joined.select(*table.columns, clv=clv)
