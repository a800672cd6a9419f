"""Segment evaluation with history: library, run, preview, diff, explain (layer 4).

Definitions come from the built-in library (``segmint/rules/library/*.yaml``) and the
workspace's own files (``<workspace>/segments/*.yaml``). :func:`run` evaluates all of them in one
query (:func:`segmint.rules.compile_flags`) and records membership as history in
``segment_membership``: a customer who enters gets a new row (``entered_at``), one who leaves
gets ``exited_at`` on the open row; rows are never overwritten, so leaving and coming back gives
two rows. :func:`diff` reads that history as a migration matrix between two instants.

The workspace facade (``ws.segments_run()`` …) supplies the connection and the metric tables;
everything here takes them as arguments.

Example:
    >>> sorted(p.name for p in library_files())[:3]
    ['channel.yaml', 'demographic.yaml', 'ecommerce.yaml']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from segmint import storage
from segmint.errors import NotFoundError, ValidationError
from segmint.rules import (
    Explanation,
    Resolved,
    ResolvedSegment,
    Rows,
    SegmentSet,
    Tables,
    compile_flags,
    compile_segment,
    explain,
    load_specs,
    resolve,
)
from segmint.schema import TABLES

__all__ = [
    "MEMBERSHIP",
    "NONE",
    "Preview",
    "RunResult",
    "add_tags",
    "as_of_instant",
    "current_members",
    "definition_files",
    "diff",
    "explain_customer",
    "library_dir",
    "library_files",
    "load_definitions",
    "members_at",
    "preview",
    "remove_tags",
    "resolve_all",
    "run",
    "tables_of",
    "tag_counts",
]

MEMBERSHIP = "segment_membership"
#: Row/column label of the migration matrix for "in none of the segments compared".
NONE = "(none)"
_EXTENSIONS = (".yaml", ".yml", ".json")


# -- definitions ----------------------------------------------------------------------------------
def library_dir() -> Path:
    """The folder of the built-in library (package data)."""
    return Path(str(resources.files("segmint.rules").joinpath("library")))


def library_files() -> list[Path]:
    """The built-in library's definition files, sorted by name."""
    return sorted(p for p in library_dir().iterdir() if p.suffix in _EXTENSIONS)


def definition_files(folder: str | Path | None, *, library: bool = True) -> list[Path]:
    """The library files (if ``library``) then ``<folder>/segments/*.yaml|yml|json``."""
    files = list(library_files()) if library else []
    if folder is not None:
        own = Path(folder) / "segments"
        if own.is_dir():
            files += sorted(p for p in own.iterdir() if p.suffix in _EXTENSIONS)
    return files


def load_definitions(
    folder: str | Path | None = None,
    *,
    library: bool = True,
    extra: Iterable[SegmentSet] = (),
) -> tuple[SegmentSet, ...]:
    """Parse the library and a workspace's own definitions (plus ``extra`` sets).

    Slugs must be unique across all of them (:func:`segmint.rules.resolve` says where not).
    """
    files = definition_files(folder, library=library)
    sets = load_specs(files) if files else ()
    return (*sets, *extra)


# -- tables and time ------------------------------------------------------------------------------
def tables_of(con, metrics: Mapping[str, ir.Table] | None = None) -> Tables:
    """The canonical tables of ``con`` (profiles, events, orders, tags) plus ``metrics``."""
    return Tables(
        profiles=con.table("profiles"),
        events=con.table("events"),
        orders=con.table("orders"),
        tags=con.table("tags"),
        metrics=dict(metrics or {}),
    )


def as_of_instant(value: Any) -> datetime:
    """A naive-UTC instant: a date (or ``YYYY-MM-DD``) means the end of that day.

    >>> as_of_instant("2026-06-30")
    datetime.datetime(2026, 7, 1, 0, 0)
    >>> as_of_instant("2026-06-30T12:00:00")
    datetime.datetime(2026, 6, 30, 12, 0)
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"A date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS. Got {value!r} instead.",
                hint="e.g. 2026-06-30 (the end of that day) or 2026-06-30T09:00:00 (UTC)",
            ) from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from datetime import UTC

            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time())
    raise ValidationError(
        f"as_of must be a date, a datetime or a YYYY-MM-DD string. Got {value!r} instead."
    )


# -- run ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """What one :func:`run` changed: per segment, members now and how many entered / exited."""

    as_of: datetime
    members: dict[str, int]
    entered: dict[str, int]
    exited: dict[str, int]
    #: auto-tags given / taken by this run (tag → customers), from ``tags_add`` / ``tags_remove``
    tagged: dict[str, int] = field(default_factory=dict)
    untagged: dict[str, int] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: segment, members, entered, exited."""
        return pd.DataFrame(
            {
                "segment": list(self.members),
                "members": list(self.members.values()),
                "entered": [self.entered.get(s, 0) for s in self.members],
                "exited": [self.exited.get(s, 0) for s in self.members],
            }
        )


