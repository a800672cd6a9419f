"""Run an import against a workspace: validate, stitch, then write all or nothing (layer 4).

``segmint.ingest`` reads and validates a file without touching the engine; this module adds the
checks that need stored data, stitches identities (``segmint.identity``) against the identities
already stored, and writes everything inside one ``storage.transaction``. If any problem is
found nothing is written; if a statement fails half-way the transaction is rolled back.

Re-importing a file changes nothing: rows are keyed (``record_id`` = ``source:key`` for customer
records, ``order_id``, ``message_id``), compared with what is stored, and only new or changed
rows are written. A changed row is replaced; an order id stored from *another* source with
different content is a problem, not an update.

Use it through :meth:`segmint.Workspace.import_file`.

Example:
    >>> import pathlib, tempfile
    >>> from segmint.workspace import Workspace
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "members.csv").write_text("姓名,電話\\n陳大文,9123 4567\\n", encoding="utf-8")
    >>> ws = Workspace.create(folder / "shop")
    >>> r = ws.import_file("customers", folder / "members.csv")
    >>> r.inserted, r.people_created
    (1, 1)
    >>> ws.import_file("customers", folder / "members.csv").unchanged
    1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot as sg

from segmint import erasure, storage
from segmint.config import Config
from segmint.errors import ImportProblem, ImportValidationError, ValidationError
from segmint.identity import junk_mask, profiles_from_sources, stitch
from segmint.identity.stitch import StitchResult
from segmint.ingest import KINDS, Prepared, prepare, read_table
from segmint.schema import CONSENT_CHANNELS, PROFILE_FIELDS, TABLES

__all__ = ["ImportResult", "import_file"]

_log = logging.getLogger("segmint.import")

#: Tables whose ``customer_id`` follows a person when customers merge.
_CUSTOMER_TABLES = (
    "source_profiles",
    "identities",
    "orders",
    "events",
    "tags",
    "segment_membership",
    "merge_log",
)

Progress = Callable[[str, int, int], None]


@dataclass
class ImportResult:
    """What an import did.

    ``inserted``/``updated``/``unchanged`` count the file's keyed rows (customer records,
    orders, order items' orders, or events). ``people_created`` counts new customer ids,
    ``people_merged`` existing customers absorbed into another one.
    """

    kind: str
    file: str
    source: str
    rows_read: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    items_written: int = 0
    people_created: int = 0
    people_merged: int = 0
    identities_added: int = 0
    merge_log_rows: int = 0
    preset: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    kept_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    shared_identifiers: list[tuple[str, str, int]] = field(default_factory=list)
    junk_identifiers: int = 0
    #: rows skipped because they carry an identifier of an erased person (erasure_suppressions)
    suppressed: int = 0
    warnings: list[str] = field(default_factory=list)
    import_id: str | None = None
    sha256: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return self.import_id is not None

    def summary(self) -> dict[str, object]:
        """The main figures, for a table or JSON."""
        return {
            "rows read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "line items written": self.items_written,
            "people created": self.people_created,
            "people merged": self.people_merged,
            "identities added": self.identities_added,
            "skipped (erased people)": self.suppressed,
            "warnings": len(self.warnings),
            "seconds": round(self.seconds, 2),
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _q(name: str) -> str:
    return sg.to_identifier(name, quoted=True).sql("duckdb")


class _Engine:
    """Staging tables and the few write statements an import needs.

    On DuckDB deletes and re-pointing run as ``DELETE``/``UPDATE`` statements on constant table
    and column names (no user input reaches SQL text); on other engines the table is rewritten
    through ibis.
    """

    def __init__(self, con):
        self.con = con
        self.fast = con.name == "duckdb" and getattr(con, "con", None) is not None
        self.temps: list[str] = []
        self.views: list[str] = []
        if self.fast:
            self.con.raw_sql("PRAGMA disable_progress_bar")  # our own progress is reported

    def stage(self, name: str, data: pa.Table | ibis.Table) -> ibis.Table:
        """Make ``data`` a table of the engine: Arrow data as a zero-copy view on DuckDB."""
        if self.fast and isinstance(data, pa.Table):
            self.con.con.register(name, data)
            self.views.append(name)
            return self.con.table(name)
        table = self.con.create_table(name, data, temp=self.fast, overwrite=True)
        self.temps.append(name)
        return table

    def drop_temps(self) -> None:
        for name in self.views:
            self.con.con.unregister(name)
        for name in self.temps:
            with contextlib.suppress(Exception):  # best effort clean-up
                self.con.drop_table(name, force=True)
        self.temps.clear()
        self.views.clear()

    def fetch(self, expr: ibis.Table) -> pd.DataFrame:
        return expr.to_pyarrow().to_pandas()

    def count(self, expr: ibis.Table) -> int:
        return int(expr.count().execute())

    def delete_where_in(self, table: str, column: str, keys: ibis.Table, key: str) -> None:
        if self.fast:
            sub = self.con.compile(keys.select(key))
            self.con.raw_sql(f"DELETE FROM {_q(table)} WHERE {_q(column)} IN ({sub})")
            return
        t = self.con.table(table)
        kept = t.anti_join(keys, t[column] == keys[key])
        self.con.create_table(table, kept.cache(), overwrite=True)

    def repoint(self, table: str, merges: ibis.Table) -> None:
        """``customer_id`` absorbed → survivor in ``table``."""
        if self.fast:
            sub = self.con.compile(merges.select("absorbed_customer_id", "customer_id"))
            self.con.raw_sql(
                f"UPDATE {_q(table)} SET customer_id = m.customer_id FROM ({sub}) AS m "
                f"WHERE {_q(table)}.customer_id = m.absorbed_customer_id"
            )
            return
        t = self.con.table(table)
        j = t.left_join(merges, t.customer_id == merges.absorbed_customer_id)
        cols = {c: j[c] for c in t.columns}
        cols["customer_id"] = ibis.coalesce(j.customer_id_right, j.customer_id)
        self.con.create_table(table, j.select(**cols).cache(), overwrite=True)

    def insert(self, table: str, data: pa.Table | ibis.Table) -> None:
        if isinstance(data, pa.Table):
            if not data.num_rows:
                return
            if self.fast:  # a named view, unregistered with the other staging views
                data = self.stage(f"_segmint_insert_{len(self.views)}_{table}", data)
            else:
                data = ibis.memtable(data)
        self.con.insert(table, data.select(*TABLES[table].names))


def _canonical(table: pa.Table, name: str, extra: tuple[str, ...] = ()) -> pa.Table:
    """``table`` with exactly the canonical columns of ``name`` (plus ``extra``), typed."""
    schema = TABLES[name].to_pyarrow()
    cols, fields = [], []
    n = table.num_rows
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
        fields.append(f)
    for e in extra:
        cols.append(table.column(e))
        fields.append(pa.field(e, table.column(e).type))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _classify(
    eng: _Engine,
    stage: ibis.Table,
    target: str,
    key: str,
    compare: list[str],
    keep_old: tuple[str, ...] = (),
    merges: ibis.Table | None = None,
) -> tuple[ibis.Table | None, dict[str, int]]:
    """Compare ``stage`` with stored ``target`` row by row, by ``key``.

    Returns a narrow table ``key, _row, _old_<keep_old>…, _state`` (new / same / changed /
    conflict) and the count per state. ``conflict`` is a key stored from another source with
    different content. Stored customer ids are read through ``merges`` so a merge in this import
    is not mistaken for a change. When no key is stored yet (a first import) the table is
    ``None`` and every row is new.
    """
    t = eng.con.table(target)
    n_stage = eng.count(stage)
    if not eng.count(stage.semi_join(t, stage[key] == t[key])):
        return None, {"new": n_stage}
    wanted = {*compare, *keep_old}
    if "source" in t.columns:
        wanted.add("source")
    old = t.select(_key=t[key], **{f"_old_{c}": t[c] for c in sorted(wanted)})
    if merges is not None and "customer_id" in wanted:
        j = old.left_join(merges, old._old_customer_id == merges.absorbed_customer_id)
        old = j.select(
            *[c for c in old.columns if c != "_old_customer_id"],
            _old_customer_id=ibis.coalesce(j.customer_id, j._old_customer_id),
        )
    j = stage.left_join(old, stage[key] == old._key)
    differs = ibis.literal(False)
    for c in compare:
        differs = differs | ~j[c].identical_to(j[f"_old_{c}"])
    cases = [(j._key.isnull(), "new"), (~differs, "same")]
    if "source" in t.columns and "source" in stage.columns:
        cases.append((~j.source.identical_to(j._old_source), "conflict"))
    state = ibis.cases(*cases, else_="changed")
    extra = sorted({*keep_old, "source"} & wanted)
    narrow = j.select(key, "_row", *[f"_old_{c}" for c in extra], _state=state)
    classified = eng.stage(f"_segmint_{target}_state", narrow)
    return classified, _states(eng, classified)


def _states(eng: _Engine, classified: ibis.Table) -> dict[str, int]:
    df = eng.fetch(classified.group_by("_state").aggregate(n=classified.count()))
    return {r["_state"]: int(r["n"]) for r in df.to_dict("records")}


def _rows_in_state(
    stage: ibis.Table, classified: ibis.Table | None, key: str, states: list[str]
) -> ibis.Table:
    """The staged rows whose state is one of ``states`` (all rows when nothing was stored)."""
    if classified is None:
        return stage if "new" in states else stage.limit(0)
    c = classified.filter(classified._state.isin(states))
    return stage.semi_join(c, stage[key] == c[key])


def _existing_identities(eng: _Engine, ids: ibis.Table, records: ibis.Table) -> pa.Table:
    ident = eng.con.table("identities")
    cols = ["customer_id", "id_type", "id_value", "record_id"]
    by_value = ident.semi_join(
        ids, [ident.id_type == ids.id_type, ident.id_value == ids.id_value]
    ).select(*cols)
    by_record = ident.semi_join(records, ident.record_id == records.record_id).select(*cols)
    return by_value.union(by_record, distinct=True).to_pyarrow()


def _record_customers(eng: _Engine, records: ibis.Table) -> pa.Table:
    sp = eng.con.table("source_profiles")
    return (
        sp.semi_join(records, sp.record_id == records.record_id)
        .select("record_id", "customer_id")
        .to_pyarrow()
    )


def _run_stitch(
    eng: _Engine,
    config: Config,
    record_ids: pa.Array,
    identifiers: pa.Table | None,
    can_create: np.ndarray | None = None,
    *,
    store_known: bool = True,
) -> StitchResult:
    ids = identifiers
    if ids is None:
        ids = pa.table({k: pa.array([], pa.string()) for k in ("record_id", "id_type", "id_value")})
    ids = ids.select(["record_id", "id_type", "id_value"])
    ids_t = eng.stage("_segmint_stage_ids", ids)
    rec_t = eng.stage("_segmint_stage_records", pa.table({"record_id": record_ids}))
    existing = _existing_identities(eng, ids_t, rec_t)
    known = _record_customers(eng, rec_t)
    return stitch(
        record_ids,
        ids,
        existing,
        known,
        junk=config.junk,
        max_shared=config.junk.max_shared,
        can_create=can_create,
        store_known=store_known,
    )


def _merges_table(eng: _Engine, result: StitchResult) -> ibis.Table | None:
    if result.merges.empty:
        return None
    data = pa.Table.from_pandas(
        result.merges[["absorbed_customer_id", "customer_id"]].astype(str), preserve_index=False
    )
    return eng.stage("_segmint_merges", data)


def _problems_from(eng: _Engine, rows: ibis.Table, prep: Prepared, render) -> list[ImportProblem]:
    df = eng.fetch(rows.order_by("_row").limit(10_000))
    return [
        ImportProblem(prep.file, int(r["_row"]), None, render(r)) for r in df.to_dict("records")
    ]


@dataclass
class _Plan:
    """Everything to write, decided before the transaction starts."""

    writes: list[Callable[[], None]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # customers whose profile to rebuild
    problems: list[ImportProblem] = field(default_factory=list)


# -- customers ------------------------------------------------------------------------------------
def _plan_customers(eng: _Engine, config: Config, prep: Prepared, now, result) -> _Plan:
    plan = _Plan()
    records = prep.records
    derived = {f"consent_{ch}_at" for ch in CONSENT_CHANNELS if ch not in prep.consent_at_given}
    compare = [f for f in PROFILE_FIELDS if f not in derived]
    staged = eng.stage(
        "_segmint_stage_sp",
        _canonical(records, "source_profiles", ("_row",)).drop_columns(
            ["customer_id", "imported_at"]
        ),
    )
    keep_old = (
        "customer_id",
        *[f"consent_{ch}" for ch in CONSENT_CHANNELS],
        *[f"consent_{ch}_at" for ch in CONSENT_CHANNELS],
    )
    st = _run_stitch(eng, config, records.column("record_id"), prep.identifiers)
    merges = _merges_table(eng, st)
    classified, states = _classify(
        eng, staged, "source_profiles", "record_id", compare, keep_old, merges
    )
    result.inserted = states.get("new", 0)
    result.updated = states.get("changed", 0) + states.get("conflict", 0)
    result.unchanged = states.get("same", 0)

    assign = eng.stage(
        "_segmint_assign",
        pa.Table.from_pandas(st.assignments.astype(object), preserve_index=False).cast(
            pa.schema([("record_id", pa.string()), ("customer_id", pa.string())])
        ),
    )
    if classified is None:
        writing = staged.mutate(
            _state=ibis.literal("new"),
            **{f"_old_{c}": ibis.null(TABLES["source_profiles"][c]) for c in keep_old},
        )
    else:
        c = classified.filter(classified._state != "same").drop("_row")
        writing = staged.join(c, "record_id")
    j = writing.join(assign, writing.record_id == assign.record_id)
    cols: dict[str, ibis.Value] = {}
    for name, typ in TABLES["source_profiles"].items():
        if name == "customer_id":
            cols[name] = j.customer_id
        elif name == "imported_at":
            cols[name] = ibis.literal(now, type=typ)
        elif name in derived:
            ch = name.removeprefix("consent_").removesuffix("_at")
            value = j[f"consent_{ch}"]
            kept = (j._state != "new") & value.identical_to(j[f"_old_consent_{ch}"])
            cols[name] = ibis.cases(
                (value.isnull(), ibis.null(typ)),
                (kept, j[f"_old_consent_{ch}_at"]),
                else_=ibis.literal(now, type=typ),
            )
        else:
            cols[name] = j[name]
    final = j.select(**cols)
    changed_keys = _rows_in_state(staged, classified, "record_id", ["changed", "conflict"])

    touched_df = eng.fetch(final.select("customer_id").distinct())
    plan.touched |= set(touched_df.customer_id.dropna())
    _plan_identities(eng, plan, st, prep, now, merges, result)

    def write() -> None:
        if result.updated:
            eng.delete_where_in("source_profiles", "record_id", changed_keys, "record_id")
        eng.insert("source_profiles", final)

    plan.writes.append(write)
    return plan


def _plan_identities(eng, plan: _Plan, st: StitchResult, prep: Prepared, now, merges, result):
    """Merges, new identities and merge-log rows of a stitch (all kinds)."""
    result.people_created = len(st.created)
    result.people_merged = st.people_merged
    result.identities_added = len(st.new_identities)
    result.merge_log_rows = len(st.merge_log)
    result.shared_identifiers = [
        (r.id_type, r.id_value, int(r.records)) for r in st.shared.itertuples()
    ]
    result.junk_identifiers = int(st.junk.records.sum()) if len(st.junk) else 0
    for r in st.shared.itertuples():
        result.warnings.append(
            f"{prep.file}: {r.id_type} {r.id_value!r} is shared by {int(r.records):,} records "
            "(more than Config.junk allows); it links nobody (a shop's own or a placeholder "
            "identifier?)."
        )
    if result.junk_identifiers:
        sample = ", ".join(repr(v) for v in st.junk.id_value.head(5))
        result.warnings.append(
            f"{prep.file}: {result.junk_identifiers:,} placeholder identifier(s) (e.g. {sample}) "
            "were kept on profiles but link nobody."
        )
    plan.touched |= set(st.merges.customer_id)
    plan.touched |= set(st.new_identities.customer_id)
    absorbed = list(st.merges.absorbed_customer_id)

    ident = st.new_identities.copy()
    ident["source"] = prep.source
    ident["first_seen"] = pd.Timestamp(now)
    ident_arrow = _canonical(pa.Table.from_pandas(ident, preserve_index=False), "identities")
    log = st.merge_log.copy()
    log["merged_at"] = pd.Timestamp(now)
    log_arrow = _canonical(pa.Table.from_pandas(log, preserve_index=False), "merge_log")

    def write() -> None:
        if merges is not None:
            for table in _CUSTOMER_TABLES:
                eng.repoint(table, merges)
            gone = eng.stage("_segmint_absorbed", pa.table({"customer_id": absorbed}))
            eng.delete_where_in("profiles", "customer_id", gone, "customer_id")
        eng.insert("identities", ident_arrow)
        eng.insert("merge_log", log_arrow)

    plan.writes.insert(0, write)


# -- contacts (orders and events name their customer by identifiers) ------------------------------
def _plan_contacts(eng, config, prep: Prepared, now, plan: _Plan, result):
    """Stitch the contacts of an orders/events file: ``(contact id → customer id, merges)``."""
    contacts = prep.contacts
    if contacts is None or not contacts.num_rows:
        st = stitch([], pd.DataFrame(columns=["record_id", "id_type", "id_value"]))
        _plan_identities(eng, plan, st, prep, now, None, result)
        return pd.Series(dtype=object), None
    can_create = ~contacts.column("anonymous_only").to_numpy(zero_copy_only=False)
    st = _run_stitch(
        eng, config, contacts.column("record_id"), prep.identifiers, can_create, store_known=False
    )
    merges = _merges_table(eng, st)
    _plan_identities(eng, plan, st, prep, now, merges, result)
    assignment = st.assignments.set_index("record_id").customer_id

    # a contact that brings a new identifier, a new person or a merge gets a source_profiles
    # row, so the person has a profile and the merge log points at a record that exists
    new_ids = set(st.new_identities.record_id) | set(st.merge_log.record_id)
    c = contacts.to_pandas()
    c["customer_id"] = c.record_id.map(assignment)
    c = c[c.record_id.isin(new_ids) & c.customer_id.notna()]
    stubs = None
    if len(c):
        known = _record_customers(
            eng, eng.stage("_segmint_stub_ids", pa.table({"record_id": c.record_id.to_numpy()}))
        )
        c = c[~c.record_id.isin(set(known.column("record_id").to_pylist()))]
        c = c.assign(source=prep.source, imported_at=pd.Timestamp(now))
        stubs = _canonical(
            pa.Table.from_pandas(c.drop(columns=["anonymous_only", "_row"]), preserve_index=False),
            "source_profiles",
        )
        plan.touched |= set(c.customer_id)

    def write() -> None:
        if stubs is not None:
            eng.insert("source_profiles", stubs)

    plan.writes.append(write)
    return assignment, merges


def _resolve_customers(table: pa.Table, assignment: pd.Series) -> pa.Table:
    """Fill ``customer_id`` from the contacts' stitched customers (explicit ids win)."""
    keys = pa.array(assignment.index.to_numpy(dtype=object), pa.string())
    values = pa.array(assignment.to_numpy(dtype=object), pa.string(), from_pandas=True)
    idx = pc.index_in(table.column("contact_id"), value_set=keys)
    resolved = values.take(idx) if len(values) else pa.nulls(table.num_rows, pa.string())
    cid = pc.coalesce(table.column("customer_id"), resolved)
    return table.set_column(table.column_names.index("customer_id"), "customer_id", cid)


