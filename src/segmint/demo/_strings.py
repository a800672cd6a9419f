"""Vectorised string building for the demo generator (pyarrow compute, no per-row Python).

At 1M customers the generator builds tens of millions of strings (ids, phones, timestamps, JSON);
these helpers keep that in Arrow kernels.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.demo._reference import COUNTRIES, JUNK_PHONES, MOBILE_STARTS

#: Hong Kong is UTC+8 all year (so are Taiwan and Singapore); every local time uses this offset.
LOCAL_OFFSET_S = 8 * 3600


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate string arrays and literals element-wise (null if any part is null).

    >>> join(pa.array(["a", "b"]), "-", pa.array(["x", "y"])).to_pylist()
    ['a-x', 'b-y']
    """
    return pc.binary_join_element_wise(*parts, "")


def join_present(parts: Sequence[pa.Array], sep: str = ", ") -> pa.Array:
    """Join the non-null parts of each row with ``sep``; null when all parts are null.

    (pyarrow's ``binary_join_element_wise(null_handling="skip")`` drops rows in pyarrow 26.)

    >>> join_present([pa.array(["a", None]), pa.array(["b", None])]).to_pylist()
    ['a, b', None]
    """
    pieces = [pc.if_else(pc.is_null(p), "", join(p, sep)) for p in parts]
    out = pc.utf8_rtrim(join(*pieces), characters=sep) if len(pieces) > 1 else pieces[0]
    if len(pieces) == 1:
        out = pc.utf8_rtrim(out, characters=sep)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def to_str(values: np.ndarray, width: int = 0) -> pa.Array:
    """Integers as decimal strings, zero-padded to ``width``.

    >>> to_str(np.array([7, 42]), 3).to_pylist()
    ['007', '042']
    """
    out = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(out, width=width, padding="0") if width else out


