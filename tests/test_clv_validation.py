"""Calibration/holdout split, tracking, conditional expectations, churn bands, table scoring."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from _clv_support import cdnow_summary
from segmint.datasets import load_cdnow_sample
from segmint.models.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    calibration_and_holdout,
    churn_risk,
    conditional_expectations,
    cumulative_tracking,
    customer_lifetime_value,
    customer_scores,
)
from segmint.models.clv.validation import conditional_expectations_figure, tracking_figure

BG = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
GG = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
PN = ParetoNBDModel.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)


@pytest.fixture
def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "ts": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",  # same day: one transaction of 15
                    "2024-01-15 10:00",
                    "2024-03-10 10:00",  # holdout
                    "2024-01-08 12:00",
                    "2024-02-01 08:00",  # after calibration: c is not in the cohort
                    "2024-01-20 08:00",
                ]
            ),
            "amount": [10.0, 5.0, 30.0, 40.0, 8.0, 7.0, 99.0],
            "status": ["completed"] * 6 + ["cancelled"],
        }
    )


def test_calibration_and_holdout_by_hand(orders):
    got = (
        calibration_and_holdout(orders, "2024-01-31", "2024-03-31", unit="D")
        .to_pandas()
        .set_index("customer_id")
        .sort_index()
    )
    assert list(got.index) == ["a", "b"]  # c's only counted order is after calibration
    a, b = got.loc["a"], got.loc["b"]
    assert (a.frequency_cal, a.recency_cal, a.T_cal, a.monetary_value_cal) == (1, 14, 30, 30)
    assert (a.frequency_holdout, a.monetary_value_holdout, a.duration_holdout) == (1, 40, 60)
    assert (b.frequency_cal, b.recency_cal, b.T_cal, b.monetary_value_cal) == (0, 0, 23, 0)
    assert b.frequency_holdout == 0
    weeks = calibration_and_holdout(ibis.memtable(orders), "2024-01-31", unit="W").to_pandas()
    assert "frequency_holdout" not in weeks.columns
    assert weeks.set_index("customer_id").loc["a", "T_cal"] == pytest.approx(30 / 7)


def test_cumulative_tracking_counts_and_expectations(orders):
    tr = cumulative_tracking(BG, orders, "2024-01-31", "2024-03-31", unit="D")
    assert tr["date"].iloc[0] == pd.Timestamp("2024-01-02").date()
    assert tr["date"].iloc[-1] == pd.Timestamp("2024-03-31").date()
    # a's repeat transactions: 2024-01-15 and 2024-03-10
    at = tr.set_index("date")["actual"]
    assert at[pd.Timestamp("2024-01-14").date()] == 0
    assert at[pd.Timestamp("2024-01-15").date()] == 1
    assert at[pd.Timestamp("2024-03-31").date()] == 2
    # expected: a since 2024-01-01, b since 2024-01-08 (unconditional)
    end = tr.iloc[-1]
    want = BG.expected_purchases_new_customer(90) + BG.expected_purchases_new_customer(83)
    assert end["expected"] == pytest.approx(float(want))
    assert tr["expected_period"].sum() == pytest.approx(end["expected"])
    assert set(tr["period"]) == {"calibration", "holdout"}
    fig = tracking_figure(tr)
    assert len(fig.data) == 2


def test_cdnow_tracking_and_conditional_expectations():
    orders = load_cdnow_sample()
    bg = BetaGeoModel().fit(cdnow_summary())
    tr = cumulative_tracking(bg, orders, "1997-09-30", "1998-06-30", unit="W")
    assert len(tr) == 78  # 77 whole weeks and the last partial one
    cal_end = tr[tr["period"] == "calibration"].iloc[-1]
    # the model tracks the calibration period closely and the holdout within 5 %
    assert cal_end["expected"] == pytest.approx(cal_end["actual"], rel=0.03)
    assert tr.iloc[-1]["expected"] == pytest.approx(tr.iloc[-1]["actual"], rel=0.05)

    cal = calibration_and_holdout(orders, "1997-09-30", "1998-06-30", unit="W")
    ce = conditional_expectations(bg, cal)
    assert list(ce.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert ce["customers"].sum() == 2357
    assert ce.loc["0", "customers"] == 1411
    assert ce.loc["0", "actual"] == pytest.approx(0.2367, abs=1e-4)
    # expectations rise with calibration frequency, like the actual holdout purchases
    assert np.all(np.diff(ce["expected"]) > 0)
    assert ce["expected"].corr(ce["actual"]) > 0.98
    same = conditional_expectations(bg, cal.to_pandas())
    pd.testing.assert_frame_equal(ce, same, check_exact=False, rtol=1e-12)
    assert len(conditional_expectations_figure(ce).data) == 2


def test_churn_bands_by_hand():
    summary = pd.DataFrame(
        {
            "customer_id": ["steady", "lapsed", "single_new", "single_old", "rhythm_late"],
            "frequency": [6, 2, 0, 0, 4],
            "recency": [37.0, 5.0, 0.0, 0.0, 28.0],
            "T": [38.0, 38.0, 3.0, 38.0, 38.0],
        }
    )
    out = churn_risk(BG, summary, unit="W").set_index("customer_id")
    # steady buyer, bought last week: alive and on rhythm
    assert out.loc["steady", "risk"] == "low" and not out.loc["steady", "overdue"]
    # 2 purchases in the first 5 weeks, none for 33 weeks: low P(alive), overdue
    assert out.loc["lapsed", "probability_alive"] < 0.3
    assert out.loc["lapsed", "risk"] == "high"
    # one-time buyers: P(alive) = 1 under BG/NBD; judged by the population's rhythm instead
    gap = np.median([37 / 6, 5 / 2, 28 / 4]) * 7
    assert out.loc["single_new", "typical_gap_days"] == pytest.approx(gap)
    assert out.loc["single_new", "risk"] == "low"
    assert out.loc["single_old", "overdue"] and out.loc["single_old", "risk"] == "medium"
    # own rhythm every 7 weeks, silent for 10 weeks: medium P(alive) but not overdue
    assert out.loc["rhythm_late", "typical_gap_days"] == pytest.approx(49.0)
    assert out.loc["rhythm_late", "days_since_last"] == pytest.approx(70.0)
    assert not out.loc["rhythm_late", "overdue"]
    # thresholds are configurable
    strict = churn_risk(BG, summary, unit="W", thresholds=(0.9, 0.99)).set_index("customer_id")
    assert strict.loc["rhythm_late", "risk"] == "high"


def test_churn_bands_on_an_ibis_table_equal_pandas():
    s = cdnow_summary()
    via_pandas = churn_risk(PN, s, unit="W")
    via_ibis = churn_risk(PN, ibis.memtable(s), unit="W").to_pandas()
    merged = via_pandas.merge(via_ibis, on="customer_id", suffixes=("", "_ibis"))
    assert len(merged) == 2357
    assert (merged["risk"] == merged["risk_ibis"]).all()
    np.testing.assert_allclose(merged["probability_alive"], merged["probability_alive_ibis"])
    assert set(merged["risk"]) == {"low", "medium", "high"}


@pytest.mark.parametrize("model", [BG, PN], ids=["bgnbd", "pareto"])
def test_predictions_on_an_ibis_table_equal_arrays(model):
    s = cdnow_summary()
    table = ibis.memtable(s)
    f, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    for method, args, column in [
        ("probability_alive", (), "probability_alive"),
        ("expected_purchases", (39.0,), "expected_purchases"),
    ]:
        got = getattr(model, method)(*args, table).to_pandas().sort_values("customer_id")
        want = getattr(model, method)(*args, f, r, T)
        np.testing.assert_allclose(got[column], want, rtol=1e-12)
        assert list(got.columns) == [*s.columns, column]
    clv_table = customer_lifetime_value(model, GG, table, unit="W").to_pandas()
    clv_table = clv_table.sort_values("customer_id")
    clv = customer_lifetime_value(model, GG, f, r, T, m, unit="W")
    np.testing.assert_allclose(clv_table["clv"], clv, rtol=1e-10)
    np.testing.assert_allclose(clv_table["expected_spend"], GG.expected_spend(f, m), rtol=1e-12)
    # a pandas DataFrame works too and gives arrays
    np.testing.assert_allclose(customer_lifetime_value(model, GG, s, unit="W"), clv)


def test_clv_grows_with_horizon_and_falls_with_discount():
    s = cdnow_summary()
    args = (BG, GG, s["frequency"], s["recency"], s["T"], s["monetary_value"])
    twelve = customer_lifetime_value(*args, unit="W")
    assert np.all(customer_lifetime_value(*args, unit="W", horizon_months=24) > twelve)
    assert np.all(customer_lifetime_value(*args, unit="W", discount_rate_monthly=0.05) < twelve)
    # days and weeks describe the same customers: same CLV up to lifetimes' month conventions
    bg_days = BetaGeoModel.from_params(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
    days = customer_lifetime_value(
        bg_days, GG, s["frequency"], s["recency"] * 7, s["T"] * 7, s["monetary_value"], unit="D"
    )
    np.testing.assert_allclose(days, twelve, rtol=0.02)  # 30 days vs 4.345 weeks a month


def test_customer_scores_on_ibis_equal_pandas():
    s = cdnow_summary()
    via_pandas = customer_scores(BG, GG, s, unit="W")
    via_ibis = customer_scores(BG, GG, ibis.memtable(s), unit="W").to_pandas()
    via_ibis = via_ibis.sort_values("customer_id").reset_index(drop=True)
    assert list(via_ibis.columns) == list(via_pandas.columns)
    assert len(via_ibis) == 2357
    for col in ("probability_alive", "expected_purchases", "expected_spend", "clv"):
        np.testing.assert_allclose(via_ibis[col], via_pandas[col], rtol=1e-10)
    assert (via_ibis["risk"] == via_pandas["risk"]).all()
    f, r, T = s["frequency"], s["recency"], s["T"]
    np.testing.assert_allclose(
        via_pandas["expected_purchases"], BG.expected_purchases(52.14, f, r, T)
    )
    assert (via_pandas["clv"] > 0).all()
