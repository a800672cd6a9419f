"""Segment definitions: spec → resolved → ibis expression, plus a plain-Python evaluator.

Two stages, as in sqlmesh: :func:`load_specs` parses YAML/JSON files into frozen
:mod:`pydantic <segmint.rules.spec>` models; :func:`resolve` checks them against a
:class:`Catalog` of the workspace (fields, types, events, metrics, segment references, cycles).
:func:`compile_segment` / :func:`compile_set` / :func:`compile_flags` turn resolved segments into
ibis expressions (never executed here); :func:`evaluate` gives the same answer in plain Python.

Example:
    >>> from datetime import datetime
    >>> sets = load_specs("examples/segments")             # doctest: +SKIP
    >>> resolved = resolve(sets, tables.catalog())         # doctest: +SKIP
    >>> compile_segment(resolved["abandoned_cart"], tables, datetime(2025, 1, 31)).count()
    ...                                                    # doctest: +SKIP
"""

from segmint.rules.compile import Tables, compile_flags, compile_segment, compile_set
from segmint.rules.explain import Explanation, explain
from segmint.rules.load import dump_yaml, load_specs, parse_specs, to_data
from segmint.rules.reference import Evaluator, Rows, evaluate, evaluate_set
from segmint.rules.resolve import (
    KNOWN_EVENTS,
    Catalog,
    Resolved,
    ResolvedSegment,
    ResolvedSet,
    resolve,
)
from segmint.rules.spec import (
    AllOf,
    Anniversary,
    AnyOf,
    Compare,
    Condition,
    Consent,
    Duration,
    EventSequence,
    HasTag,
    InSegment,
    Metric,
    Not,
    NotPerformed,
    Ordered,
    Performed,
    Sample,
    SegmentSet,
    SegmentSpec,
    Step,
    json_schema,
)

__all__ = [
    "KNOWN_EVENTS",
    "AllOf",
    "Anniversary",
    "AnyOf",
    "Catalog",
    "Compare",
    "Condition",
    "Consent",
    "Duration",
    "Evaluator",
    "EventSequence",
    "Explanation",
    "HasTag",
    "InSegment",
    "Metric",
    "Not",
    "NotPerformed",
    "Ordered",
    "Performed",
    "Resolved",
    "ResolvedSegment",
    "ResolvedSet",
    "Rows",
    "Sample",
    "SegmentSet",
    "SegmentSpec",
    "Step",
    "Tables",
    "compile_flags",
    "compile_segment",
    "compile_set",
    "dump_yaml",
    "evaluate",
    "evaluate_set",
    "explain",
    "json_schema",
    "load_specs",
    "parse_specs",
    "resolve",
    "to_data",
]
