"""What a segment check found: :class:`Finding` records and the :class:`CheckReport` (layer 3).

Findings are data, not text: the CLI renders them as a table, ``--json`` and the web app's
overview page read :meth:`CheckReport.to_dict`.

Example:
    >>> f = Finding("too_small", "warning", ("vip",), "Segment 'vip' has 12 members.",
    ...             numbers={"members": 12})
    >>> f.title, f.title_zh_hant, f.to_dict()["numbers"]
    ('Too small', '區隔過小', {'members': 12})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["CHECKS", "SEVERITIES", "CheckReport", "Finding", "Severity"]

Severity = Literal["info", "warning", "error"]
#: Severities, mildest first.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")

#: check code → (title in English, title in Traditional Chinese), in the order they are shown.
CHECKS: dict[str, tuple[str, str]] = {
    "too_small": ("Too small", "區隔過小"),
    "too_coarse": ("Too coarse", "區隔過粗"),
    "overlap": ("Overlapping segments", "區隔重疊"),
    "demographic_only": ("Demographic fields only", "只用人口統計欄位"),
    "missing_data": ("Missing data", "資料缺漏"),
    "sources_disagree": ("Sources disagree", "來源資料不一致"),
    "review_overdue": ("Not reviewed for a year", "超過一年未檢視"),
    "unused_field": ("Collected but unused", "已收集但未使用"),
}


@dataclass(frozen=True)
class Finding:
    """One problem (or remark) about one or more segments, or about a profile field.

    ``code`` is one of :data:`CHECKS`; ``numbers`` holds the figures the message quotes (sizes,
    shares, lift, Jaccard, days), so a UI can show them without parsing text.
    """

    code: str
    severity: Severity
    segments: tuple[str, ...]
    message: str
    numbers: Mapping[str, float | int | None] = field(default_factory=dict)
    hint: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """Short English title of the check."""
        return CHECKS[self.code][0]

    @property
    def title_zh_hant(self) -> str:
        """Short Traditional Chinese title of the check."""
        return CHECKS[self.code][1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN becomes null)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "title_en": self.title,
            "title_zh_hant": self.title_zh_hant,
            "segments": list(self.segments),
            "fields": list(self.fields),
            "message": self.message,
            "hint": self.hint,
            "numbers": {k: _plain(v) for k, v in self.numbers.items()},
        }


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


@dataclass(frozen=True)
class CheckReport:
    """Everything ``segments check`` found, plus the figures behind it.

    - ``findings``: most severe first, then in :data:`CHECKS` order;
    - ``sizes``: one row per segment — segment, set (file stem or index), exclusive, members,
      share (of all profiles), buyers, purchase_rate, lift (purchase rate over the population's);
    - ``overlap``: the Jaccard matrix of every pair of segments (segment × segment, 1 on the
      diagonal of non-empty segments);
    - ``coverage``: one row per profile field a definition uses — field, segments, profiles,
      filled, missing_rate, multi_source (people with the field filled in 2+ source records),
      disagreeing, disagreement_rate;
    - ``population`` (profiles), ``purchase_rate`` (of the population), ``as_of``, ``thresholds``.
    """

    as_of: datetime
    population: int
    purchase_rate: float | None
    findings: tuple[Finding, ...]
    sizes: pd.DataFrame = field(repr=False)
    overlap: pd.DataFrame = field(repr=False)
    coverage: pd.DataFrame = field(repr=False)
    thresholds: Any = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: severity, code, title, segments, fields, message, hint, numbers.

        ``segments`` and ``fields`` are comma-separated text; ``numbers`` stays a dict.
        """
        cols = ["severity", "code", "title", "segments", "fields", "message", "hint", "numbers"]
        rows = [
            {
                "severity": f.severity,
                "code": f.code,
                "title": f.title,
                "segments": ", ".join(f.segments),
                "fields": ", ".join(f.fields),
                "message": f.message,
                "hint": f.hint,
                "numbers": dict(f.numbers),
            }
            for f in self.findings
        ]
        return pd.DataFrame(rows, columns=cols)

    def counts(self) -> dict[str, int]:
        """Findings per severity (every severity present, possibly 0)."""
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    def by_code(self, code: str) -> list[Finding]:
        """The findings of one check, e.g. ``report.by_code("too_small")``."""
        if code not in CHECKS:
            from segmint.errors import NotFoundError, close_matches

            raise NotFoundError(
                f"There is no check '{code}'.", suggestions=close_matches(code, CHECKS)
            )
        return [f for f in self.findings if f.code == code]

    def overlap_pairs(self, min_jaccard: float = 0.0) -> pd.DataFrame:
        """Pairs of different segments with Jaccard ≥ ``min_jaccard`` (and > 0), highest first:
        columns a, b, jaccard."""
        m = self.overlap
        rows = [
            (a, b, float(m.iat[i, j]))
            for i, a in enumerate(m.index)
            for j, b in enumerate(m.columns)
            if j > i and m.iat[i, j] > 0 and m.iat[i, j] >= min_jaccard
        ]
        pairs = pd.DataFrame(rows, columns=["a", "b", "jaccard"])
        return pairs.sort_values(["jaccard", "a", "b"], ascending=[False, True, True]).reset_index(
            drop=True
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: as_of, population, purchase_rate, counts, findings, sizes,
        coverage and the overlap pairs above zero."""
        return {
            "as_of": self.as_of.isoformat(),
            "population": self.population,
            "purchase_rate": _plain(self.purchase_rate),
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "sizes": _records(self.sizes),
            "coverage": _records(
                self.coverage.assign(segments=self.coverage["segments"].map(list))
            ),
            "overlap": _records(self.overlap_pairs()),
            "thresholds": self.thresholds.model_dump() if self.thresholds is not None else None,
        }
