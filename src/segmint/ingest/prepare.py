"""Turn a raw file into validated, normalised canonical rows (layer 2: no queries).

:func:`prepare` maps the columns, parses every value, normalises identifiers and collects *every*
problem with its file, spreadsheet row and column. It returns a :class:`Prepared` with Arrow
tables in the canonical shapes; checks that need the stored data (an order id already stored
from another source, an unknown ``customer_id``) and identity stitching are done by the caller
(``segmint.importer``), which also decides whether to raise.

Example:
    >>> import pathlib, tempfile
    >>> from segmint.ingest.readers import read_table
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "members.csv"
    >>> _ = p.write_text("姓名,電話,會員編號\\n陳大文,9123 4567,M001\\n", encoding="utf-8")
    >>> prep = prepare("customers", read_table(p), default_region="HK")
    >>> prep.problems
    []
    >>> prep.records.column("phone").to_pylist(), prep.records.column("record_id").to_pylist()
    (['+85291234567'], ['members:pos:M001'])
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import ImportProblem
from segmint.ingest._util import ProblemLog, join_present, json_objects, trait_key, values_at
from segmint.ingest.fields import (
    CHANNEL_ID_FIELDS,
    IDENTIFIER_FIELDS,
    ColumnMapping,
    resolve_mapping,
)
from segmint.ingest.readers import RawTable
from segmint.ingest.values import (
    _np_bool,
    normalise_emails,
    normalise_ids,
    normalise_phones,
    parse_bools,
    parse_dates,
    parse_ints,
    parse_money,
    parse_timestamps,
    present,
)
from segmint.schema import CONSENT_CHANNELS

__all__ = [
    "EVENT_TYPES",
    "ORDER_STATUSES",
    "JunkTest",
    "Prepared",
    "default_source",
    "prepare",
]

#: ``junk(id_types, values) -> bool mask``: identifiers that must never link people.
JunkTest = Callable[[np.ndarray, np.ndarray], np.ndarray]

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")

#: raw status word (lower case) → stored status. Orders without a status are ``completed``.
ORDER_STATUSES: dict[str, str] = {
    **dict.fromkeys(
        [
            "paid", "completed", "complete", "fulfilled", "success", "succeeded", "closed",
            "partially_paid", "partially paid", "partially_refunded", "partially refunded",
            "delivered", "shipped", "done", "已付款", "已完成", "完成", "已付", "已出貨", "已发货",
            "已送達", "已送达", "成功", "已結帳", "已结账",
        ],
        "completed",
    ),
    **dict.fromkeys(
        [
            "pending", "authorized", "unpaid", "processing", "open", "awaiting payment",
            "待付款", "未付款", "處理中", "处理中", "待處理", "待处理",
        ],
        "pending",
    ),
    **dict.fromkeys(
        ["refunded", "refund", "returned", "return", "已退款", "退款", "退貨", "退货", "已退貨"],
        "refunded",
    ),
    **dict.fromkeys(
        ["cancelled", "canceled", "voided", "void", "expired", "已取消", "取消", "作廢", "作废"],
        "cancelled",
    ),
}  # fmt: skip

_GENDERS = {
    **dict.fromkeys(["m", "male", "man", "men", "男", "男性", "先生", "boy"], "male"),
    **dict.fromkeys(
        ["f", "female", "woman", "women", "女", "女性", "小姐", "女士", "girl"], "female"
    ),
    **dict.fromkeys(["other", "non-binary", "nonbinary", "x", "其他", "其它"], "other"),
}
_COUNTRIES = {
    "hong kong": "HK", "hongkong": "HK", "香港": "HK", "hong kong sar": "HK",
    "taiwan": "TW", "台灣": "TW", "臺灣": "TW", "台湾": "TW",
    "singapore": "SG", "新加坡": "SG", "china": "CN", "中國": "CN", "中国": "CN",
    "macau": "MO", "macao": "MO", "澳門": "MO", "澳门": "MO",
    "malaysia": "MY", "馬來西亞": "MY", "马来西亚": "MY",
    "united states": "US", "usa": "US", "美國": "US", "美国": "US",
    "united kingdom": "GB", "uk": "GB", "英國": "GB", "英国": "GB",
    "japan": "JP", "日本": "JP", "australia": "AU", "澳洲": "AU", "澳大利亚": "AU",
}  # fmt: skip

#: Order of identifier fields when one must be the key of a record or contact.
_KEY_PRIORITY = (
    "shopify", "hubspot", "pos", "user_id", "whatsapp", "line", "wechat", "instagram",
    "facebook", "email", "phone", "phone_2",
)  # fmt: skip

#: identifier field → identity types it yields (WhatsApp ids are phone numbers).
_ID_TYPES_OF: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone",),
    "phone_2": ("phone",),
    "whatsapp": ("whatsapp", "phone"),
    "anonymous_id": ("anonymous_id",),
    **{f: (f,) for f in CHANNEL_ID_FIELDS if f != "whatsapp"},
}
_PHONE_FIELDS = ("phone", "phone_2", "whatsapp")


@dataclass
class Prepared:
    """The validated content of one file, ready to be stitched and written.

    Tables carry ``_row`` (the spreadsheet row a value came from) for later problems; the
    importer drops it before writing.
    """

    kind: str
    file: str
    source: str
    mapping: ColumnMapping
    rows_read: int
    problems: list[ImportProblem]
    warnings: list[str]
    records: pa.Table | None = None
    identifiers: pa.Table | None = None
    contacts: pa.Table | None = None
    orders: pa.Table | None = None
    order_items: pa.Table | None = None
    events: pa.Table | None = None
    consent_at_given: tuple[str, ...] = ()
    kept_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def default_source(file: str, mapping: ColumnMapping) -> str:
    """``shopify``/``hubspot`` for their exports, else the file name without suffix, slugged.

    >>> from segmint.ingest.fields import ColumnMapping
    >>> default_source("POS Members 2026.csv", ColumnMapping("customers", {}, []))
    'pos_members_2026'
    """
    if mapping.source:
        return mapping.source
    stem = file.rsplit(".", 1)[0]
    slug = re.sub(r"[^\w]+", "_", stem.strip().lower(), flags=re.UNICODE).strip("_")
    return slug or "import"


def _const(n: int, value: str) -> pa.Array:
    """A string column holding ``value`` ``n`` times."""
    return pc.fill_null(pa.nulls(n, pa.string()), value)


def _only(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """``values`` where ``keep``, null elsewhere."""
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _sha(text: str, n: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def _ts_array(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]"), type=pa.timestamp("us"), from_pandas=True)


def _float_array(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64(), from_pandas=True)


class _Ctx:
    """One preparation: the raw table, the mapping, settings and the problem log."""

    def __init__(self, kind, raw: RawTable, mapping: ColumnMapping, settings: dict):
        self.kind = kind
        self.raw = raw
        self.m = mapping
        self.n = raw.num_rows
        self.s = settings
        self.log = ProblemLog(raw.file, raw.rows)

    def has(self, f: str) -> bool:
        return f in self.m.columns

    def header(self, f: str) -> str:
        return self.m.columns[f]

    def col(self, f: str) -> pa.Array:
        return self.raw.column(self.m.columns[f])

    def text(self, f: str) -> pa.Array:
        """A text field (trimmed by the reader), null array when not mapped."""
        if not self.has(f):
            return pa.nulls(self.n, pa.string())
        c = self.col(f)
        return c if pa.types.is_string(c.type) else c.cast(pa.string())

    # parsed fields with problems ------------------------------------------------------------
    def ts(self, f: str, *, required: bool = False) -> np.ndarray:
        if not self.has(f):
            return np.full(self.n, np.datetime64("NaT"), dtype="datetime64[us]")
        raw = self.col(f)
        vals, bad, amb = parse_timestamps(
            raw, timezone=self.s["timezone"], date_order=self.s["date_order"]
        )
        get = values_at(raw)
        self.log.rows(
            bad,
            self.header(f),
            lambda i: (
                f"'{f}' must be a date or date-time (e.g. 2026-06-30 14:03:00 +0800). "
                f"Got {get(i)!r} instead."
            ),
        )
        self.log.rows(
            amb,
            self.header(f),
            lambda i: (
                f"'{f}' is ambiguous: {get(i)!r} could be day-first or month-first. "
                "Hint: import with date_order='DMY' (--date-order DMY) or 'MDY'."
            ),
        )
        if required:
            self.missing(f, ~present(raw))
        return vals

    def date(self, f: str) -> np.ndarray:
        if not self.has(f):
            return np.full(self.n, np.datetime64("NaT"), dtype="datetime64[D]")
        raw = self.col(f)
        vals, bad, amb = parse_dates(raw, date_order=self.s["date_order"])
        get = values_at(raw)
        self.log.rows(
            bad | amb,
            self.header(f),
            lambda i: f"'{f}' must be a date (e.g. 1990-05-17). Got {get(i)!r} instead.",
        )
        return vals

    def money(self, f: str) -> tuple[np.ndarray, pa.Array]:
        if not self.has(f):
            return np.full(self.n, np.nan), pa.nulls(self.n, pa.string())
        raw = self.col(f)
        vals, bad, cur = parse_money(raw)
        get = values_at(raw)
        self.log.rows(
            bad,
            self.header(f),
            lambda i: (
                f"'{f}' must be a number (e.g. 1234.50 or HK$1,234.50). Got {get(i)!r} instead."
            ),
        )
        return vals, cur

    def integer(self, f: str) -> np.ndarray:
        if not self.has(f):
            return np.full(self.n, np.nan)
        raw = self.col(f)
        vals, bad = parse_ints(raw)
        get = values_at(raw)
        self.log.rows(
            bad,
            self.header(f),
            lambda i: f"'{f}' must be a whole number. Got {get(i)!r} instead.",
        )
        return vals

    def boolean(self, f: str) -> np.ndarray:
        if not self.has(f):
            return np.full(self.n, np.nan)
        raw = self.col(f)
        vals, bad = parse_bools(raw)
        get = values_at(raw)
        self.log.rows(
            bad,
            self.header(f),
            lambda i: (
                f"'{f}' must be a consent value such as yes/no, subscribed/unsubscribed "
                f"or 是/否. Got {get(i)!r} instead."
            ),
        )
        return vals

    def missing(self, f: str, mask: np.ndarray) -> None:
        self.log.rows(mask, self.header(f), lambda i: f"'{f}' is missing.")


# -- identifiers ----------------------------------------------------------------------------------
@dataclass
class _Ids:
    """Normalised identifier fields of every row."""

    values: dict[str, pa.Array]  # field → normalised value (null if empty or invalid)
    usable: dict[str, np.ndarray]  # field → valid and not junk
    invalid: dict[str, np.ndarray]  # field → present but not a valid email/phone
    names: pa.Array | None = None  # the contact's name (orders and events)

    def any_usable(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        for u in self.usable.values():
            out |= u
        return out


def _identifiers(
    ctx: _Ctx, junk: JunkTest | None, fields=IDENTIFIER_FIELDS, regions: pa.Array | None = None
) -> _Ids:
    """Normalise the identifier fields; ``regions`` (per row) guides phones without +country."""
    values: dict[str, pa.Array] = {}
    usable: dict[str, np.ndarray] = {}
    invalid: dict[str, np.ndarray] = {}
    for f in fields:
        if not ctx.has(f):
            continue
        raw = ctx.col(f)
        if f == "email":
            v, bad = normalise_emails(raw)
        elif f in _PHONE_FIELDS:
            v, bad = normalise_phones(raw, ctx.s["default_region"], regions)
        else:
            v, bad = normalise_ids(raw, f), np.zeros(ctx.n, dtype=bool)
        ok = _np_bool(pc.is_valid(v))
        if junk is not None and ok.any():
            id_type = _ID_TYPES_OF[f][-1] if f in _PHONE_FIELDS else _ID_TYPES_OF[f][0]
            vals = v.to_numpy(zero_copy_only=False)
            is_junk = np.zeros(ctx.n, dtype=bool)
            is_junk[ok] = junk(np.full(int(ok.sum()), id_type, dtype=object), vals[ok])
            ok &= ~is_junk
        values[f], usable[f], invalid[f] = v, ok, bad
    return _Ids(values, usable, invalid)


def _report_identifiers(
    ctx: _Ctx, ids: _Ids, identified: np.ndarray, what: str, anchors: np.ndarray | None = None
) -> None:
    """Problems for rows nobody can be identified from; warnings for invalid extra values.

    ``anchors`` limits the checks to those row indexes (e.g. the first row of each order).
    """
    rows = np.zeros(ctx.n, dtype=bool)
    if anchors is None:
        rows[:] = True
    else:
        rows[anchors] = True
    region = ctx.s["default_region"]
    for f, bad in ids.invalid.items():
        get = values_at(ctx.col(f))
        kind = "email address" if f == "email" else f"{region} phone number"
        only = bad & ~identified & rows
        ctx.log.rows(
            only,
            ctx.header(f),
            lambda i, f=f, get=get, kind=kind: (
                f"'{f}' must be a valid {kind}. Got {get(i)!r} "
                f"instead, and the row has no other identifier."
            ),
        )
        ctx.log.rows(
            bad & identified & rows,
            ctx.header(f),
            lambda i, f=f, get=get, kind=kind: (
                f"'{f}' {get(i)!r} is not a valid {kind}; kept out of identities."
            ),
            warn=True,
        )
    nothing = ~identified & rows
    for f, v in ids.values.items():
        junk_here = _np_bool(pc.is_valid(v)) & ~ids.usable[f] & nothing
        get = values_at(v)
        ctx.log.rows(
            junk_here,
            ctx.header(f),
            lambda i, get=get: (
                f"the {what} cannot be identified: {get(i)!r} is a placeholder "
                "that never identifies anyone (like test@example.com or 00000000)."
            ),
        )
        nothing &= ~junk_here
    for bad in ids.invalid.values():
        nothing &= ~bad  # already reported above
    cols = [ctx.header(f) for f in ids.values]
    ctx.log.rows(
        nothing,
        None,
        lambda i: (
            f"the {what} cannot be identified: it needs a usable email, phone or channel "
            f"id. Columns looked at: {', '.join(cols) or 'none'}."
        ),
    )


def _identity_rows(record_ids: pa.Array, ids: _Ids, take: np.ndarray | None = None) -> pa.Table:
    """Long table ``record_id, id_type, id_value, linkable`` from the identifier fields."""
    parts = []
    for f, v in ids.values.items():
        ok = _np_bool(pc.is_valid(v))
        if take is not None:
            keep = np.zeros(len(ok), dtype=bool)
            keep[take] = True
            ok &= keep
        idx = pa.array(np.flatnonzero(ok))
        if not len(idx):
            continue
        for id_type in _ID_TYPES_OF[f]:
            parts.append(
                pa.table(
                    {
                        "record_id": record_ids.take(idx),
                        "id_type": pa.array(np.full(len(idx), id_type, dtype=object), pa.string()),
                        "id_value": v.take(idx),
                        "linkable": pa.array(ids.usable[f][ok]),
                    }
                )
            )
    if not parts:
        return pa.table(
            {
                "record_id": pa.array([], pa.string()),
                "id_type": pa.array([], pa.string()),
                "id_value": pa.array([], pa.string()),
                "linkable": pa.array([], pa.bool_()),
            }
        )
    table = pa.concat_tables(parts)
    return pa.Table.from_pandas(
        table.to_pandas().drop_duplicates(["record_id", "id_type", "id_value"]),
        preserve_index=False,
    )


def _first_usable(ids: _Ids, n: int, priority: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first usable identifier in ``priority``: ``(field, value)`` object arrays."""
    key_field = np.full(n, None, dtype=object)
    key_value = np.full(n, None, dtype=object)
    for f in priority:
        if f not in ids.values:
            continue
        take = ids.usable[f] & (key_field == None)  # noqa: E711 - numpy element-wise
        if take.any():
            vals = ids.values[f].to_numpy(zero_copy_only=False)
            key_field[take] = f
            key_value[take] = vals[take]
    return key_field, key_value


