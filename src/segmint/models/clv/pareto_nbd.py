"""Pareto/NBD: purchases while alive, drop-out at any time (Schmittlein, Morrison & Colombo 1987).

While alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); their lifetime is
exponential with rate μ ~ Gamma(s, β), so drop-out can happen at any moment (in BG/NBD only right
after a purchase). Unlike BG/NBD it lets one-time buyers drop out, at the price of a harder
likelihood (see :func:`~segmint.models.clv.likelihoods.pareto_nbd_log_integral`).

Example:
    >>> from segmint.models.clv import ParetoNBDModel
    >>> m = ParetoNBDModel.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)  # CDNOW
    >>> round(float(m.probability_alive(0, 0.0, 38.86)[0]), 4)
    0.2953
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from segmint.models.clv import _inputs
from segmint.models.clv._common import DROPOUT_HINT, RATE_HINT, MLEModel, predict_rft
from segmint.models.clv.likelihoods import pareto_nbd_log_integral, pareto_nbd_log_likelihood

__all__ = ["ParetoNBDModel"]


def _log_alive_over_died(params, x, tx, T):
    r, alpha, s, beta = params
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) + pareto_nbd_log_integral(params, x, tx, T)
    return alive - died


def probability_alive(params, x, tx, T) -> np.ndarray:
    """P(alive at T | x, tx, T) (Fader & Hardie 2005 note, eq. 36–37)."""
    x, tx, T = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (x, tx, T)))
    return expit(_log_alive_over_died(params, x, tx, T))


def _one_minus_ratio_pow(log_ratio, s):
    """(1 − exp((s−1)·log_ratio)) / (s−1), with its limit −log_ratio at s = 1."""
    if abs(s - 1.0) < 1e-10:
        return -log_ratio
    return -np.expm1((s - 1.0) * log_ratio) / (s - 1.0)


def growth(params, t, x, T) -> np.ndarray:
    """E[Y(t) | x, tx, T] / P(alive): expected purchases in (T, T + t] of a customer known to be
    alive; depends on x and T only (Fader & Hardie 2005, eq. 41)."""
    r, alpha, s, beta = params
    t = np.asarray(t, dtype=float)
    ratio = _one_minus_ratio_pow(np.log(beta + T) - np.log(beta + T + t), s)
    return (r + x) * (beta + T) / (alpha + T) * ratio


def expected_purchases(params, t, x, tx, T) -> np.ndarray:
    """E[Y(t) | x, tx, T]: expected repeat purchases in (T, T + t] (Fader & Hardie 2005, eq. 41)."""
    x, tx, T = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (x, tx, T)))
    return growth(params, t, x, T) * probability_alive(params, x, tx, T)


def expected_purchases_new(params, t) -> np.ndarray:
    """E[X(t)] for a new customer (Schmittlein, Morrison & Colombo 1987)."""
    r, alpha, s, beta = params
    t = np.asarray(t, dtype=float)
    return r * beta / alpha * _one_minus_ratio_pow(np.log(beta) - np.log(beta + t), s)


class ParetoNBDModel(MLEModel):
    """Pareto/NBD purchase model fitted by maximum likelihood.

    Parameters:
        penalizer: L2 penalty on the parameters added to the mean negative log-likelihood.
        n_starts: how many starting points to try if the first fit fails.
        max_iter: iteration limit of the optimiser per start.

    Fitted attributes: ``params_`` (r, alpha, s, beta), ``standard_errors_``, ``covariance_``,
    ``log_likelihood_``, ``n_customers_``, ``n_patterns_``, ``convergence_``.
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    divergence_hints: ClassVar[dict[str, str]] = {
        "r": RATE_HINT,
        "alpha": RATE_HINT,
        "s": DROPOUT_HINT,
        "beta": DROPOUT_HINT,
    }

    def fit(self, frequency: Any, recency: Any = None, T: Any = None, *, weights: Any = None):
        """Fit on customers' (frequency, recency, T); same inputs as :meth:`BetaGeoModel.fit`.

        The gradient is numerical (central differences): fitting takes a few times longer than
        BG/NBD.
        """
        self._validate_params()
        where = f"{type(self).__name__}.fit"
        cols, w, condensed = _inputs.gather(
            frequency, (recency, T), ("frequency", "recency", "T"), weights, where=where
        )
        w = _inputs.check_rft(cols, w, condensed, where)
        x, tx, tt = cols["frequency"], cols["recency"], cols["T"]

        def make_objective(rows):
            sel = slice(None) if rows is None else rows
            xs, txs, ts, ws = x[sel], tx[sel], tt[sel], w[sel]
            return (
                lambda th: (float(ws @ pareto_nbd_log_likelihood(th, xs, txs, ts)), None),
                float(ws.sum()),
            )

        self._fit_mle(make_objective, w, _starts(x, tt, w), analytic_gradient=False)
        return self

    def probability_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> Any:
        """Probability that each customer is still alive at T (ibis table → new column)."""
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
        """Expected repeat purchases of each customer in the next ``t`` time units."""
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

    def expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected repeat purchases of a newly acquired customer within ``t`` time units."""
        self._check_fitted("expected_purchases_new_customer()")
        return expected_purchases_new(self._theta(), t)


def _starts(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> list[tuple[float, ...]]:
    rate = float(w @ x) / max(float(w @ T), 1e-12)
    rate = min(max(rate, 1e-6), 1e6)
    tbar = max(float(w @ T) / float(w.sum()), 1e-6)
    return [
        (0.5, 0.5 / rate, 0.5, 0.5 * tbar),
        (1.0, 1.0 / rate, 1.0, tbar),
        (0.2, 0.2 / rate, 2.0, 2.0 * tbar),
        (2.0, 2.0 / rate, 0.3, 0.3 * tbar),
    ]
