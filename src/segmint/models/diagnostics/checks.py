"""The segment checks, one function each, on condensed inputs (layer 3, pure Python/pandas).

Each ``check_*`` takes what it needs (sizes, the Jaccard matrix, resolved definitions, coverage
counts) and the :class:`~segmint.config.SegmentChecks` thresholds, and returns a list of
:class:`~segmint.models.diagnostics.findings.Finding`. :func:`diagnose` runs them all and builds
the :class:`~segmint.models.diagnostics.findings.CheckReport`. Nothing here touches an engine:
the workspace (``ws.segments_check()``) executes the queries of :mod:`.queries` and hands in
the results.

Example:
    >>> import pandas as pd
    >>> sizes = pd.DataFrame({"segment": ["vip", "all"], "members": [3, 900],
    ...                       "share": [0.003, 0.9]})
    >>> [f.segments for f in check_small(sizes, SegmentChecks())]
    [('vip',)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError as PydanticValidationError

from segmint.config import SegmentChecks
from segmint.errors import ValidationError, close_matches
from segmint.models.diagnostics.findings import CHECKS, SEVERITIES, CheckReport, Finding
from segmint.models.diagnostics.usage import FieldUse, is_demographic_only, used_fields
from segmint.rules.resolve import Resolved, ResolvedSegment, RInSegment, walk

__all__ = [
    "NO_DISAGREEMENT",
    "CoverageCounts",
    "check_coarse",
    "check_coverage",
    "check_demographic",
    "check_minimisation",
    "check_overlap",
    "check_review",
    "check_small",
    "coverage_table",
    "diagnose",
    "jaccard_matrix",
    "segment_sizes",
    "thresholds",
]

#: Fields whose values differ between sources by nature (consent is resolved by time, the
#: profile keeps the earliest created_at): no disagreement is computed for them.
NO_DISAGREEMENT = frozenset(
    {"created_at"}
    | {f"consent_{ch}{x}" for ch in ("whatsapp", "email", "sms") for x in ("", "_at")}
)


def _pct(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x * 100:.1f}%" if x < 0.1 else f"{x * 100:.0f}%"


def thresholds(base: SegmentChecks | None = None, **overrides: Any) -> SegmentChecks:
    """``base`` (default: the defaults) with ``overrides`` applied and checked.

    >>> thresholds(min_size=10).min_size
    10
    >>> thresholds(min_sise=10)
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: There is no threshold 'min_sise'. Did you mean 'min_size', 'min_share'? Hint: thresholds are min_size, min_share, coarse_share, coarse_lift, purchase_days, max_jaccard, review_days, max_missing, max_disagreement, demographic_fields, keep_fields.
    """  # noqa: E501
    base = base or SegmentChecks()
    known = list(SegmentChecks.model_fields)
    for key in overrides:
        if key not in known:
            raise ValidationError(
                f"There is no threshold '{key}'.",
                suggestions=close_matches(key, known),
                hint="thresholds are " + ", ".join(known) + ".",
            )
    if not overrides:
        return base
    try:
        return SegmentChecks.model_validate({**base.model_dump(), **overrides})
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        msg = first["msg"]
        if msg.startswith("Value error, "):  # our own validators say it all
            text = msg.removeprefix("Value error, ") + " instead."
        else:
            text = (
                f"The '{name}' threshold {msg.replace('Input should be', 'must be')}. "
                f"Got {first.get('input')!r} instead."
            )
        raise ValidationError(text, hint="see docs/segments-check.md for each threshold") from None


# -- sizes and purchase rates ----------------------------------------------------------------------
def _set_name(source: str | None, i: int) -> str:
    return Path(source).stem if source else f"set {i + 1}"


def segment_sizes(
    resolved: Resolved,
    members: pd.DataFrame,
    buyers: Iterable[str],
    population: int,
) -> pd.DataFrame:
    """One row per segment: segment, set, exclusive, members, share, buyers, purchase_rate, lift.

    ``members`` has rows (segment, customer_id); ``buyers`` are the profiles with a counted
    order in the purchase window. ``lift`` is the members' purchase rate over the population's
    (missing when the population bought nothing or the segment is empty).
    """
    bought = set(buyers)
    pop_rate = len(bought) / population if population else None
    flag = members["customer_id"].isin(bought) if len(members) else pd.Series([], dtype=bool)
    per = (
        members.assign(_b=flag).groupby("segment")["_b"].agg(["size", "sum"])
        if len(members)
        else pd.DataFrame(columns=["size", "sum"])
    )
    rows = []
    for i, st in enumerate(resolved.sets):
        for seg in st.segments:
            n = int(per["size"].get(seg.slug, 0)) if len(per) else 0
            b = int(per["sum"].get(seg.slug, 0)) if len(per) else 0
            rate = b / n if n else None
            rows.append(
                {
                    "segment": seg.slug,
                    "set": _set_name(st.spec.source, i),
                    "exclusive": st.exclusive,
                    "members": n,
                    "share": n / population if population else None,
                    "buyers": b,
                    "purchase_rate": rate,
                    "lift": rate / pop_rate if rate is not None and pop_rate else None,
                }
            )
    cols = ["segment", "set", "exclusive", "members", "share", "buyers", "purchase_rate", "lift"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"members": "int64", "buyers": "int64", "exclusive": bool}).astype(
        {c: "float64" for c in ("share", "purchase_rate", "lift")}
    )


def check_small(sizes: pd.DataFrame, cfg: SegmentChecks) -> list[Finding]:
    """Too small / too fine: fewer than ``min_size`` members or below ``min_share`` of profiles."""
    out = []
    for r in sizes.itertuples(index=False):
        share = r.share if r.share == r.share else None
        small = r.members < cfg.min_size
        thin = share is not None and share < cfg.min_share
        if not (small or thin):
            continue
        if r.members == 0:
            text = f"Segment '{r.segment}' has no members."
        else:
            text = (
                f"Segment '{r.segment}' has {r.members:,} members ({_pct(share)} of profiles), "
                f"below the minimum of {cfg.min_size:,} members or {_pct(cfg.min_share)}."
            )
        out.append(
            Finding(
                "too_small",
                "warning",
                (r.segment,),
                text,
                {
                    "members": int(r.members),
                    "share": share,
                    "min_size": cfg.min_size,
                    "min_share": cfg.min_share,
                },
                hint="widen the definition, merge it with a neighbour or retire it: results on "
                "so few customers cannot be measured.",
            )
        )
    return out


def check_coarse(
    sizes: pd.DataFrame, population_rate: float | None, cfg: SegmentChecks
) -> list[Finding]:
    """Too coarse: at least ``coarse_share`` of profiles, and members buy like everyone else
    (purchase-rate lift within ``coarse_lift``)."""
    low, high = cfg.coarse_lift
    out = []
    for r in sizes.itertuples(index=False):
        if r.share != r.share or r.share < cfg.coarse_share or r.lift != r.lift:
            continue
        if not low <= r.lift <= high:
            continue
        out.append(
            Finding(
                "too_coarse",
                "warning",
                (r.segment,),
                f"Segment '{r.segment}' holds {_pct(r.share)} of profiles and its members buy like "
                f"everyone else: {_pct(r.purchase_rate)} bought in the last {cfg.purchase_days} "
                f"days against {_pct(population_rate)} of all profiles (lift {r.lift:.2f}).",
                {
                    "members": int(r.members),
                    "share": float(r.share),
                    "lift": float(r.lift),
                    "purchase_rate": float(r.purchase_rate),
                    "population_purchase_rate": population_rate,
                },
                hint="split it by behaviour (recency, frequency, spend) or add a behavioural "
                "condition, so it picks out customers who act differently.",
            )
        )
    return out


# -- overlap ---------------------------------------------------------------------------------------
def jaccard_matrix(members: pd.DataFrame, slugs: Sequence[str]) -> pd.DataFrame:
    """Jaccard index |A ∩ B| / |A ∪ B| of every pair of ``slugs`` (0 when both are empty).

    >>> m = pd.DataFrame({"segment": ["a", "a", "b"], "customer_id": ["x", "y", "y"]})
    >>> float(jaccard_matrix(m, ["a", "b"]).loc["a", "b"])
    0.5
    """
    from scipy import sparse

    slugs = list(slugs)
    k = len(slugs)
    mine = members[members["segment"].isin(slugs)] if len(members) else members
    if not k or not len(mine):
        out = np.zeros((k, k))
    else:
        seg = pd.Categorical(mine["segment"], categories=slugs).codes
        cust, _ = pd.factorize(mine["customer_id"])
        x = sparse.csr_matrix(
            (np.ones(len(mine), dtype=np.int64), (cust, seg)), shape=(cust.max() + 1, k)
        )
        x.data[:] = 1  # a customer counts once per segment
        inter = (x.T @ x).toarray().astype(float)
        size = np.diag(inter)
        union = size[:, None] + size[None, :] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    frame = pd.DataFrame(out, index=slugs, columns=slugs)
    frame.index.name, frame.columns.name = "segment", "segment"
    return frame


def _references(seg: ResolvedSegment) -> set[str]:
    """Slugs ``seg`` refers to, directly or through other segments."""
    found: set[str] = set()
    todo = [seg]
    while todo:
        for node in walk(todo.pop().where):
            if isinstance(node, RInSegment) and node.slug not in found:
                found.add(node.slug)
                if node.segment is not None:
                    todo.append(node.segment)
    return found


def check_overlap(
    resolved: Resolved,
    overlap: pd.DataFrame,
    cfg: SegmentChecks,
    members: Mapping[str, int] | None = None,
) -> list[Finding]:
    """Segments of the same non-exclusive set with Jaccard ≥ ``max_jaccard``; pairs where one
    is built on the other (``in_segment``) are meant to overlap and are left out.

    With ``members`` (segment → size) the finding also says how many customers are in both
    and whether one segment lies entirely inside the other.
    """
    out = []
    for i, st in enumerate(resolved.sets):
        if st.exclusive or len(st.segments) < 2:
            continue
        segs = [s for s in st.segments if s.slug in overlap.index]
        for a_i, a in enumerate(segs):
            for b in segs[a_i + 1 :]:
                j = float(overlap.loc[a.slug, b.slug])
                if j < cfg.max_jaccard:
                    continue
                if b.slug in _references(a) or a.slug in _references(b):
                    continue
                name = _set_name(st.spec.source, i)
                text = (
                    f"Segments '{a.slug}' and '{b.slug}' (set {name}) overlap: Jaccard "
                    f"{j:.2f}, at or above {cfg.max_jaccard:.2f}"
                )
                numbers: dict[str, Any] = {"jaccard": j, "max_jaccard": cfg.max_jaccard}
                if members is not None:
                    na, nb = int(members.get(a.slug, 0)), int(members.get(b.slug, 0))
                    both = round(j * (na + nb) / (1 + j))  # |A ∩ B| from |A|, |B| and Jaccard
                    numbers["in_both"] = both
                    small, large = (a.slug, b.slug) if na <= nb else (b.slug, a.slug)
                    if both == min(na, nb):
                        text += f"; every member of '{small}' is also in '{large}'"
                    else:
                        text += f", {both:,} customers in both"
                out.append(
                    Finding(
                        "overlap",
                        "warning",
                        (a.slug, b.slug),
                        text + ".",
                        numbers,
                        hint="make the set exclusive (exclusive: true with priorities) or tighten "
                        "one of them, so each customer gets one message.",
                    )
                )
    return out


# -- definitions -----------------------------------------------------------------------------------
def check_demographic(segments: Iterable[ResolvedSegment], cfg: SegmentChecks) -> list[Finding]:
    """Definitions whose every condition is on ``demographic_fields`` (gender, age, income…)."""
    out = []
    for seg in segments:
        if not is_demographic_only(seg, cfg.demographic_fields):
            continue
        fields = tuple(sorted(used_fields(seg).profile))
        out.append(
            Finding(
                "demographic_only",
                "warning",
                (seg.slug,),
                f"Segment '{seg.slug}' uses demographic fields only ({', '.join(fields)}): it "
                "says who customers are, not what they do or need.",
                {},
                hint="add a behavioural condition (performed, ordered, an RFM or CLV metric) or a "
                "need (traits.interests), or use it only to refine a behavioural segment.",
                fields=fields,
            )
        )
    return out


def check_review(
    segments: Iterable[ResolvedSegment], today: date, cfg: SegmentChecks
) -> list[Finding]:
    """Definitions last reviewed ``review_days`` or more days before ``today``."""
    out = []
    for seg in segments:
        age = (today - seg.spec.reviewed_on).days
        if age < cfg.review_days:
            continue
        out.append(
            Finding(
                "review_overdue",
                "warning",
                (seg.slug,),
                f"Segment '{seg.slug}' was last reviewed on {seg.spec.reviewed_on.isoformat()}, "
                f"{age:,} days ago (owner: {seg.spec.owner}).",
                {"days": age, "review_days": cfg.review_days},
                hint="re-examine it with its owner (is it still used? does it still pick the "
                "right customers?) and update reviewed_on.",
            )
        )
    return out


# -- data coverage ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageCounts:
    """Condensed data the coverage checks need (from :mod:`.queries`).

    ``filled``: profiles with each field filled (columns and ``traits.<key>``); ``multi`` and
    ``disagreeing``: people with a field filled in 2+ source records, and those of them whose
    records disagree.
    """

    population: int
    filled: Mapping[str, int]
    multi: Mapping[str, int]
    disagreeing: Mapping[str, int]


def coverage_table(uses: Mapping[str, FieldUse], counts: CoverageCounts) -> pd.DataFrame:
    """One row per profile field a definition uses, sorted by field (see ``CheckReport``)."""
    by_field: dict[str, list[str]] = {}
    for slug, use in uses.items():
        for name in use.profile:
            by_field.setdefault(name, []).append(slug)
    rows = []
    n = counts.population
    for name in sorted(by_field):
        got = int(counts.filled.get(name, 0))
        multi = counts.multi.get(name)
        dis = counts.disagreeing.get(name)
        rows.append(
            {
                "field": name,
                "segments": tuple(sorted(by_field[name])),
                "profiles": n,
                "filled": got,
                "missing_rate": 1 - got / n if n else None,
                "multi_source": multi,
                "disagreeing": dis,
                "disagreement_rate": dis / multi if multi else None,
            }
        )
    cols = [
        "field",
        "segments",
        "profiles",
        "filled",
        "missing_rate",
        "multi_source",
        "disagreeing",
        "disagreement_rate",
    ]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"missing_rate": "float64", "disagreement_rate": "float64"})


def _listed(slugs: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(slugs[:most])
    return shown + (f" and {len(slugs) - most} more" if len(slugs) > most else "")


def check_coverage(coverage: pd.DataFrame, cfg: SegmentChecks) -> list[Finding]:
    """Used profile fields missing for ≥ ``max_missing`` of profiles (an error when no profile
    has them), and fields whose sources disagree for ≥ ``max_disagreement`` of the people
    recorded in two or more sources."""
    out = []
    for r in coverage.itertuples(index=False):
        slugs = tuple(r.segments)
        rate = r.missing_rate
        if rate == rate and rate is not None and r.profiles and rate >= cfg.max_missing:
            empty = r.filled == 0
            text = (
                f"Profile field '{r.field}' is empty in every profile, so segments using it "
                f"({_listed(slugs)}) cannot select anyone by it."
                if empty
                else f"Profile field '{r.field}' is missing for {_pct(rate)} of profiles "
                f"({r.profiles - r.filled:,} of {r.profiles:,}); used by {_listed(slugs)}."
            )
            out.append(
                Finding(
                    "missing_data",
                    "error" if empty else "warning",
                    slugs,
                    text,
                    {
                        "missing_rate": float(rate),
                        "filled": int(r.filled),
                        "profiles": int(r.profiles),
                        "max_missing": cfg.max_missing,
                    },
                    hint="import a source that has it (segmint import … --map "
                    f"{r.field.split('.')[0]}=COLUMN) or base these segments on better-filled "
                    "fields; members are only found among customers with a value.",
                    fields=(r.field,),
                )
            )
        d = r.disagreement_rate
        if d is not None and d == d and r.disagreeing and d >= cfg.max_disagreement:
            out.append(
                Finding(
                    "sources_disagree",
                    "warning",
                    slugs,
                    f"Profile field '{r.field}' differs between sources for {_pct(d)} of the "
                    f"people it is recorded for more than once ({int(r.disagreeing):,} of "
                    f"{int(r.multi_source):,}); profiles keep the most recent value.",
                    {
                        "disagreement_rate": float(d),
                        "disagreeing": int(r.disagreeing),
                        "multi_source": int(r.multi_source),
                        "max_disagreement": cfg.max_disagreement,
                    },
                    hint="compare the sources in table source_profiles and correct the wrong "
                    "one where it is kept.",
                    fields=(r.field,),
                )
            )
    return out


def check_minimisation(
    collected: Mapping[str, int], used: Iterable[str], cfg: SegmentChecks
) -> list[Finding]:
    """Personal fields filled in some profiles that nothing uses (``keep_fields`` aside)."""
    used = set(used) | set(cfg.keep_fields)
    out = []
    for name in sorted(collected):
        n = int(collected[name])
        if n <= 0 or name in used:
            continue
        out.append(
            Finding(
                "unused_field",
                "info",
                (),
                f"Profile field '{name}' is filled for {n:,} profiles, but no segment, model "
                "feature or message template uses it.",
                {"filled": n},
                hint="a candidate to stop collecting (data minimisation), or put it to use.",
                fields=(name,),
            )
        )
    return out


# -- all together ----------------------------------------------------------------------------------
def _order(f: Finding) -> tuple:
    return (-SEVERITIES.index(f.severity), list(CHECKS).index(f.code), f.segments, f.fields)


def diagnose(
    resolved: Resolved,
    members: pd.DataFrame,
    buyers: Iterable[str],
    counts: CoverageCounts,
    *,
    as_of: datetime,
    today: date,
    cfg: SegmentChecks | None = None,
    used_elsewhere: Iterable[str] = (),
) -> CheckReport:
    """Run every check and build the :class:`CheckReport`.

    ``members`` (segment, customer_id) are the current members of the ``resolved`` segments;
    ``buyers`` the profiles with a counted order in the ``purchase_days`` before ``as_of``;
    ``counts`` the coverage counts of every collected field (profile columns and traits keys);
    ``used_elsewhere`` the fields used by other definitions, model features and templates
    (data minimisation only).
    """
    cfg = cfg or SegmentChecks()
    buyers = set(buyers)
    population = counts.population
    sizes = segment_sizes(resolved, members, buyers, population)
    pop_rate = len(buyers) / population if population else None
    overlap = jaccard_matrix(members, list(sizes["segment"]))
    segs = list(resolved)
    uses = {seg.slug: used_fields(seg) for seg in segs}
    coverage = coverage_table(uses, counts)
    used = set(used_elsewhere).union(*(u.profile for u in uses.values()))
    findings = [
        *(check_small(sizes, cfg) if population else []),
        *check_coarse(sizes, pop_rate, cfg),
        *check_overlap(
            resolved, overlap, cfg, dict(zip(sizes.segment, sizes.members, strict=True))
        ),
        *check_demographic(segs, cfg),
        *check_coverage(coverage, cfg),
        *check_review(segs, today, cfg),
        *check_minimisation(counts.filled, used, cfg),
    ]
    return CheckReport(
        as_of=as_of,
        population=population,
        purchase_rate=pop_rate,
        findings=tuple(sorted(findings, key=_order)),
        sizes=sizes,
        overlap=overlap,
        coverage=coverage,
        thresholds=cfg,
    )