def _kept_columns(ctx: _Ctx, extra: dict[str, pa.Array] | None = None) -> tuple[pa.Array, list]:
    """JSON object text of the unmapped columns (plus ``extra``), for traits / properties."""
    keys, cols = [], []
    for h in ctx.m.unmapped:
        keys.append(trait_key(h))
        c = ctx.raw.column(h)
        cols.append(c if pa.types.is_string(c.type) else c.cast(pa.string()))
    for k, c in (extra or {}).items():
        keys.append(k)
        cols.append(c)
    # duplicate keys after slugging: suffix them
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            seen[k] += 1
            keys[i] = f"{k}_{seen[k]}"
        else:
            seen[k] = 1
    return json_objects(keys, cols, ctx.n), list(ctx.m.unmapped)


def _merge_json_column(ctx: _Ctx, f: str, built: pa.Array) -> pa.Array:
    """Validate a JSON-object column ``f`` and merge the columns kept in ``built`` into it."""
    if not ctx.has(f):
        return built
    raw = ctx.text(f)
    vals = raw.to_pylist()
    built_l = built.to_pylist()
    out: list[str | None] = []
    bad = np.zeros(ctx.n, dtype=bool)
    for i, (v, b) in enumerate(zip(vals, built_l, strict=True)):
        if v is None:
            out.append(b)
            continue
        try:
            obj = json.loads(v)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            bad[i] = True
            out.append(None)
            continue
        if b is not None:
            obj = {**json.loads(b), **obj}
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    ctx.log.rows(
        bad,
        ctx.header(f),
        lambda i: (
            f'\'{f}\' must be a JSON object such as {{"tier": "gold"}}. Got {vals[i]!r} instead.'
        ),
    )
    return pa.array(out, pa.string())


