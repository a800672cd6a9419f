"""Vectorised parsers and normalisers for raw cell values (layer 2).

Each parser takes an Arrow array of raw strings and returns the parsed values plus a boolean
mask of cells that are present but could not be parsed, so validation can point at every bad
cell. Nothing here loops over rows in Python except the phone fallback, which runs once per
*distinct* value the fast path cannot decide.

Example:
    >>> import pyarrow as pa
    >>> vals, bad, cur = parse_money(pa.array(["HK$1,234.50", "NT$ 1,200", "12,3O", None]))
    >>> vals.tolist()[:2], bad.tolist(), cur.to_pylist()[:2]
    ([1234.5, 1200.0], [False, False, True, False], ['HKD', 'TWD'])
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CONSENT_FALSE",
    "CONSENT_TRUE",
    "normalise_emails",
    "normalise_ids",
    "normalise_phones",
    "parse_bools",
    "parse_ints",
    "parse_money",
    "parse_timestamps",
]


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls as False."""
    arr = pc.fill_null(arr, False)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False).astype(bool)


def _strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def present(arr: pa.Array) -> np.ndarray:
    """Cells that hold a value."""
    return _np_bool(pc.is_valid(arr))


# -- timestamps -----------------------------------------------------------------------------------
_TIME = (
    r"(?:(?:T|\s)\s*(?P<H>\d{1,2})[:時时](?P<M>\d{2})(?:[:分](?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"秒?\s*(?P<ap>[AaPp]\.?[Mm]\.?)?)?"
)
_TZ = r"\s*(?P<tz>[Zz]|UTC|GMT|(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?)?"
_YMD = r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?" + _TIME + _TZ + "$"
_AB_Y = r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4})" + _TIME + _TZ + "$"


def _group(struct: pa.StructArray, name: str) -> pa.Array:
    """A regex group of ``extract_regex`` output: null where the row or the group did not match."""
    col = pc.struct_field(struct, name)
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _field(struct: pa.StructArray, name: str, fill: int = -1) -> np.ndarray:
    col = _group(struct, name)
    return pc.fill_null(col.cast(pa.int64()), fill).to_numpy(zero_copy_only=False)


def _offset_minutes(tz: pa.Array) -> np.ndarray:
    """Offset in minutes east of UTC; NaN where the value has no offset (naive)."""
    n = len(tz)
    has = _np_bool(pc.is_valid(tz))
    if not has.any():
        return np.full(n, np.nan)
    v = pc.utf8_upper(tz)
    zulu = _np_bool(pc.is_in(v, value_set=pa.array(["Z", "UTC", "GMT"])))
    m = pc.extract_regex(
        pc.replace_substring_regex(v, "^(?:UTC|GMT)", ""),
        r"^(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<mm>\d{2})?$",
    )
    hours = _field(m, "h", 0).astype(float)
    mins = _field(m, "mm", 0).astype(float)
    sign = np.where(
        pc.fill_null(_group(m, "sign"), "+").to_numpy(zero_copy_only=False) == "-", -1.0, 1.0
    )
    out = sign * (hours * 60 + mins)
    out = np.where(zulu, 0.0, out)
    return np.where(has, out, np.nan)


