"""``segments check``: gathers the condensed inputs and runs the diagnostics (layer 4).

The checks themselves are pure (:mod:`segmint.models.diagnostics`); this module executes the
few queries they need — current members of every segment (one query, as a run does), the
profiles that bought in the purchase window, one aggregate of filled counts per profile field,
the traits keys, and one aggregate of source disagreements — and reads message templates from
``<workspace>/templates/``. The workspace facade (``ws.segments_check()``) supplies the
connection, tables and definitions.

Example:
    >>> report = ws.segments_check(min_size=100)         # doctest: +SKIP
    >>> report.counts()                                  # doctest: +SKIP
    {'info': 9, 'warning': 31, 'error': 0}
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from segmint.config import SegmentChecks
from segmint.features.customer_features import customer_features
from segmint.models.diagnostics import CheckReport, CoverageCounts, diagnose, template_fields
from segmint.models.diagnostics.checks import NO_DISAGREEMENT
from segmint.models.diagnostics.queries import (
    disagreement_counts,
    profile_coverage,
    recent_buyers,
    trait_key_counts,
)
from segmint.models.diagnostics.usage import used_fields
from segmint.rules import Resolved, Tables
from segmint.schema import PROFILE_FIELDS
from segmint.segments import current_members

__all__ = ["MODEL_FIELDS", "TEMPLATES_DIR", "check", "template_texts"]

#: Folder of message templates inside a workspace (scanned for ``{{ field }}`` names).
TEMPLATES_DIR = "templates"

#: Profile fields the clustering features use by default (``customer_features``).
MODEL_FIELDS: tuple[str, ...] = tuple(
    inspect.signature(customer_features).parameters["profile_columns"].default
)


def template_texts(folder: Path | None) -> list[str]:
    """The text of every file in ``<folder>/templates/`` (recursively; unreadable files skipped)."""
    if folder is None or not (Path(folder) / TEMPLATES_DIR).is_dir():
        return []
    out = []
    for path in sorted((Path(folder) / TEMPLATES_DIR).rglob("*")):
        if path.is_file():
            try:
                out.append(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
    return out


def _column(table, name: str) -> list:
    return table.to_pyarrow().column(name).to_pylist()


def check(
    con,
    resolved: Resolved,
    tables: Tables,
    at: datetime,
    *,
    cfg: SegmentChecks,
    today: date,
    timezone: str = "UTC",
    folder: Path | None = None,
    others: Iterable[Resolved] = (),
    model_fields: Iterable[str] = (),
) -> CheckReport:
    """Check ``resolved`` segments at instant ``at``; returns the ``CheckReport`` of ``diagnose``.

    ``others`` are further definitions whose fields count as used for data minimisation (the
    library and the workspace's own when ``resolved`` is a selection); ``model_fields`` are
    profile fields used by model features besides :data:`MODEL_FIELDS`.
    """
    engine = tables.resolved_engine()
    profiles = tables.profiles
    members = current_members(resolved, tables, at, timezone=timezone).to_pandas()
    buyers = (
        _column(recent_buyers(tables.orders, profiles, at, days=cfg.purchase_days), "customer_id")
        if tables.orders is not None
        else []
    )

    used_profile = set().union(*(used_fields(s).profile for s in resolved))
    columns = [f for f in PROFILE_FIELDS if f != "traits" and f in profiles.columns]
    used_traits = sorted(f for f in used_profile if f.startswith("traits."))
    fields = columns + used_traits
    row = profile_coverage(profiles, fields, engine=engine).to_pyarrow().to_pylist()[0]
    population = int(row["profiles"])
    filled = {f: int(row[f"f{i}"] or 0) for i, f in enumerate(fields)}
    collected = {f: n for f, n in filled.items() if f in columns}
    if engine == "duckdb" and "traits" in profiles.columns:
        keys = trait_key_counts(profiles).to_pyarrow().to_pylist()
        collected.update({f"traits.{r['key']}": int(r["filled"]) for r in keys})

    multi: dict[str, int] = {}
    disagreeing: dict[str, int] = {}
    if "source_profiles" in con.list_tables():
        sp = con.table("source_profiles")
        checked = [
            f
            for f in sorted(used_profile)
            if f not in NO_DISAGREEMENT and f.split(".")[0] in sp.columns
        ]
        if checked:
            got = disagreement_counts(sp, checked, engine=engine).to_pyarrow().to_pylist()[0]
            multi = {f: int(got[f"m{i}"] or 0) for i, f in enumerate(checked)}
            disagreeing = {f: int(got[f"d{i}"] or 0) for i, f in enumerate(checked)}

    elsewhere = set(MODEL_FIELDS) | set(model_fields) | template_fields(template_texts(folder))
    for other in others:
        elsewhere |= set().union(*(used_fields(s).profile for s in other))
    counts = CoverageCounts(population, {**collected, **filled}, multi, disagreeing)
    report = diagnose(
        resolved,
        members,
        buyers,
        counts,
        as_of=at,
        today=today,
        cfg=cfg,
        used_elsewhere=elsewhere,
    )
    return report