def _check_customer_ids(eng: _Engine, staged: ibis.Table, prep: Prepared) -> list[ImportProblem]:
    if not pc.any(pc.is_valid(prep_table(prep).column("customer_id"))).as_py():
        return []
    profiles = eng.con.table("profiles")
    given = staged.filter(staged.customer_id.notnull() & staged.contact_id.isnull())
    unknown = given.anti_join(profiles, given.customer_id == profiles.customer_id)
    return _problems_from(
        eng,
        unknown,
        prep,
        lambda r: (
            f"'customer_id' must be a customer of this workspace. Got {r['customer_id']!r} "
            "instead. Hint: if the column holds another system's id, map it to that channel, e.g. "
            "--map pos=COLUMN."
        ),
    )


def prep_table(prep: Prepared) -> pa.Table:
    return prep.orders if prep.kind == "orders" else prep.events


# -- orders ---------------------------------------------------------------------------------------
def _items_stage(eng: _Engine, items: pa.Table | None) -> ibis.Table | None:
    if items is None or not items.num_rows:
        return None
    return eng.stage("_segmint_stage_items", _canonical(items, "order_items", ("_row",)))


def _items_digest(t: ibis.Table) -> ibis.Table:
    row = ibis.literal("").concat(
        t.product_id.fill_null("∅"),
        "\x1f",
        t.category.fill_null("∅"),
        "\x1f",
        t.quantity.cast("string").fill_null("∅"),
        "\x1f",
        t.price.cast("string").fill_null("∅"),
    )
    return t.group_by("order_id").aggregate(_digest=row.group_concat("\x1e", order_by=row))


