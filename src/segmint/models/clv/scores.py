"""One table of per-customer CLV metrics, ready to store and to use in segment definitions.

:func:`customer_scores` combines the purchase model, the spend model and the churn bands for
every customer of a BTYD summary (customer_id, frequency, recency, T, monetary_value):

``probability_alive``, ``expected_purchases`` (over the horizon), ``expected_spend``, ``clv``,
``days_since_last``, ``typical_gap_days``, ``overdue`` and ``risk``.

Example:
    >>> import pandas as pd
    >>> from segmint.models.clv import BetaGeoModel, GammaGammaModel
    >>> bg = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> gg = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
    >>> s = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [6, 0],
    ...     "recency": [37.0, 0.0], "T": [38.0, 20.0], "monetary_value": [25.0, 0.0]})
    >>> out = customer_scores(bg, gg, s, unit="W")
    >>> out[["customer_id", "risk"]].values.tolist()
    [['a', 'low'], ['b', 'medium']]
    >>> bool(out.loc[0, "clv"] > out.loc[1, "clv"])
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError
from segmint.models.clv import _inputs
from segmint.models.clv._units import PERIODS_PER_MONTH, normalise_unit
from segmint.models.clv.churn import churn_risk
from segmint.models.clv.value import customer_lifetime_value

__all__ = ["SCORE_COLUMNS", "customer_scores"]

#: Columns :func:`customer_scores` adds, in order.
SCORE_COLUMNS = (
    "probability_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "days_since_last",
    "typical_gap_days",
    "overdue",
    "risk",
)


def customer_scores(
    purchase_model: Any,
    spend_model: Any,
    summary: Any,
    *,
    unit: str,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    thresholds: tuple[float, float] = (0.3, 0.7),
    overdue_factor: float = 2.0,
    customer_id: str = "customer_id",
) -> Any:
    """Per-customer CLV metrics (see the module docstring) — ibis table in, ibis table out
    (nothing but the condensed patterns leaves the engine); pandas in, pandas out.

    ``expected_purchases`` covers the same ``horizon_months`` as ``clv`` (undiscounted).
    """
    where = "customer_scores"
    unit = normalise_unit(unit, where)
    names = (customer_id, "frequency", "recency", "T", "monetary_value")
    churn_opts = {
        "unit": unit,
        "thresholds": thresholds,
        "overdue_factor": overdue_factor,
        "customer_id": customer_id,
    }
    horizon = horizon_months * PERIODS_PER_MONTH[unit]
    clv_opts = {
        "horizon_months": horizon_months,
        "discount_rate_monthly": discount_rate_monthly,
        "unit": unit,
    }
    if _inputs.is_table(summary):
        _inputs.require_columns(list(summary.columns), names, where)
        base = summary.select(*names)
        clv = customer_lifetime_value(purchase_model, spend_model, base, **clv_opts)
        purchases = purchase_model.expected_purchases(horizon, base.select(*names[:4]))
        churn = churn_risk(purchase_model, base, **churn_opts)
        out = clv.join(purchases.select(customer_id, "expected_purchases"), customer_id)
        out = out.join(churn, customer_id)
        return out.select(*names, *SCORE_COLUMNS)
    if not isinstance(summary, pd.DataFrame):
        raise ValidationError(
            f"The 'summary' argument of {where} must be a pandas DataFrame or an ibis table. "
            f"Got {type(summary).__name__} instead."
        )
    _inputs.require_columns(list(summary.columns), names, where)
    frame = summary[list(names)].reset_index(drop=True)
    f, r, T, m = (frame[n].to_numpy(dtype=float) for n in names[1:])
    churn = churn_risk(purchase_model, frame, **churn_opts)
    return frame.assign(
        probability_alive=churn["probability_alive"].to_numpy(),
        expected_purchases=np.asarray(purchase_model.expected_purchases(horizon, f, r, T)),
        expected_spend=np.asarray(spend_model.expected_spend(f, m)),
        clv=customer_lifetime_value(purchase_model, spend_model, f, r, T, m, **clv_opts),
        days_since_last=churn["days_since_last"].to_numpy(),
        typical_gap_days=churn["typical_gap_days"].to_numpy(),
        overdue=churn["overdue"].to_numpy(),
        risk=churn["risk"].to_numpy(),
    )
