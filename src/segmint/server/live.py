"""Land a group of accepted messages: de-duplicate, stitch identities, write (inside one
transaction the writer opens).

Identity stitching is the importer's (``segmint.identity.stitch``: connected components over
identifiers, the same junk rules, the same merge log) with the same normalisation of emails,
phones and channel ids (``segmint.ingest.values``). Each message belongs to a live *record*:
``api:user:<userId>``, else ``api:anon:<anonymousId>``. A record's identifiers are its user id,
anonymous id, the ``email``/``phone`` of identify traits or ``context.traits``, and the channel
ids of ``context.externalIds``; an alias adds its ``previousId`` (as user id and as anonymous
id). So:

- an identify with a user id and an email already imported from Shopify joins that person;
- anonymous activity belongs to nobody until an identifier links the anonymous id to a person;
  then the person's earlier anonymous events get its ``customer_id``;
- two known people that turn out to be one are merged (the smallest id survives), every table
  re-pointed and the merge logged, exactly as an import does.

Records that change or appear get a ``source_profiles`` row (source ``api`` unless told
otherwise), and the ``profiles`` of touched people are rebuilt from their records, so "most
recent non-null value wins" and consent "latest time wins" hold for live data too.

Most messages come from people already known by the same identifiers: those skip stitching.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from segmint.config import Config
from segmint.erasure import suppression_hashes
from segmint.identity import profiles_from_sources, stitch
from segmint.importer import _CUSTOMER_TABLES, _canonical, _Engine
from segmint.ingest.prepare import _COUNTRIES, _GENDERS
from segmint.ingest.values import normalise_emails, normalise_ids, normalise_phones
from segmint.schema import CONSENT_CHANNELS, TABLES
from segmint.server.messages import Message

__all__ = [
    "Applied",
    "IdentityCache",
    "apply_consent",
    "apply_messages",
    "consent_record",
    "fold_consent",
]

_log = logging.getLogger("segmint.server")

#: How far a resent message's corrected time may lie from the stored copy's and still be found
#: as a duplicate (the correction moves it by the difference of the two sends' clock skews).
DEDUPLICATION_SLACK = dt.timedelta(days=7)
_EVENT_COLUMNS = TABLES["events"].names
_SP_COLUMNS = TABLES["source_profiles"].names


@dataclass
class Applied:
    """What one group of messages did.

    ``stored[i]`` says whether message ``i`` was written (``False``: its ``messageId`` was
    already stored, or repeated earlier in the group).
    """

    stored: list[bool]
    events: pa.Table | None = None
    touched: set[str] = field(default_factory=set)
    created: list[str] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)
    #: record → (customer or None, identifier pairs): settled once this group is committed
    settled: dict[str, tuple[str | None, frozenset]] = field(default_factory=dict)
    #: an anonymous id got linked: visitors remembered as nobody may be somebody now
    linked_anonymous: bool = False
    #: messages skipped because they carry an identifier of an erased person
    suppressed: int = 0


class IdentityCache:
    """Records already stitched, so the common case (a known user sends another event) needs
    no identity queries. The writer updates it only after a commit and clears it whenever
    people merge or anything else changes identities (``clear``).

    >>> c = IdentityCache()
    >>> c.remember({"api:user:u1": ("c_1", frozenset({("user_id", "u1")}))}, False)
    >>> c.lookup(["api:user:u1"], {"api:user:u1": [("user_id", "u1")]})
    {'api:user:u1': 'c_1'}
    >>> c.lookup(["api:user:u1"], {"api:user:u1": [("email", "a@b.hk")]}) is None
    True
    """

    def __init__(self, max_records: int = 500_000) -> None:
        self.max_records = max_records
        self._people: dict[str, tuple[str, frozenset]] = {}
        self._nobody: dict[str, frozenset] = {}

    def __len__(self) -> int:
        return len(self._people) + len(self._nobody)

    def clear(self) -> None:
        self._people.clear()
        self._nobody.clear()

    def lookup(
        self, records: Sequence[str], pairs_of: dict[str, list[tuple[str, str]]]
    ) -> dict[str, str | None] | None:
        """``record → customer`` when every record is cached with all of its identifiers."""
        out: dict[str, str | None] = {}
        for rec in records:
            pairs = pairs_of.get(rec, ())
            hit = self._people.get(rec)
            if hit is not None and all(p in hit[1] for p in pairs):
                out[rec] = hit[0]
                continue
            nobody = self._nobody.get(rec)
            if nobody is not None and all(p in nobody for p in pairs):
                out[rec] = None
                continue
            return None
        return out

    def remember(self, settled: dict, linked_anonymous: bool) -> None:
        """Add what a committed group settled (``Applied.settled``)."""
        if linked_anonymous:
            self._nobody.clear()
        if len(self) + len(settled) > self.max_records:
            self.clear()
        for rec, (cid, pairs) in settled.items():
            if cid is None:
                self._nobody[rec] = pairs | self._nobody.get(rec, frozenset())
            else:
                old = self._people.get(rec)
                keep = old[1] if old is not None and old[0] == cid else frozenset()
                self._people[rec] = (cid, pairs | keep)


# -- small helpers on the raw DuckDB connection ----------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: at most this many rows are written as bound ``VALUES`` (see :meth:`_Raw.insert`)
SMALL_INSERT_ROWS = 16


class _Raw:
    """Constant SQL over registered Arrow tables (no user input ever becomes SQL text)."""

    def __init__(self, raw):
        self.raw = raw
        self.names: list[str] = []

    def register(self, name: str, table: pa.Table) -> str:
        self.raw.register(name, table)
        self.names.append(name)
        return name

    def fetch(self, sql: str) -> pa.Table:
        out = self.raw.execute(sql).arrow()
        return out.read_all() if hasattr(out, "read_all") else out

    def run(self, sql: str) -> None:
        self.raw.execute(sql)

    def insert(self, table: str, data: pa.Table) -> None:
        """Append ``data`` (columns named as in ``TABLES[table]``) to ``table``.

        A few rows (a single tracked event) go in as bound parameters, ``VALUES (?, …)``:
        registering an Arrow view and planning a scan of it costs more than the write itself
        (1.0 vs 2.5 ms per one-row commit on a file workspace); more rows are scanned from
        Arrow. Either way the SQL text holds placeholders and column names, never values."""
        if not data.num_rows:
            return
        names = TABLES[table].names
        cols = ", ".join(_q(c) for c in names)
        if data.num_rows <= SMALL_INSERT_ROWS:
            row = "(" + ", ".join("?" * len(names)) + ")"
            values = [data.column(c).to_pylist() for c in names]
            params = [v for r in zip(*values, strict=True) for v in r]
            self.raw.execute(
                f"INSERT INTO {_q(table)} ({cols}) VALUES " + ", ".join([row] * data.num_rows),
                params,
            )
            return
        name = self.register(f"_segmint_live_insert_{len(self.names)}", data)
        self.run(f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {_q(name)}")

    def close(self) -> None:
        for name in self.names:
            self.raw.unregister(name)
        self.names.clear()


def _strings(values: Sequence[Any]) -> pa.Array:
    return pa.array(list(values), pa.string())


# -- identifiers ----------------------------------------------------------------------------------
def _whatsapp_e164(values: list[str]) -> list[str]:
    """WhatsApp ids are international numbers without ``+`` (``85291234567``): add it."""
    out = []
    for v in values:
        s = v.strip()
        out.append("+" + s if s.isdigit() and len(s) >= 10 and not s.startswith("0") else s)
    return out


def normalise_identifiers(rows: list[tuple[str, str, str]], region: str) -> pa.Table:
    """``(record_id, id_type, raw value)`` → ``record_id, id_type, id_value`` normalised like an
    import (invalid values dropped; a WhatsApp id is also a phone)."""
    by_type: dict[str, list[tuple[str, str]]] = {}
    for rec, kind, value in rows:
        by_type.setdefault(kind, []).append((rec, value))
    recs, kinds, vals = [], [], []
    for kind, pairs in by_type.items():
        raw = [v for _, v in pairs]
        if kind == "email":
            norm = normalise_emails(_strings(raw))[0]
        elif kind in ("phone", "whatsapp"):
            norm = normalise_phones(
                _strings(_whatsapp_e164(raw) if kind == "whatsapp" else raw), region
            )[0]
        else:
            norm = normalise_ids(_strings(raw), kind)
        out_kinds = ("whatsapp", "phone") if kind == "whatsapp" else (kind,)
        for (rec, _), v in zip(pairs, norm.to_pylist(), strict=True):
            if v is None:
                continue
            for k in out_kinds:
                recs.append(rec)
                kinds.append(k)
                vals.append(v)
    unique = list(dict.fromkeys(zip(recs, kinds, vals, strict=True)))
    return pa.table(
        {
            "record_id": _strings([u[0] for u in unique]),
            "id_type": _strings([u[1] for u in unique]),
            "id_value": _strings([u[2] for u in unique]),
        }
    )


# -- the group ------------------------------------------------------------------------------------
def apply_messages(
    con,
    config: Config,
    messages: Sequence[Message],
    *,
    source: str,
    now: dt.datetime,
    cache: IdentityCache | None = None,
    suppressed: frozenset[str] = frozenset(),
) -> Applied:
    """Write ``messages`` into the workspace behind ``con`` (the caller holds the transaction
    and, once it committed, passes ``Applied.settled`` to ``cache.remember``).

    Messages whose identifiers hash to one of ``suppressed`` (``erasure_suppressions``: people
    who were erased) are skipped with a log line and count as not stored."""
    sql = _Raw(con.con)
    try:
        return _apply(
            con, sql, config, messages, source=source, now=now, cache=cache, suppressed=suppressed
        )
    finally:
        sql.close()


def _skip_suppressed(
    fresh: list[Message], idents: pa.Table, suppressed: frozenset[str]
) -> tuple[list[Message], pa.Table, set[str]]:
    """``fresh`` and ``idents`` without the records that carry a suppressed identifier."""
    if not suppressed:
        return fresh, idents, set()
    recs = idents.column("record_id").to_pylist()
    hashes = suppression_hashes(
        zip(
            idents.column("id_type").to_pylist(), idents.column("id_value").to_pylist(), strict=True
        )
    )
    bad = {r for r, h in zip(recs, hashes, strict=True) if h in suppressed}
    own = list(dict.fromkeys(m.record_id for m in fresh))  # the record ids themselves
    bad |= {
        r
        for r, h in zip(own, suppression_hashes(("record", r) for r in own), strict=True)
        if h in suppressed
    }
    if not bad:
        return fresh, idents, bad
    keep = pa.array([r not in bad for r in recs], pa.bool_())
    return [m for m in fresh if m.record_id not in bad], idents.filter(keep), bad


def _apply(
    con, sql: _Raw, config: Config, messages, *, source, now, cache, suppressed=frozenset()
) -> Applied:
    # 1. de-duplicate by messageId: within the group, then against what is stored
    first: dict[str, int] = {}
    for i, m in enumerate(messages):
        first.setdefault(m.message_id, i)
    # A resent message keeps its timestamp (give or take the clock-skew correction), so only
    # events near the group's times are searched: DuckDB skips the other row groups by their
    # min/max of ts, and the look-up stays fast however many events are stored.
    times = [m.ts for m in messages]
    found = sql.raw.execute(
        "SELECT message_id FROM events WHERE ts BETWEEN $2 AND $3"
        " AND message_id IN (SELECT unnest($1::VARCHAR[]))",
        [
            list(first),
            _shift(min(times), -DEDUPLICATION_SLACK),
            _shift(max(times), DEDUPLICATION_SLACK),
        ],
    ).fetchall()
    stored_ids = {row[0] for row in found}
    stored = [
        first[m.message_id] == i and m.message_id not in stored_ids for i, m in enumerate(messages)
    ]
    fresh = [m for m, keep in zip(messages, stored, strict=True) if keep]
    result = Applied(stored=stored)
    if not fresh:
        return result

    # 2. records and their identifiers (people who were erased are not created again)
    raw_ids = [(m.record_id, k, v) for m in fresh for k, v in m.identifiers]
    idents = normalise_identifiers(raw_ids, config.default_region)
    fresh, idents, bad = _skip_suppressed(fresh, idents, suppressed)
    if bad:
        skipped = {id(m) for m in messages if m.record_id in bad}
        result.stored = [k and id(m) not in skipped for m, k in zip(messages, stored, strict=True)]
        result.suppressed = sum(1 for m in messages if id(m) in skipped)
        _log.info("skipped %d message(s) of erased people", result.suppressed)
        if not fresh:
            return result
    records = list(dict.fromkeys(m.record_id for m in fresh))
    pairs_of: dict[str, list[tuple[str, str]]] = {}
    for rec, kind, value in zip(
        idents.column("record_id").to_pylist(),
        idents.column("id_type").to_pylist(),
        idents.column("id_value").to_pylist(),
        strict=True,
    ):
        pairs_of.setdefault(rec, []).append((kind, value))
    cached = cache.lookup(records, pairs_of) if cache is not None else None
    if cached is not None:  # every record is known with these identifiers: no stitching
        result.touched |= _write_records(
            sql,
            config,
            fresh,
            cached,
            {r: c for r, c in cached.items() if c is not None},
            source=source,
            now=now,
        )
        events = _events(fresh, cached, source)
        sql.insert("events", events)
        result.events = events
        if result.touched:
            _rebuild_profiles(con, sql, sorted(result.touched), now)
        return result
    sql.register("_segmint_live_idents", idents)
    sql.register("_segmint_live_records", pa.table({"record_id": _strings(records)}))
    existing = sql.fetch(
        "SELECT customer_id, id_type, id_value, record_id FROM identities i "
        "SEMI JOIN _segmint_live_idents n ON i.id_type = n.id_type AND i.id_value = n.id_value "
        "UNION SELECT customer_id, id_type, id_value, record_id FROM identities "
        "WHERE record_id IN (SELECT record_id FROM _segmint_live_records)"
    )
    known = sql.fetch(
        "SELECT record_id, customer_id FROM source_profiles "
        "WHERE record_id IN (SELECT record_id FROM _segmint_live_records)"
    )
    known_customer = dict(
        zip(
            known.column("record_id").to_pylist(),
            known.column("customer_id").to_pylist(),
            strict=True,
        )
    )

    # 3. stitch, unless every record is settled already
    customer_of = _settled(records, pairs_of, existing, known_customer)
    new_identities = merge_log = None
    if customer_of is None:
        st = stitch(
            records,
            idents,
            existing,
            known,
            junk=config.junk,
            max_shared=config.junk.max_shared,
        )
        customer_of = dict(zip(st.assignments.record_id, st.assignments.customer_id, strict=True))
        result.created = list(st.created)
        result.merges = list(
            zip(st.merges.absorbed_customer_id, st.merges.customer_id, strict=True)
        )
        new_identities, merge_log = st.new_identities, st.merge_log
        if result.merges:
            _merge(con, st.merges)
            result.touched |= set(st.merges.customer_id)
        result.touched |= set(st.new_identities.customer_id)

    # 4. identities and the merge log
    if new_identities is not None and len(new_identities):
        ident = new_identities.assign(source=source, first_seen=pd.Timestamp(now))
        sql.insert(
            "identities",
            _canonical(pa.Table.from_pandas(ident, preserve_index=False), "identities"),
        )
    if merge_log is not None and len(merge_log):
        log = merge_log.assign(merged_at=pd.Timestamp(now))
        sql.insert(
            "merge_log", _canonical(pa.Table.from_pandas(log, preserve_index=False), "merge_log")
        )

    # 5. source_profiles rows of new records and of identified records
    result.touched |= _write_records(
        sql, config, fresh, customer_of, known_customer, source=source, now=now
    )

    # 6. the events
    events = _events(fresh, customer_of, source)
    sql.insert("events", events)
    result.events = events

    # 7. earlier anonymous activity joins the person once the anonymous id is linked
    if new_identities is not None and len(new_identities):
        anon = new_identities[new_identities.id_type == "anonymous_id"]
        anon = anon.drop_duplicates("id_value")
        if len(anon):
            sql.register(
                "_segmint_live_anon",
                pa.table(
                    {
                        "anonymous_id": _strings(anon.id_value),
                        "customer_id": _strings(anon.customer_id),
                    }
                ),
            )
            sql.run(
                "UPDATE events SET customer_id = a.customer_id FROM _segmint_live_anon a "
                "WHERE events.anonymous_id = a.anonymous_id AND events.customer_id IS NULL"
            )

    # what the cache may remember once this commits
    result.linked_anonymous = new_identities is not None and bool(
        (new_identities.id_type == "anonymous_id").any()
    )
    result.settled = {
        rec: (customer_of.get(rec), frozenset(pairs_of.get(rec, ()))) for rec in records
    }

    # 8. profiles of the people touched, rebuilt from their records
    result.touched.discard(None)
    if result.touched:
        _rebuild_profiles(con, sql, sorted(c for c in result.touched if isinstance(c, str)), now)
    return result


def _shift(ts: dt.datetime, by: dt.timedelta) -> dt.datetime:
    """``ts + by``, kept inside datetime's range (a timestamp of year 1 or 9999 is valid input).

    >>> _shift(dt.datetime.min, -DEDUPLICATION_SLACK) == dt.datetime.min
    True
    """
    try:
        return ts + by
    except OverflowError:
        return dt.datetime.min if by < dt.timedelta(0) else dt.datetime.max


@functools.lru_cache(maxsize=4)
def _profiles_sql(compile_with) -> str:
    """SQL of :func:`~segmint.identity.profiles_from_sources` for the customers in the
    registered table ``_segmint_live_touched``, compiled once (compiling costs far more than
    running it for a few hundred people). ``updated_at`` is left to the caller."""
    sp = ibis.table(TABLES["source_profiles"], name="source_profiles")
    touched = ibis.table({"customer_id": "string"}, name="_segmint_live_touched")
    expr = profiles_from_sources(sp.semi_join(touched, sp.customer_id == touched.customer_id))
    return compile_with(expr.drop("updated_at"))


def _rebuild_profiles(con, sql: _Raw, touched: list[str], now: dt.datetime) -> None:
    """Replace the ``profiles`` rows of ``touched`` by their consolidation from
    ``source_profiles`` (what the importer does, with the statement compiled once)."""
    sql.register("_segmint_live_touched", pa.table({"customer_id": _strings(touched)}))
    sql.run(
        "DELETE FROM profiles WHERE customer_id IN (SELECT customer_id FROM _segmint_live_touched)"
    )
    cols = [c for c in TABLES["profiles"].names if c != "updated_at"]
    names = ", ".join(_q(c) for c in cols)
    sql.raw.execute(
        f"INSERT INTO profiles ({names}, updated_at) "
        f"SELECT {names}, CAST($1 AS TIMESTAMP) FROM ({_profiles_sql(con.compile)})",
        [now],
    )


def _settled(
    records: list[str],
    pairs_of: dict[str, list[tuple[str, str]]],
    existing: pa.Table,
    known: dict[str, str | None],
) -> dict[str, str | None] | None:
    """``record → customer`` when stitching cannot change anything: every identifier of every
    record is stored for that very record (so it was stitched before), or the record is an
    anonymous visitor nobody knows yet. ``None`` when stitching must run."""
    stored_pairs = set(
        zip(
            existing.column("record_id").to_pylist(),
            existing.column("id_type").to_pylist(),
            existing.column("id_value").to_pylist(),
            strict=True,
        )
    )
    known_values = set(
        zip(
            existing.column("id_type").to_pylist(),
            existing.column("id_value").to_pylist(),
            strict=True,
        )
    )
    customer_by_record = dict(known)
    for rec, cid in zip(
        existing.column("record_id").to_pylist(),
        existing.column("customer_id").to_pylist(),
        strict=True,
    ):
        customer_by_record.setdefault(rec, cid)
    out: dict[str, str | None] = {}
    for rec in records:
        pairs = pairs_of.get(rec, [])
        cid = customer_by_record.get(rec)
        if cid is not None and all((rec, k, v) in stored_pairs for k, v in pairs):
            out[rec] = cid
        elif cid is None and all(
            k == "anonymous_id" and (k, v) not in known_values for k, v in pairs
        ):
            out[rec] = None
        else:
            return None
    return out


def _merge(con, merges: pd.DataFrame) -> None:
    """Re-point every table from absorbed customers to survivors (as an import does)."""
    eng = _Engine(con)
    try:
        data = pa.Table.from_pandas(
            merges[["absorbed_customer_id", "customer_id"]].astype(str), preserve_index=False
        )
        staged = eng.stage("_segmint_live_merges", data)
        for table in _CUSTOMER_TABLES:
            eng.repoint(table, staged)
        gone = eng.stage(
            "_segmint_live_absorbed",
            pa.table({"customer_id": _strings(merges.absorbed_customer_id)}),
        )
        eng.delete_where_in("profiles", "customer_id", gone, "customer_id")
    finally:
        eng.drop_temps()


# -- rows -----------------------------------------------------------------------------------------
def _events(fresh: Sequence[Message], customer_of: dict, source: str) -> pa.Table:
    cols = {
        "message_id": [m.message_id for m in fresh],
        "customer_id": [customer_of.get(m.record_id) for m in fresh],
        "anonymous_id": [m.anonymous_id for m in fresh],
        "type": [m.type for m in fresh],
        "event": [m.event for m in fresh],
        "ts": [m.ts for m in fresh],
        "properties": [m.properties for m in fresh],
        "channel": [m.channel for m in fresh],
        "source": [source] * len(fresh),
    }
    schema = TABLES["events"].to_pyarrow()
    return pa.table(
        {c: pa.array(cols[c], schema.field(c).type) for c in _EVENT_COLUMNS}, schema=schema
    )


def _profile_value(column: str, value: Any, region: str) -> Any:
    if column == "email":
        return normalise_emails(_strings([str(value)]))[0][0].as_py()
    if column == "phone":
        return normalise_phones(_strings([str(value)]), region)[0][0].as_py()
    if column == "gender":
        return _GENDERS.get(str(value).strip().lower(), str(value).strip().lower())
    if column == "country":
        text = str(value).strip()
        return text.upper() if len(text) == 2 else _COUNTRIES.get(text.lower(), text)
    return value


def _write_records(
    sql: _Raw,
    config: Config,
    fresh: Sequence[Message],
    customer_of: dict,
    known: dict[str, str | None],
    *,
    source: str,
    now: dt.datetime,
) -> set[str]:
    """Add a ``source_profiles`` row for every new record that belongs to someone, and fold
    identify traits and consent into the record's row; returns the customers touched."""
    first_ts: dict[str, dt.datetime] = {}
    identifies: dict[str, list[Message]] = {}
    for m in fresh:
        first_ts.setdefault(m.record_id, m.ts)
        if m.profile is not None or m.consent:
            identifies.setdefault(m.record_id, []).append(m)
    new = [r for r in first_ts if r not in known and customer_of.get(r) is not None]
    changed = [r for r in identifies if customer_of.get(r) is not None and r not in new]
    if not new and not changed:
        return set()
    old: dict[str, dict] = {}
    if changed:
        sql.register("_segmint_live_changed", pa.table({"record_id": _strings(changed)}))
        rows = sql.fetch(
            "SELECT * FROM source_profiles "
            "WHERE record_id IN (SELECT record_id FROM _segmint_live_changed)"
        ).to_pylist()
        old = {r["record_id"]: r for r in rows}
        sql.run(
            "DELETE FROM source_profiles "
            "WHERE record_id IN (SELECT record_id FROM _segmint_live_changed)"
        )
    out = []
    for rec in [*new, *changed]:
        row = old.get(rec) or dict.fromkeys(_SP_COLUMNS)
        if rec not in old:
            row.update(record_id=rec, created_at=first_ts[rec])
        row.update(
            customer_id=customer_of[rec], source=row.get("source") or source, imported_at=now
        )
        for m in identifies.get(rec, []):
            _fold(row, m, config.default_region)
        out.append(row)
    schema = TABLES["source_profiles"].to_pyarrow()
    sql.insert("source_profiles", pa.Table.from_pylist(out, schema=schema))
    return {r["customer_id"] for r in out}


