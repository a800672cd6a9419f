"""Published CDNOW results reproduced (tests named after the source) and fitting on patterns."""

from __future__ import annotations

import hashlib

import ibis
import numpy as np
import pandas as pd
import pytest

from _clv_support import CDNOW_FILE, cdnow_summary, relative_error
from segmint.datasets import load_cdnow_sample
from segmint.models.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    calibration_and_holdout,
)
from segmint.models.clv.likelihoods import bgnbd_log_likelihood


def sig3(x: float) -> str:
    """Three significant figures, as printed in the papers."""
    return f"{x:.3g}"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def bgnbd(cdnow) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_cdnow_sample_is_the_published_file():
    data = CDNOW_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == (
        "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a"
    )
    orders = load_cdnow_sample()
    assert len(orders) == 6919
    assert orders["customer_id"].nunique() == 2357
    assert orders["ts"].min() == pd.Timestamp("1997-01-01")
    assert orders["ts"].max() == pd.Timestamp("1998-06-30")
    assert list(orders.columns) == ["order_id", "customer_id", "ts", "amount", "quantity"]


def test_calibration_and_holdout_matches_an_independent_pandas_summary(cdnow):
    got = (
        calibration_and_holdout(load_cdnow_sample(), "1997-09-30", "1998-06-30", unit="W")
        .to_pandas()
        .sort_values("customer_id")
        .reset_index(drop=True)
    )
    assert len(got) == 2357
    assert (got["customer_id"] == cdnow["customer_id"]).all()
    for mine, theirs in [
        ("frequency_cal", "frequency"),
        ("recency_cal", "recency"),
        ("T_cal", "T"),
        ("monetary_value_cal", "monetary_value"),
        ("frequency_holdout", "frequency_holdout"),
    ]:
        np.testing.assert_allclose(got[mine], cdnow[theirs], rtol=1e-12, atol=1e-12)
    assert (got["duration_holdout"] == 39.0).all()
    # the first CDNOW customer of FHL's spreadsheet: x = 2, t_x = 30.43, T = 38.86
    first = got.iloc[0]
    assert (first["frequency_cal"], round(first["recency_cal"], 2), round(first["T_cal"], 2)) == (
        2.0,
        30.43,
        38.86,
    )


def test_bgnbd_fader_hardie_lee_2005_cdnow_params(bgnbd):
    p = bgnbd.params_
    assert {k: sig3(v) for k, v in p.items()} == {
        "r": "0.243",
        "alpha": "4.41",
        "a": "0.793",
        "b": "2.43",
    }
    # the paper prints four significant figures for alpha and b
    assert round(p["alpha"], 3) == 4.414
    assert round(p["b"], 3) == 2.426
    assert round(bgnbd.log_likelihood_, 1) == -9582.4
    assert bgnbd.n_customers_ == 2357


def test_pareto_nbd_cdnow_params(cdnow):
    m = ParetoNBDModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    p = m.params_
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["s"], 3), round(p["beta"], 3)) == (
        0.553,
        10.578,
        0.606,
        11.669,
    )
    # −9595.0, slightly below BG/NBD's −9582.4, as Fader, Hardie & Lee (2005) compare them
    assert round(m.log_likelihood_, 1) == -9595.0


def test_gamma_gamma_fader_hardie_2013_cdnow_params(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    assert len(repeat) == 946
    m = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    p = m.params_
    assert (round(p["p"], 2), round(p["q"], 2), round(p["gamma"], 2)) == (6.25, 3.74, 15.44)
    assert m.n_customers_ == 946
    # Fader & Hardie (2013) report the frequency / spend correlation as 0.11
    assert round(m.spend_frequency_correlation_, 2) == 0.11
    # customers with frequency 0 are skipped, so fitting on everyone gives the same answer
    everyone = GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])
    assert relative_error(list(everyone.params_.values()), list(p.values())) < 1e-9


def test_fit_on_patterns_equals_fit_on_every_customer(cdnow, bgnbd):
    # 1) the engine condenses an ibis table to distinct patterns with counts
    table = ibis.memtable(cdnow[["customer_id", "frequency", "recency", "T"]])
    on_table = BetaGeoModel().fit(table)
    assert on_table.n_patterns_ < 0.5 * on_table.n_customers_  # really condensed
    assert on_table.n_customers_ == 2357
    # 2) condensed in pandas, counts passed as weights
    patterns = cdnow.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    on_patterns = BetaGeoModel().fit(
        patterns["frequency"], patterns["recency"], patterns["T"], weights=patterns["n"]
    )
    for m in (on_table, on_patterns):
        assert relative_error(list(m.params_.values()), list(bgnbd.params_.values())) < 1e-7
        assert abs(m.log_likelihood_ - bgnbd.log_likelihood_) < 1e-6
        assert (
            relative_error(list(m.standard_errors_.values()), list(bgnbd.standard_errors_.values()))
            < 1e-4
        )
    # 3) the weighted pattern likelihood is the customer likelihood, at any parameters
    for theta in [(0.3, 5.0, 0.7, 2.0), (1.2, 20.0, 2.0, 9.0)]:
        per_customer = bgnbd_log_likelihood(theta, cdnow["frequency"], cdnow["recency"], cdnow["T"])
        per_pattern = bgnbd_log_likelihood(
            theta, patterns["frequency"], patterns["recency"], patterns["T"]
        )
        assert per_customer.sum() == pytest.approx(per_pattern @ patterns["n"], rel=1e-12)


def test_gamma_gamma_on_an_ibis_table_equals_arrays(cdnow):
    table = ibis.memtable(cdnow)
    on_table = GammaGammaModel().fit(table)
    repeat = cdnow[cdnow["frequency"] > 0]
    on_arrays = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    assert on_table.n_customers_ == 946
    assert relative_error(list(on_table.params_.values()), list(on_arrays.params_.values())) < 1e-7


def test_standard_errors_are_the_inverse_observed_information(cdnow, bgnbd):
    """Independent check: the Hessian of the summed log-likelihood in natural parameters by
    central second differences, inverted."""
    theta = np.array(list(bgnbd.params_.values()))
    x, tx, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]

    def ll(th):
        return float(bgnbd_log_likelihood(th, x, tx, T).sum())

    k = len(theta)
    H = np.empty((k, k))
    h = 1e-4 * theta
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (
                ll(theta + ei + ej)
                - ll(theta + ei - ej)
                - ll(theta - ei + ej)
                + ll(theta - ei - ej)
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    assert relative_error(list(bgnbd.standard_errors_.values()), se) < 1e-3
    summary = bgnbd.summary()
    assert (summary["lower_95"] < summary["estimate"]).all()
    assert (summary["estimate"] < summary["upper_95"]).all()
    assert np.allclose(bgnbd.covariance_, bgnbd.covariance_.T)