# -- customers ------------------------------------------------------------------------------------
def _display_names(first: pa.Array, last: pa.Array) -> pa.Array:
    """``First Last``, or ``姓名`` without a space when the family name is Chinese."""
    western = join_present([first, last], " ")
    cjk = pc.binary_join_element_wise(pc.fill_null(last, ""), pc.fill_null(first, ""), "")
    is_cjk = pc.fill_null(pc.match_substring_regex(last, r"^\p{Han}"), False)
    name = pc.if_else(is_cjk, cjk, western)
    return pc.if_else(pc.equal(name, ""), pa.scalar(None, pa.string()), name)


def _lookup(arr: pa.Array, table: Mapping[str, str], *, upper_codes: bool = False) -> pa.Array:
    enc = pc.dictionary_encode(pc.utf8_lower(arr))
    mapped = []
    for key in enc.dictionary.to_pylist():
        if key in table:
            mapped.append(table[key])
        elif upper_codes and key is not None and re.fullmatch(r"[a-z]{2}", key):
            mapped.append(key.upper())
        else:
            mapped.append(None)
    looked = pc.take(pa.array(mapped, pa.string()), enc.indices)
    return pc.coalesce(looked, arr)


def _prepare_customers(ctx: _Ctx, junk: JunkTest | None) -> dict:
    n = ctx.n
    source = ctx.s["source"]
    country = _lookup(ctx.text("country"), _COUNTRIES, upper_codes=True)
    # a phone without +country is read with the record's own country when the file has one
    ids = _identifiers(ctx, junk, regions=country if ctx.has("country") else None)
    source_id = ctx.text("source_id")
    has_source_id = present(source_id)
    identified = ids.any_usable(n) | has_source_id
    _report_identifiers(ctx, ids, identified, "customer")

    # the record key: the file's own id, else the source's own channel id, else the first
    # usable identifier (the same rule every time, so re-imports find the same record)
    priority = ((source,) if source in ids.values else ()) + _KEY_PRIORITY
    key_field, key_value = _first_usable(ids, n, priority)
    sid = source_id.to_numpy(zero_copy_only=False)
    record_id = np.full(n, None, dtype=object)
    if has_source_id.any():
        record_id[has_source_id] = source + ":" + pd.Series(sid[has_source_id], dtype=object)
    rest = ~has_source_id & (key_field != None)  # noqa: E711
    if rest.any():
        kf = pd.Series(key_field[rest], dtype=object)
        kv = pd.Series(key_value[rest], dtype=object)
        kf = kf.where(kf != source, "").str.replace("phone_2", "phone", regex=False)
        prefix = (source + ":" + kf + ":").str.replace(r"::$", ":", regex=True)
        record_id[rest] = (prefix + kv).to_numpy()

    # profile fields
    first, last = ctx.text("first_name"), ctx.text("last_name")
    name = pc.coalesce(ctx.text("name"), _display_names(first, last))
    email = ids.values.get("email", pa.nulls(n, pa.string()))
    phone = pa.nulls(n, pa.string())
    for f in _PHONE_FIELDS:
        if f in ids.values:
            phone = pc.coalesce(phone, ids.values[f])
    cols: dict[str, pa.Array] = {
        "record_id": pa.array(record_id, pa.string()),
        "source": _const(n, source),
        "first_name": first,
        "last_name": last,
        "name": name,
        "email": email,
        "phone": phone,
        "gender": _lookup(ctx.text("gender"), _GENDERS),
        "birth_date": pa.array(ctx.date("birth_date"), pa.date32(), from_pandas=True),
        "country": country,
        "region": ctx.text("region"),
        "city": ctx.text("city"),
        "language": ctx.text("language"),
        "company": ctx.text("company"),
        "industry": ctx.text("industry"),
    }
    size = ctx.integer("company_size")
    cols["company_size"] = pa.array(size, pa.float64(), from_pandas=True).cast(pa.int64())
    cols["annual_revenue"] = _float_array(ctx.money("annual_revenue")[0])
    cols["created_at"] = _ts_array(ctx.ts("created_at"))
    given = []
    for ch in CONSENT_CHANNELS:
        v = ctx.boolean(f"consent_{ch}")
        cols[f"consent_{ch}"] = pa.array(
            np.where(np.isnan(v), None, v == 1.0), pa.bool_(), from_pandas=True
        )
        cols[f"consent_{ch}_at"] = _ts_array(ctx.ts(f"consent_{ch}_at"))
        if ctx.has(f"consent_{ch}_at"):
            given.append(ch)

    extra = {}
    for f, bad in ids.invalid.items():
        if bad.any():
            extra[f"{f}_invalid"] = _only(ctx.text(f), bad)
    traits, kept = _kept_columns(ctx, extra)
    cols["traits"] = _merge_json_column(ctx, "traits", traits)
    cols["_row"] = pa.array(ctx.raw.rows)
    records = pa.table(cols)

    # one row per record: identical repeats are dropped, different ones are problems
    keep = _dedupe_keys(ctx, records, "record_id", "customer record")
    records = records.filter(pa.array(keep & (record_id != None)))  # noqa: E711
    identity = _identity_rows(pa.array(record_id, pa.string()), ids, np.flatnonzero(keep))
    identity = identity.filter(pc.is_valid(identity.column("record_id")))
    return {
        "records": records,
        "identifiers": identity,
        "consent_at_given": tuple(given),
        "kept_columns": kept,
    }