def from_fixed(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A (k, w) uint8 array of ASCII codes as strings of width w.

    With ``valid`` (a bool mask of the full length, ``valid.sum() == k``) the rows of ``chars``
    fill the true positions and the others are null: no text is stored for null rows.
    """
    k, w = chars.shape
    data = pa.py_buffer(np.ascontiguousarray(chars))
    if valid is None:
        n, lengths, bitmap = k, None, None
    else:
        valid = np.asarray(valid, dtype=bool)
        n, lengths = len(valid), valid.astype(np.int64) * w
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    big = k * w >= 2**31
    otype = np.int64 if big else np.int32
    if lengths is None:
        offsets = np.arange(0, (n + 1) * w, w, dtype=otype)
    else:
        offsets = np.zeros(n + 1, dtype=otype)
        np.cumsum(lengths, out=offsets[1:], dtype=otype)
    cls = pa.LargeStringArray if big else pa.StringArray
    arr = cls.from_buffers(n, pa.py_buffer(offsets), data, bitmap)
    return arr.cast(pa.string()) if big else arr


def random_bytes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """An (n, k) uint8 array of random bytes (k a multiple of 8)."""
    words = rng.integers(0, 2**63, size=(n, (k + 7) // 8), dtype=np.int64)
    return words.view(np.uint8)[:, :k]


def _hex_rows(raw: np.ndarray) -> np.ndarray:
    """(n, k) bytes → (n, 2k) ASCII hex digits, with arithmetic (no lookup tables)."""
    n, k = raw.shape
    out = np.empty((n, 2 * k), dtype=np.uint8)
    for half, shift in ((0, 4), (1, 0)):
        d = (raw >> shift) & np.uint8(15) if shift else raw & np.uint8(15)
        d += np.uint8(48)
        d += (d > 57) * np.uint8(39)
        out[:, half::2] = d
    return out


def hex_of(raw: np.ndarray, nchars: int | None = None) -> pa.Array:
    """Rows of bytes as lower-case hex strings (optionally cut to ``nchars``)."""
    chars = _hex_rows(raw)
    return from_fixed(chars if nchars is None else chars[:, :nchars])


def hex_ids(rng: np.random.Generator, n: int, nchars: int) -> pa.Array:
    """``n`` random lower-case hex strings of ``nchars`` characters."""
    return hex_of(random_bytes(rng, n, (nchars + 1) // 2), nchars)


def uuid_of(raw: np.ndarray) -> pa.Array:
    """Rows of 16 random bytes as version-4 UUID strings (``xxxxxxxx-xxxx-4xxx-yxxx-…``)."""
    raw = np.array(raw, dtype=np.uint8, copy=True)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = _hex_rows(raw)
    out = np.empty((len(raw), 36), dtype=np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = h[:, 0:8], h[:, 8:12], h[:, 12:16]
    out[:, 19:23], out[:, 24:36] = h[:, 16:20], h[:, 20:32]
    return from_fixed(out)


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUID strings."""
    return uuid_of(random_bytes(rng, n, 16))


def uuid_column(rng: np.random.Generator, n: int, chunk: int = 1 << 21) -> pa.ChunkedArray:
    """``n`` random UUID strings built in chunks (bounded temporary memory)."""
    parts = [uuids(rng, min(chunk, n - i)) for i in range(0, n, chunk)]
    return pa.chunked_array(parts, pa.string())


def pool(values: Sequence[str], idx: np.ndarray) -> pa.DictionaryArray:
    """``values[idx]`` as a dictionary array (null where ``idx < 0``): cheap for big columns.

    >>> pool(["paid", "refunded"], np.array([1, -1, 0])).to_pylist()
    ['refunded', None, 'paid']
    """
    values = list(values)
    assert len(set(values)) == len(values), "pool values must be unique"
    return dict_take(pa.array(values, pa.string()), idx, unique=True)


def dict_take(dictionary: pa.Array, idx: np.ndarray, *, unique: bool = False) -> pa.DictionaryArray:
    """``dictionary[idx]`` without copying strings: a dictionary array (null where idx < 0).

    Repeated and null values of ``dictionary`` are folded so the result's dictionary is unique
    (pandas needs that for categoricals); ``unique=True`` promises that already holds.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if unique:
        indices = pa.array(idx.astype(np.int32), mask=idx < 0)
        return pa.DictionaryArray.from_arrays(indices, dictionary.cast(pa.string()))
    enc = pc.dictionary_encode(dictionary.cast(pa.string()))
    remap = np.asarray(enc.indices.fill_null(-1), dtype=np.int64)
    if remap.size:
        idx = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1)
    indices = pa.array(idx.astype(np.int32), mask=idx < 0)
    return pa.DictionaryArray.from_arrays(indices, enc.dictionary)


def take(pool: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """``pool[idx]`` as an Arrow string array."""
    arr = pool if isinstance(pool, pa.Array) else pa.array(list(pool), pa.string())
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """``arr`` with nulls where ``mask`` is true."""
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), pa.scalar(None, arr.type), arr)


def choose(idx: np.ndarray, options: Sequence[pa.Array]) -> pa.Array:
    """Row-wise pick ``options[idx[i]][i]``."""
    if len(options) == 1:
        return options[0]
    return pc.choose(pa.array(np.asarray(idx, dtype=np.int8)), *options)


@functools.lru_cache(maxsize=8)
def _time_table(fmt: str) -> np.ndarray:
    """``fmt`` (only %H %M %S and literals) for every second of a day, as fixed-width bytes."""
    sec = np.arange(86400)
    fields = {"H": sec // 3600, "M": sec % 3600 // 60, "S": sec % 60}
    cols: list[np.ndarray] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            v = fields[fmt[i + 1]]
            cols += [48 + v // 10, 48 + v % 10]
            i += 2
        else:
            cols.append(np.full(86400, ord(fmt[i])))
            i += 1
    chars = np.stack(cols, axis=1).astype(np.uint8)
    return chars.view(f"S{chars.shape[1]}").ravel()


def local_time(
    seconds_utc: np.ndarray, fmt: str = "%Y-%m-%d %H:%M:%S", *, valid: np.ndarray | None = None
) -> pa.Array:
    """UTC epoch seconds formatted as Hong Kong local time (null where ``valid`` is false).

    ``fmt`` is a date part (%Y %m %d) followed by an optional time part starting at %H. Built
    from per-day and per-second lookup tables: far faster than ``pyarrow.compute.strftime``.

    >>> local_time(np.array([0])).to_pylist()
    ['1970-01-01 08:00:00']
    """
    sec = np.asarray(seconds_utc, dtype=np.int64)
    if valid is not None:
        sec = sec[np.asarray(valid, dtype=bool)]
    sec = sec + LOCAL_OFFSET_S
    n = len(sec)
    if not n:
        return pa.nulls(0 if valid is None else len(valid), pa.string())
    cut = fmt.find("%H")
    date_fmt, time_fmt = (fmt, "") if cut < 0 else (fmt[:cut], fmt[cut:])
    day = np.floor(sec / 86400.0).astype(np.int64)  # float division: exact here, and fast
    first = int(day.min())
    span = int(day.max()) - first + 1
    epoch = date(1970, 1, 1)
    days = np.array(
        [(epoch + timedelta(days=first + i)).strftime(date_fmt).encode() for i in range(span)],
        dtype=f"S{len(date(2000, 12, 31).strftime(date_fmt))}",
    )
    fields = [("d", days.dtype)]
    if time_fmt:
        table = _time_table(time_fmt)
        fields.append(("t", table.dtype))
    out = np.empty(n, dtype=fields)
    out["d"] = days.take((day - first).astype(np.int32))
    if time_fmt:
        out["t"] = table.take((sec - day * 86400).astype(np.int32))
    return from_fixed(out.view(np.uint8).reshape(n, out.dtype.itemsize), valid)


def utc_timestamps(seconds_utc: np.ndarray) -> pa.Array:
    """UTC epoch seconds as an Arrow ``timestamp[us, UTC]`` array."""
    us = np.asarray(seconds_utc, dtype=np.int64) * 1_000_000
    return pa.array(us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))


# --- phone numbers -------------------------------------------------------------------------------


@functools.cache
def valid_prefixes(country: str) -> tuple[int, ...]:
    """4-digit national prefixes that make valid mobile numbers of ``country`` (phonenumbers)."""
    import phonenumbers

    cc, length = COUNTRIES[country][1], COUNTRIES[country][2]
    ok_types = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    out = []
    for start in MOBILE_STARTS[country]:
        for rest in range(10 ** (4 - len(start))):
            prefix = start + str(rest).zfill(4 - len(start))
            good = True
            for suffix in ("2468135790", "9753186420"):
                num = phonenumbers.parse(f"+{cc}{prefix}{suffix[: length - 4]}", None)
                if (
                    not phonenumbers.is_valid_number(num)
                    or phonenumbers.region_code_for_number(num) != country
                    or phonenumbers.number_type(num) not in ok_types
                ):
                    good = False
                    break
            if good:
                out.append(int(prefix))
    return tuple(out)


def _distinct_digits(numbers: np.ndarray, length: int) -> np.ndarray:
    seen = np.zeros((len(numbers), 10), dtype=bool)
    rest = numbers.copy()
    for _ in range(length):
        seen[np.arange(len(numbers)), rest % 10] = True
        rest //= 10
    return seen.sum(axis=1)


def mobile_numbers(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """Unique valid national mobile numbers (as int64) for people of the given countries.

    Numbers are unique across all countries of the same length (so an 8-digit Singapore number
    misread as a Hong Kong one can never collide with a real Hong Kong customer), have at least
    three distinct digits and are never one of the junk placeholders.
    """
    out = np.zeros(len(countries), dtype=np.int64)
    junk = {int(j) for j in JUNK_PHONES}
    by_length: dict[int, list[str]] = {}
    for c in COUNTRIES:
        by_length.setdefault(COUNTRIES[c][2], []).append(c)
    for length, group in by_length.items():
        taken = np.zeros(0, dtype=np.int64)
        for c in group:
            rows = np.flatnonzero(countries == c)
            if not len(rows):
                continue
            prefixes = np.array(valid_prefixes(c), dtype=np.int64)
            need, got = len(rows), np.zeros(0, dtype=np.int64)
            while len(got) < need:
                k = int((need - len(got)) * 1.2) + 16
                cand = prefixes[rng.integers(0, len(prefixes), k)] * 10 ** (length - 4)
                cand += rng.integers(0, 10 ** (length - 4), k)
                cand = cand[_distinct_digits(cand, length) >= 3]
                cand = cand[~np.isin(cand, list(junk))]
                cand = np.concatenate([got, cand])
                _, first = np.unique(cand, return_index=True)
                keep = np.sort(first)
                cand = cand[keep]
                cand = cand[~np.isin(cand, taken)]
                got = cand[:need]
            out[rows] = got
            taken = np.concatenate([taken, got])
    return out


#: Written formats per country: (template, is_local). ``{a:b}`` slices the national number;
#: local formats carry no country code and are only used where the reader can tell the country.
PHONE_FORMATS: dict[str, tuple[tuple[str, bool], ...]] = {
    "HK": (
        ("{0:8}", True),
        ("{0:4} {4:8}", True),
        ("{0:4}-{4:8}", True),
        ("+852 {0:4} {4:8}", False),
        ("+852{0:8}", False),
        ("+852-{0:4}-{4:8}", False),
    ),
    "SG": (
        ("{0:8}", True),
        ("{0:4} {4:8}", True),
        ("+65 {0:4} {4:8}", False),
        ("+65{0:8}", False),
    ),
    "MO": (("+853 {0:4} {4:8}", False), ("+853{0:8}", False)),
    "TW": (
        ("0{0:9}", True),
        ("0{0:3}-{3:6}-{6:9}", True),
        ("0{0:3} {3:6} {6:9}", True),
        ("+886 {0:3} {3:6} {6:9}", False),
        ("+886{0:9}", False),
        ("+886-{0:3}-{3:6}-{6:9}", False),
    ),
    "MY": (("+60 {0:2}-{2:5} {5:9}", False), ("+60{0:9}", False)),
    "AU": (("+61 {0:3} {3:6} {6:9}", False), ("+61{0:9}", False)),
    "GB": (("+44 {0:4} {4:10}", False), ("+44{0:10}", False)),
    "US": (("+1 ({0:3}) {3:6}-{6:10}", False), ("+1 {0:3}-{3:6}-{6:10}", False)),
    "CA": (("+1 ({0:3}) {3:6}-{6:10}", False), ("+1 {0:3}-{3:6}-{6:10}", False)),
}


def _render(national: pa.Array, template: str) -> pa.Array:
    parts: list[pa.Array | str] = []
    rest = template
    while rest:
        i = rest.find("{")
        if i < 0:
            parts.append(rest)
            break
        if i:
            parts.append(rest[:i])
        j = rest.index("}", i)
        a, b = (int(x) for x in rest[i + 1 : j].split(":"))
        parts.append(pc.utf8_slice_codeunits(national, start=a, stop=b))
        rest = rest[j + 1 :]
    return join(*parts) if len(parts) > 1 else parts[0]


def e164(countries: np.ndarray, numbers: np.ndarray) -> pa.Array:
    """E.164 strings (``+85291234567``) for national numbers of the given countries."""
    cc = take([COUNTRIES[c][1] for c in COUNTRIES], country_index(countries))
    return join("+", cc, to_str(numbers))


def country_index(countries: np.ndarray) -> np.ndarray:
    """Position of each country code in ``_reference.COUNTRIES``."""
    codes = np.array(list(COUNTRIES))
    order = np.argsort(codes)
    return order[np.searchsorted(codes[order], np.asarray(countries))].astype(np.int64)


def written_phones(
    rng: np.random.Generator,
    countries: np.ndarray,
    numbers: np.ndarray,
    *,
    local: str = "some",
) -> pa.Array:
    """Phones written the way people type them.

    ``local``: "never" (always with +country), "hk" (local formats for Hong Kong numbers only —
    for files without a country column), "some" (local formats for any country; the file must
    carry the country), "always" (local formats wherever the country has one).
    """
    n = len(numbers)
    if not n:
        return pa.nulls(0, pa.string())
    pieces = []
    order = []
    for c, formats in PHONE_FORMATS.items():
        rows = np.flatnonzero(countries == c)
        if not len(rows):
            continue
        nat = to_str(numbers[rows], COUNTRIES[c][2])
        allowed = [
            t
            for t, is_local in formats
            if (
                local == "some"
                or (local == "hk" and (not is_local or c == "HK"))
                or (local == "never" and not is_local)
                or (local == "always" and (is_local or not any(lo for _, lo in formats)))
            )
        ]
        rendered = [_render(nat, t) for t in allowed]
        pieces.append(choose(rng.integers(0, len(rendered), len(rows)), rendered))
        order.append(rows)
    rows_all = np.concatenate(order)
    values = pa.concat_arrays(pieces)
    inverse = np.empty(n, dtype=np.int64)
    inverse[rows_all] = np.arange(n)
    return values.take(pa.array(inverse))
