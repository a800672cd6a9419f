"""Every error message of the CLV code, pinned word for word."""

from __future__ import annotations

import re

import ibis
import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataError, NotFittedError, NotFoundError, ValidationError
from segmint.models.base import model_from_json
from segmint.models.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    calibration_and_holdout,
    churn_risk,
    conditional_expectations,
    cumulative_tracking,
    customer_lifetime_value,
    purchase_cltv,
    retention_cltv,
)

BG = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
GG = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
ORDERS = pd.DataFrame({"customer_id": ["a"], "ts": pd.to_datetime(["2024-01-01"]), "amount": [1.0]})
SUMMARY = pd.DataFrame({"customer_id": ["a"], "frequency": [1], "recency": [1.0], "T": [2.0]})
FIT_HINT = "Hint: measure recency and T up to the same date (the end of the calibration period)."


def message(exc_type, fn) -> str:
    with pytest.raises(exc_type) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize(
    "make,expected",
    [
        (
            lambda: BetaGeoModel(penalizer=-1),
            "The 'penalizer' parameter of BetaGeoModel must be a float ≥ 0. Got -1 instead.",
        ),
        (
            lambda: BetaGeoModel(n_starts=0),
            "The 'n_starts' parameter of BetaGeoModel must be an int in [1, 20]. Got 0 instead.",
        ),
        (
            lambda: BetaGeoModel(max_iter=2.5),
            "The 'max_iter' parameter of BetaGeoModel must be an int ≥ 10. Got 2.5 instead.",
        ),
        (
            lambda: ParetoNBDModel(penalizer="0.1"),
            "The 'penalizer' parameter of ParetoNBDModel must be a float ≥ 0. Got '0.1' instead.",
        ),
    ],
)
def test_parameter_constraints(make, expected):
    model = make()  # __init__ only stores
    assert message(ValidationError, lambda: model.fit([1], [1], [2])) == expected


@pytest.mark.parametrize(
    "args,kwargs,exc,expected",
    [
        (
            ([1, 2], [1], [2, 3]),
            {},
            ValidationError,
            "frequency, recency, T must have the same length. Got frequency=2, recency=1, T=2 "
            "instead. (BetaGeoModel.fit)",
        ),
        (
            ([], [], []),
            {},
            DataError,
            "BetaGeoModel.fit needs at least 1 customer(s). Got 0 instead. Hint: check the "
            "filter or the calibration period.",
        ),
        (
            ([1.5], [1], [2]),
            {},
            ValidationError,
            "frequency must be a whole number ≥ 0 (repeat purchases). Got 1.5 instead. "
            "(BetaGeoModel.fit, position 0) Hint: frequency counts repeat transactions: "
            "distinct purchase days minus 1.",
        ),
        (
            ([0, 1], [0, 3], [2, 2]),
            {},
            ValidationError,
            "recency must be ≤ T. Got recency=3 and T=2 instead. (BetaGeoModel.fit, position 1) "
            + FIT_HINT,
        ),
        (
            ([0], [1], [2]),
            {},
            ValidationError,
            "recency must be 0 when frequency is 0. Got 1 instead. (BetaGeoModel.fit, "
            "position 0) Hint: recency is the time from the first to the last purchase; with no "
            "repeat purchase it is 0.",
        ),
        (
            ([1], [-1], [2]),
            {},
            ValidationError,
            "recency must be ≥ 0. Got -1 instead. (BetaGeoModel.fit, position 0) Hint: recency "
            "is the time from the first to the last purchase.",
        ),
        (
            ([1], [np.nan], [2]),
            {},
            ValidationError,
            "recency must be a finite number. Got nan instead. (BetaGeoModel.fit, position 0) "
            "Hint: drop customers with missing values before fitting.",
        ),
        (
            ([1], [1], [2]),
            {"weights": [-1]},
            ValidationError,
            "weights must be finite numbers ≥ 0. Got -1 instead. (BetaGeoModel.fit, position 0) "
            "Hint: weights count the customers sharing a (frequency, recency, T) pattern.",
        ),
        (
            ([1], [1], [2]),
            {"weights": [0]},
            DataError,
            "BetaGeoModel.fit needs a positive total weight. Got 0 instead. Hint: weights count "
            "the customers sharing a pattern; at least one must be > 0.",
        ),
        (
            (["a"], [1], [2]),
            {},
            ValidationError,
            "frequency must be numbers. Got ['a'] instead. (BetaGeoModel.fit)",
        ),
        (
            ([1],),
            {},
            ValidationError,
            "BetaGeoModel.fit needs frequency, recency, T. Got no recency, T instead. Hint: pass "
            "arrays for each, or one table (ibis or pandas) with these columns.",
        ),
    ],
)
def test_fit_input_errors(args, kwargs, exc, expected):
    assert message(exc, lambda: BetaGeoModel().fit(*args, **kwargs)) == expected


