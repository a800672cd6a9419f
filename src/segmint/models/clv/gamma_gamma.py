"""Gamma-Gamma: how much a customer spends per transaction (Fader & Hardie 2013).

Each transaction's value is Gamma(p, ν) around the customer's own mean p/ν, with ν ~ Gamma(q, γ)
across customers. Fitted on customers with at least one repeat transaction (frequency ≥ 1) and
the mean value of those repeat transactions; it assumes spend does not depend on how often a
customer buys (``spend_frequency_correlation_`` shows how far the data are from that).

Example:
    >>> from segmint.models.clv import GammaGammaModel
    >>> m = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)   # CDNOW
    >>> round(float(m.expected_spend(2, 25.0)[0]), 2)
    26.84
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from segmint.errors import DataError, ValidationError
from segmint.models.clv import _inputs
from segmint.models.clv._common import MLEModel
from segmint.models.clv.likelihoods import GammaGammaPatterns

__all__ = ["GammaGammaModel"]


class GammaGammaModel(MLEModel):
    """Gamma-Gamma spend model fitted by maximum likelihood.

    Parameters:
        penalizer: L2 penalty on the parameters added to the mean negative log-likelihood.
        n_starts: how many starting points to try if the first fit fails.
        max_iter: iteration limit of the optimiser per start.

    Fitted attributes: ``params_`` (p, q, gamma), ``standard_errors_``, ``covariance_``,
    ``log_likelihood_``, ``n_customers_`` (repeat customers fitted on), ``n_patterns_``,
    ``convergence_``, ``spend_frequency_correlation_`` (Pearson correlation of frequency and
    mean spend among them; the model assumes it is near 0).
    """

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "gamma")
    fitted_attributes: ClassVar[tuple[str, ...]] = (
        *MLEModel.fitted_attributes,
        "spend_frequency_correlation_",
    )
    divergence_hints: ClassVar[dict[str, str]] = {
        "p": "transaction values hardly vary within customers",
        "q": "mean spend hardly varies between customers",
        "gamma": "mean spend hardly varies between customers",
    }

    def fit(self, frequency: Any, monetary_value: Any = None, *, weights: Any = None):
        """Fit on repeat customers' (frequency, monetary_value); rows with frequency 0 are skipped.

        Args:
            frequency: repeat transactions per customer, or a table (ibis or pandas) with columns
                ``frequency`` and ``monetary_value``.
            monetary_value: mean value of each customer's repeat transactions (arrays only).
            weights: customers per row; with a table, the name of a count column.
        """
        self._validate_params()
        where = f"{type(self).__name__}.fit"
        cols, w, condensed = _inputs.gather(
            frequency,
            (monetary_value,),
            ("frequency", "monetary_value"),
            weights,
            where=where,
            table_filter=lambda t: t.frequency > 0,
            condense=False,  # mean spends are continuous: grouping rarely condenses
        )
        _inputs.check_lengths(cols, w, where)
        _inputs.check_finite(cols, condensed, where)
        w = _inputs.check_weights(w, len(cols["frequency"]), where)
        x, m = cols["frequency"], cols["monetary_value"]
        _check_frequency(x, condensed, where)
        bad = np.nonzero((x > 0) & (m <= 0))[0]
        if bad.size:
            i = int(bad[0])
            at = f"pattern frequency={x[i]:g}" if condensed else f"position {i:,}"
            raise ValidationError(
                f"monetary_value must be > 0 for customers with frequency ≥ 1. Got "
                f"{m[i]:g} instead. ({where}, {at})",
                hint="leave out refunds and zero-value orders, or customers whose repeat "
                "purchases net to 0.",
            )
        keep = (x > 0) & (w > 0)
        x, m, w = x[keep], m[keep], w[keep]
        if x.size == 0:
            raise DataError(
                f"{where} needs customers with frequency ≥ 1. Got none instead.",
                hint="Gamma-Gamma learns from repeat transactions; use a longer period.",
            )
        mbar = float(w @ m) / float(w.sum())
        starts = [
            (2.0, 3.0, mbar),
            (1.0, 2.0, mbar),
            (5.0, 5.0, 0.8 * mbar),
            (10.0, 2.0, 0.1 * mbar),
        ]

        def make_objective(rows):
            if rows is None:
                return GammaGammaPatterns(x, m, w), float(w.sum())
            return GammaGammaPatterns(x[rows], m[rows], w[rows]), float(w[rows].sum())

        self._fit_mle(make_objective, w, starts, analytic_gradient=True)
        self.spend_frequency_correlation_ = _weighted_corr(x, m, w)
        return self

    def expected_spend(self, frequency: Any, monetary_value: Any = None) -> Any:
        """Expected mean transaction value of each customer (conditional on their history).

        A weighted average of the population mean ``p·γ/(q−1)`` and the customer's own mean,
        the weight growing with frequency; customers with frequency 0 get the population mean.
        On an ibis table, returns the table with an ``expected_spend`` column (a pure expression).
        """
        self._check_fitted("expected_spend()")
        p, q, v = self._theta()
        if q <= 1:
            raise DataError(
                f"The Gamma-Gamma q must be > 1 for mean spend to exist. Got q={q:.4g} instead.",
                hint="spend is too heavy-tailed for this model: cap outliers or refit with a "
                "penalizer.",
            )
        where = f"{type(self).__name__}.expected_spend"
        if _inputs.is_table(frequency):
            _inputs.reject_arrays_with_table(
                (monetary_value,), ("frequency", "monetary_value"), where
            )
            t = frequency
            _inputs.require_columns(list(t.columns), ("frequency", "monetary_value"), where)
            f = t.frequency.cast("float64")
            weight = (p * f) / (p * f + q - 1.0)
            value = (1.0 - weight) * (p * v / (q - 1.0)) + weight * t.monetary_value
            return t.mutate(expected_spend=value)
        cols, _, condensed = _inputs.gather(
            frequency, (monetary_value,), ("frequency", "monetary_value"), None, where=where
        )
        _inputs.check_lengths(cols, None, where)
        _inputs.check_finite(cols, condensed, where)
        x, m = cols["frequency"], cols["monetary_value"]
        _check_frequency(x, condensed, where)
        return expected_spend((p, q, v), x, m)


def expected_spend(params, x, m) -> np.ndarray:
    """E[mean spend | x, m] (Fader & Hardie 2013, eq. 5)."""
    p, q, v = params
    weight = p * x / (p * x + q - 1.0)
    return (1.0 - weight) * (p * v / (q - 1.0)) + weight * m


def _check_frequency(x: np.ndarray, condensed: bool, where: str) -> None:
    bad = (x < 0) | (x != np.round(x))
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise ValidationError(
            f"frequency must be a whole number ≥ 0 (repeat purchases). Got {x[i]:g} instead. "
            f"({where}, position {i:,})"
        )


def _weighted_corr(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    mx, mm = np.average(x, weights=w), np.average(m, weights=w)
    cov = np.average((x - mx) * (m - mm), weights=w)
    sx = np.sqrt(np.average((x - mx) ** 2, weights=w))
    sm = np.sqrt(np.average((m - mm) ** 2, weights=w))
    return float(cov / (sx * sm)) if sx > 0 and sm > 0 else float("nan")
