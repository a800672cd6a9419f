"""Segment diagnostics: the classic segmentation mistakes, made visible (layer 3).

Checks (thresholds in :class:`~segmint.config.SegmentChecks`, docs/segments-check.md):
too small, too coarse, overlapping segments of a non-exclusive set, demographic-only
definitions, missing data and disagreeing sources for the profile fields definitions use,
definitions not reviewed for a year, and collected personal fields nothing uses.

- :mod:`.usage` — what a definition uses (walks resolved trees) and what templates use;
- :mod:`.queries` — the condensed inputs as ibis expressions (the workspace runs them);
- :mod:`.checks` — one function per check on those inputs, and :func:`diagnose`;
- :mod:`.findings` — :class:`Finding` and :class:`CheckReport` (structured, JSON-ready).

Example:
    >>> report = ws.segments_check()                     # doctest: +SKIP
    >>> report.to_frame()[["severity", "code", "segments"]].head()   # doctest: +SKIP
"""

from segmint.models.diagnostics.checks import (
    CoverageCounts,
    check_coarse,
    check_coverage,
    check_demographic,
    check_minimisation,
    check_overlap,
    check_review,
    check_small,
    coverage_table,
    diagnose,
    jaccard_matrix,
    segment_sizes,
    thresholds,
)
from segmint.models.diagnostics.findings import CHECKS, SEVERITIES, CheckReport, Finding
from segmint.models.diagnostics.usage import (
    FieldUse,
    is_demographic_only,
    template_fields,
    used_fields,
)

__all__ = [
    "CHECKS",
    "SEVERITIES",
    "CheckReport",
    "CoverageCounts",
    "FieldUse",
    "Finding",
    "check_coarse",
    "check_coverage",
    "check_demographic",
    "check_minimisation",
    "check_overlap",
    "check_review",
    "check_small",
    "coverage_table",
    "diagnose",
    "is_demographic_only",
    "jaccard_matrix",
    "segment_sizes",
    "template_fields",
    "thresholds",
    "used_fields",
]