def test_table_input_errors():
    frame = pd.DataFrame({"frequency": [1], "recncy": [1.0], "T": [2.0]})
    assert message(NotFoundError, lambda: BetaGeoModel().fit(frame)) == (
        "BetaGeoModel.fit needs a column 'recency'. Did you mean 'recncy', 'frequency'? Hint: "
        "rename the column to 'recency' (available: frequency, recncy, T)."
    )
    good = frame.rename(columns={"recncy": "recency"})
    assert message(ValidationError, lambda: BetaGeoModel().fit(good, [1])) == (
        "BetaGeoModel.fit: pass either a table or arrays, not both. Got a table and recency "
        "instead. Hint: with a table, its columns frequency, recency, T are used."
    )
    table = ibis.memtable({"frequency": [1], "recency": [3.0], "T": [2.0]})
    assert message(ValidationError, lambda: BetaGeoModel().fit(table)) == (
        "recency must be ≤ T. Got recency=3 and T=2 instead. (BetaGeoModel.fit, pattern "
        "frequency=1, recency=3, T=2) " + FIT_HINT
    )
    assert message(ValidationError, lambda: BetaGeoModel().fit(table, weights=[1])) == (
        "BetaGeoModel.fit: with an ibis table, weights must be a column name or None. Got list "
        "instead."
    )
    with_nulls = ibis.memtable(
        pd.DataFrame({"customer_id": ["a"], "frequency": [1], "recency": [5.0], "T": [2.0]})
    )
    assert message(ValidationError, lambda: BG.probability_alive(with_nulls)) == (
        "recency must be ≤ T. Got recency=5 and T=2 instead. (BetaGeoModel.probability_alive, "
        "pattern frequency=1, recency=5, T=2) " + FIT_HINT
    )


def test_not_fitted_errors():
    hint = (
        "Hint: call BetaGeoModel(...).fit(...) first, or load a fitted model with "
        "BetaGeoModel.from_json(text)."
    )
    model = BetaGeoModel()
    assert message(NotFittedError, lambda: model.probability_alive([1], [1], [2])) == (
        "This BetaGeoModel is not fitted yet, so probability_alive() cannot be used. " + hint
    )
    assert message(NotFittedError, lambda: model.summary()) == (
        "This BetaGeoModel is not fitted yet, so summary() cannot be used. " + hint
    )
    assert message(
        NotFittedError, lambda: customer_lifetime_value(model, GG, [1], [1], [2], [3], unit="W")
    ) == (
        "This BetaGeoModel is not fitted yet, so customer_lifetime_value() cannot be used. " + hint
    )
    assert isinstance(NotFittedError("x"), AttributeError)


def test_gamma_gamma_errors():
    assert message(ValidationError, lambda: GammaGammaModel().fit([0, 2], [0.0, 0.0])) == (
        "monetary_value must be > 0 for customers with frequency ≥ 1. Got 0 instead. "
        "(GammaGammaModel.fit, position 1) Hint: leave out refunds and zero-value orders, or "
        "customers whose repeat purchases net to 0."
    )
    assert message(DataError, lambda: GammaGammaModel().fit([0, 0], [0.0, 0.0])) == (
        "GammaGammaModel.fit needs customers with frequency ≥ 1. Got none instead. Hint: "
        "Gamma-Gamma learns from repeat transactions; use a longer period."
    )
    heavy = GammaGammaModel.from_params(p=1.0, q=0.8, gamma=2.0)
    assert message(DataError, lambda: heavy.expected_spend([1], [2])) == (
        "The Gamma-Gamma q must be > 1 for mean spend to exist. Got q=0.8 instead. Hint: spend "
        "is too heavy-tailed for this model: cap outliers or refit with a penalizer."
    )


