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
    >>> {"rfm.yaml", "purchase.yaml"} <= {p.name for p in library_files()}
    True
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
import pyarrow.compute as pc

from segmint import storage
from segmint.errors import NotFoundError, ValidationError
from segmint.rules import (
    Explanation,
    Resolved,
    ResolvedSegment,
    Rows,
    SegmentSet,
    SegmentSpec,
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
    "check_new_definition",
    "current_members",
    "definition_files",
    "diff",
    "explain_customer",
    "history",
    "library_dir",
    "library_files",
    "load_definitions",
    "members_at",
    "members_from_flags",
    "metric_providers",
    "preview",
    "remove_tags",
    "resolve_all",
    "run",
    "save_definition",
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
    sets = _load_files(files) if files else ()
    return (*sets, *extra)


#: Parsed definition files by (path, modification time, size): a live builder previews on
#: every edit, and parsing the library's YAML again each time costs more than the query.
_PARSED: dict[tuple[str, int, int], SegmentSet] = {}


def _load_files(files: Sequence[Path]) -> tuple[SegmentSet, ...]:
    """:func:`load_specs` of ``files`` (one set per file), reusing files parsed before."""
    keys = []
    for path in files:
        st = path.stat()
        keys.append((str(path), st.st_mtime_ns, st.st_size))
    known = {k: _PARSED[k] for k in keys if k in _PARSED}
    missing = [(p, k) for p, k in zip(files, keys, strict=True) if k not in known]
    if missing:
        # raises with every problem of the files not parsed before
        parsed = load_specs([p for p, _ in missing])
        known.update(zip([k for _, k in missing], parsed, strict=True))
        if len(_PARSED) > 512:
            _PARSED.clear()
        _PARSED.update(known)
    return tuple(known[k] for k in keys)


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
    wide = compile_flags(segments, tables, as_of, timezone=timezone).to_pyarrow()
    return members_from_flags(resolved, wide)


def members_from_flags(resolved: Resolved, wide: pa.Table) -> pa.Table:
    """Rows ``(segment, customer_id)`` from the fetched result of
    :func:`~segmint.rules.compile_flags` (``customer_id`` and one boolean column per slug): in
    an exclusive set a customer keeps only the segment with the highest priority.

    >>> members_from_flags(Resolved(sets=()), pa.table({"customer_id": ["c1"]})).num_rows
    0
    """
    # exclusive sets on the fetched flags: in SQL every lower priority repeats the higher ones
    cols: dict[str, pa.ChunkedArray] = {}
    for st in resolved.sets:
        higher = None
        order = st.order if st.exclusive else st.segments
        for seg in order:
            mine = pc.fill_null(wide.column(seg.slug), False)
            if st.exclusive:
                cols[seg.slug] = mine if higher is None else pc.and_(mine, pc.invert(higher))
                higher = mine if higher is None else pc.or_(higher, mine)
            else:
                cols[seg.slug] = mine
    ids = wide.column("customer_id")
    parts = [
        pa.table({"segment": pa.repeat(pa.scalar(slug, pa.string()), n), "customer_id": chosen})
        for slug, mask in cols.items()
        if (n := len(chosen := ids.filter(mask))) > 0
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
    Only the changes are written: the open rows of leavers are closed in place and the new rows
    inserted (on DuckDB with one ``UPDATE`` and one ``INSERT``; other engines rewrite the table).
    Auto-tags: members of a segment with ``tags_add`` get those tags (source
    ``segment:<slug>``) and members of one with ``tags_remove`` lose them, in the same
    transaction, segment after segment in definition order. Tags stay when a customer leaves
    the segment; they are visible to conditions from the next run on.
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
    members = current_members(resolved, tables, as_of, timezone=timezone)
    slugs = [seg.slug for seg in resolved]
    stamp = pd.Timestamp(as_of).to_pydatetime()
    keys = ["segment", "customer_id"]
    stage = _Stage(con)
    try:
        now = stage.table(_MEMBERS, members)
        h = con.table(MEMBERSHIP)
        open_rows = h.filter(h.exited_at.isnull() & h.segment.isin(slugs)).select(*keys)
        # one join of the members now and the open rows gives both kinds of change
        j = now.mutate(_now=ibis.literal(True)).outer_join(
            open_rows.mutate(_open=ibis.literal(True)), keys
        )
        diff = j.filter(j._now.isnull() | j._open.isnull()).select(
            segment=ibis.coalesce(j.segment, j.segment_right),
            customer_id=ibis.coalesce(j.customer_id, j.customer_id_right),
            entering=j._open.isnull(),
        )
        changes = stage.table(_CHANGES, diff)
        leaving = changes.filter(~changes.entering).select(*keys)
        entering = changes.filter(changes.entering).select(*keys)
        exited, entered = _per_segment(leaving), _per_segment(entering)
        with storage.transaction(con):
            if exited:
                stage.close_rows(leaving, stamp)
            if entered:
                rows = entering.select(
                    *keys,
                    entered_at=ibis.literal(stamp, type="timestamp"),
                    exited_at=ibis.null("timestamp"),
                )
                con.insert(MEMBERSHIP, rows)
            tagged, untagged = _auto_tags(stage, now, resolved, stamp)
    finally:
        stage.drop()
    counts = pc.value_counts(members.column("segment")).to_pylist() if members.num_rows else []
    found = {c["values"]: int(c["counts"]) for c in counts}
    return RunResult(
        as_of=as_of,
        members={s: found.get(s, 0) for s in slugs},
        entered=entered,
        exited=exited,
        tagged=tagged,
        untagged=untagged,
    )


def _per_segment(rows: ir.Table) -> dict[str, int]:
    """Rows per segment, largest first then by name (for ``RunResult``)."""
    n = rows.group_by("segment").aggregate(n=rows.count()).to_pyarrow().to_pylist()
    return {r["segment"]: int(r["n"]) for r in sorted(n, key=lambda r: (-r["n"], r["segment"]))}


#: Working tables of a run: its members (a view of the Arrow data on DuckDB) and the changes
#: (rows entering or leaving; a temporary table on DuckDB).
_MEMBERS, _CHANGES = "_segmint_run_members", "_segmint_run_changes"


class _Stage:
    """Working tables of one run and its few writes.

    On DuckDB the working tables are temporary and a leaver's row is closed with one ``UPDATE``
    on constant table and column names (values are bound parameters); on other engines the
    working tables are ordinary tables and changed tables are rewritten through ibis.
    """

    def __init__(self, con) -> None:
        self.con = con
        self.fast = con.name == "duckdb" and getattr(con, "con", None) is not None
        self.names: list[str] = []
        self.views: list[str] = []

    def table(self, name: str, data: pa.Table | ir.Table) -> ir.Table:
        """``data`` as working table ``name`` (dropped by :meth:`drop`); Arrow data is only
        registered on DuckDB, not copied."""
        if self.fast and isinstance(data, pa.Table):
            self.con.con.register(name, data)
            self.views.append(name)
            return self.con.table(name)
        self.names.append(name)
        return self.con.create_table(name, data, temp=self.fast, overwrite=True)

    def drop(self) -> None:
        for name in self.views:
            self.con.con.unregister(name)
        for name in self.names:
            self.con.drop_table(name, force=True)

    def close_rows(self, leaving: ir.Table, stamp: datetime) -> None:
        """Set ``exited_at = stamp`` on the open membership rows of ``leaving``."""
        if self.fast:
            self.con.con.execute(
                f"UPDATE {MEMBERSHIP} AS h SET exited_at = ? FROM {_CHANGES} AS l "
                "WHERE h.segment = l.segment AND h.customer_id = l.customer_id "
                "AND NOT l.entering AND h.exited_at IS NULL",
                [stamp],
            )
            return
        h = self.con.table(MEMBERSHIP)
        gone = leaving.mutate(_leaves=ibis.literal(True))
        j = h.left_join(gone, ["segment", "customer_id"])
        closing = h.exited_at.isnull() & j._leaves.notnull()
        rows = j.select(
            "segment",
            "customer_id",
            "entered_at",
            exited_at=ibis.ifelse(closing, ibis.literal(stamp, type="timestamp"), h.exited_at),
        )
        storage.replace_table(self.con, MEMBERSHIP, rows.to_pyarrow())

    def delete_tag(self, tag: str, members: ir.Table, slug: str) -> None:
        """Take ``tag`` from the members of segment ``slug`` (``members``: the run's members)."""
        if self.fast:
            self.con.con.execute(
                f"DELETE FROM tags WHERE tag = ? AND customer_id IN "
                f"(SELECT customer_id FROM {_MEMBERS} WHERE segment = ?)",
                [tag, slug],
            )
            return
        t = self.con.table("tags")
        mine = members.filter(members.segment == slug).select("customer_id")
        hit = (t.tag == tag) & t.customer_id.isin(mine.customer_id)
        storage.replace_table(self.con, "tags", t.filter(~hit).to_pyarrow())


def _auto_tags(
    stage: _Stage, members: ir.Table, resolved: Resolved, stamp: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Apply every segment's ``tags_remove`` then ``tags_add`` to its members, segment after
    segment; return the customers tagged and untagged per tag."""
    con = stage.con
    tagged: dict[str, int] = {}
    untagged: dict[str, int] = {}
    for seg in resolved:
        if not (seg.spec.tags_add or seg.spec.tags_remove):
            continue
        mine = members.filter(members.segment == seg.slug).select("customer_id")
        for tag in seg.spec.tags_remove:
            t = con.table("tags")
            holders = t.filter(t.tag == tag).semi_join(mine, "customer_id")
            n = int(holders.customer_id.nunique().execute())
            if n:
                stage.delete_tag(tag, members, seg.slug)
                untagged[tag] = untagged.get(tag, 0) + n
        for tag in seg.spec.tags_add:
            t = con.table("tags")
            new = mine.distinct().anti_join(t.filter(t.tag == tag), "customer_id")
            rows = new.select(
                "customer_id",
                tag=ibis.literal(tag),
                source=ibis.literal(f"segment:{seg.slug}"),
                added_at=ibis.literal(stamp, type="timestamp"),
            ).to_pyarrow()
            if rows.num_rows:
                con.insert("tags", rows.cast(TABLES["tags"].to_pyarrow()))
                tagged[tag] = tagged.get(tag, 0) + rows.num_rows
    return tagged, untagged


def _arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    schema = TABLES[table].to_pyarrow()
    return pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)


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
    """Count and a sample (``limit`` rows, by customer_id) of ``segment`` at ``as_of``.

    The segment is evaluated once: one query gives the count and the first ``limit`` ids, a
    lookup by those ids gives the sample (a live builder calls this on every edit).
    """
    members = compile_segment(segment, tables, as_of, timezone=timezone)
    if limit < 1:
        count, ids = int(members.count().execute()), []
    else:
        first = (
            members.mutate(_members=members.count().over())
            .order_by("customer_id")
            .limit(limit)
            .to_pyarrow()
        )
        count = first.column("_members")[0].as_py() if first.num_rows else 0
        ids = first.column("customer_id").to_pylist()
    p = tables.profiles
    sample = (
        p.filter(p.customer_id.isin(ids))
        .select(*[c for c in _SAMPLE_COLUMNS if c in p.columns])
        .order_by("customer_id")
        .limit(max(limit, 0))
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
    used = metric_providers(segment)  # each metric table is computed for everyone first
    rows = Rows(
        profiles=profile,
        events=_rows(tables.events, customer_id),
        orders=_rows(tables.orders, customer_id),
        tags=_rows(tables.tags, customer_id),
        metrics={k: _rows(t, customer_id) for k, t in tables.metrics.items() if k in used},
    )
    return explain(segment, rows, customer_id, as_of, timezone=timezone)


def metric_providers(segment: ResolvedSegment, seen: set[str] | None = None) -> set[str]:
    """Metric providers (``rfm``, ``abc``, …) ``segment`` reads, through ``in_segment`` too.

    Example: ``metric_providers(ws.segment_definitions()["rfm_champions"])`` is ``{"rfm"}``.
    """
    from segmint.rules.resolve import RInSegment, RMetric, walk

    seen = set() if seen is None else seen
    if segment.slug in seen:
        return set()
    seen.add(segment.slug)
    out: set[str] = set()
    for node in walk(segment.where):
        if isinstance(node, RMetric):
            out.add(node.provider)
        elif isinstance(node, RInSegment) and node.segment is not None:
            out |= metric_providers(node.segment, seen)
    return out


def _rows(table: ir.Table | None, customer_id: str) -> list[dict[str, Any]]:
    if table is None:
        return []
    data = table.filter(table.customer_id == customer_id).to_pyarrow()
    return data.to_pylist()


def resolve_all(sets: Iterable[SegmentSet], tables: Tables) -> Resolved:
    """Resolve ``sets`` against the catalog of ``tables`` (fields, events, metrics)."""
    return resolve(list(sets), tables.catalog(event_names=None))


# -- saving one definition and reading one segment's history (the web builder; issue 6) ----------
def check_new_definition(folder: str | Path | None, spec: SegmentSpec, *, replace: bool) -> Path:
    """Where ``spec`` would be saved (``<folder>/segments/<slug>.yaml``), after refusing a slug
    the library or another file of the workspace already defines, and an existing file unless
    ``replace``."""
    if folder is None:
        raise ValidationError(
            "This workspace has no folder, so a definition cannot be saved in it.",
            hint="open a workspace folder with Workspace.open(path).",
        )
    target = Path(folder) / "segments" / f"{spec.slug}.yaml"
    for path in definition_files(folder):
        if path == target:
            continue
        for st in _load_files([path]):
            if any(s.slug == spec.slug for s in st.segments):
                where = "the built-in library" if path.parent == library_dir() else str(path)
                raise ValidationError(
                    f"The slug '{spec.slug}' is already defined in {where}.",
                    location="/slug",
                    hint="choose another slug, e.g. " + f"'my_{spec.slug}'"[:64],
                )
    if target.exists() and not replace:
        raise ValidationError(
            f"A definition {target.name} already exists in this workspace.",
            location="/slug",
            hint="choose another slug, or edit that segment to replace it.",
        )
    return target


def save_definition(folder: str | Path | None, spec: SegmentSpec, *, replace: bool = False) -> Path:
    """Write ``spec`` as ``<folder>/segments/<slug>.yaml`` (YAML of the spec model; a temporary
    file renamed into place, so a reader never sees half a file). Returns the path."""
    import os
    import tempfile

    from segmint.rules import dump_yaml

    target = check_new_definition(folder, spec, replace=replace)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.slug}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump_yaml(spec))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def history(con, segment: str) -> pd.DataFrame:
    """Recorded size of ``segment`` after every change: columns ``at`` (instant), ``members``,
    ``entered``, ``exited`` (one row per run that changed it, oldest first)."""
    h = con.table(MEMBERSHIP)
    h = h.filter(h.segment == segment)
    came = h.group_by(at=h.entered_at).aggregate(entered=h.count())
    gone = h.filter(h.exited_at.notnull())
    gone = gone.group_by(at=gone.exited_at).aggregate(exited=gone.count())
    both = came.outer_join(gone, came.at == gone.at)
    rows = both.select(
        at=ibis.coalesce(both.at, both.at_right),
        entered=both.entered.fill_null(0),
        exited=both.exited.fill_null(0),
    ).order_by("at")
    frame = rows.to_pyarrow().to_pandas()
    frame["members"] = (frame["entered"] - frame["exited"]).cumsum()
    return frame[["at", "members", "entered", "exited"]]
