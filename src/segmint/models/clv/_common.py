"""What the CLV models share: parameters, fitting on patterns, the fitted attributes, summaries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from segmint.models.base import Estimator, Interval
from segmint.models.clv import _inputs
from segmint.models.clv._mle import MLEResult, fit_mle

#: Parameters shared by the CLV models, as data (see segmint.models.base).
CLV_CONSTRAINTS = {
    "penalizer": Interval("float", 0, None),
    "n_starts": Interval("int", 1, 20),
    "max_iter": Interval("int", 10, None),
}


#: Why a purchase model's parameter can run off to infinity (shown in its convergence error).
RATE_HINT = "purchase rates hardly differ between customers"
DROPOUT_HINT = (
    "the data show little sign of customers dropping out; use a longer calibration "
    "period or check that T runs to the end of calibration"
)


class MLEModel(Estimator):
    """A model fitted by maximum likelihood on condensed data.

    Fitted attributes:
        params_: estimate of each parameter (literature names).
        standard_errors_: standard error of each estimate (inverse observed information).
        covariance_: covariance matrix of the estimates, in ``param_names`` order.
        log_likelihood_: maximised log-likelihood over all customers (not penalised).
        n_customers_: customers fitted on (sum of the weights).
        n_patterns_: distinct rows the likelihood was evaluated on.
        convergence_: optimiser diagnostics (start used, iterations, gradient norm).
    """

    abstract = True
    parameter_constraints: ClassVar[dict] = CLV_CONSTRAINTS
    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "params_",
        "standard_errors_",
        "covariance_",
        "log_likelihood_",
        "n_customers_",
        "n_patterns_",
        "convergence_",
    )
    #: literature names of the parameters, in order
    param_names: ClassVar[tuple[str, ...]] = ()
    #: what it means when a parameter runs off during fitting
    divergence_hints: ClassVar[dict[str, str]] = {}

    def __init__(self, penalizer: float = 0.0, n_starts: int = 4, max_iter: int = 2000):
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.max_iter = max_iter

    # -- fitting helpers ---------------------------------------------------------------------------
    def _fit_mle(
        self,
        make_objective: Callable[[np.ndarray | None], tuple[Callable, float]],
        weights: np.ndarray,
        starts: Sequence[Sequence[float]],
        *,
        analytic_gradient: bool,
    ) -> None:
        res: MLEResult = fit_mle(
            model_name=type(self).__name__,
            names=self.param_names,
            make_objective=make_objective,
            n_rows=len(weights),
            starts=starts,
            penalizer=float(self.penalizer),
            max_iter=int(self.max_iter),
            n_starts=int(self.n_starts),
            analytic_gradient=analytic_gradient,
            divergence_hints=self.divergence_hints,
        )
        n_patterns = len(weights)
        self.params_ = {n: float(v) for n, v in zip(self.param_names, res.params, strict=True)}
        self.standard_errors_ = {
            n: float(v) for n, v in zip(self.param_names, res.standard_errors, strict=True)
        }
        self.covariance_ = res.covariance
        self.log_likelihood_ = res.log_likelihood
        total = float(np.sum(weights))
        self.n_customers_ = int(total) if total.is_integer() else total
        self.n_patterns_ = int(n_patterns)
        self.convergence_ = res.info

    def _theta(self) -> tuple[float, ...]:
        return tuple(self.params_[n] for n in self.param_names)

    # -- reporting ---------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95 % intervals (log-normal, so they stay > 0).

        >>> from segmint.models.clv import GammaGammaModel
        >>> m = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
        >>> list(m.summary().columns)
        ['estimate', 'std_error', 'lower_95', 'upper_95']
        """
        self._check_fitted("summary()")
        est = np.array([self.params_[n] for n in self.param_names])
        se = np.array([self.standard_errors_[n] for n in self.param_names])
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.exp(1.959963984540054 * se / est)
        return pd.DataFrame(
            {"estimate": est, "std_error": se, "lower_95": est / spread, "upper_95": est * spread},
            index=pd.Index(self.param_names, name="parameter"),
        )

    @classmethod
    def from_params(cls, **params: float) -> MLEModel:
        """A model with given parameter values (no data, no standard errors), e.g. to reuse
        published estimates or another library's fit.

        >>> from segmint.models.clv import BetaGeoModel
        >>> m = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> float(m.probability_alive(0, 0, 10)[0])
        1.0
        """
        missing = [n for n in cls.param_names if n not in params]
        extra = [n for n in params if n not in cls.param_names]
        if missing or extra:
            from segmint.errors import ValidationError, close_matches

            bad = (extra or missing)[0]
            raise ValidationError(
                f"{cls.__name__}.from_params needs exactly {', '.join(cls.param_names)}. "
                f"Got {', '.join(params) or 'nothing'} instead.",
                suggestions=close_matches(bad, cls.param_names) if extra else (),
            )
        for n, v in params.items():
            if not Interval("float", 0, None, closed="neither").is_satisfied_by(v):
                from segmint.errors import ValidationError

                raise ValidationError(
                    f"The '{n}' parameter value of {cls.__name__} must be a float > 0. "
                    f"Got {v!r} instead."
                )
        model = cls()
        k = len(cls.param_names)
        model.params_ = {n: float(params[n]) for n in cls.param_names}
        model.standard_errors_ = {n: float("nan") for n in cls.param_names}
        model.covariance_ = np.full((k, k), np.nan)
        model.log_likelihood_ = float("nan")
        model.n_customers_ = 0
        model.n_patterns_ = 0
        model.convergence_ = {"source": "from_params"}
        for attr in cls.fitted_attributes:  # model-specific diagnostics are unknown
            if not hasattr(model, attr):
                setattr(model, attr, float("nan"))
        return model


def predict_rft(
    model: MLEModel,
    what: str,
    column: str,
    data: Any,
    recency: Any,
    T: Any,
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> Any:
    """Run ``compute(x, tx, T)`` on arrays, a DataFrame, or an ibis table (→ ibis table).

    On an ibis table the distinct (frequency, recency, T) patterns are scored and joined back, and
    the result is the table with a new column ``column``.
    """
    model._check_fitted(f"{what}()")
    where = f"{type(model).__name__}.{what}"
    names = ("frequency", "recency", "T")
    if _inputs.is_table(data):
        _inputs.reject_arrays_with_table((recency, T), names, where)
        return _inputs.score_table(
            data,
            names,
            lambda c: {column: _checked(c, where, compute, condensed=True)},
            where=where,
        )
    cols, _, _ = _inputs.gather(data, (recency, T), names, None, where=where)
    return _checked(cols, where, compute, condensed=False)


def _checked(cols, where, compute, *, condensed):
    _inputs.check_rft(cols, None, condensed, where, min_rows=0)
    return compute(cols["frequency"], cols["recency"], cols["T"])