def _items_to_replace(eng: _Engine, items: ibis.Table) -> ibis.Table:
    """Order ids whose staged line items differ from the stored ones."""
    stored = eng.con.table("order_items")
    stored = stored.semi_join(items, stored.order_id == items.order_id)
    new_d = _items_digest(items)
    old_d = _items_digest(stored).rename(_old_order_id="order_id", _old_digest="_digest")
    j = new_d.left_join(old_d, new_d.order_id == old_d._old_order_id)
    return eng.stage(
        "_segmint_items_replace",
        j.filter(~j._digest.identical_to(j._old_digest)).select("order_id"),
    )


def _plan_keyed(eng, config, prep: Prepared, now, result, table_name: str, key: str) -> _Plan:
    """Orders or events: stitch contacts, classify rows, plan the writes."""
    plan = _Plan()
    data = prep_table(prep)
    assignment, merges = _plan_contacts(eng, config, prep, now, plan, result)
    data = _resolve_customers(data, assignment)
    staged = eng.stage(
        f"_segmint_stage_{table_name}", _canonical(data, table_name, ("_row", "contact_id"))
    )
    plan.problems += _check_customer_ids(eng, staged, prep)
    compare = [c for c in TABLES[table_name].names if c not in (key, "source")]
    classified, states = _classify(eng, staged, table_name, key, compare, ("source",), merges)
    what = "order id" if key == "order_id" else "message id"
    if states.get("conflict"):
        plan.problems += _problems_from(
            eng,
            classified.filter(classified._state == "conflict"),
            prep,
            lambda r: (
                f"duplicate {what} {r[key]!r}: already stored from source "
                f"{r['_old_source']!r} with different content. Hint: import it with the same "
                "--source, or remove the clash."
            ),
        )

    items = _items_stage(eng, prep.order_items) if table_name == "orders" else None
    replace = _items_to_replace(eng, items) if items is not None else None
    items_changed_same = 0
    if replace is not None:
        same = _rows_in_state(staged, classified, key, ["same"])
        items_changed_same = eng.count(same.semi_join(replace, same.order_id == replace.order_id))
        result.items_written = eng.count(
            items.semi_join(replace, items.order_id == replace.order_id)
        )
    result.inserted = states.get("new", 0)
    result.updated = states.get("changed", 0) + items_changed_same
    result.unchanged = states.get("same", 0) - items_changed_same

    changed_keys = _rows_in_state(staged, classified, key, ["changed"])
    rows = _rows_in_state(staged, classified, key, ["new", "changed"])

    def write() -> None:
        if states.get("changed", 0):
            eng.delete_where_in(table_name, key, changed_keys, key)
        eng.insert(table_name, rows)
        if replace is not None and result.items_written:
            eng.delete_where_in("order_items", "order_id", replace, "order_id")
            eng.insert("order_items", items.semi_join(replace, items.order_id == replace.order_id))

    plan.writes.append(write)
    return plan


