"""BG/NBD: the beta-geometric / negative binomial purchase model (Fader, Hardie & Lee 2005).

While alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each repeat
purchase they drop out for good with probability p ~ Beta(a, b). From each customer's frequency
(repeat transactions), recency (time of the last one since the first) and T (time since the first
purchase) the model estimates (r, α, a, b) and predicts who is still alive and how much they will
buy. Time is in whatever unit the inputs use (α carries it).

Example:
    >>> from segmint.models.clv import BetaGeoModel
    >>> m = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)   # CDNOW, weeks
    >>> round(float(m.probability_alive(2, 30.43, 38.86)[0]), 4)
    0.7266
    >>> round(float(m.expected_purchases(39, 2, 30.43, 38.86)[0]), 4)
    1.226
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from segmint.models.clv import _inputs
from segmint.models.clv._common import DROPOUT_HINT, RATE_HINT, MLEModel, predict_rft
from segmint.models.clv.likelihoods import BGNBDPatterns, log_hyp2f1

__all__ = ["BetaGeoModel"]


def _log_dropout_odds(params, x, tx, T):
    """log of (P(dropped out) / P(alive)) for customers with x ≥ 1."""
    r, alpha, a, b = params
    xm = np.maximum(x, 1.0)
    return np.log(a) - np.log(b + xm - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))


def probability_alive(params, x, tx, T) -> np.ndarray:
    """P(alive at T | x, tx, T) (Fader, Hardie & Lee 2008 note 021); 1 when x = 0."""
    return np.where(x > 0, expit(-_log_dropout_odds(params, x, tx, T)), 1.0)


def growth(params, t, x, T) -> np.ndarray:
    """E[Y(t) | x, tx, T] / P(alive): expected purchases in (T, T + t] of a customer known to be
    alive; depends on x and T only (FHL 2005, eq. 10)."""
    r, alpha, a, b = params
    t = np.asarray(t, dtype=float)
    z = t / (alpha + T + t)
    log_h = log_hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    with np.errstate(divide="ignore"):
        inner = -np.expm1(log_h + (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    return (a + b + x - 1.0) / (a - 1.0) * inner


def expected_purchases(params, t, x, tx, T) -> np.ndarray:
    """E[Y(t) | x, tx, T]: expected repeat purchases in (T, T + t] (FHL 2005, eq. 10)."""
    return growth(params, t, x, T) * probability_alive(params, x, tx, T)


def probability_alive_expr(params, table):
    """P(alive) as an ibis expression over ``table`` (frequency, recency, T): runs in the engine."""
    import ibis

    r, alpha, a, b = params
    x = table.frequency.cast("float64")
    log_odds = (
        float(np.log(a))
        - (ibis.greatest(x, 1.0) + (b - 1.0)).ln()
        + (x + r) * ((table.T + alpha).ln() - (table.recency + alpha).ln())
    )
    return ibis.ifelse(x > 0, 1.0 / (1.0 + log_odds.clip(upper=700.0).exp()), 1.0)


def expected_purchases_new(params, t) -> np.ndarray:
    """E[X(t)]: expected repeat purchases of a new customer in (0, t] (FHL 2005, eq. 9)."""
    r, alpha, a, b = params
    t = np.asarray(t, dtype=float)
    log_h = log_hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
    inner = -np.expm1(log_h + r * (np.log(alpha) - np.log(alpha + t)))
    return (a + b - 1.0) / (a - 1.0) * inner


class BetaGeoModel(MLEModel):
    """BG/NBD purchase model fitted by maximum likelihood.

    Parameters:
        penalizer: L2 penalty on the parameters added to the mean negative log-likelihood
            (0 = plain maximum likelihood); a little keeps diverging fits finite.
        n_starts: how many starting points to try if the first fit fails.
        max_iter: iteration limit of the optimiser per start.

    Fitted attributes: ``params_`` (r, alpha, a, b), ``standard_errors_``, ``covariance_``,
    ``log_likelihood_``, ``n_customers_``, ``n_patterns_``, ``convergence_``.
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    divergence_hints: ClassVar[dict[str, str]] = {
        "r": RATE_HINT,
        "alpha": RATE_HINT,
        "a": DROPOUT_HINT,
        "b": DROPOUT_HINT,
    }

    def fit(self, frequency: Any, recency: Any = None, T: Any = None, *, weights: Any = None):
        """Fit on customers' (frequency, recency, T).

        Args:
            frequency: repeat transactions per customer (array), or a table with columns
                ``frequency``, ``recency``, ``T``: an ibis table (condensed to distinct patterns
                by the engine) or a pandas DataFrame.
            recency: time from first to last purchase (arrays only).
            T: time from first purchase to the end of the period (arrays only).
            weights: customers per row (when rows are already patterns); with a table, the
                name of a count column.

        Returns:
            self
        """
        self._validate_params()
        where = f"{type(self).__name__}.fit"
        cols, w, condensed = _inputs.gather(
            frequency, (recency, T), ("frequency", "recency", "T"), weights, where=where
        )
        w = _inputs.check_rft(cols, w, condensed, where)
        x, tx, tt = cols["frequency"], cols["recency"], cols["T"]

        def make_objective(rows):
            if rows is None:
                return BGNBDPatterns(x, tx, tt, w), float(w.sum())
            return BGNBDPatterns(x[rows], tx[rows], tt[rows], w[rows]), float(w[rows].sum())

        self._fit_mle(make_objective, w, _starts(x, tt, w), analytic_gradient=True)
        return self

    def probability_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> Any:
        """Probability that each customer is still alive at T.

        Customers with no repeat purchase get 1: under BG/NBD drop-out can only follow a repeat
        purchase (use :class:`~segmint.models.clv.ParetoNBDModel` if that matters). On an ibis
        table, returns the table with a ``probability_alive`` column.
        """
        return predict_rft(
            self,
            "probability_alive",
            "probability_alive",
            frequency,
            recency,
            T,
            lambda x, tx, tt: probability_alive(self._theta(), x, tx, tt),
        )

    def expected_purchases(
        self, t: float, frequency: Any, recency: Any = None, T: Any = None
    ) -> Any:
        """Expected number of repeat purchases of each customer in the next ``t`` time units.

        On an ibis table, returns the table with an ``expected_purchases`` column.
        """
        return predict_rft(
            self,
            "expected_purchases",
            "expected_purchases",
            frequency,
            recency,
            T,
            lambda x, tx, tt: expected_purchases(self._theta(), t, x, tx, tt),
        )

    def _growth(self, t, x, T) -> np.ndarray:
        """E[Y(t) | x, tx, T] / P(alive) — a function of (x, T) only (used by CLV)."""
        return growth(self._theta(), t, x, T)

    def _probability_alive_expr(self, table):
        """P(alive) as an ibis expression (used by CLV on ibis tables)."""
        return probability_alive_expr(self._theta(), table)

    def expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected repeat purchases of a newly acquired customer within ``t`` time units.

        >>> m = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> round(float(m.expected_purchases_new_customer(39)), 4)
        1.1967
        """
        self._check_fitted("expected_purchases_new_customer()")
        return expected_purchases_new(self._theta(), t)


def _starts(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> list[tuple[float, ...]]:
    """Starting points: purchase rate from the data, a spread of shapes for the rest."""
    rate = float(w @ x) / max(float(w @ T), 1e-12)
    rate = min(max(rate, 1e-6), 1e6)
    return [
        (0.5, 0.5 / rate, 1.0, 2.0),
        (1.0, 1.0 / rate, 0.5, 5.0),
        (0.2, 0.2 / rate, 2.0, 2.0),
        (2.0, 2.0 / rate, 1.0, 1.0),
        (0.1, 0.1 / rate, 0.3, 10.0),
    ]
