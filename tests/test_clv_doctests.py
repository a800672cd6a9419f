"""The examples in the CLV modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "segmint.datasets",
    "segmint.models.base",
    "segmint.models.clv",
    "segmint.models.clv._common",
    "segmint.models.clv.beta_geo",
    "segmint.models.clv.churn",
    "segmint.models.clv.formulas",
    "segmint.models.clv.gamma_gamma",
    "segmint.models.clv.likelihoods",
    "segmint.models.clv.pareto_nbd",
    "segmint.models.clv.scores",
    "segmint.models.clv.validation",
    "segmint.models.clv.value",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
