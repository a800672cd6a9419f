"""Placeholder identifiers that must never link two people (layer 2).

A shop's data is full of ``test@test.com``, ``00000000`` and ``n/a``; linking on them would merge
strangers into one "person". :func:`junk_mask` flags them using the workspace's
``Config.junk`` (patterns for emails, placeholder phone numbers, a minimum number of distinct
digits, and values that are junk for any identifier type).

Example:
    >>> import numpy as np
    >>> junk_mask(np.array(["email", "email", "phone", "phone", "pos"], dtype=object),
    ...           np.array(["test@shop.hk", "amy@shop.hk", "+85222222222", "+85291234567", "N/A"],
    ...                    dtype=object)).tolist()
    [True, False, True, False, True]
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.config import JunkIdentifiers

__all__ = ["junk_mask", "national_number"]

_PHONE_TYPES = ("phone", "whatsapp")


def _glob_to_regex(pattern: str) -> str:
    """fnmatch-style ``*``/``?`` pattern → anchored RE2 regex."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


@functools.lru_cache(maxsize=1)
def _calling_codes() -> tuple[frozenset[str], ...]:
    import phonenumbers

    codes = [str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    return tuple(frozenset(c for c in codes if len(c) == k) for k in (1, 2, 3))


def national_number(e164: pa.Array) -> pa.Array:
    """The digits after the country code of E.164 numbers (``+85291234567`` → ``91234567``).

    Country calling codes are prefix-free, so the first 1, 2 or 3 digits that form a known code
    are the code. Values without ``+`` are returned as their digits.
    """
    digits = pc.replace_substring_regex(e164, r"[^\d]", "")
    plus = pc.fill_null(pc.starts_with(e164, "+"), False)
    out = digits
    for k, codes in zip((3, 2, 1), reversed(_calling_codes()), strict=True):
        head = pc.utf8_slice_codeunits(digits, 0, k)
        hit = pc.and_(plus, pc.is_in(head, value_set=pa.array(sorted(codes))))
        out = pc.if_else(hit, pc.utf8_slice_codeunits(digits, k), out)
    return out


def junk_mask(
    id_types: np.ndarray, values: np.ndarray, junk: JunkIdentifiers | None = None
) -> np.ndarray:
    """``True`` where ``(id_type, id_value)`` is a placeholder that must not link people."""
    cfg = junk or JunkIdentifiers()
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    vals = pa.array(np.asarray(values, dtype=object), pa.string())
    types = np.asarray(id_types, dtype=object)
    low = pc.utf8_lower(pc.utf8_trim_whitespace(vals))
    out = pc.fill_null(
        pc.is_in(low, value_set=pa.array([v.lower() for v in cfg.values], pa.string())), False
    ).to_numpy(zero_copy_only=False)
    out = out | pc.is_null(vals).to_numpy(zero_copy_only=False)

    is_email = types == "email"
    if is_email.any() and cfg.emails:
        where = np.flatnonzero(is_email)
        pattern = "|".join(f"(?:{_glob_to_regex(p.lower())})" for p in cfg.emails)
        hit = pc.fill_null(pc.match_substring_regex(low.take(pa.array(where)), pattern), False)
        out[where] |= hit.to_numpy(zero_copy_only=False)

    is_phone = np.isin(types, _PHONE_TYPES)
    if is_phone.any():
        where = np.flatnonzero(is_phone)
        nat = national_number(vals.take(pa.array(where)))
        placeholder = pc.fill_null(
            pc.is_in(nat, value_set=pa.array(list(cfg.phones), pa.string())), False
        ).to_numpy(zero_copy_only=False)
        distinct = np.zeros(len(where), dtype=np.int64)
        for d in "0123456789":
            distinct += pc.fill_null(pc.match_substring(nat, d), False).to_numpy(
                zero_copy_only=False
            )
        few = distinct < cfg.min_phone_distinct_digits
        out[where] |= placeholder | few
    return np.asarray(out, dtype=bool)
