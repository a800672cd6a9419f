"""Churn-risk bands: probability alive, and time since the last purchase vs the customer's rhythm.

Each customer gets a band — ``"high"``, ``"medium"`` or ``"low"`` risk — usable as a computed
metric in segment definitions:

1. from P(alive) of a fitted purchase model: below ``thresholds[0]`` → high, below
   ``thresholds[1]`` → medium, else low;
2. then one step up (low → medium → high) if the customer is *overdue*: the time since their
   last purchase exceeds ``overdue_factor`` × their typical gap between purchases. The typical
   gap is their own mean gap (recency ÷ frequency) once they have at least
   ``min_frequency_for_rhythm`` repeat purchases, else the median own gap of those customers
   (so one-time buyers are judged against the population's rhythm: BG/NBD gives them
   P(alive) = 1, which alone would call them safe).

Example:
    >>> import pandas as pd
    >>> from segmint.models.clv import BetaGeoModel
    >>> bg = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [6, 2, 0],
    ...                   "recency": [37.0, 5.0, 0.0], "T": [38.0, 38.0, 38.0]})
    >>> churn_risk(bg, s, unit="W")["risk"].tolist()
    ['low', 'high', 'medium']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError
from segmint.models.base import Interval, check_argument
from segmint.models.clv import _inputs
from segmint.models.clv._units import UNIT_DAYS, normalise_unit

__all__ = ["RISK_BANDS", "churn_risk"]

#: the bands, from safest to riskiest
RISK_BANDS = ("low", "medium", "high")
_OUT = ("probability_alive", "days_since_last", "typical_gap_days", "overdue", "risk")


def _bands(model, x, tx, T, w, *, per, thresholds, overdue_factor, min_freq):
    p = np.asarray(model.probability_alive(x, tx, T), dtype=float)
    since = (T - tx) * per
    has_rhythm = x >= min_freq
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(has_rhythm, tx / np.where(x > 0, x, 1.0) * per, np.nan)
    if has_rhythm.any():
        order = np.argsort(own[has_rhythm])
        gaps, cw = own[has_rhythm][order], np.cumsum(w[has_rhythm][order])
        population = float(gaps[np.searchsorted(cw, cw[-1] / 2.0)])
    else:
        population = np.nan
    gap = np.where(has_rhythm, own, population)
    overdue = np.nan_to_num(since > overdue_factor * gap, nan=0.0).astype(bool)
    level = np.where(p < thresholds[0], 2, np.where(p < thresholds[1], 1, 0))
    level = np.minimum(level + overdue, 2)
    return {
        "probability_alive": p,
        "days_since_last": since,
        "typical_gap_days": gap,
        "overdue": overdue,
        "risk": np.asarray(RISK_BANDS, dtype=object)[level],
    }


def churn_risk(
    model: Any,
    summary: Any,
    *,
    unit: str,
    thresholds: tuple[float, float] = (0.3, 0.7),
    overdue_factor: float = 2.0,
    min_frequency_for_rhythm: int = 2,
    customer_id: str = "customer_id",
) -> Any:
    """Churn-risk band of each customer (see the module docstring for the rules).

    Args:
        model: a fitted BetaGeoModel or ParetoNBDModel.
        summary: customers with ``customer_id``, ``frequency``, ``recency`` and ``T`` (up to
            today): a pandas DataFrame or an ibis table.
        unit: time unit of recency and T (``"D"`` or ``"W"``).
        thresholds: P(alive) below the first is high risk, below the second medium.
        overdue_factor: overdue when the time since the last purchase exceeds this many
            typical gaps.
        min_frequency_for_rhythm: repeat purchases needed to trust a customer's own rhythm.

    Returns:
        ``customer_id``, ``probability_alive``, ``days_since_last``, ``typical_gap_days``,
        ``overdue`` and ``risk`` — a DataFrame for a DataFrame, an ibis table for an ibis table.
    """
    where = "churn_risk"
    per = float(UNIT_DAYS[normalise_unit(unit, where)])
    ok = (
        isinstance(thresholds, tuple | list)
        and len(thresholds) == 2
        and all(Interval("float", 0, 1, closed="neither").is_satisfied_by(t) for t in thresholds)
        and thresholds[0] < thresholds[1]
    )
    if not ok:
        raise ValidationError(
            f"The 'thresholds' argument of {where} must be two probabilities (low, high) with "
            f"0 < low < high < 1. Got {thresholds!r} instead."
        )
    check_argument(where, "overdue_factor", overdue_factor, Interval("float", 0, None, "neither"))
    check_argument(
        where, "min_frequency_for_rhythm", min_frequency_for_rhythm, Interval("int", 1, None)
    )
    model._check_fitted(f"{where}()")
    opts = {
        "per": per,
        "thresholds": tuple(float(t) for t in thresholds),
        "overdue_factor": float(overdue_factor),
        "min_freq": int(min_frequency_for_rhythm),
    }
    names = ("frequency", "recency", "T")
    if _inputs.is_table(summary):
        _inputs.require_columns(list(summary.columns), [customer_id, *names], where)

        def compute(c):
            _inputs.check_rft({n: c[n] for n in names}, None, True, where, min_rows=0)
            return _bands(model, c["frequency"], c["recency"], c["T"], c[_inputs.WEIGHT], **opts)

        scored = _inputs.score_table(
            summary.select(customer_id, *names), names, compute, where=where, counts=True
        )
        return scored.select(customer_id, *_OUT)
    if not isinstance(summary, pd.DataFrame):
        raise ValidationError(
            f"The 'summary' argument of {where} must be a pandas DataFrame or an ibis table. "
            f"Got {type(summary).__name__} instead."
        )
    _inputs.require_columns(list(summary.columns), [customer_id, *names], where)
    cols = {n: summary[n].to_numpy(dtype=float, na_value=np.nan) for n in names}
    _inputs.check_rft(cols, None, False, where, min_rows=0)
    out = _bands(model, *cols.values(), np.ones(len(summary)), **opts)
    return pd.DataFrame({customer_id: summary[customer_id].to_numpy(), **out})