# -- order items ----------------------------------------------------------------------------------
def _plan_items(eng, prep: Prepared, result) -> _Plan:
    plan = _Plan()
    items = _items_stage(eng, prep.order_items)
    if items is None:
        return plan
    orders = eng.con.table("orders")
    unknown = items.anti_join(orders, items.order_id == orders.order_id)
    plan.problems += _problems_from(
        eng,
        unknown,
        prep,
        lambda r: (
            f"'order_id' must be an order already imported. Got {r['order_id']!r} instead. "
            "Hint: import the orders first."
        ),
    )
    replace = _items_to_replace(eng, items)
    n_orders = eng.count(items.select("order_id").distinct())
    changed = eng.count(replace)
    stored = eng.con.table("order_items")
    had = eng.count(
        replace.semi_join(stored, replace.order_id == stored.order_id).select("order_id")
    )
    result.inserted = changed - had
    result.updated = had
    result.unchanged = n_orders - changed
    result.items_written = eng.count(items.semi_join(replace, items.order_id == replace.order_id))

    def write() -> None:
        if changed:
            eng.delete_where_in("order_items", "order_id", replace, "order_id")
            eng.insert("order_items", items.semi_join(replace, items.order_id == replace.order_id))

    plan.writes.append(write)
    return plan


# -- profiles and the log -------------------------------------------------------------------------
def _write_profiles(eng: _Engine, touched: set[str], now: dt.datetime) -> None:
    if not touched:
        return
    t = eng.stage("_segmint_touched", pa.table({"customer_id": sorted(touched)}))
    eng.delete_where_in("profiles", "customer_id", t, "customer_id")
    sp = eng.con.table("source_profiles")
    sp = sp.semi_join(t, sp.customer_id == t.customer_id)
    eng.insert("profiles", profiles_from_sources(sp, now=now))