def test_convergence_errors_name_the_parameter_and_what_to_do():
    rng = np.random.default_rng(0)
    # every customer buys at the same rate and nobody drops out
    x = rng.poisson(5, 500).astype(float)
    T = np.full(500, 10.0)
    tx = np.where(x > 0, T, 0.0)
    # where the optimiser stops on the flat ridge depends on rounding: pin the shape
    text = message(DataError, lambda: BetaGeoModel().fit(x, tx, T))
    assert re.fullmatch(
        r"BetaGeoModel did not converge: the likelihood is flat along parameter '(r|alpha|a|b)', "
        r"which drifted to [0-9.e+-]+\. Hint: .+\.",
        text,
    ), text
    # ... and the exact words for a given curvature
    from segmint.models.clv import _mle

    flat = np.diag([1.0, 1.0, 1e-14, 1.0])
    assert message(
        DataError,
        lambda: _mle._check_curvature(
            "BetaGeoModel",
            ("r", "alpha", "a", "b"),
            np.log([0.2, 4.0, 1e-5, 3.0]),
            flat,
            BetaGeoModel.divergence_hints,
        ),
    ) == (
        "BetaGeoModel did not converge: the likelihood is flat along parameter 'a', which "
        "drifted to 1e-05. Hint: the data show little sign of customers dropping out; use a "
        "longer calibration period or check that T runs to the end of calibration."
    )
    flat_r = np.diag([-1.0, 1.0, 1.0, 1.0])
    assert message(
        DataError,
        lambda: _mle._check_curvature(
            "BetaGeoModel",
            ("r", "alpha", "a", "b"),
            np.log([2e6, 4.0, 0.5, 3.0]),
            flat_r,
            BetaGeoModel.divergence_hints,
        ),
    ) == (
        "BetaGeoModel did not converge: the likelihood is flat along parameter 'r', which "
        "drifted to 2e+06. Hint: purchase rates hardly differ between customers; a small "
        "penalizer (e.g. penalizer=0.001) keeps it finite."
    )
    assert message(DataError, lambda: BetaGeoModel(penalizer=0.001).fit(x, tx, T)) == (
        "BetaGeoModel did not converge: parameter 'a' ran off to 1e-08 (the likelihood keeps "
        "improving as it moves). Hint: the data show little sign of customers dropping out; use "
        "a longer calibration period or check that T runs to the end of calibration."
    )
    # six customers whose spend never varies enough
    spend = ([1, 2, 3, 1, 2, 5], [10.0, 12.5, 8.0, 30.0, 9.0, 11.0])
    assert message(DataError, lambda: GammaGammaModel().fit(*spend)) == (
        "GammaGammaModel did not converge: parameter 'p' ran off to 9.99e+07 (the likelihood "
        "keeps improving as it moves). Hint: transaction values hardly vary within customers; a "
        "small penalizer (e.g. penalizer=0.001) keeps it finite."
    )


def test_from_params_and_set_params_errors():
    assert message(ValidationError, lambda: BetaGeoModel.from_params(r=1, alpha=2, a=1)) == (
        "BetaGeoModel.from_params needs exactly r, alpha, a, b. Got r, alpha, a instead."
    )
    assert (
        message(ValidationError, lambda: BetaGeoModel.from_params(r=1, alpha=2, a=1, b=1, c=3))
        == "BetaGeoModel.from_params needs exactly r, alpha, a, b. Got r, alpha, a, b, c instead."
    )
    assert (
        message(ValidationError, lambda: BetaGeoModel.from_params(r=-1, alpha=2, a=1, b=1))
        == "The 'r' parameter value of BetaGeoModel must be a float > 0. Got -1 instead."
    )
    assert message(ValidationError, lambda: BetaGeoModel().set_params(penalizr=1)) == (
        "BetaGeoModel has no parameter 'penalizr'. Did you mean 'penalizer'?"
    )