def _no_members() -> pa.Table:
    return pa.table(
        {"segment": pa.array([], pa.string()), "customer_id": pa.array([], pa.string())}
    )


def current_members(
    resolved: Resolved, tables: Tables, as_of: datetime, *, timezone: str = "UTC"
) -> pa.Table:
    """Members of every resolved segment at ``as_of``: rows ``(segment, customer_id)``.

    All segments are evaluated in one query; in an exclusive set a customer keeps only the
    segment with the highest priority.
    """
    segments = list(resolved)
    if not segments:
        return _no_members()
    flags = compile_flags(segments, tables, as_of, timezone=timezone)
    cols: dict[str, ir.BooleanValue] = {}
    for st in resolved.sets:
        higher: ir.BooleanValue | None = None
        order = st.order if st.exclusive else st.segments
        for seg in order:
            mine = flags[seg.slug].fill_null(False)
            if st.exclusive:
                cols[seg.slug] = mine if higher is None else mine & ~higher
                higher = mine if higher is None else higher | mine
            else:
                cols[seg.slug] = mine
    wide = flags.select("customer_id", **cols).to_pyarrow()
    ids = wide.column("customer_id")
    parts = [
        pa.table({"segment": pa.array([slug] * n, pa.string()), "customer_id": chosen})
        for slug in cols
        if (n := len(chosen := ids.filter(wide.column(slug).fill_null(False)))) > 0
    ]
    if not parts:
        return _no_members()
    return pa.concat_tables(parts)


def run(
    con,
    resolved: Resolved,
    tables: Tables,
    as_of: datetime,
    *,
    timezone: str = "UTC",
) -> RunResult:
    """Evaluate every segment at ``as_of`` and record membership history (one transaction).

    Open rows of customers who left get ``exited_at = as_of``; customers who entered get a new
    row with ``entered_at = as_of``. Segments not evaluated in this run are left as they are.
    A run must not be older than the latest change already recorded (history only grows).
    Auto-tags: members of a segment with ``tags_add`` get those tags (source
    ``segment:<slug>``) and members of one with ``tags_remove`` lose them, in the same
    transaction. Tags stay when a customer leaves the segment; they are visible to conditions
    from the next run on.
    """
    history = con.table(MEMBERSHIP)
    latest = (
        history.select(
            t=ibis.greatest(history.entered_at, history.exited_at.fill_null(history.entered_at))
        )
        .t.max()
        .execute()
    )
    if latest is not None and not pd.isna(latest) and as_of < pd.Timestamp(latest).to_pydatetime():
        raise ValidationError(
            f"A segment run must not be older than the membership history. Got as_of={as_of} "
            f"instead, before the latest recorded change {latest}.",
            hint="run segments for the current date; read the past with `segmint segments diff`.",
        )
    now = current_members(resolved, tables, as_of, timezone=timezone).to_pandas()
    slugs = [seg.slug for seg in resolved]
    old = history.to_pyarrow().to_pandas()
    evaluated = old["segment"].isin(slugs)
    is_open = old["exited_at"].isna() & evaluated
    open_keys = pd.MultiIndex.from_frame(old.loc[is_open, ["segment", "customer_id"]])
    now_keys = pd.MultiIndex.from_frame(now[["segment", "customer_id"]])
    leaving = is_open & ~pd.MultiIndex.from_frame(old[["segment", "customer_id"]]).isin(now_keys)
    entering = now[~now_keys.isin(open_keys)]

    stamp = pd.Timestamp(as_of)
    updated = old.copy()
    updated.loc[leaving, "exited_at"] = stamp
    new_rows = pd.DataFrame(
        {
            "segment": entering["segment"].to_numpy(),
            "customer_id": entering["customer_id"].to_numpy(),
            "entered_at": stamp,
            "exited_at": pd.NaT,
        }
    )
    result = pd.concat([updated, new_rows], ignore_index=True) if len(new_rows) else updated
    data = _arrow(MEMBERSHIP, result)
    tags_old = con.table("tags").to_pyarrow().to_pandas()
    tags_new, tagged, untagged = _auto_tags(tags_old, now, resolved, stamp)
    with storage.transaction(con):
        if leaving.any() or len(new_rows):
            storage.replace_table(con, MEMBERSHIP, data)
        if tagged or untagged:
            storage.replace_table(con, "tags", _arrow("tags", tags_new))
    counts = now["segment"].value_counts()
    return RunResult(
        as_of=as_of,
        members={s: int(counts.get(s, 0)) for s in slugs},
        entered={s: int(n) for s, n in entering["segment"].value_counts().items()},
        exited={s: int(n) for s, n in old.loc[leaving, "segment"].value_counts().items()},
        tagged=tagged,
        untagged=untagged,
    )


