"""The examples in the import and identity modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "segmint.ingest",
    "segmint.ingest._util",
    "segmint.ingest.fields",
    "segmint.ingest.prepare",
    "segmint.ingest.readers",
    "segmint.ingest.values",
    "segmint.identity",
    "segmint.identity.junk",
    "segmint.identity.profiles",
    "segmint.identity.stitch",
    "segmint.importer",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name not in ("segmint.ingest", "segmint.identity"):
        assert result.attempted > 0, f"{name} has no examples"