def _dedupe_keys(ctx: _Ctx, table: pa.Table, key: str, what: str) -> np.ndarray:
    """Keep the first row of each key; a repeat with different content is a problem."""
    keys = pd.Series(table.column(key).to_numpy(zero_copy_only=False), dtype=object)
    dup = keys.duplicated(keep=False) & keys.notna()
    keep = ~keys.duplicated(keep="first").to_numpy() | keys.isna().to_numpy()
    if not dup.any():
        return keep
    idx = np.flatnonzero(dup.to_numpy())
    # compare the raw cells of the file, so "different content" is what the user sees
    raw = ctx.raw.data.take(pa.array(idx)).to_pandas()
    raw.columns = [f"c{i}" for i in range(raw.shape[1])]
    raw["_key"] = keys.iloc[idx].to_numpy()
    raw["_i"] = idx
    first_i = raw.groupby("_key", sort=False)["_i"].transform("first")
    same = raw.drop(columns=["_i"]).duplicated(keep="first").to_numpy()
    conflict = (raw["_i"].to_numpy() != first_i.to_numpy()) & ~same
    mask = np.zeros(ctx.n, dtype=bool)
    mask[idx[conflict]] = True
    first_of = dict(zip(raw["_i"], first_i, strict=True))
    key_of = keys.to_numpy()
    ctx.log.rows(
        mask,
        None,
        lambda i: (
            f"duplicate {what} '{key_of[i]}' with different content than row "
            f"{ctx.raw.rows[first_of[i]]:,}. Hint: keep one row per {what} or fix the values."
        ),
    )
    return keep


# -- orders ---------------------------------------------------------------------------------------
_ORDER_LEVEL = ("ts", "amount", "currency", "channel", "discount", "status", "customer_id")
_ITEM_FIELDS = ("product_id", "product_name", "quantity", "price")


def _statuses(ctx: _Ctx) -> pa.Array:
    raw = ctx.text("status")
    if not ctx.has("status"):
        return raw
    low = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
    enc = pc.dictionary_encode(low)
    mapped = [ORDER_STATUSES.get(k) if k is not None else None for k in enc.dictionary.to_pylist()]
    out = pc.take(pa.array(mapped, pa.string()), enc.indices)
    bad = present(raw) & ~_np_bool(pc.is_valid(out))
    get = values_at(raw)
    ctx.log.rows(
        bad,
        ctx.header("status"),
        lambda i: (
            f"'status' must be a known order status (paid, completed, pending, refunded, "
            f"cancelled, 已付款, 已退款 …). Got {get(i)!r} instead."
        ),
    )
    return out