def _arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    schema = TABLES[table].to_pyarrow()
    return pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)


def _auto_tags(
    tags: pd.DataFrame, members: pd.DataFrame, resolved: Resolved, stamp: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, int], dict[str, int]]:
    """Tags after applying every segment's ``tags_add`` / ``tags_remove`` to its members."""
    tagged: dict[str, int] = {}
    untagged: dict[str, int] = {}
    by_segment = members.groupby("segment")["customer_id"]
    groups = {k: set(v) for k, v in by_segment}
    for seg in resolved:
        ids = groups.get(seg.slug, set())
        if not ids:
            continue
        for tag in seg.spec.tags_remove:
            drop = (tags["tag"] == tag) & tags["customer_id"].isin(ids)
            if drop.any():
                untagged[tag] = untagged.get(tag, 0) + int(tags.loc[drop, "customer_id"].nunique())
                tags = tags[~drop]
        for tag in seg.spec.tags_add:
            have = set(tags.loc[tags["tag"] == tag, "customer_id"])
            new = sorted(ids - have)
            if new:
                add = pd.DataFrame(
                    {
                        "customer_id": new,
                        "tag": tag,
                        "source": f"segment:{seg.slug}",
                        "added_at": stamp,
                    }
                )
                tags = pd.concat([tags, add], ignore_index=True) if len(tags) else add
                tagged[tag] = tagged.get(tag, 0) + len(new)
    return tags, tagged, untagged


# -- manual tags ----------------------------------------------------------------------------------
def _check_tag(tag: str) -> str:
    text = tag.strip() if isinstance(tag, str) else ""
    if not text:
        raise ValidationError(
            f"A tag must be non-empty text. Got {tag!r} instead.",
            hint="e.g. segmint tags add vip c_123",
        )
    return text


def add_tags(
    con,
    tag: str,
    customer_ids: Iterable[str],
    *,
    source: str = "manual",
    at: datetime | None = None,
) -> int:
    """Give ``tag`` to customers (known profiles only); return how many newly got it."""
    tag = _check_tag(tag)
    ids = sorted(set(customer_ids))
    p = con.table("profiles")
    known = set(
        p.filter(p.customer_id.isin(ids))
        .select("customer_id")
        .to_pyarrow()
        .column("customer_id")
        .to_pylist()
    )
    missing = [c for c in ids if c not in known]
    if missing:
        raise NotFoundError(
            f"Tags can only be given to known customers. Got unknown customer id(s) "
            f"{', '.join(map(repr, missing[:5]))}{' …' if len(missing) > 5 else ''} instead."
        )
    t = con.table("tags")
    have = set(
        t.filter((t.tag == tag) & t.customer_id.isin(ids))
        .select("customer_id")
        .to_pyarrow()
        .column("customer_id")
        .to_pylist()
    )
    new = [c for c in ids if c not in have]
    if new:
        from datetime import UTC

        stamp = at or datetime.now(UTC).replace(tzinfo=None)
        rows = pa.table(
            {
                "customer_id": new,
                "tag": [tag] * len(new),
                "source": [source] * len(new),
                "added_at": [stamp] * len(new),
            },
            schema=TABLES["tags"].to_pyarrow(),
        )
        with storage.transaction(con):
            con.insert("tags", rows)
    return len(new)


def remove_tags(con, tag: str, customer_ids: Iterable[str] | None = None) -> int:
    """Take ``tag`` from the given customers (all holders when ``None``); return how many."""
    tag = _check_tag(tag)
    tags = con.table("tags").to_pyarrow().to_pandas()
    drop = tags["tag"] == tag
    if customer_ids is not None:
        drop &= tags["customer_id"].isin(set(customer_ids))
    if not drop.any():
        return 0
    n = int(tags.loc[drop, "customer_id"].nunique())
    with storage.transaction(con):
        storage.replace_table(con, "tags", _arrow("tags", tags[~drop]))
    return n