def parse_timestamps(
    raw: pa.Array,
    *,
    timezone: str,
    date_order: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse timestamps to naive UTC.

    Accepted: ISO 8601 (``2026-06-30``, ``2026-06-30T14:03:00Z``, ``…+08:00``), Shopify style
    ``2026-06-30 14:03:00 +0800``, ``2026/06/30 14:03``, ``2026年6月30日``, Excel datetime cells
    and, with a 12-hour clock, ``… 2:03 PM``. Day-first or month-first dates (``30/06/2026``) are
    read when the column itself shows which (a first number above 12 means day-first) or when
    ``date_order`` is ``"DMY"`` or ``"MDY"``; otherwise ``03/04/2026`` is *ambiguous*.

    Values with an offset are converted to UTC; naive values are taken in ``timezone``.

    Returns ``(values, bad, ambiguous)``: ``datetime64[us]`` (NaT where missing or bad) and two
    masks of present cells that could not be read.

    >>> v, bad, amb = parse_timestamps(
    ...     pa.array(["2026-06-30 14:03:00 +0800", "30/06/2026", "03/04/2026x"]),
    ...     timezone="Asia/Hong_Kong")
    >>> [str(x) for x in v], bad.tolist()
    (['2026-06-30T06:03:00.000000', '2026-06-29T16:00:00.000000', 'NaT'], [False, False, True])
    """
    n = len(raw)
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type):
        return _typed_timestamps(raw, timezone)
    raw = _strings(raw)
    has = present(raw)
    local = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    offset = np.full(n, np.nan)
    ambiguous = np.zeros(n, dtype=bool)

    # fast path: the common exact layouts, parsed in C by strptime
    todo = np.flatnonzero(has)
    for fmt, aware in _FAST_FORMATS:
        if not len(todo):
            break
        sub = raw.take(pa.array(todo))
        parsed = pc.strptime(sub, format=fmt, unit="us", error_is_null=True)
        ok = _np_bool(pc.is_valid(parsed))
        if not ok.any():
            continue
        ok &= _calendar_ok(sub)  # strptime rolls 2026-02-30 over to March
        vals = parsed.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
        local[todo[ok]] = vals[ok]
        offset[todo[ok]] = 0.0 if aware else np.nan
        todo = todo[~ok]

    # everything else: the regular expressions (and day/month order)
    if len(todo):
        sub_local, sub_offset, sub_amb = _parse_regex(raw.take(pa.array(todo)), date_order)
        local[todo] = sub_local
        offset[todo] = sub_offset
        ambiguous[todo] = sub_amb

    valid = ~np.isnat(local)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    with_offset = valid & ~np.isnan(offset)
    if with_offset.any():
        shift = (offset[with_offset] * 60_000_000).astype("timedelta64[us]")
        out[with_offset] = local[with_offset] - shift
    naive = valid & np.isnan(offset)
    if naive.any():
        out[naive] = _local_to_utc(local[naive], timezone)
    valid = ~np.isnat(out)  # naive times skipped by a DST change become invalid
    bad = has & ~valid & ~ambiguous
    return out, bad, ambiguous & has


def _calendar_ok(sub: pa.Array) -> np.ndarray:
    """``YYYY-MM-DD…`` strings whose day exists in their month (others go the slow way)."""
    ok = _np_bool(pc.match_substring_regex(sub, r"^\d{4}-\d{2}-\d{2}"))
    head = pc.if_else(pa.array(ok), sub, "2000-01-01")
    y = pc.cast(pc.utf8_slice_codeunits(head, 0, 4), pa.int64()).to_numpy()
    m = pc.cast(pc.utf8_slice_codeunits(head, 5, 7), pa.int64()).to_numpy()
    d = pc.cast(pc.utf8_slice_codeunits(head, 8, 10), pa.int64()).to_numpy()
    month_ok = (m >= 1) & (m <= 12)
    first = (y - 1970) * 12 + np.clip(m, 1, 12) - 1
    days = (
        np.asarray(first + 1, dtype="datetime64[M]").astype("datetime64[D]")
        - np.asarray(first, dtype="datetime64[M]").astype("datetime64[D]")
    ).astype(np.int64)
    return ok & month_ok & (d >= 1) & (d <= days)


#: (strptime format, has offset) tried before the regular expressions.
_FAST_FORMATS = (
    ("%Y-%m-%d %H:%M:%S", False),
    ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%d", False),
    ("%Y-%m-%d %H:%M", False),
    ("%Y-%m-%d %H:%M:%S %z", True),
    ("%Y-%m-%dT%H:%M:%S%z", True),
)


def _parse_regex(
    raw: pa.Array, date_order: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(local datetime64[us], offset minutes or NaN, ambiguous)`` by regular expressions."""
    n = len(raw)
    ymd = pc.extract_regex(raw, _YMD)
    dmy = pc.extract_regex(raw, _AB_Y)
    is_ymd = _np_bool(pc.is_valid(ymd))
    is_ab = _np_bool(pc.is_valid(dmy)) & ~is_ymd

    year = np.where(is_ymd, _field(ymd, "y"), _field(dmy, "y"))
    a, b = _field(dmy, "a"), _field(dmy, "b")
    ambiguous = np.zeros(n, dtype=bool)
    day_ab, month_ab = a, b
    if is_ab.any():
        order = (date_order or "").upper() or None
        if order is None:
            dayfirst = is_ab & (a > 12)
            monthfirst = is_ab & (b > 12)
            if dayfirst.any() and not monthfirst.any():
                order = "DMY"
            elif monthfirst.any() and not dayfirst.any():
                order = "MDY"
        if order == "MDY":
            day_ab, month_ab = b, a
        elif order != "DMY":  # undecided: only values where a == b are unambiguous
            ambiguous = is_ab & (a != b)
    month = np.where(is_ymd, _field(ymd, "m"), month_ab)
    day = np.where(is_ymd, _field(ymd, "d"), day_ab)

    def pick(name: str, fill: int = 0) -> np.ndarray:
        return np.where(is_ymd, _field(ymd, name, fill), _field(dmy, name, fill))

    hour, minute, second = pick("H"), pick("M"), pick("S")
    frac_raw = pc.if_else(pa.array(is_ymd), _group(ymd, "f"), _group(dmy, "f"))
    frac = pc.fill_null(frac_raw, "").to_numpy(zero_copy_only=False).astype(str)
    micro = np.zeros(n, dtype=np.int64)
    if (frac != "").any():
        micro = np.array([int((f + "000000")[:6]) if f else 0 for f in frac], dtype=np.int64)
    ap = pc.fill_null(pc.if_else(pa.array(is_ymd), _group(ymd, "ap"), _group(dmy, "ap")), "")
    ap = pc.utf8_lower(ap).to_numpy(zero_copy_only=False).astype(str)
    has_ap = np.char.str_len(ap) > 0
    is_pm = np.char.startswith(ap, "p")
    bad_ap = has_ap & ((hour < 1) | (hour > 12))
    hour = np.where(has_ap, np.where(is_pm, hour % 12 + 12, hour % 12), hour)

    matched = (is_ymd | is_ab) & ~ambiguous & ~bad_ap
    valid = (
        matched
        & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
        & (hour <= 23) & (minute <= 59) & (second <= 59)
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "year": np.where(valid, year, 2000),
            "month": np.where(valid, month, 1),
            "day": np.where(valid, day, 1),
            "hour": np.where(valid, hour, 0),
            "minute": np.where(valid, minute, 0),
            "second": np.where(valid, second, 0),
        }
    )
    # to_datetime rolls nothing over: 2026-02-30 becomes NaT
    local = pd.to_datetime(frame, errors="coerce") + pd.to_timedelta(micro, unit="us")
    local_np = local.to_numpy(dtype="datetime64[us]", copy=True)
    local_np[~valid] = np.datetime64("NaT")
    tz_text = pc.if_else(pa.array(is_ymd), _group(ymd, "tz"), _group(dmy, "tz"))
    return local_np, _offset_minutes(tz_text), ambiguous