def _fold(row: dict, m: Message, region: str) -> None:
    """Apply one identify to a ``source_profiles`` row (given values win; traits key by key)."""
    profile = dict(m.profile or {})
    traits = profile.pop("traits", None)
    for column, value in profile.items():
        value = _profile_value(column, value, region)
        if value is not None and column in row:
            row[column] = value
    if traits:
        merged = json.loads(row["traits"]) if row.get("traits") else {}
        merged.update(traits)
        row["traits"] = json.dumps(merged, ensure_ascii=False, sort_keys=True, default=str)
    if row.get("name") is None and (row.get("first_name") or row.get("last_name")):
        row["name"] = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    fold_consent(row, m.consent)


def fold_consent(row: dict, consent: dict[str, tuple[bool, dt.datetime]]) -> None:
    """Set ``consent_<channel>`` and ``consent_<channel>_at`` of a ``source_profiles`` row from
    ``channel → (given, time)``: the one place identify traits and the consent API write consent
    (the profile then takes, per channel, the value with the latest time).

    >>> row = {}
    >>> fold_consent(row, {"sms": (False, dt.datetime(2026, 1, 1))})
    >>> row["consent_sms"], row["consent_sms_at"].year
    (False, 2026)
    """
    for ch, (value, at) in consent.items():
        if ch in CONSENT_CHANNELS:
            row[f"consent_{ch}"] = value
            row[f"consent_{ch}_at"] = at