def test_json_errors():
    assert message(ValidationError, lambda: BetaGeoModel.from_json(GG.to_json())) == (
        "The JSON describes a 'GammaGammaModel' model, not a 'BetaGeoModel'. Hint: load it with "
        "segmint.models.base.model_from_json(text), which picks the right class."
    )
    assert message(ValidationError, lambda: BetaGeoModel.from_json("not json")) == (
        "A saved model must be JSON text written by to_json(). Got text that does not parse "
        "(Expecting value: line 1 column 1 (char 0)) instead."
    )
    assert message(ValidationError, lambda: BetaGeoModel.from_json("[1]")) == (
        "A saved model must be a JSON object with a 'model' key. Got list instead."
    )
    assert message(
        ValidationError, lambda: model_from_json('{"model": "BetaGeoModl", "format_version": 1}')
    ).startswith(  # every registered model, sorted (ClusterSegmenter: segmint.models.cluster)
        "The saved model class must be one of BetaGeoModel, ClusterSegmenter, GammaGammaModel, "
    )
    assert "Got 'BetaGeoModl' instead. Did you mean 'BetaGeoModel'?" in message(
        ValidationError, lambda: model_from_json('{"model": "BetaGeoModl", "format_version": 1}')
    )
    bad_version = '{"model": "BetaGeoModel", "format_version": 9, "params": {}}'
    assert message(ValidationError, lambda: BetaGeoModel.from_json(bad_version)) == (
        "The model file format_version must be 1. Got 9 instead. Hint: re-save the model with "
        "this version of segmint."
    )
    unknown = '{"model": "BetaGeoModel", "format_version": 1, "params": {"penalize": 1}}'
    assert message(ValidationError, lambda: BetaGeoModel.from_json(unknown)) == (
        "The saved BetaGeoModel has unknown parameter(s) penalize. Did you mean 'penalizer'?"
    )
    partial = (
        '{"model": "BetaGeoModel", "format_version": 1, "params": {}, "fitted": {"params_": {}}}'
    )
    assert message(ValidationError, lambda: BetaGeoModel.from_json(partial)) == (
        "The saved BetaGeoModel lacks fitted attribute(s) standard_errors_, covariance_, "
        "log_likelihood_, n_customers_, n_patterns_, convergence_. Hint: save the model again "
        "with to_json()."
    )


def test_clv_argument_errors():
    args = (BG, GG, [1], [1], [2], [3])
    assert message(ValidationError, lambda: customer_lifetime_value(*args, unit="M")) == (
        "The 'unit' argument of customer_lifetime_value must be one of 'D' (days), 'W' (weeks). "
        "Got 'M' instead."
    )
    assert message(
        ValidationError, lambda: customer_lifetime_value(*args, unit="W", horizon_months=0)
    ) == (
        "The 'horizon_months' argument of customer_lifetime_value must be an int in [1, 1200]. "
        "Got 0 instead."
    )
    assert message(
        ValidationError,
        lambda: customer_lifetime_value(*args, unit="W", discount_rate_monthly=-0.1),
    ) == (
        "The 'discount_rate_monthly' argument of customer_lifetime_value must be a float in "
        "[0, 1]. Got -0.1 instead."
    )
    assert message(
        ValidationError, lambda: customer_lifetime_value(GG, BG, [1], [1], [2], [3], unit="W")
    ) == (
        "The 'purchase_model' argument of customer_lifetime_value must be a model with "
        "expected_purchases(). Got GammaGammaModel instead. Hint: pass a BetaGeoModel or "
        "ParetoNBDModel, then a GammaGammaModel."
    )
    table = ibis.memtable(
        {
            "customer_id": ["a"],
            "frequency": [1],
            "recency": [3.0],
            "T": [2.0],
            "monetary_value": [5.0],
        }
    )
    assert message(ValidationError, lambda: customer_lifetime_value(BG, GG, table, unit="W")) == (
        "recency must be within [0, T] (and 0 when frequency is 0). Got 1 customer(s) outside "
        "instead. (customer_lifetime_value) Hint: measure recency and T up to the same date."
    )