@dataclass
class _Contacts:
    """Contacts of an orders/events file: ``codes[i]`` is row i's contact (-1: none)."""

    codes: np.ndarray
    names: pa.Array  # record id of each contact

    def column(self) -> pa.Array:
        """The contact record id of every row (null where none)."""
        idx = pa.array(np.maximum(self.codes, 0), mask=self.codes < 0)
        return self.names.take(idx) if len(self.names) else pa.nulls(len(self.codes), pa.string())

    def drop(self, mask: np.ndarray) -> _Contacts:
        codes = self.codes.copy()
        codes[mask] = -1
        return _Contacts(codes, self.names)


def _contact_ids(source: str, ids: _Ids, rows: np.ndarray, fields) -> _Contacts:
    """A stable record id per distinct set of usable identifiers (orders and events).

    Identifier values are dictionary-encoded and combined as integers; the text key is built
    and hashed once per distinct combination only.
    """
    used = [f for f in fields if f in ids.values]
    n = len(rows)
    if not used or not n:
        return _Contacts(np.full(n, -1, dtype=np.int64), pa.array([], pa.string()))
    take = pa.array(rows)
    combined = np.zeros(n, dtype=np.int64)
    any_id = np.zeros(n, dtype=bool)
    for f in used:
        v = _only(ids.values[f], ids.usable[f]).take(take)
        enc = pc.dictionary_encode(v)
        code = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        any_id |= code > 0
        combined, _ = pd.factorize(combined * (len(enc.dictionary) + 1) + code, sort=False)
        combined = combined.astype(np.int64)
    combined = np.where(any_id, combined, -1)
    codes, _ = pd.factorize(combined, sort=False, use_na_sentinel=True)
    codes = np.where(any_id, codes, -1)
    # renumber without the "no identifier" combination
    valid = codes >= 0
    codes[valid], uniq = pd.factorize(codes[valid], sort=False)
    reps = np.full(len(uniq), -1, dtype=np.int64)
    where = np.flatnonzero(valid)
    reps[codes[where][::-1]] = where[::-1]  # first row of each combination
    rep_rows = pa.array(rows[reps])
    parts = []
    for f in used:
        v = _only(ids.values[f], ids.usable[f]).take(rep_rows)
        parts.append(pc.binary_join_element_wise(f"{f}=", v, ""))
    keys = join_present(parts, "\x1f").to_pylist()
    names = pa.array([f"{source}:contact:{_sha(k)}" for k in keys], pa.string())
    return _Contacts(codes.astype(np.int64), names)