def _local_to_utc(values: np.ndarray, timezone: str) -> np.ndarray:
    s = pd.Series(values.astype("datetime64[us]"))
    s = s.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _typed_timestamps(raw: pa.Array, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(raw)
    none = np.zeros(n, dtype=bool)
    if pa.types.is_date(raw.type):
        raw = raw.cast(pa.timestamp("us"))
    if raw.type.tz is not None:
        utc = pc.cast(raw, pa.timestamp("us", tz="UTC"))
        vals = utc.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
        return vals.astype("datetime64[us]"), none, none
    local = raw.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    out = _local_to_utc(local, timezone)
    bad = ~np.isnat(local) & np.isnat(out)
    return out, bad, none


def parse_dates(raw: pa.Array, *, date_order: str | None = None):
    """Calendar dates (birthdays): like :func:`parse_timestamps`, no time zone shift.

    Returns ``(datetime64[D] values, bad, ambiguous)``.
    """
    vals, bad, amb = parse_timestamps(raw, timezone="UTC", date_order=date_order)
    return vals.astype("datetime64[D]"), bad, amb


# -- numbers --------------------------------------------------------------------------------------
_MONEY = (
    r"^(?P<neg>[-−(])?\s*(?P<cur>[A-Za-z]{1,3}\s?[$¥￥€£]|[$¥￥€£]|[A-Z]{3}\s?|RM\s?)?\s*"
    r"(?P<neg2>[-−])?\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*"
    r"(?P<cur2>[A-Za-z]{3}|元|圓|円)?\s*(?P<close>\))?$"
)
_SYMBOLS = {
    "HK$": "HKD",
    "NT$": "TWD",
    "S$": "SGD",
    "SG$": "SGD",
    "US$": "USD",
    "A$": "AUD",
    "AU$": "AUD",
    "C$": "CAD",
    "CA$": "CAD",
    "NZ$": "NZD",
    "RM": "MYR",
    "€": "EUR",
    "£": "GBP",
    "RMB": "CNY",
}


def parse_money(raw: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Amounts such as ``1234.5``, ``HK$1,234.50``, ``NT$ 1,200``, ``(12.00)``, ``-HK$5``.

    Thousands separators must group by three (``12,3`` is refused). Returns ``(float64 values
    with NaN, bad mask, currency code inferred from the symbol or null)``.
    """
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type):
        vals = raw.cast(pa.float64()).to_numpy(zero_copy_only=False)
        vals = np.where(np.isfinite(vals), vals, np.nan)
        bad = present(raw) & np.isnan(vals)
        return vals, bad, pa.nulls(len(raw), pa.string())
    raw = _strings(raw)
    # fast path: plain numbers (most exports) are cast directly, the rest go through the regex
    plain = _np_bool(pc.match_substring_regex(raw, r"^-?\d+(?:\.\d+)?$"))
    if plain.all() or (plain.sum() > 0.5 * len(raw) and not (~plain & present(raw)).any()):
        vals = pc.cast(pc.if_else(pa.array(plain), raw, "0"), pa.float64()).to_numpy(
            zero_copy_only=False
        )
        vals = np.where(plain, vals, np.nan)
        return vals, np.zeros(len(raw), dtype=bool), pa.nulls(len(raw), pa.string())
    if plain.any():
        rest = np.flatnonzero(~plain)
        sub_vals, sub_bad, sub_cur = parse_money(raw.take(pa.array(rest)))
        vals = (
            pc.cast(pc.if_else(pa.array(plain), raw, "0"), pa.float64())
            .to_numpy(zero_copy_only=False)
            .copy()
        )
        vals[rest] = sub_vals
        bad = np.zeros(len(raw), dtype=bool)
        bad[rest] = sub_bad
        cur = np.full(len(raw), None, dtype=object)
        cur[rest] = sub_cur.to_numpy(zero_copy_only=False)
        return vals, bad, pa.array(cur, pa.string())
    m = pc.extract_regex(raw, _MONEY)
    ok = _np_bool(pc.is_valid(m))
    neg1 = pc.fill_null(_group(m, "neg"), "").to_numpy(zero_copy_only=False).astype(str)
    close = pc.fill_null(_group(m, "close"), "").to_numpy(zero_copy_only=False).astype(str)
    neg2 = pc.fill_null(_group(m, "neg2"), "").to_numpy(zero_copy_only=False).astype(str)
    paren = neg1 == "("
    ok &= paren == (close == ")")
    ok &= ~(np.isin(neg1, ["-", "−"]) & (np.char.str_len(neg2) > 0))  # "--5"
    num = pc.replace_substring(pc.fill_null(_group(m, "num"), "0"), ",", "")
    vals = pc.cast(num, pa.float64()).to_numpy(zero_copy_only=False)
    negative = paren | np.isin(neg1, ["-", "−"]) | (np.char.str_len(neg2) > 0)
    vals = np.where(negative, -vals, vals)
    vals = np.where(ok, vals, np.nan)
    bad = present(raw) & ~ok
    sym = pc.coalesce(_group(m, "cur"), _group(m, "cur2"))
    sym = pc.utf8_trim_whitespace(pc.fill_null(sym, ""))
    enc = pc.dictionary_encode(sym)
    codes = pa.array([_currency_of(v) for v in enc.dictionary.to_pylist()], pa.string())
    return vals, bad, pc.take(codes, enc.indices)


@functools.lru_cache(maxsize=256)
def _currency_of(symbol: str) -> str | None:
    if not symbol:
        return None
    s = symbol.upper()
    if s in _SYMBOLS:
        return _SYMBOLS[s]
    if re.fullmatch(r"[A-Z]{3}", s):
        return s
    return None  # "$", "¥", "元": the workspace currency


_INT = r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0+)?$"


def parse_ints(raw: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers (``1``, ``1,200``, ``3.0``). Returns ``(float64 with NaN, bad)``."""
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_integer(raw.type):
        return raw.cast(pa.float64()).to_numpy(zero_copy_only=False), np.zeros(len(raw), bool)
    if pa.types.is_floating(raw.type):
        vals = raw.to_numpy(zero_copy_only=False)
        bad = present(raw) & ~(np.isfinite(vals) & (np.floor(vals) == vals))
        return np.where(bad, np.nan, vals), bad
    raw = _strings(raw)
    ok = _np_bool(pc.match_substring_regex(raw, _INT))
    cleaned = pc.replace_substring_regex(pc.replace_substring(raw, ",", ""), r"\.0+$", "")
    cleaned = pc.if_else(pa.array(ok), cleaned, pa.scalar(None, pa.string()))
    vals = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    return vals, present(raw) & ~ok


# -- booleans (consent) ---------------------------------------------------------------------------
CONSENT_TRUE = frozenset(
    {
        "yes", "y", "true", "t", "1", "subscribed", "opted in", "opted_in", "opt in", "opt-in",
        "optin", "accepted", "accept", "agree", "agreed", "granted", "confirmed_opt_in",
        "single_opt_in", "marketing contact", "是", "同意", "接受", "已訂閱", "已订阅", "訂閱",
        "订阅", "已同意", "有",
    }
)  # fmt: skip
CONSENT_FALSE = frozenset(
    {
        "no", "n", "false", "f", "0", "unsubscribed", "not subscribed", "not_subscribed",
        "opted out", "opted_out", "opt out", "opt-out", "optout", "declined", "decline",
        "refused", "denied", "withdrawn", "revoked", "never_subscribed", "non-marketing contact",
        "否", "不同意", "拒絕", "拒绝", "不接受", "取消訂閱", "取消订阅", "未訂閱", "未订阅",
        "已取消", "沒有", "没有", "無", "无",
    }
)  # fmt: skip


def parse_bools(raw: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Consent-style yes/no values in English and Chinese.

    Returns ``(values as float 1.0/0.0 with NaN for missing, bad)``; unknown words are bad.

    >>> v, bad = parse_bools(pa.array(["yes", "否", "maybe", None]))
    >>> v.tolist()[:2], bad.tolist()
    ([1.0, 0.0], [False, False, True, False])
    """
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_boolean(raw.type):
        return raw.cast(pa.float64()).to_numpy(zero_copy_only=False), np.zeros(len(raw), bool)
    raw = _strings(raw)
    low = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
    is_true = _np_bool(pc.is_in(low, value_set=pa.array(sorted(CONSENT_TRUE))))
    is_false = _np_bool(pc.is_in(low, value_set=pa.array(sorted(CONSENT_FALSE))))
    vals = np.where(is_true, 1.0, np.where(is_false, 0.0, np.nan))
    return vals, present(raw) & ~(is_true | is_false)


# -- identifiers ----------------------------------------------------------------------------------
_EMAIL = r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[^@\s,;<>()\[\].]{2,}$"
#: The shape of a normalised e-mail address (engine-side checks, e.g. audiences, reuse it).
EMAIL_PATTERN = _EMAIL


def normalise_emails(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Trim, drop a ``mailto:`` prefix and lower-case; return ``(emails, invalid mask)``.

    Dots and ``+tags`` are kept: ``j.doe@gmail.com`` and ``jdoe@gmail.com`` reach the same Gmail
    inbox, but on almost every other provider (and on Google Workspace domains, which cannot be
    told apart from the address) they are different people. Stripping them would merge strangers,
    which is worse than missing a merge. Invalid addresses come back as null.

    >>> e, bad = normalise_emails(pa.array([" Chan.TaiMan@Gmail.com ", "not-an-email", None]))
    >>> e.to_pylist(), bad.tolist()
    (['chan.taiman@gmail.com', None, None], [False, True, False])
    """
    raw = _strings(raw)
    v = pc.utf8_lower(pc.utf8_trim_whitespace(pc.utf8_normalize(raw, "NFKC")))
    v = pc.replace_substring_regex(v, r"^mailto:", "")
    ok = _np_bool(pc.match_substring_regex(v, _EMAIL))
    out = pc.if_else(pa.array(ok), v, pa.scalar(None, pa.string()))
    return out, present(raw) & ~ok


def normalise_ids(raw: pa.Array, id_type: str) -> pa.Array:
    """Channel ids: trimmed; Instagram handles lower-case without ``@``; numbers without ``.0``."""
    raw = _strings(raw)
    v = pc.utf8_trim_whitespace(pc.utf8_normalize(raw, "NFKC"))
    if id_type == "instagram":
        v = pc.replace_substring_regex(v, r"^(?:https?://)?(?:www\.)?instagram\.com/", "")
        v = pc.utf8_lower(pc.utf8_ltrim(pc.utf8_rtrim(v, "/"), "@"))
    if id_type in ("shopify", "hubspot"):
        v = pc.replace_substring_regex(v, r"^(\d+)\.0+$", r"\1")
    return pc.if_else(pc.equal(v, ""), pa.scalar(None, pa.string()), v)


# -- phones ---------------------------------------------------------------------------------------
_PHONE_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@functools.lru_cache(maxsize=64)
def _region_rules(region: str):
    """(country code, national prefix, [(pattern, lengths)]) for the fast path, or None."""
    import phonenumbers

    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if md is None:
        return None
    general = md.general_desc
    if general is None or not general.national_number_pattern:
        return None
    types = []
    for t in _PHONE_TYPES:
        desc = getattr(md, t, None)
        if desc is None or not desc.national_number_pattern:
            continue
        lengths = desc.possible_length or general.possible_length
        if lengths == (-1,):
            continue
        types.append((f"^(?:{desc.national_number_pattern})$", tuple(lengths)))
    prefix = md.national_prefix_for_parsing
    simple_prefix = (
        prefix is not None
        and re.fullmatch(r"\d+", prefix) is not None
        and md.national_prefix_transform_rule is None
    )
    if prefix is not None and not simple_prefix:
        return None  # complicated national prefix rules: leave it to phonenumbers
    return (
        md.country_code,
        prefix or "",
        f"^(?:{general.national_number_pattern})$",
        tuple(general.possible_length),
        types,
    )


@functools.lru_cache(maxsize=64)
def _single_region(cc: int) -> bool:
    import phonenumbers

    return len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ())) == 1


def _valid_national(nat: pa.Array, rules) -> np.ndarray:
    _, _, general, general_lengths, types = rules
    length = pc.utf8_length(nat)
    ok_general = _np_bool(pc.match_substring_regex(nat, general)) & _np_bool(
        pc.is_in(length, value_set=pa.array(general_lengths, pa.int32()))
    )
    any_type = np.zeros(len(nat), dtype=bool)
    for pattern, lengths in types:
        any_type |= _np_bool(pc.match_substring_regex(nat, pattern)) & _np_bool(
            pc.is_in(length, value_set=pa.array(lengths, pa.int32()))
        )
    return ok_general & any_type


@functools.lru_cache(maxsize=200_000)
def _phone_slow(value: str, region: str) -> str | None:
    import phonenumbers

    try:
        num = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(
    raw: pa.Array, region: str, regions: pa.Array | None = None
) -> tuple[pa.Array, np.ndarray]:
    """Phones to E.164 (``+85291234567``) with ``region`` for numbers without ``+country``.

    The result equals ``phonenumbers`` (parse, ``is_valid_number``, E.164) for every value: plain
    national numbers of ``region`` are checked against its metadata patterns in bulk, everything
    else (``+`` numbers of other countries, ``00`` prefixes, letters, extensions) goes through
    ``phonenumbers`` once per distinct value. ``regions`` (one ISO code per row, e.g. the
    address country) overrides ``region`` where it is a known region. Returns ``(e164 or null,
    invalid mask)``.

    >>> e, bad = normalise_phones(pa.array(["9123 4567", "+852 9123-4567", "123"]), "HK")
    >>> e.to_pylist(), bad.tolist()
    (['+85291234567', '+85291234567', None], [False, False, True])
    >>> normalise_phones(pa.array(["0912-345-678"]), "TW")[0].to_pylist()
    ['+886912345678']
    """
    raw = _strings(raw)
    if regions is not None:
        return _phones_by_region(raw, region, regions)
    n = len(raw)
    has = present(raw)
    region = region.upper()
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(raw, "NFKC"))
    compact = pc.replace_substring_regex(text, r"[\s\-./()]", "")
    out = np.full(n, None, dtype=object)
    decided = np.zeros(n, dtype=bool)
    rules = _region_rules(region)
    if rules is not None:
        cc, prefix, *_ = rules
        digits_only = _np_bool(pc.match_substring_regex(compact, r"^\d{4,17}$"))
        plus_own = _np_bool(pc.match_substring_regex(compact, rf"^\+{cc}\d{{4,17}}$"))
        nat = pc.if_else(
            pa.array(plus_own),
            pc.utf8_slice_codeunits(compact, len(str(cc)) + 1),
            compact,
        )
        nat = pc.fill_null(nat, "")
        starts_prefix = _np_bool(pc.starts_with(nat, prefix)) if prefix else np.zeros(n, dtype=bool)
        valid_plain = _valid_national(nat, rules)
        if prefix:
            stripped = pc.utf8_slice_codeunits(nat, len(prefix))
            valid_stripped = _valid_national(stripped, rules)
        else:
            stripped, valid_stripped = nat, np.zeros(n, dtype=bool)
        leading_zero = _np_bool(pc.starts_with(nat, "0"))
        leading_zero_stripped = _np_bool(pc.starts_with(stripped, "0"))
        # case A: a national number as is (no national prefix in front)
        case_a = (digits_only | plus_own) & ~starts_prefix & valid_plain & ~leading_zero
        # case B: national prefix + national number (e.g. TW 0912…): only without "+"
        case_b = digits_only & starts_prefix & valid_stripped & ~leading_zero_stripped
        case_b &= ~valid_plain
        nat_np = nat.to_numpy(zero_copy_only=False).astype(object)
        stripped_np = stripped.to_numpy(zero_copy_only=False).astype(object)
        plus_cc = f"+{cc}"
        if case_a.any():
            out[case_a] = plus_cc + pd.Series(nat_np[case_a], dtype=object)
        if case_b.any():
            out[case_b] = plus_cc + pd.Series(stripped_np[case_b], dtype=object)
        # case C: plain digits that are no number of the region and cannot carry its country
        # code or national prefix: phonenumbers would refuse them too, so skip the slow path
        starts_cc = _np_bool(pc.starts_with(nat, str(cc)))
        case_c = digits_only & ~starts_prefix & ~starts_cc & ~valid_plain & ~leading_zero
        case_c &= _single_region(cc)  # +1 numbers may be valid in another NANP region
        decided = case_a | case_b | case_c
    rest = has & ~decided
    if rest.any():
        vals = text.to_numpy(zero_copy_only=False).astype(object)
        uniq, inverse = np.unique(vals[rest].astype(str), return_inverse=True)
        mapped = np.array([_phone_slow(u, region) for u in uniq], dtype=object)
        out[rest] = mapped[inverse]
    result = pa.array(out, pa.string())
    return result, has & ~_np_bool(pc.is_valid(result))


def _phones_by_region(
    raw: pa.Array, default: str, regions: pa.Array
) -> tuple[pa.Array, np.ndarray]:
    """:func:`normalise_phones` with a region per row (unknown regions use ``default``)."""
    import phonenumbers

    known = set(phonenumbers.SUPPORTED_REGIONS)
    codes = pc.utf8_upper(pc.utf8_trim_whitespace(_strings(regions)))
    enc = pc.dictionary_encode(codes)
    names = [r if r in known else default.upper() for r in enc.dictionary.to_pylist()]
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    per_row = np.array([*names, default.upper()], dtype=object)[np.where(idx < 0, len(names), idx)]
    out = np.full(len(raw), None, dtype=object)
    bad = np.zeros(len(raw), dtype=bool)
    for reg in pd.unique(per_row):
        rows = np.flatnonzero(per_row == reg)
        e164, b = normalise_phones(raw.take(pa.array(rows)), reg)
        out[rows] = e164.to_numpy(zero_copy_only=False)
        bad[rows] = b
    return pa.array(out, pa.string()), bad