def test_validation_errors():
    assert message(ValidationError, lambda: calibration_and_holdout(ORDERS, "2024-13-01")) == (
        "The 'calibration_end' argument of calibration_and_holdout must be a date like "
        "'1997-09-30'. Got '2024-13-01' instead."
    )
    assert message(
        ValidationError, lambda: calibration_and_holdout(ORDERS, "2024-02-01", "2024-01-01")
    ) == (
        "observation_end must be after calibration_end (2024-02-01). Got 2024-01-01 instead. "
        "Hint: the holdout period runs from the day after calibration_end to observation_end."
    )
    assert message(ValidationError, lambda: calibration_and_holdout([1], "2024-02-01")) == (
        "The 'orders' argument of calibration_and_holdout must be an ibis table or a pandas "
        "DataFrame. Got list instead."
    )
    renamed = ORDERS.rename(columns={"ts": "tss"})
    assert message(NotFoundError, lambda: calibration_and_holdout(renamed, "2024-02-01")) == (
        "calibration_and_holdout needs a column 'ts'. Did you mean 'tss'? Hint: rename the "
        "column to 'ts' (available: customer_id, tss, amount)."
    )
    text_ts = ORDERS.assign(ts="x")
    assert message(ValidationError, lambda: calibration_and_holdout(text_ts, "2024-02-01")) == (
        "Column 'ts' must be a timestamp or a date. Got string instead. "
        "(calibration_and_holdout) Hint: parse the column as dates before building the summary."
    )
    assert (
        message(
            ValidationError, lambda: cumulative_tracking(BG, ORDERS, "2023-01-01", "2023-06-01")
        )
        == "cumulative_tracking needs customers with a purchase on or before 2023-01-01. Got "
        "none instead."
    )
    assert message(
        NotFoundError, lambda: conditional_expectations(BG, pd.DataFrame({"a": [1]}))
    ) == (
        "conditional_expectations needs a column 'frequency_cal'. Hint: rename the column to "
        "'frequency_cal' (available: a)."
    )
    assert message(
        ValidationError,
        lambda: conditional_expectations(BG, pd.DataFrame({"a": [1]}), max_frequency=0),
    ) == (
        "The 'max_frequency' argument of conditional_expectations must be an int ≥ 1. Got 0 "
        "instead."
    )


def test_churn_errors():
    assert message(
        ValidationError, lambda: churn_risk(BG, SUMMARY, unit="W", thresholds=(0.8, 0.2))
    ) == (
        "The 'thresholds' argument of churn_risk must be two probabilities (low, high) with "
        "0 < low < high < 1. Got (0.8, 0.2) instead."
    )
    assert (
        message(ValidationError, lambda: churn_risk(BG, SUMMARY, unit="W", overdue_factor=0))
        == "The 'overdue_factor' argument of churn_risk must be a float > 0. Got 0 instead."
    )
    assert message(
        ValidationError, lambda: churn_risk(BG, SUMMARY, unit="W", min_frequency_for_rhythm=0)
    ) == (
        "The 'min_frequency_for_rhythm' argument of churn_risk must be an int ≥ 1. Got 0 instead."
    )
    assert message(ValidationError, lambda: churn_risk(BG, [1], unit="W")) == (
        "The 'summary' argument of churn_risk must be a pandas DataFrame or an ibis table. "
        "Got list instead."
    )
    assert message(ValidationError, lambda: churn_risk(BG, SUMMARY, unit="weekly")) == (
        "The 'unit' argument of churn_risk must be one of 'D' (days), 'W' (weeks). Got "
        "'weekly' instead. Did you mean 'week', 'weeks'?"
    )


def test_formula_errors():
    assert message(ValidationError, lambda: retention_cltv(ORDERS, period="week")) == (
        "The 'period' argument of retention_cltv must be one of 'month', 'quarter', 'year'. "
        "Got 'week' instead."
    )
    assert message(DataError, lambda: retention_cltv(ORDERS, period="month")) == (
        "Retention per month needs at least 2 complete months of orders. Got 0 instead. Hint: "
        "pass a later as_of (orders must span at least two complete months)."
    )
    assert message(ValidationError, lambda: retention_cltv(ORDERS, discount_rate_annual=2)) == (
        "The 'discount_rate_annual' argument of retention_cltv must be a float in [0, 1]. Got 2 "
        "instead."
    )
    assert message(ValidationError, lambda: retention_cltv(ORDERS, acquisition_cost=-5)) == (
        "The 'acquisition_cost' argument of retention_cltv must be a float ≥ 0. Got -5 instead."
    )
    assert message(ValidationError, lambda: purchase_cltv(ORDERS, gross_margin=1.5)) == (
        "The 'gross_margin' argument of purchase_cltv must be None or a float in [0, 1]. Got "
        "1.5 instead."
    )
    assert message(ValidationError, lambda: purchase_cltv(ORDERS, lifespan="forever")) == (
        "The 'lifespan' argument of purchase_cltv must be one of 'retention', 'observed'. Got "
        "'forever' instead."
    )
    assert message(DataError, lambda: purchase_cltv(ORDERS, retention_period="month")) == (
        "Lifespan from retention per month needs at least 2 complete months of orders. Got 0 "
        "instead. Hint: use lifespan='observed'."
    )
    two_months = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "ts": pd.to_datetime(["2024-01-05", "2024-02-05"]),
            "amount": [1.0, 2.0],
        }
    )
    assert message(
        DataError, lambda: purchase_cltv(two_months, retention_period="month", as_of="2024-02-29")
    ) == (
        "Lifespan from retention needs a retention rate below 1. Got 1 instead. Hint: no "
        "customer was lost between periods; use lifespan='observed'."
    )
    assert message(
        DataError,
        lambda: retention_cltv(
            two_months, period="month", discount_rate_annual=0.0, as_of="2024-02-29"
        ),
    ) == (
        "The retention formula needs 1 + d − RR > 0. Got RR=1.000 and d=0.000 instead. Hint: "
        "with every customer retained, supply a discount rate above 0."
    )
    assert message(DataError, lambda: retention_cltv(ORDERS, period="year")) == (
        "Retention per year needs at least 2 complete years of orders. Got 0 instead. Hint: "
        "use a shorter period (e.g. period='month') or a later as_of."
    )
    empty = ORDERS.iloc[:0]
    assert message(DataError, lambda: retention_cltv(empty)) == (
        "The orders table has no orders. Got 0 rows instead."
    )


