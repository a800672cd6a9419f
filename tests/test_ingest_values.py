"""Value parsers: timestamps, money, whole numbers, consent, emails, phones (E.164)."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import phonenumbers
import pyarrow as pa
import pytest

from segmint.ingest.values import (
    normalise_emails,
    normalise_ids,
    normalise_phones,
    parse_bools,
    parse_dates,
    parse_ints,
    parse_money,
    parse_timestamps,
)

HK = "Asia/Hong_Kong"


def _ts(values, **kw):
    v, bad, amb = parse_timestamps(pa.array(values, pa.string()), timezone=HK, **kw)
    return [None if np.isnat(x) else str(x)[:19] for x in v], bad.tolist(), amb.tolist()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-06-30 14:03:00 +0800", "2026-06-30T06:03:00"),  # Shopify
        ("2026-06-30T14:03:00+08:00", "2026-06-30T06:03:00"),
        ("2026-06-30T14:03:00Z", "2026-06-30T14:03:00"),
        ("2026-06-30T14:03:00.250Z", "2026-06-30T14:03:00"),
        ("2026-06-30 14:03:00 -0500", "2026-06-30T19:03:00"),
        ("2026-06-30 14:03", "2026-06-30T06:03:00"),  # naive: Hong Kong time
        ("2026-06-30", "2026-06-29T16:00:00"),
        ("2026/06/30 14:03", "2026-06-30T06:03:00"),
        ("2026/6/3", "2026-06-02T16:00:00"),
        ("2026年6月30日", "2026-06-29T16:00:00"),
        ("2026-06-30 2:03 PM", "2026-06-30T06:03:00"),
        ("2026-06-30 12:00 AM", "2026-06-29T16:00:00"),
        ("30/06/2026", "2026-06-29T16:00:00"),  # unambiguous day-first
        ("06/30/2026", "2026-06-29T16:00:00"),  # unambiguous month-first
    ],
)
def test_timestamps_accepted(text, utc):
    values, bad, amb = _ts([text])
    assert (values, bad, amb) == ([utc], [False], [False])


@pytest.mark.parametrize(
    "text", ["2026-02-30", "2026-13-01", "2026-06-30 25:00", "12,3O", "30.06.26", "45837", "tmrw"]
)
def test_timestamps_refused(text):
    values, bad, amb = _ts([text])
    assert values == [None] and bad == [True] and amb == [False]


def test_ambiguous_slash_dates_need_an_order():
    values, bad, amb = _ts(["03/04/2026", "05/05/2026"])
    assert amb == [True, False] and bad == [False, False]
    assert values[1] == "2026-05-04T16:00:00"  # 05/05 reads the same either way
    assert _ts(["03/04/2026"], date_order="DMY")[0] == ["2026-04-02T16:00:00"]
    assert _ts(["03/04/2026"], date_order="MDY")[0] == ["2026-03-03T16:00:00"]


def test_the_column_settles_the_order():
    values, _bad, amb = _ts(["03/04/2026", "25/12/2026"])  # 25 cannot be a month
    assert amb == [False, False]
    assert values[0] == "2026-04-02T16:00:00"
    # a column mixing both readings stays ambiguous
    _, _, amb = _ts(["25/12/2026", "12/25/2026", "03/04/2026"])
    assert amb == [True, True, True]


def test_missing_values_are_not_problems():
    values, bad, _amb = _ts([None, "2026-01-01"])
    assert values[0] is None and bad == [False, False]


def test_dst_gap_is_a_problem():
    _v, bad, _ = parse_timestamps(
        pa.array(["2026-03-08 02:30:00"]), timezone="America/New_York"
    )  # clocks jump from 02:00 to 03:00
    assert bad.tolist() == [True]


def test_typed_timestamps():
    aware = pa.array([0], pa.timestamp("s", tz="UTC"))
    v, _bad, _ = parse_timestamps(aware, timezone=HK)
    assert str(v[0]) == "1970-01-01T00:00:00.000000"
    naive = pa.array([0], pa.timestamp("s"))
    v, _, _ = parse_timestamps(naive, timezone=HK)
    assert str(v[0]) == "1969-12-31T16:00:00.000000"


def test_dates_do_not_shift():
    v, bad, _ = parse_dates(pa.array(["1990-05-17", "17/05/1990", "1990-02-30"]))
    assert [str(x) for x in v[:2]] == ["1990-05-17", "1990-05-17"]
    assert bad.tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("1234.5", 1234.5, None),
        ("HK$1,234.50", 1234.5, "HKD"),
        ("NT$ 1,200", 1200.0, "TWD"),
        ("$-3.50", -3.5, None),
        ("-HK$5", -5.0, "HKD"),
        ("(12.00)", -12.0, None),
        ("1,234.50 HKD", 1234.5, "HKD"),
        ("S$20", 20.0, "SGD"),
        ("100元", 100.0, None),
        ("¥100", 100.0, None),
    ],
)
def test_money_accepted(text, value, currency):
    vals, bad, cur = parse_money(pa.array([text]))
    assert vals.tolist() == [value] and bad.tolist() == [False]
    assert cur.to_pylist() == [currency]


@pytest.mark.parametrize("text", ["12,3O", "12,3", "1.234,50", "(5", "abc", "1e5", "--5"])
def test_money_refused(text):
    vals, bad, _ = parse_money(pa.array([text]))
    assert np.isnan(vals[0]) and bad.tolist() == [True]


def test_money_mixed_plain_and_symbols():
    vals, bad, cur = parse_money(pa.array(["10", None, "HK$5", "x"]))
    assert vals[0] == 10 and np.isnan(vals[1]) and vals[2] == 5 and np.isnan(vals[3])
    assert bad.tolist() == [False, False, False, True]
    assert cur.to_pylist() == [None, None, "HKD", None]


def test_ints():
    vals, bad = parse_ints(pa.array(["1", "1,200", "3.0", "3.5", "x", None]))
    assert vals[:3].tolist() == [1, 1200, 3]
    assert bad.tolist() == [False, False, False, True, True, False]


def test_consent_words():
    vals, bad = parse_bools(
        pa.array(["yes", "No", "subscribed", "unsubscribed", "是", "否", "已訂閱", "maybe", None])
    )
    assert vals[:7].tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert bad.tolist() == [False] * 7 + [True, False]


def test_emails_trimmed_and_lowered_but_dots_kept():
    e, bad = normalise_emails(
        pa.array([" Chan.TaiMan@Gmail.COM ", "mailto:a+tag@x.hk", "not-an-email", "a@b", None])
    )
    assert e.to_pylist() == ["chan.taiman@gmail.com", "a+tag@x.hk", None, None, None]
    assert bad.tolist() == [False, False, True, True, False]


def test_instagram_handles():
    v = normalise_ids(
        pa.array(["@Amy.Tea", "https://www.instagram.com/amy.tea/", " "]), "instagram"
    )
    assert v.to_pylist() == ["amy.tea", "amy.tea", None]


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("9123 4567", "HK", "+85291234567"),
        ("+852 9123-4567", "HK", "+85291234567"),
        ("(852) 9123 4567", "HK", "+85291234567"),
        ("０９１２－３４５－６７８", "TW", "+886912345678"),
        ("0912-345-678", "TW", "+886912345678"),
        ("912345678", "TW", "+886912345678"),  # a TW mobile that lost its 0 in Excel
        ("8123 4567", "SG", "+6581234567"),
        ("+886 912 345 678", "HK", "+886912345678"),
        ("001 886 912 345 678", "HK", "+886912345678"),  # Hong Kong's IDD prefix 001
        ("123", "HK", None),
    ],
)
def test_phones_to_e164(raw, region, e164):
    out, bad = normalise_phones(pa.array([raw]), region)
    assert out.to_pylist() == [e164]
    assert bad.tolist() == [e164 is None]


def test_phones_with_a_region_per_row():
    out, _ = normalise_phones(
        pa.array(["0912-345-678", "9123 4567", "9123 4567"]), "HK", pa.array(["TW", None, "XX"])
    )
    assert out.to_pylist() == ["+886912345678", "+85291234567", "+85291234567"]


def _reference(value: str, region: str) -> str | None:
    try:
        num = phonenumbers.parse(unicodedata.normalize("NFKC", value).strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize("region", ["HK", "TW", "SG", "US", "GB", "CN", "MY", "MO"])
def test_phone_fast_path_equals_phonenumbers(region):
    rng = random.Random(11)
    digits = "0123456789"

    def draw() -> str:
        k = rng.random()
        if k < 0.3:
            return "".join(rng.choice(digits) for _ in range(rng.randint(5, 12)))
        if k < 0.5:
            head = rng.choice(["+852", "+886", "+65", "+1", "+44", "+86", "00852", "852", "0"])
            return head + "".join(rng.choice(digits) for _ in range(rng.randint(7, 11)))
        if k < 0.8:
            return rng.choice("5689") + "".join(rng.choice(digits) for _ in range(7))
        if k < 0.9:
            return "09" + "".join(rng.choice(digits) for _ in range(8))
        return rng.choice(["(02) 2345-6789", "+852 9123-4567 ext 12", "abc", "８１２３４５６７"])

    values = [draw() for _ in range(3000)]
    got, _ = normalise_phones(pa.array(values), region)
    expected = [_reference(v, region) for v in values]
    assert got.to_pylist() == expected