def tag_counts(con) -> pd.DataFrame:
    """Customers per tag and source."""
    t = con.table("tags")
    return (
        t.group_by(["tag", "source"])
        .aggregate(customers=t.customer_id.nunique())
        .order_by(["tag", "source"])
        .to_pyarrow()
        .to_pandas()
    )


# -- reading history ------------------------------------------------------------------------------
def members_at(con, at: datetime, segments: Sequence[str] | None = None) -> ir.Table:
    """Membership recorded at instant ``at``: rows ``(segment, customer_id)``.

    A row counts from ``entered_at`` (inclusive) until ``exited_at`` (exclusive).
    """
    h = con.table(MEMBERSHIP)
    ts = ibis.timestamp(at)
    live = (h.entered_at <= ts) & (h.exited_at.isnull() | (h.exited_at > ts))
    if segments is not None:
        live = live & h.segment.isin(list(segments))
    return h.filter(live).select("segment", "customer_id")


def diff(con, date_a: Any, date_b: Any, *, segments: Sequence[str] | None = None) -> pd.DataFrame:
    """Migration matrix: rows = segment at ``date_a``, columns = segment at ``date_b``.

    Each cell counts customers in the row's segment then and the column's segment later;
    ``(none)`` is "in none of the compared segments". Compare an exclusive set (e.g. the 11 RFM
    segments) for a true migration matrix; with overlapping segments a customer counts once per
    pair. Dates mean the end of that day (see :func:`as_of_instant`).
    """
    a, b = as_of_instant(date_a), as_of_instant(date_b)
    before = members_at(con, a, segments).to_pyarrow().to_pandas()
    after = members_at(con, b, segments).to_pyarrow().to_pandas()
    pairs = before.merge(after, on="customer_id", how="outer", suffixes=("_from", "_to"))
    pairs = pairs.fillna({"segment_from": NONE, "segment_to": NONE})
    names = (
        segments if segments is not None else sorted(set(before["segment"]) | set(after["segment"]))
    )
    labels = [*names, NONE]
    matrix = pd.crosstab(pairs["segment_from"], pairs["segment_to"])
    matrix = matrix.reindex(index=labels, columns=labels, fill_value=0).astype("int64")
    matrix.index.name, matrix.columns.name = "from", "to"
    return matrix


# -- preview and explain --------------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    """How many customers a definition selects now, and a few of them."""

    slug: str
    count: int
    sample: pd.DataFrame = field(repr=False)


_SAMPLE_COLUMNS = ("customer_id", "name", "email", "phone", "country", "city")


def preview(
    segment: ResolvedSegment,
    tables: Tables,
    as_of: datetime,
    *,
    limit: int = 20,
    timezone: str = "UTC",
) -> Preview:
    """Count and a sample (``limit`` rows, by customer_id) of ``segment`` at ``as_of``."""
    members = compile_segment(segment, tables, as_of, timezone=timezone)
    count = int(members.count().execute())
    p = tables.profiles
    sample = (
        p.semi_join(members, "customer_id")
        .select(*[c for c in _SAMPLE_COLUMNS if c in p.columns])
        .order_by("customer_id")
        .limit(limit)
        .to_pyarrow()
        .to_pandas()
    )
    return Preview(slug=segment.slug, count=count, sample=sample)


def explain_customer(
    segment: ResolvedSegment,
    tables: Tables,
    customer_id: str,
    as_of: datetime,
    *,
    timezone: str = "UTC",
) -> Explanation:
    """Which conditions of ``segment`` held for ``customer_id`` at ``as_of``, with values seen.

    Fetches only that customer's rows and runs the reference evaluator on them.
    """
    profile = _rows(tables.profiles, customer_id)
    if not profile:
        raise NotFoundError(f"There is no customer '{customer_id}' in the profiles table.")
    rows = Rows(
        profiles=profile,
        events=_rows(tables.events, customer_id),
        orders=_rows(tables.orders, customer_id),
        tags=_rows(tables.tags, customer_id),
        metrics={k: _rows(t, customer_id) for k, t in tables.metrics.items()},
    )
    return explain(segment, rows, customer_id, as_of, timezone=timezone)


def _rows(table: ir.Table | None, customer_id: str) -> list[dict[str, Any]]:
    if table is None:
        return []
    data = table.filter(table.customer_id == customer_id).to_pyarrow()
    return data.to_pylist()


def resolve_all(sets: Iterable[SegmentSet], tables: Tables) -> Resolved:
    """Resolve ``sets`` against the catalog of ``tables`` (fields, events, metrics)."""
    return resolve(list(sets), tables.catalog(event_names=None))