def test_optimiser_failures(monkeypatch):
    from segmint.models.clv import _mle

    def make_objective(rows):
        return (lambda theta: (float("nan"), None)), 1.0

    common = {
        "model_name": "BetaGeoModel",
        "names": ("r", "alpha", "a", "b"),
        "n_rows": 10,
        "starts": [(1.0, 1.0, 1.0, 1.0)],
        "penalizer": 0.0,
        "max_iter": 10,
        "n_starts": 1,
        "analytic_gradient": False,
    }
    assert message(DataError, lambda: _mle.fit_mle(make_objective=make_objective, **common)) == (
        "BetaGeoModel could not start fitting: the log-likelihood is not finite at any starting "
        "point. Hint: check the inputs for extreme values (e.g. monetary values near 0 or huge "
        "frequencies)."
    )
    # a fit that never gets its gradient small enough
    monkeypatch.setattr(_mle, "GRADIENT_TOL", -1.0)
    s = pd.DataFrame(
        {
            "frequency": [0, 1, 2, 0, 5, 1, 3],
            "recency": [0, 3, 8, 0, 9, 2, 7.0],
            "T": [10, 10, 10, 9, 10, 4, 8.0],
        }
    )
    text = message(DataError, lambda: BetaGeoModel(n_starts=2).fit(s))
    assert text.startswith("BetaGeoModel did not converge after 2 start(s): the gradient is still ")
    assert text.endswith(
        "Hint: try a larger max_iter, more n_starts, or a small penalizer (e.g. 0.001)."
    )


def test_more_input_errors():
    s = pd.DataFrame(
        {
            "customer_id": ["a"],
            "frequency": [1],
            "recency": [1.0],
            "T": [2.0],
            "probability_alive": [0.5],
        }
    )
    assert message(ValidationError, lambda: BG.probability_alive(ibis.memtable(s))) == (
        "BetaGeoModel.probability_alive: the table already has a column 'probability_alive'. "
        "Hint: drop or rename 'probability_alive' before scoring."
    )
    from segmint.models.clv import customer_scores

    assert message(ValidationError, lambda: customer_scores(BG, GG, [1], unit="W")) == (
        "The 'summary' argument of customer_scores must be a pandas DataFrame or an ibis table. "
        "Got list instead."
    )
    text_ts = ORDERS.assign(ts="2024-01-01")
    assert message(ValidationError, lambda: retention_cltv(text_ts)) == (
        "Column 'ts' must be a timestamp or a date. Got string instead."
    )
    assert message(DataError, lambda: purchase_cltv(ORDERS, as_of="2030-01-01")) == (
        "No orders in the 12 months to 2030-01-01. Got 0 instead. Hint: choose a later as_of "
        "or a longer window_months."
    )
    grouped = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "ts": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-02-10"]),
            "amount": [1.0, 2.0, 3.0],
            "channel": ["web", "web", "store"],
        }
    )
    from segmint.models.clv import retention_cltv_table

    assert message(
        DataError,
        lambda: retention_cltv_table(grouped, "channel", period="month", as_of="2024-02-29"),
    ) == (
        "Retention per month needs at least 2 complete months of orders in group 'store'. Got 1 "
        "instead. Hint: pass a later as_of (orders must span at least two complete months)."
    )
