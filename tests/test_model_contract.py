"""The estimator contract, checked on every model of segmint.models (STYLE.md, scikit-learn).

A new model joins by adding an entry to ``CASES``: how to fit it and which methods need a fit.
``test_every_model_has_a_case`` fails until it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import segmint.models.clv  # noqa: F401 - registers the CLV models
from _clv_support import cdnow_summary
from segmint.errors import NotFittedError, ValidationError
from segmint.models import cluster as _cluster  # noqa: F401 - registers ClusterSegmenter
from segmint.models.base import Estimator, model_from_json, registered_models


@dataclass
class Case:
    fit_args: Any  # () -> (args, kwargs)
    #: method name → () -> (args, kwargs); each must need a fitted model
    predictions: dict[str, Any] = field(default_factory=dict)


def _rft():
    s = cdnow_summary()
    return (s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()), {}


def _spend():
    s = cdnow_summary()
    return (s["frequency"].to_numpy(), s["monetary_value"].to_numpy()), {}


_PURCHASE_PREDICTIONS = {
    "probability_alive": lambda: (([0, 2], [0.0, 30.0], [38.0, 38.0]), {}),
    "expected_purchases": lambda: ((39.0, [0, 2], [0.0, 30.0], [38.0, 38.0]), {}),
    "expected_purchases_new_customer": lambda: (([1.0, 39.0],), {}),
    "summary": lambda: ((), {}),
}


def _customers():
    import pandas as pd

    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2], 40)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(120)],
            "spend": rng.gamma(4.0, np.array([20.0, 300.0, 4000.0])[group] / 4.0),
            "recency": rng.normal(np.array([10.0, 100.0, 300.0])[group], 5.0),
            "country": np.where(group == 2, "TW", "HK"),
        }
    )
    return (frame,), {}


_CLUSTER_PREDICTIONS = {
    "predict": lambda: (_customers()[0], {}),
    "transform": lambda: (_customers()[0], {}),
}

CASES: dict[str, Case] = {
    "ClusterSegmenter": Case(_customers, _CLUSTER_PREDICTIONS),
    "BetaGeoModel": Case(_rft, _PURCHASE_PREDICTIONS),
    "ParetoNBDModel": Case(_rft, _PURCHASE_PREDICTIONS),
    "GammaGammaModel": Case(
        _spend,
        {
            "expected_spend": lambda: (([0, 1, 5], [0.0, 20.0, 35.0]), {}),
            "summary": lambda: ((), {}),
        },
    ),
}

MODELS = sorted(registered_models().items())


def test_every_model_has_a_case():
    missing = set(registered_models()) - set(CASES)
    assert not missing, f"add these models to CASES in tests/test_model_contract.py: {missing}"
    assert {"BetaGeoModel", "ParetoNBDModel", "GammaGammaModel"} <= set(registered_models())


@pytest.fixture(scope="module")
def fitted() -> dict[str, Estimator]:
    out = {}
    for name, cls in MODELS:
        args, kwargs = CASES[name].fit_args()
        out[name] = cls().fit(*args, **kwargs)
    return out


def _call(model, method, make):
    args, kwargs = make()
    return getattr(model, method)(*args, **kwargs)


@pytest.mark.parametrize("name,cls", MODELS)
def test_init_stores_parameters_and_nothing_else(name, cls):
    model = cls()
    params = model.get_params()
    assert vars(model) == params
    assert not [a for a in vars(model) if a.endswith("_")]
    assert set(params) == set(cls.parameter_constraints), "declare a constraint per parameter"
    for p, value in params.items():
        assert cls.parameter_constraints[p].is_satisfied_by(value), f"default of {p} is invalid"
    clone = cls(**params)
    assert clone.get_params() == params
    assert repr(model).startswith(f"{name}(")
    # __init__ never validates: even a bad value is stored as given
    bad = next(iter(cls.parameter_constraints.items()))
    assert getattr(cls(**{bad[0]: bad[1].invalid_example()}), bad[0]) == bad[1].invalid_example()


@pytest.mark.parametrize("name,cls", MODELS)
def test_every_constraint_gives_one_message_shape(name, cls):
    args, kwargs = CASES[name].fit_args()
    for p, constraint in cls.parameter_constraints.items():
        value = constraint.invalid_example()
        model = cls(**{p: value})
        with pytest.raises(ValidationError) as info:
            model.fit(*args, **kwargs)
        assert str(info.value) == (
            f"The '{p}' parameter of {name} must be {constraint.describe()}. Got {value!r} instead."
        )
        assert not model.is_fitted()


@pytest.mark.parametrize("name,cls", MODELS)
def test_unfitted_models_refuse_to_predict(name, cls):
    model = cls()
    assert not model.is_fitted()
    for method, make in CASES[name].predictions.items():
        with pytest.raises(NotFittedError) as info:
            _call(model, method, make)
        assert str(info.value).startswith(
            f"This {name} is not fitted yet, so {method}() cannot be used. Hint: call {name}(...)"
        )


@pytest.mark.parametrize("name,cls", MODELS)
def test_fit_returns_self_and_sets_underscore_attributes(name, cls, fitted):
    args, kwargs = CASES[name].fit_args()
    copies = [np.array(a, copy=True) for a in args]
    model = cls()
    assert model.fit(*args, **kwargs) is model
    for a, c in zip(args, copies, strict=True):
        np.testing.assert_array_equal(a, c)  # inputs untouched
    assert model.is_fitted()
    params = set(model.get_params())
    extra = set(vars(model)) - params
    assert extra == set(cls.fitted_attributes)
    assert all(a.endswith("_") for a in extra)
    # deterministic
    assert model.params_ == fitted[name].params_


@pytest.mark.parametrize("name,cls", MODELS)
def test_json_round_trip_keeps_every_prediction(name, cls, fitted):
    model = fitted[name]
    text = model.to_json()
    data = json.loads(text)  # plain JSON (no NaN, no pickle)
    assert data["model"] == name and data["format_version"] == 1
    assert "NaN" not in text
    for loaded in (cls.from_json(text), model_from_json(text)):
        assert type(loaded) is cls
        assert loaded.get_params() == model.get_params()
        for attr in cls.fitted_attributes:
            a, b = getattr(model, attr), getattr(loaded, attr)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b or (a != a and b != b), attr  # NaN == NaN here
        for method, make in CASES[name].predictions.items():
            x, y = _call(model, method, make), _call(loaded, method, make)
            if hasattr(x, "equals"):
                assert x.equals(y)
            else:
                np.testing.assert_array_equal(x, y)
    unfitted = cls.from_json(cls().to_json())
    assert not unfitted.is_fitted() and unfitted.get_params() == cls().get_params()


@pytest.mark.parametrize("name,cls", MODELS)
def test_set_params_is_checked_at_the_next_fit(name, cls):
    args, kwargs = CASES[name].fit_args()
    p, constraint = next(iter(cls.parameter_constraints.items()))
    model = cls().set_params(**{p: constraint.invalid_example()})
    with pytest.raises(ValidationError):
        model.fit(*args, **kwargs)