def _first_rows(keys: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(first row index of each key, group number of every row)`` in file order; -1 = null."""
    enc = pc.dictionary_encode(keys)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(enc.dictionary), -1, dtype=np.int64)
    order = np.flatnonzero(codes >= 0)
    first[codes[order][::-1]] = order[::-1]  # reversed assignment leaves the smallest index
    return first, codes


def _prepare_orders(ctx: _Ctx, junk: JunkTest | None) -> dict:
    n, source = ctx.n, ctx.s["source"]
    m = ctx.m.columns
    line_items = any(f in m for f in _ITEM_FIELDS)
    id_fields = [f for f in IDENTIFIER_FIELDS if f in m]
    missing = []
    if "order_id" not in m:
        missing.append("order_id")
    if "ts" not in m:
        missing.append("ts")
    if "amount" not in m and "price" not in m:
        missing.append("amount")
    if "customer_id" not in m and not id_fields:
        missing.append("a customer column (email, phone, customer_id or a channel id)")
    if missing:
        for f in missing:
            ctx.log.file_problem(
                f"no column for {f if ' ' in f else repr(f)}. Columns found: "
                f"{', '.join(ctx.raw.headers)}. Hint: map it with --map FIELD=COLUMN."
            )
        return {}

    order_id = ctx.text("order_id")
    ctx.missing("order_id", ~present(order_id))
    ts = ctx.ts("ts")
    amount, cur_sym = ctx.money("amount")
    discount, _ = ctx.money("discount")
    status = _statuses(ctx)
    currency = pc.coalesce(pc.utf8_upper(ctx.text("currency")), cur_sym)
    channel = pc.utf8_lower(ctx.text("channel"))
    customer_id = ctx.text("customer_id")
    ids = _identifiers(ctx, junk)

    # one order per order_id; order-level fields may sit on the first line item only
    oid = values_at(order_id)
    first, codes = _first_rows(order_id)
    frame = pd.DataFrame(
        {
            "ts": ts,
            "amount": amount,
            "currency": currency.to_pandas(),
            "channel": channel.to_pandas(),
            "discount": discount,
            "status": status.to_pandas(),
            "customer_id": customer_id.to_pandas(),
            "name": ctx.text("name").to_pandas(),
            **{f: ids.values[f].to_pandas() for f in id_fields},
        }
    )
    has_order = codes >= 0
    single = len(first) == int(has_order.sum())  # no order id repeats: one row per order
    if single:
        firsts = frame.iloc[first].reset_index(drop=True)
    else:
        frame["_g"] = codes
        firsts = frame[has_order].groupby("_g", sort=True).first().reindex(range(len(first)))
    headers = {**{f: ctx.header(f) for f in _ORDER_LEVEL if f in m}}
    headers.update({f: ctx.header(f) for f in id_fields})
    for col, header in headers.items() if not single else ():
        values = frame[col]
        ref = firsts[col].to_numpy()[np.where(has_order, codes, 0)]
        differs = has_order & values.notna().to_numpy() & (values.to_numpy() != ref)
        if col == "ts":
            differs = has_order & ~np.isnat(ts) & (ts != ref.astype("datetime64[us]"))
        if col in ("amount", "discount"):
            differs = (
                has_order & ~np.isnan(values.to_numpy()) & (values.to_numpy() != ref.astype(float))
            )
        if not differs.any():
            continue
        get = values_at(ctx.col(col))
        ctx.log.rows(
            differs,
            header,
            lambda i, get=get, col=col: (
                f"duplicate order id '{oid(i)}' with different content: "
                f"'{col}' is {get(i)!r} here but different on row "
                f"{ctx.raw.rows[first[codes[i]]]:,}. Hint: each order id must describe one order."
            ),
        )

    anchors = first  # the first row of each order stands for it
    o_ts = firsts["ts"].to_numpy().astype("datetime64[us]")
    o_amount = firsts["amount"].to_numpy().astype(float)
    for name, vals in (("ts", np.isnat(o_ts)), ("amount", np.isnan(o_amount))):
        if name == "amount" and "amount" not in m:
            continue
        mask = np.zeros(n, dtype=bool)
        mask[anchors[vals]] = True
        mask &= ~ctx_bad_rows(ctx, name)
        ctx.missing(name, mask)

    # line items (a refunded order's status is on its first row only)
    items = None
    item_amount = None
    if line_items:
        row_status = firsts["status"].to_numpy(dtype=object)[np.where(has_order, codes, 0)]
        row_status = pa.array(np.where(pd.isna(row_status), None, row_status), pa.string())
        items, item_amount = _line_items(ctx, order_id, codes, len(first), row_status)
    if "amount" not in m and item_amount is not None:
        o_amount = item_amount

    # refunds: negative amounts only where flagged
    o_status = firsts["status"].to_numpy(dtype=object)
    refunded = o_status == "refunded"
    negative = ~np.isnan(o_amount) & (o_amount < 0)
    if not ctx.s["refunds"]:
        bad_neg = negative & ~refunded
        mask = np.zeros(n, dtype=bool)
        mask[anchors[bad_neg]] = True
        get = values_at(ctx.col("amount")) if "amount" in m else (lambda i: None)
        ctx.log.rows(
            mask,
            ctx.header("amount") if "amount" in m else None,
            lambda i: (
                f"'amount' must not be negative unless the order is a refund. Got "
                f"{get(i)!r} instead. Hint: mark refunds in a status column (refunded) or import "
                "with --refunds."
            ),
        )
    o_status = np.where(pd.isna(o_status), None, o_status)
    o_status = np.where(negative & (o_status == None), "refunded", o_status)  # noqa: E711
    o_status = np.where(o_status == None, "completed", o_status)  # noqa: E711

    # who bought: an explicit customer_id, else a contact made of the order's identifiers
    o_customer = firsts["customer_id"].to_numpy(dtype=object)
    o_customer = np.where(pd.isna(o_customer), None, o_customer)
    order_ids = _group_ids(ctx, ids, codes, id_fields, first if single else None)
    names = firsts["name"].to_numpy(dtype=object)
    order_ids.names = pa.array(np.where(pd.isna(names), None, names), pa.string())
    identified_rows = np.zeros(n, dtype=bool)
    usable_order = order_ids.any_usable(len(first))
    identified_rows[anchors] = usable_order | (o_customer != None)  # noqa: E711
    _report_identifiers(ctx, _rows_view(order_ids, anchors, n), identified_rows, "order", anchors)
    contact = _contact_ids(source, order_ids, np.arange(len(first)), id_fields)
    contact = contact.drop(o_customer != None)  # noqa: E711

    o_currency = firsts["currency"].to_numpy(dtype=object)
    o_currency = np.where(pd.isna(o_currency), ctx.s["currency"], o_currency)
    o_channel = firsts["channel"].to_numpy(dtype=object)
    orders = pa.table(
        {
            "order_id": order_id.take(pa.array(anchors)),
            "ts": _ts_array(o_ts),
            "amount": _float_array(o_amount),
            "currency": pa.array(o_currency, pa.string()),
            "channel": pa.array(np.where(pd.isna(o_channel), None, o_channel), pa.string()),
            "discount": _float_array(firsts["discount"].to_numpy().astype(float)),
            "status": pa.array(o_status, pa.string()),
            "source": _const(len(first), source),
            "customer_id": pa.array(o_customer, pa.string()),
            "contact_id": contact.column(),
            "_row": pa.array(ctx.raw.rows[anchors]),
        }
    )
    _warn_currencies(ctx, o_currency)
    contacts, identity = _contacts(order_ids, contact, anchors, ctx)
    return {"orders": orders, "order_items": items, "contacts": contacts, "identifiers": identity}


def ctx_bad_rows(ctx: _Ctx, f: str) -> np.ndarray:
    """Rows where ``f`` is present (already reported if it did not parse)."""
    if not ctx.has(f):
        return np.zeros(ctx.n, dtype=bool)
    return present(ctx.col(f))


def _group_ids(ctx: _Ctx, ids: _Ids, codes: np.ndarray, fields, single_rows=None) -> _Ids:
    """Identifiers per order: the first usable value of each field among the order's rows.

    Where an order has no usable value of a field, its first valid one (a placeholder) is kept
    so problems can name it; ``usable`` says which values may identify the order.
    """
    values, usable, invalid = {}, {}, {}
    if single_rows is not None:  # one row per order: just reorder
        take = pa.array(single_rows)
        for f in fields:
            usable[f] = ids.usable[f][single_rows]
            values[f] = ids.values[f].take(take)
            invalid[f] = ids.invalid[f][single_rows] & ~usable[f]
        return _Ids(values, usable, invalid)
    n_groups = int(codes.max()) + 1 if len(codes) and codes.max() >= 0 else 0
    order = np.flatnonzero(codes >= 0)
    for f in fields:
        vals = ids.values[f].to_numpy(zero_copy_only=False)
        use = ids.usable[f]
        valid = _np_bool(pc.is_valid(ids.values[f]))
        out_v = np.full(n_groups, None, dtype=object)
        out_u = np.zeros(n_groups, dtype=bool)
        out_bad = np.zeros(n_groups, dtype=bool)
        # reversed assignment leaves the first value per order: valid ones, then usable ones
        sel = order[valid[order]]
        out_v[codes[sel][::-1]] = vals[sel][::-1]
        sel = order[use[order]]
        out_v[codes[sel][::-1]] = vals[sel][::-1]
        out_u[codes[sel]] = True
        bad_sel = order[ids.invalid[f][order]]
        out_bad[codes[bad_sel]] = True
        values[f] = pa.array(out_v, pa.string())
        usable[f] = out_u
        invalid[f] = out_bad & ~out_u
    return _Ids(values, usable, invalid)


def _rows_view(group_ids: _Ids, anchors: np.ndarray, n: int) -> _Ids:
    """Per-order identifiers spread back onto the orders' first rows (for messages)."""
    values, usable, invalid = {}, {}, {}
    idx = np.zeros(n, dtype=np.int64)
    idx[anchors] = np.arange(len(anchors))
    mask = np.ones(n, dtype=bool)
    mask[anchors] = False
    spread = pa.array(idx, mask=mask)
    for f, v in group_ids.values.items():
        values[f] = v.take(spread) if len(v) else pa.nulls(n, pa.string())
        u = np.zeros(n, dtype=bool)
        u[anchors] = group_ids.usable[f]
        b = np.zeros(n, dtype=bool)
        b[anchors] = group_ids.invalid[f]
        usable[f], invalid[f] = u, b
    return _Ids(values, usable, invalid)


def _contacts(ids: _Ids, contact: _Contacts, anchors: np.ndarray, ctx: _Ctx):
    """Distinct contacts and their identity rows (from per-order or per-event identifiers)."""
    codes = contact.codes
    has = codes >= 0
    if not has.any():
        return None, None
    n_contacts = len(contact.names)
    firsts = np.full(n_contacts, -1, dtype=np.int64)
    where = np.flatnonzero(has)
    firsts[codes[where][::-1]] = where[::-1]
    firsts = firsts[firsts >= 0]
    n = len(codes)
    email = ids.values.get("email", pa.nulls(n, pa.string()))
    phone = pa.nulls(n, pa.string())
    for f in _PHONE_FIELDS:
        if f in ids.values:
            phone = pc.coalesce(phone, _only(ids.values[f], ids.usable[f]))
    only_anon = np.ones(n, dtype=bool)
    for f in ids.values:
        if f != "anonymous_id":
            only_anon &= ~ids.usable[f]
    take = pa.array(firsts)
    cid = contact.column()
    name = (
        _only(ids.names, ids.any_usable(n)) if ids.names is not None else pa.nulls(n, pa.string())
    )
    contacts = pa.table(
        {
            "record_id": cid.take(take),
            "name": name.take(take),
            "email": _only(email, ids.usable.get("email", np.zeros(n, bool))).take(take),
            "phone": phone.take(take),
            "anonymous_only": pa.array(only_anon[firsts]),
            "_row": pa.array(ctx.raw.rows[anchors[firsts]]),
        }
    )
    usable_ids = _Ids(
        {f: _only(v, ids.usable[f]) for f, v in ids.values.items()},
        ids.usable,
        ids.invalid,
    )
    identity = _identity_rows(cid, usable_ids, firsts)
    return contacts, identity


def _line_items(ctx: _Ctx, order_id: pa.Array, codes: np.ndarray, n_orders: int, status):
    n = ctx.n
    product_id = pc.coalesce(ctx.text("product_id"), ctx.text("product_name"))
    qty = ctx.integer("quantity")
    price, _ = ctx.money("price")
    category = ctx.text("category")
    any_item = np.zeros(n, dtype=bool)
    for f in (*_ITEM_FIELDS, "category"):
        if ctx.has(f):
            any_item |= present(ctx.col(f))
    no_product = any_item & ~present(product_id)
    ctx.log.rows(
        no_product,
        ctx.header("product_id") if ctx.has("product_id") else ctx.m.columns.get("product_name"),
        lambda i: "the line item has no product (a sku or a product name).",
    )
    qty = np.where(np.isnan(qty) & ~ctx_bad_rows(ctx, "quantity"), 1.0, qty)
    neg = any_item & ((qty < 0) | (price < 0))
    if not ctx.s["refunds"]:
        statuses = status.to_numpy(zero_copy_only=False)
        neg &= ~(statuses == "refunded")
        ctx.log.rows(
            neg,
            ctx.m.columns.get("quantity") if (qty < 0).any() else ctx.m.columns.get("price"),
            lambda i: (
                "a line item must not have a negative quantity or price unless it is a "
                "refund. Hint: import with --refunds."
            ),
        )
    keep = any_item & (codes >= 0)
    idx = np.flatnonzero(keep)
    items = pa.table(
        {
            "order_id": order_id.take(pa.array(idx)),
            "product_id": product_id.take(pa.array(idx)),
            "category": category.take(pa.array(idx)),
            "quantity": pa.array(qty[idx], pa.float64(), from_pandas=True).cast(pa.int64()),
            "price": _float_array(price[idx]),
            "_row": pa.array(ctx.raw.rows[idx]),
        }
    )
    line_total = np.nan_to_num(price) * np.nan_to_num(qty)
    sums = np.bincount(codes[keep], weights=line_total[keep], minlength=n_orders)
    return items, sums


def _warn_currencies(ctx: _Ctx, currencies: np.ndarray) -> None:
    cur = pd.Series(currencies, dtype=object)
    other = cur[cur.notna() & (cur != ctx.s["currency"])]
    if len(other):
        counts = other.value_counts()
        listed = ", ".join(f"{k} ({v:,})" for k, v in counts.items())
        ctx.log.warn(
            f"{ctx.raw.file}: {len(other):,} order(s) are not in the workspace currency "
            f"{ctx.s['currency']}: {listed}. Amounts are stored as given; segmint does not "
            "convert currencies."
        )


# -- order items ----------------------------------------------------------------------------------
def _prepare_order_items(ctx: _Ctx) -> dict:
    m = ctx.m.columns
    missing = [f for f in ("order_id",) if f not in m]
    if "product_id" not in m and "product_name" not in m:
        missing.append("product_id")
    for f in missing:
        ctx.log.file_problem(
            f"no column for '{f}'. Columns found: {', '.join(ctx.raw.headers)}. "
            "Hint: map it with --map FIELD=COLUMN."
        )
    if missing:
        return {}
    order_id = ctx.text("order_id")
    ctx.missing("order_id", ~present(order_id))
    _, codes = _first_rows(order_id)
    items, _ = _line_items(
        ctx,
        order_id,
        codes,
        int(codes.max()) + 1 if len(codes) else 0,
        pa.nulls(ctx.n, pa.string()),
    )
    return {"order_items": items}


# -- events ---------------------------------------------------------------------------------------
def _prepare_events(ctx: _Ctx, junk: JunkTest | None) -> dict:
    n, source = ctx.n, ctx.s["source"]
    m = ctx.m.columns
    id_fields = [f for f in (*IDENTIFIER_FIELDS, "anonymous_id") if f in m]
    missing = []
    if "ts" not in m:
        missing.append("ts")
    if "event" not in m and "type" not in m:
        missing.append("event")
    if "customer_id" not in m and not id_fields:
        missing.append("a customer column (user_id, anonymous_id, email, phone or customer_id)")
    for f in missing:
        ctx.log.file_problem(
            f"no column for {f if ' ' in f else repr(f)}. Columns found: "
            f"{', '.join(ctx.raw.headers)}. Hint: map it with --map FIELD=COLUMN."
        )
    if missing:
        return {}
    ts = ctx.ts("ts", required=True)
    types = pc.utf8_lower(ctx.text("type"))
    bad_type = present(types) & ~_np_bool(pc.is_in(types, value_set=pa.array(EVENT_TYPES)))
    get_type = values_at(ctx.text("type"))
    if ctx.has("type"):
        ctx.log.rows(
            bad_type,
            ctx.header("type"),
            lambda i: (
                f"'type' must be one of {', '.join(EVENT_TYPES)}. Got {get_type(i)!r} instead."
            ),
        )
    types = pc.fill_null(types, "track")
    event = ctx.text("event")
    no_event = _np_bool(pc.equal(types, "track")) & ~present(event)
    if ctx.has("event"):
        ctx.missing("event", no_event)
    else:
        ctx.log.rows(no_event, None, lambda i: "a track event needs an event name.")
    channel = pc.utf8_lower(ctx.text("channel"))
    customer_id = ctx.text("customer_id")
    ids = _identifiers(ctx, junk, fields=(*IDENTIFIER_FIELDS, "anonymous_id"))
    props, kept = _kept_columns(ctx)
    props = _merge_json_column(ctx, "properties", props)

    if ctx.has("message_id"):
        message_id = ctx.text("message_id")
        ctx.missing("message_id", ~present(message_id))
    else:
        # a stable id from the content, so re-importing the same file finds the same events
        parts = [types, event, pa.array(ts.astype(str)), pc.fill_null(props, "")]
        parts += [pc.fill_null(ids.values[f], "") for f in ids.values]
        parts.append(pc.fill_null(customer_id, ""))
        key = pc.binary_join_element_wise(*parts, "\x1f", null_handling="replace")
        message_id = pa.array(
            [None if k is None else f"{source}:{_sha(k, 20)}" for k in key.to_pylist()],
            pa.string(),
        )
        ctx.log.warn(
            f"{ctx.raw.file}: no message_id column; ids were made from each event's content, so "
            "identical rows count as one event."
        )
    identified = ids.any_usable(n) | present(customer_id)
    _report_identifiers(ctx, ids, identified, "event")
    contact = _contact_ids(source, ids, np.arange(n), id_fields).drop(present(customer_id))

    events = pa.table(
        {
            "message_id": message_id,
            "anonymous_id": ids.values.get("anonymous_id", pa.nulls(n, pa.string())),
            "type": types,
            "event": event,
            "ts": _ts_array(ts),
            "properties": props,
            "channel": channel,
            "source": _const(n, source),
            "customer_id": customer_id,
            "contact_id": contact.column(),
            "_row": pa.array(ctx.raw.rows),
        }
    )
    keep = _dedupe_keys(ctx, events, "message_id", "message id")
    events = events.filter(pa.array(keep))
    ids.names = ctx.text("name")
    contacts, identity = _contacts(ids, contact, np.arange(n), ctx)
    return {"events": events, "contacts": contacts, "identifiers": identity, "kept_columns": kept}


# -- entry point ----------------------------------------------------------------------------------
def prepare(
    kind: str,
    raw: RawTable,
    *,
    mapping: Mapping[str, str] | None = None,
    source: str | None = None,
    refunds: bool = False,
    default_region: str = "HK",
    timezone: str = "Asia/Hong_Kong",
    currency: str = "HKD",
    date_order: str | None = None,
    junk: JunkTest | None = None,
) -> Prepared:
    """Map, parse, normalise and validate ``raw`` as a ``kind`` import.

    Args:
        kind: ``customers``, ``orders``, ``order_items`` or ``events``.
        raw: the file as read by :func:`segmint.ingest.read_table`.
        mapping: explicit ``{field: column}``; wins over automatic mapping.
        source: the source name (record ids are ``source:key``); default from the file.
        refunds: negative amounts in this file are refunds.
        default_region, timezone, currency: workspace settings (phones, naive times, amounts).
        date_order: ``"DMY"`` or ``"MDY"`` for slash dates the column does not settle itself.
        junk: test for placeholder identifiers (``segmint.identity.junk_mask`` with the
            workspace's ``Config.junk``); junk never identifies a row.

    The returned ``Prepared.problems`` lists every problem; the caller raises.
    """
    cm = resolve_mapping(kind, raw.headers, mapping, file=raw.file)
    src = source or default_source(raw.file, cm)
    if date_order is not None and date_order.upper() not in ("DMY", "MDY"):
        from segmint.errors import ValidationError

        raise ValidationError(
            f"date_order must be 'DMY' or 'MDY'. Got {date_order!r} instead.",
            suggestions=["DMY", "MDY"],
        )
    settings = {
        "source": src,
        "refunds": refunds,
        "default_region": default_region,
        "timezone": timezone,
        "currency": currency,
        "date_order": date_order,
    }
    ctx = _Ctx(kind, raw, cm, settings)
    if kind == "customers":
        out = _prepare_customers(ctx, junk)
    elif kind == "orders":
        out = _prepare_orders(ctx, junk)
    elif kind == "order_items":
        out = _prepare_order_items(ctx)
    else:
        out = _prepare_events(ctx, junk)
    kept = out.pop("kept_columns", [])
    ignored = [h for h in cm.unmapped if h not in kept]
    for note in cm.notes:
        ctx.log.warn(f"{raw.file}: {note}")
    if ignored:
        ctx.log.warn(
            f"{raw.file}: {len(ignored)} column(s) not imported (no matching field): "
            f"{', '.join(ignored)}."
        )
    if kept:
        where = "traits" if kind == "customers" else "properties"
        ctx.log.warn(
            f"{raw.file}: {len(kept)} column(s) kept in '{where}' (no matching field): "
            f"{', '.join(kept)}."
        )
    for note in raw.notes:
        ctx.log.warn(f"{raw.file}: {note}")
    return Prepared(
        kind=kind,
        file=raw.file,
        source=src,
        mapping=cm,
        rows_read=raw.num_rows,
        problems=ctx.log.problems,
        warnings=ctx.log.warnings,
        kept_columns=kept,
        ignored_columns=ignored,
        **out,
    )