def _write_log(eng: _Engine, result: ImportResult, path: Path, now: dt.datetime) -> None:
    row = {
        "import_id": [result.import_id],
        "kind": [result.kind],
        "file": [str(path)],
        "sha256": [result.sha256],
        "source": [result.source],
        "rows": [result.rows_read],
        "inserted": [result.inserted],
        "updated": [result.updated],
        "imported_at": [now],
    }
    eng.insert("import_log", _canonical(pa.table(row), "import_log"))


# -- entry point ----------------------------------------------------------------------------------
def import_file(
    con,
    config: Config,
    kind: str,
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    source: str | None = None,
    refunds: bool = False,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_order: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one file into the workspace behind ``con``; see ``Workspace.import_file``."""
    started = time.perf_counter()
    if kind not in KINDS:
        from segmint.errors import close_matches

        raise ValidationError(
            f"The import kind must be one of {', '.join(KINDS)}. Got '{kind}' instead.",
            suggestions=close_matches(kind, KINDS),
        )
    path = Path(path)
    report = progress or (lambda step, done, total: None)
    raw = read_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter, progress=report)
    report("validate", 0, 3)
    prep = prepare(
        kind,
        raw,
        mapping=mapping,
        source=source,
        refunds=refunds,
        default_region=config.default_region,
        timezone=config.timezone,
        currency=config.currency,
        date_order=date_order,
        junk=functools.partial(junk_mask, junk=config.junk),
    )
    prep, suppressed = erasure.drop_suppressed(prep, erasure.load_suppressions(con))
    result = ImportResult(
        kind=kind,
        file=raw.file,
        source=prep.source,
        rows_read=prep.rows_read,
        preset=prep.mapping.preset,
        mapping=dict(prep.mapping.columns),
        kept_columns=list(prep.kept_columns),
        ignored_columns=list(prep.ignored_columns),
        warnings=list(prep.warnings),
        sha256=_sha256(path),
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        sheet=raw.sheet,
        suppressed=suppressed,
    )
    if suppressed:
        result.warnings.append(
            f"{raw.file}: {suppressed:,} row(s) skipped: they carry an identifier of a person "
            "who was erased (segmint erase), so they are not stored again."
        )
        _log.info("import %s: %d row(s) of erased people skipped", raw.file, suppressed)
    structural = prep_table(prep) if kind in ("orders", "events") else None
    if prep.problems and (
        (kind == "customers" and prep.records is None)
        or (kind in ("orders", "events") and structural is None)
        or (kind == "order_items" and prep.order_items is None)
    ):
        raise ImportValidationError(prep.problems)
    report("validate", 1, 3)

    now = _now()
    eng = _Engine(con)
    try:
        if kind == "customers":
            plan = _plan_customers(eng, config, prep, now, result)
        elif kind == "orders":
            plan = _plan_keyed(eng, config, prep, now, result, "orders", "order_id")
        elif kind == "events":
            plan = _plan_keyed(eng, config, prep, now, result, "events", "message_id")
        else:
            plan = _plan_items(eng, prep, result)
        report("validate", 3, 3)
        problems = list(prep.problems) + plan.problems
        if problems:
            raise ImportValidationError(sorted(problems, key=_problem_order))

        anything = (
            result.inserted
            or result.updated
            or result.items_written
            or result.identities_added
            or result.people_merged
        )
        if anything:
            result.import_id = f"imp_{now:%Y%m%d%H%M%S}_{result.sha256[:8]}"
            steps = len(plan.writes) + 2
            with storage.transaction(con):
                for i, write in enumerate(plan.writes):
                    report("write", i, steps)
                    write()
                report("write", steps - 2, steps)
                _write_profiles(eng, plan.touched, now)
                _write_log(eng, result, path, now)
            report("write", steps, steps)
    finally:
        eng.drop_temps()
    result.seconds = time.perf_counter() - started
    return result


def _problem_order(p: ImportProblem) -> tuple:
    return (p.row is not None, p.row or 0, p.column or "")
