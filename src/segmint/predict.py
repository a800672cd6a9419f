"""Predictive analyses on a workspace: BG/NBD + Gamma-Gamma CLV per customer (layer 4).

:func:`clv` fits the purchase model (BG/NBD) and the spend model (Gamma-Gamma) on the BTYD
summary (days) and scores every customer: ``p_alive``, ``expected_purchases`` and ``clv`` over
the horizon, ``expected_spend`` per future transaction and the ``churn_risk`` band (low, medium,
high). The workspace facade (``ws.clv()``) supplies the summary and stores the table ``clv``.

Example:
    >>> CLV_COLUMNS
    ('customer_id', 'p_alive', 'expected_purchases', 'expected_spend', 'clv', 'churn_risk', 'as_of')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from segmint.errors import DataError
from segmint.models.clv import BetaGeoModel, GammaGammaModel, customer_scores

__all__ = ["AUTO_PENALIZERS", "CLV_COLUMNS", "CLVResult", "clv"]

#: L2 penalties tried in turn when ``penalizer=None`` (0 = plain maximum likelihood).
AUTO_PENALIZERS = (0.0, 1e-4, 1e-3)

#: Columns of the stored ``clv`` table, in order.
CLV_COLUMNS = (
    "customer_id",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "churn_risk",
    "as_of",
)


@dataclass(frozen=True)
class CLVResult:
    """What :func:`clv` returns: the per-customer table and the two fitted models."""

    table: ir.Table
    as_of: dt.date
    purchase_model: BetaGeoModel
    spend_model: GammaGammaModel
    horizon_months: int
    discount_rate_monthly: float
    #: L2 penalty each fit ended up with ({"BG/NBD": 0.0, "Gamma-Gamma": 0.0001}); 0 = plain MLE
    penalizers: dict[str, float] = field(default_factory=dict)

    @property
    def params(self) -> pd.DataFrame:
        """model, parameter, estimate, std_error: one row per fitted parameter."""
        rows = []
        for name, model in (("BG/NBD", self.purchase_model), ("Gamma-Gamma", self.spend_model)):
            for p, value in model.params_.items():
                rows.append(
                    {
                        "model": name,
                        "parameter": p,
                        "estimate": value,
                        "std_error": model.standard_errors_[p],
                    }
                )
        return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "std_error"])


def clv(
    summary: ir.Table,
    as_of: dt.date,
    *,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
    penalizer: float | None = None,
) -> CLVResult:
    """Fit BG/NBD and Gamma-Gamma on ``summary`` (BTYD columns, unit days) and score everyone.

    The fits pull only the condensed (frequency, recency, T) patterns and the repeat customers'
    (frequency, monetary_value) from the engine. ``result.table`` holds :data:`CLV_COLUMNS`.
    ``penalizer`` is the L2 penalty of both fits; ``None`` tries plain maximum likelihood first
    and, for a model that does not converge (or a Gamma-Gamma with q <= 1, whose mean spend does
    not exist), the small penalties of :data:`AUTO_PENALIZERS`; ``result.penalizers`` says which.
    """
    tries = AUTO_PENALIZERS if penalizer is None else (float(penalizer),)
    bg, bg_pen = _fit(BetaGeoModel, summary, tries)
    gg, gg_pen = _fit(GammaGammaModel, summary, tries)
    scores = customer_scores(
        bg,
        gg,
        summary,
        unit="D",
        horizon_months=horizon_months,
        discount_rate_monthly=discount_rate_monthly,
    )
    table = scores.select(
        customer_id=scores.customer_id,
        p_alive=scores.probability_alive.cast("float64"),
        expected_purchases=scores.expected_purchases.cast("float64"),
        expected_spend=scores.expected_spend.cast("float64"),
        clv=scores.clv.cast("float64"),
        churn_risk=scores.risk.cast("string"),
        as_of=ibis.date(as_of),
    )
    return CLVResult(
        table=table,
        as_of=as_of,
        purchase_model=bg,
        spend_model=gg,
        horizon_months=horizon_months,
        discount_rate_monthly=discount_rate_monthly,
        penalizers={"BG/NBD": bg_pen, "Gamma-Gamma": gg_pen},
    )


def _fit(model_class: Any, summary: ir.Table, tries: tuple[float, ...]) -> tuple[Any, float]:
    """The fit with the first penalty in ``tries`` that converges; else the first error."""
    first: DataError | None = None
    for pen in tries:
        try:
            model = model_class(penalizer=pen).fit(summary)
        except DataError as exc:
            first = first or exc
            continue
        if model_class is GammaGammaModel and model.params_["q"] <= 1:
            first = first or DataError(
                "The Gamma-Gamma q must be > 1 for mean spend to exist. "
                f"Got q={model.params_['q']:.4g} instead. (clv, penalizer={pen:g})",
                hint="pass another penalizer, e.g. ws.clv(penalizer=1e-4).",
            )
            continue
        return model, pen
    assert first is not None
    raise first
