"""segmint against lifetimes 0.11.3 on CDNOW (skipped when lifetimes is not installed).

lifetimes is an independent reference for tests and benchmarks only, never a dependency. Its
``calibration_and_holdout_data`` fails on pandas ≥ 3.1, so the summary comes from our own
pandas loader. Predictions are compared at identical parameters (1e-6 relative); fitted
parameters within the optimiser tolerance of lifetimes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from _clv_support import cdnow_summary, relative_error
from segmint.models.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    customer_lifetime_value,
)

lifetimes = pytest.importorskip("lifetimes")

TOL = 1e-6


@pytest.fixture(scope="module")
def data():
    s = cdnow_summary()
    return s["frequency"], s["recency"], s["T"], s["monetary_value"]


@pytest.fixture(scope="module")
def fitted(data):
    f, r, T, m = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lbg = lifetimes.BetaGeoFitter().fit(f, r, T)
        lpn = lifetimes.ParetoNBDFitter().fit(f, r, T)
        lgg = lifetimes.GammaGammaFitter().fit(f[f > 0], m[f > 0])
    return lbg, lpn, lgg


def test_bgnbd_predictions_equal_lifetimes(data, fitted):
    f, r, T, _ = data
    lbg = fitted[0]
    bg = BetaGeoModel.from_params(**{k: float(v) for k, v in lbg.params_.items()})
    ref = lbg.conditional_probability_alive(f, r, T)
    assert relative_error(bg.probability_alive(f, r, T), ref) < TOL
    for t in (1, 4.345, 10, 39, 52, 104):
        ref = lbg.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        assert relative_error(bg.expected_purchases(t, f, r, T), ref) < TOL
        ref_new = lbg.expected_number_of_purchases_up_to_time(t)
        assert relative_error(bg.expected_purchases_new_customer(t), ref_new) < TOL


def test_pareto_nbd_predictions_equal_lifetimes(data, fitted):
    f, r, T, _ = data
    lpn = fitted[1]
    pn = ParetoNBDModel.from_params(**{k: float(v) for k, v in lpn.params_.items()})
    ref = lpn.conditional_probability_alive(f, r, T)
    assert relative_error(pn.probability_alive(f, r, T), ref) < TOL
    for t in (1, 10, 39, 52):
        ref = lpn.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        assert relative_error(pn.expected_purchases(t, f, r, T), ref) < TOL
        ref_new = lpn.expected_number_of_purchases_up_to_time(t)
        assert relative_error(pn.expected_purchases_new_customer(t), ref_new) < TOL


@pytest.mark.parametrize("months,rate", [(12, 0.01), (3, 0.0), (24, 0.02)])
def test_clv_equals_lifetimes(data, fitted, months, rate):
    f, r, T, m = data
    lbg, _, lgg = fitted
    bg = BetaGeoModel.from_params(**{k: float(v) for k, v in lbg.params_.items()})
    p = lgg.params_
    gg = GammaGammaModel.from_params(p=float(p["p"]), q=float(p["q"]), gamma=float(p["v"]))
    assert (
        relative_error(gg.expected_spend(f, m), lgg.conditional_expected_average_profit(f, m)) < TOL
    )
    ref = lgg.customer_lifetime_value(
        lbg, f, r, T, m, time=months, discount_rate=rate, freq="W"
    ).to_numpy()
    got = customer_lifetime_value(
        bg, gg, f, r, T, m, horizon_months=months, discount_rate_monthly=rate, unit="W"
    )
    assert relative_error(got, ref) < TOL


def test_fitted_parameters_agree_with_lifetimes(data, fitted):
    f, r, T, m = data
    lbg, lpn, lgg = fitted
    bg = BetaGeoModel().fit(f, r, T)
    assert relative_error(list(bg.params_.values()), lbg.params_.to_numpy()) < 1e-5
    # both compute the standard errors from the Hessian
    assert (
        relative_error(list(bg.standard_errors_.values()), lbg.standard_errors_.to_numpy()) < 1e-3
    )
    gg = GammaGammaModel().fit(f, m)
    assert relative_error(list(gg.params_.values()), lgg.params_.to_numpy()) < 1e-5
    pn = ParetoNBDModel().fit(f, r, T)
    assert relative_error(list(pn.params_.values()), lpn.params_.to_numpy()) < 1e-3
    # where they differ, ours is the higher likelihood (lifetimes stops at a looser tolerance)
    ref = ParetoNBDModel.from_params(**{k: float(v) for k, v in lpn.params_.items()})
    from segmint.models.clv.likelihoods import pareto_nbd_log_likelihood

    theirs = pareto_nbd_log_likelihood(tuple(ref.params_.values()), f, r, T).sum()
    assert pn.log_likelihood_ >= theirs - 1e-9
    assert np.isfinite(theirs)