def consent_record(customer_id: str) -> str:
    """The ``source_profiles`` record that holds consent set through the API for a person.

    >>> consent_record("c_000001")
    'api:consent:c_000001'
    """
    return f"api:consent:{customer_id}"


def apply_consent(
    con,
    customer_id: str,
    consent: dict[str, tuple[bool, dt.datetime]],
    *,
    now: dt.datetime,
    source: str = "api",
) -> dict[str, Any]:
    """Record consent given or withdrawn through the API (inside the caller's transaction):
    the person's consent record (:func:`consent_record`) gets the values via
    :func:`fold_consent`, then the profile is rebuilt as after an identify. Returns the
    profile's consent columns. Raises ``NotFoundError`` for an unknown person."""
    from segmint.errors import NotFoundError

    sql = _Raw(con.con)
    try:
        found = sql.raw.execute(
            "SELECT 1 FROM profiles WHERE customer_id = $1", [customer_id]
        ).fetchall()
        if not found:
            raise NotFoundError(
                f"There is no profile '{customer_id}'.",
                hint="look people up with GET /v1/profiles?q=NAME_EMAIL_OR_PHONE.",
            )
        rec = consent_record(customer_id)
        rows = sql.raw.execute(
            "SELECT * FROM source_profiles WHERE record_id = $1", [rec]
        ).fetch_arrow_table()
        row = rows.to_pylist()[0] if rows.num_rows else dict.fromkeys(_SP_COLUMNS)
        row.update(record_id=rec, customer_id=customer_id, imported_at=now)
        row["source"] = row.get("source") or source
        fold_consent(row, consent)
        sql.raw.execute("DELETE FROM source_profiles WHERE record_id = $1", [rec])
        schema = TABLES["source_profiles"].to_pyarrow()
        sql.insert("source_profiles", pa.Table.from_pylist([row], schema=schema))
        _rebuild_profiles(con, sql, [customer_id], now)
        cols = [f"consent_{ch}{suffix}" for ch in CONSENT_CHANNELS for suffix in ("", "_at")]
        out = sql.raw.execute(
            f"SELECT {', '.join(_q(c) for c in cols)} FROM profiles WHERE customer_id = $1",
            [customer_id],
        ).fetchone()
        return dict(zip(cols, out, strict=True))
    finally:
        sql.close()
