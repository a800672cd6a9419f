"""Erasure of a person, suppression of their identifiers, and the audit log (layer 4).

:func:`erase` removes one person from **every** table of a DuckDB workspace, inside the caller's
transaction (``Workspace.erase`` opens one; the service runs it through its writer):

1. rows are deleted by key: every table is scanned for the key columns it has
   (:data:`KEY_COLUMNS`: ``customer_id``, ``absorbed_customer_id``, ``record_id``,
   ``other_record_id``, ``anonymous_id``, ``order_id``, ``message_id``, ``email``, ``phone``)
   and loses the rows whose key belongs to the person — so metric tables (``rfm``, ``clv``,
   ``clusters``, …) and tables added later are covered without a list to maintain;
2. other people's rows that still mention one of the person's values in any text column (a
   referral email in someone's event properties) get the value replaced by ``[erased]``;
3. the person's normalised identifiers are stored as SHA-256 hashes in
   ``erasure_suppressions``, so imports, identify calls and webhooks skip records that carry
   them (:func:`load_suppressions`, :func:`suppression_hashes`, :func:`drop_suppressed`);
4. ``audit_log`` gets one row: who, when, ``erase`` and a random erasure id — nothing about the
   person.

Nothing here builds SQL text from user input: table and column names come from the database's
own catalogue and are quoted; values travel as parameters or registered Arrow tables.

Example:
    >>> suppression_hashes([("email", "amy@shop.hk")])[0][:12]
    '44447c04a378'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import NotFoundError, WorkspaceError

__all__ = [
    "ERASED",
    "KEY_COLUMNS",
    "Erasure",
    "drop_suppressed",
    "erase",
    "load_suppressions",
    "suppression_hashes",
    "write_audit",
]

#: What replaces a person's value inside other people's text.
ERASED = "[erased]"

#: Column name → which of the person's values it holds (``Erasure`` key sets).
KEY_COLUMNS: dict[str, str] = {
    "customer_id": "customers",
    "absorbed_customer_id": "customers",
    "record_id": "records",
    "other_record_id": "records",
    "anonymous_id": "anonymous",
    "order_id": "orders",
    "message_id": "messages",
    "email": "contacts",
    "phone": "contacts",
}

#: Tables erasure never touches: bookkeeping without personal data, and the suppressions.
_SKIP = frozenset({"segmint_meta", "erasure_suppressions", "api_keys", "users"})

#: Values shorter than this are not searched inside other text (``1`` would hit every number).
_MIN_SCRUB_CHARS = 5

#: Identifier kinds that are the same value space (a WhatsApp id is a phone number).
_KIND = {"whatsapp": "phone"}


@dataclass
class Erasure:
    """What one erasure did: a random ``erasure_id`` and rows removed per table (no values)."""

    erasure_id: str
    at: dt.datetime
    by: str
    removed: dict[str, int] = field(default_factory=dict)
    redacted: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0

    @property
    def rows(self) -> int:
        return sum(self.removed.values())


def _hash(kind: str, value: str) -> str:
    return hashlib.sha256(f"{_KIND.get(kind, kind)}:{value}".encode()).hexdigest()


def suppression_hashes(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """SHA-256 of normalised ``(id_type, id_value)`` pairs as stored in ``erasure_suppressions``
    (``whatsapp`` and ``phone`` share one kind).

    >>> a, b = suppression_hashes([("whatsapp", "+85291234567"), ("phone", "+85291234567")])
    >>> a == b
    True
    """
    return [_hash(k, v) for k, v in pairs]


def load_suppressions(con) -> frozenset[str]:
    """Every suppressed hash of the workspace behind the ibis connection ``con``."""
    if "erasure_suppressions" not in con.list_tables():
        return frozenset()
    data = con.table("erasure_suppressions").select("hash").to_pyarrow()
    return frozenset(data.column("hash").to_pylist())


def write_audit(
    raw, *, actor: str, action: str, subject: str, details: dict, at: dt.datetime
) -> str:
    """Add an ``audit_log`` row (inside the caller's transaction); returns its id."""
    audit_id = f"aud_{uuid.uuid4().hex[:16]}"
    raw.execute(
        'INSERT INTO audit_log (audit_id, "at", actor, action, subject, details) '
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [audit_id, at, actor, action, subject, json.dumps(details, sort_keys=True)],
    )
    return audit_id


# -- imports: skip records that carry a suppressed identifier ------------------------------------
def drop_suppressed(prep, suppressed: frozenset[str]):
    """``(prep without the records whose identifiers are suppressed, rows dropped)`` for a
    ``segmint.ingest.Prepared`` of customers, orders or events (order items pass unchanged:
    they never name people)."""
    ids = prep.identifiers
    if not suppressed:
        return prep, 0
    pairs: list[tuple[str, str]] = []
    owners: list[str] = []
    if ids is not None:
        owners += ids.column("record_id").to_pylist()
        pairs += zip(
            ids.column("id_type").to_pylist(), ids.column("id_value").to_pylist(), strict=True
        )
    for table in (prep.records, prep.contacts):  # a source's own record id (cust:C1, …)
        if table is not None:
            recs = table.column("record_id").to_pylist()
            owners += recs
            pairs += [("record", r) for r in recs]
    hit = [h in suppressed for h in suppression_hashes(pairs)]
    bad = pa.array(sorted({o for o, h in zip(owners, hit, strict=True) if h}), pa.string())
    if not len(bad):
        return prep, 0

    def keep(table: pa.Table | None, column: str) -> pa.Table | None:
        if table is None or column not in table.column_names:
            return table
        return table.filter(pc.invert(pc.fill_null(pc.is_in(table.column(column), bad), False)))

    changes = {"identifiers": keep(ids, "record_id")} if ids is not None else {}
    dropped = 0
    if prep.records is not None:
        changes["records"] = keep(prep.records, "record_id")
        dropped = prep.records.num_rows - changes["records"].num_rows
    if prep.contacts is not None:
        changes["contacts"] = keep(prep.contacts, "record_id")
    for name in ("orders", "events"):
        data = getattr(prep, name)
        if data is not None:
            changes[name] = keep(data, "contact_id")
            dropped += data.num_rows - changes[name].num_rows
    if prep.orders is not None and prep.order_items is not None:
        gone = pc.filter(
            prep.orders.column("order_id"),
            pc.invert(
                pc.is_in(prep.orders.column("order_id"), changes["orders"].column("order_id"))
            ),
        )
        changes["order_items"] = keep_items(prep.order_items, gone)
    return dataclasses.replace(prep, **changes), dropped


def keep_items(items: pa.Table, gone_orders: pa.Array) -> pa.Table:
    """``items`` without the lines of ``gone_orders``."""
    mask = pc.fill_null(pc.is_in(items.column("order_id"), value_set=gone_orders), False)
    return items.filter(pc.invert(mask))


# -- erasure --------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(raw) -> dict[str, dict[str, str]]:
    """table → {column: type} of the workspace's base tables (temporary views left out)."""
    rows = raw.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_catalog = c.table_catalog "
        "AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' "
        "AND c.table_catalog = current_database() ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, typ in rows:
        out.setdefault(table, {})[column] = typ
    return out


def _values(raw, sql: str, params: list) -> set[str]:
    return {r[0] for r in raw.execute(sql, params).fetchall() if r[0] is not None}


def _person(raw, customer_id: str, tables: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """The person's keys: customer ids (with ids merged into it), records, anonymous ids,
    orders, messages, contacts (emails, phones) and identifier pairs."""
    cids = {customer_id}
    cids |= _values(
        raw, "SELECT absorbed_customer_id FROM merge_log WHERE customer_id = $1", [customer_id]
    )
    ids = list(cids)
    pairs = set(
        raw.execute(
            "SELECT DISTINCT id_type, id_value FROM identities "
            "WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))",
            [ids],
        ).fetchall()
    )
    records = _values(
        raw,
        "SELECT record_id FROM identities WHERE customer_id IN (SELECT unnest($1::VARCHAR[])) "
        "UNION SELECT record_id FROM source_profiles "
        "WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))",
        [ids],
    )
    contacts: set[str] = set()
    for table in ("profiles", "source_profiles"):
        for email, phone in raw.execute(
            f"SELECT email, phone FROM {_q(table)} "
            "WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))",
            [ids],
        ).fetchall():
            contacts |= {v for v in (email, phone) if v}
            if email:
                pairs.add(("email", email))
            if phone:
                pairs.add(("phone", phone))
    contacts |= {v for k, v in pairs if k in ("email", "phone", "whatsapp")}
    anonymous = {v for k, v in pairs if k == "anonymous_id"}
    anonymous |= _values(
        raw,
        "SELECT DISTINCT anonymous_id FROM events "
        "WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))",
        [ids],
    )
    orders = _values(
        raw,
        "SELECT order_id FROM orders WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))",
        [ids],
    )
    messages = _values(
        raw,
        "SELECT message_id FROM events WHERE customer_id IN (SELECT unnest($1::VARCHAR[])) "
        "OR anonymous_id IN (SELECT unnest($2::VARCHAR[]))",
        [ids, sorted(anonymous)],
    )
    return {
        "customers": cids,
        "records": records,
        "anonymous": anonymous,
        "orders": orders,
        "messages": messages,
        "contacts": contacts,
        "pairs": pairs,  # type: ignore[dict-item]
    }


def _check_person(raw, customer_id: str) -> None:
    found = raw.execute(
        "SELECT 1 FROM profiles WHERE customer_id = $1 UNION ALL "
        "SELECT 1 FROM identities WHERE customer_id = $1 LIMIT 1",
        [customer_id],
    ).fetchall()
    if found:
        return
    merged = raw.execute(
        "SELECT customer_id FROM merge_log WHERE absorbed_customer_id = $1 LIMIT 1", [customer_id]
    ).fetchall()
    if merged:
        raise NotFoundError(
            f"There is no profile '{customer_id}': it was merged into {merged[0][0]}.",
            hint=f"erase {merged[0][0]} (the person it became).",
        )
    raise NotFoundError(
        f"There is no profile '{customer_id}' to erase.",
        hint="check the id (GET /v1/profiles?q=… or the profiles table); "
        "a person erased before has no profile either.",
    )


def erase(
    con,
    config,
    customer_id: str,
    *,
    by: str,
    now: dt.datetime,
) -> Erasure:
    """Remove ``customer_id`` from every table, suppress their identifiers and audit it, inside
    the caller's transaction (DuckDB workspaces). Raises ``NotFoundError`` for an unknown or
    merged-away id. Returns an :class:`Erasure` (counts only)."""
    from segmint.identity import junk_mask

    raw = getattr(con, "con", None)
    if con.name != "duckdb" or raw is None:
        raise WorkspaceError(
            f"Erasure needs a DuckDB workspace. Got the {con.name} engine.",
            hint="erase in the workspace folder created with `segmint init`.",
        )
    customer_id = str(customer_id).strip()
    _check_person(raw, customer_id)
    tables = {t: c for t, c in _columns(raw).items() if t not in _SKIP}
    person = _person(raw, customer_id, tables)
    done = Erasure(erasure_id=f"era_{uuid.uuid4().hex[:16]}", at=now, by=by)
    names: list[str] = []
    try:
        keys = {k: v for k, v in person.items() if k != "pairs"}
        for kind, values in keys.items():
            name = f"_segmint_erase_{kind}"
            raw.register(name, pa.table({"v": pa.array(sorted(values), pa.string())}))
            names.append(name)
        # 1. delete the person's rows, by every key column a table has
        for table, cols in tables.items():
            where = [
                f"{_q(c)} IN (SELECT v FROM _segmint_erase_{KEY_COLUMNS[c]})"
                for c, typ in cols.items()
                if c in KEY_COLUMNS and typ == "VARCHAR" and keys[KEY_COLUMNS[c]]
            ]
            if table == "order_items" or not where:
                continue
            n = raw.execute(f"DELETE FROM {_q(table)} WHERE {' OR '.join(where)}").fetchone()[0]
            if n:
                done.removed[table] = int(n)
        # (order_items hold an order_id only: delete them after their orders' ids are known)
        if "order_items" in tables and keys["orders"]:
            n = raw.execute(
                "DELETE FROM order_items WHERE order_id IN (SELECT v FROM _segmint_erase_orders)"
            ).fetchone()[0]
            if n:
                done.removed["order_items"] = int(n)
        # placeholders (test@example.com, 00000000) link nobody and are nobody's own: they are
        # neither searched in other people's text nor suppressed
        pairs = sorted(person["pairs"])  # type: ignore[arg-type]
        placeholders: set[str] = set()
        if pairs:
            junk = junk_mask([k for k, _ in pairs], [v for _, v in pairs], config.junk)
            placeholders = {v for (_, v), j in zip(pairs, junk, strict=True) if j}
            pairs = [p for p, j in zip(pairs, junk, strict=True) if not j]
        # 2. other people's text that still mentions one of the person's values
        scrub = sorted(
            ({v for k, vs in keys.items() if k != "messages" for v in vs} | {v for _, v in pairs})
            - placeholders,
            key=len,
            reverse=True,
        )
        done.redacted = _scrub(raw, tables, [v for v in scrub if len(v) >= _MIN_SCRUB_CHARS])
        # 3. suppress the identifiers
        pairs += [("record", r) for r in sorted(person["records"])]
        hashes = dict(
            zip(suppression_hashes(pairs), (_KIND.get(k, k) for k, _ in pairs), strict=True)
        )
        if hashes:
            raw.register(
                "_segmint_erase_hashes",
                pa.table(
                    {
                        "hash": pa.array(list(hashes), pa.string()),
                        "id_kind": pa.array(list(hashes.values()), pa.string()),
                    }
                ),
            )
            names.append("_segmint_erase_hashes")
            raw.execute(
                "INSERT INTO erasure_suppressions (hash, id_kind, erasure_id, suppressed_at) "
                "SELECT hash, id_kind, $1, $2 FROM _segmint_erase_hashes "
                "WHERE hash NOT IN (SELECT hash FROM erasure_suppressions)",
                [done.erasure_id, now],
            )
        done.suppressed = len(hashes)
        # 4. the audit row: counts only
        write_audit(
            raw,
            actor=by,
            action="erase",
            subject=done.erasure_id,
            details={
                "removed": done.removed,
                "redacted": done.redacted,
                "suppressed": done.suppressed,
            },
            at=now,
        )
    finally:
        for name in names:
            raw.unregister(name)
    return done


def _scrub(raw, tables: dict[str, dict[str, str]], values: Sequence[str]) -> dict[str, int]:
    """Replace ``values`` inside every text column of ``tables`` by :data:`ERASED` (whole
    tokens only: ``c_1`` does not touch ``c_10``); returns rows changed per table."""
    if not values:
        return {}
    token = "[^A-Za-z0-9_@.+-]"
    alternation = "|".join(_re_escape(v) for v in values)
    pattern = f"(^|{token})(?:{alternation})($|{token})"
    out: dict[str, int] = {}
    for table, cols in tables.items():
        text = [c for c, typ in cols.items() if typ == "VARCHAR"]
        if not text:
            continue
        hit = " OR ".join(f"regexp_matches({_q(c)}, $1)" for c in text)
        n = raw.execute(f"SELECT count(*) FROM {_q(table)} WHERE {hit}", [pattern]).fetchone()[0]
        if not n:
            continue
        sets = ", ".join(
            f"{_q(c)} = regexp_replace({_q(c)}, $1, '\\1{ERASED}\\2', 'g')" for c in text
        )
        for _ in range(4):  # adjacent mentions share a separator: repeat until none is left
            raw.execute(f"UPDATE {_q(table)} SET {sets} WHERE {hit}", [pattern])
            left = f"SELECT count(*) FROM {_q(table)} WHERE {hit}"
            if not raw.execute(left, [pattern]).fetchone()[0]:
                break
        out[table] = int(n)
    return out


def _re_escape(value: str) -> str:
    """``value`` as an RE2 literal."""
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\/-" else ch for ch in value)
