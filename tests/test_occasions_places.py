"""Reference data behind the library: the holiday calendar (`occasions`) and urban/rural places."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import pytest

from segmint.demo import _reference as demo_ref
from segmint.errors import ValidationError
from segmint.features import occasions
from segmint.features.occasions import (
    HOLIDAYS,
    LUNAR_NEW_YEAR,
    OCCASION_COLUMNS,
    holiday_date,
    holiday_seasons,
    occasion_orders,
)
from segmint.features.places import PLACES, URBANITY, place_urbanity, places_table

UTC = dt.datetime


def test_lunar_new_year_table_covers_2015_to_2035_between_jan_21_and_feb_20():
    assert sorted(LUNAR_NEW_YEAR) == list(range(2015, 2036))
    for year, day in LUNAR_NEW_YEAR.items():
        assert day.year == year
        assert dt.date(year, 1, 21) <= day <= dt.date(year, 2, 20), day


def test_fixed_and_weekday_holidays():
    assert holiday_date("mothers_day", 2025) == dt.date(2025, 5, 11)
    assert holiday_date("mothers_day", 2026) == dt.date(2026, 5, 10)
    for year in range(2015, 2036):
        d = holiday_date("mothers_day", year)
        assert d.weekday() == 6 and 8 <= d.day <= 14
    assert holiday_date("singles_day", 2026) == dt.date(2026, 11, 11)
    assert holiday_date("lunar_new_year", 2014) is None
    with pytest.raises(ValidationError, match="Unknown holiday 'easter'"):
        holiday_date("easter", 2026)


def test_the_demo_plants_its_holiday_shoppers_on_the_same_calendar():
    assert demo_ref.holidays is occasions.holidays
    assert demo_ref.LUNAR_NEW_YEAR is LUNAR_NEW_YEAR
    assert demo_ref.HOLIDAY_LEAD_DAYS == occasions.LEAD_DAYS == 14
    names = {n for n, _ in demo_ref.holidays(dt.date(2024, 7, 1), dt.date(2026, 6, 30))}
    assert names == set(HOLIDAYS.values())


def test_season_pieces_do_not_overlap_and_start_at_local_midnight():
    rows = holiday_seasons(range(2015, 2036), timezone="Asia/Hong_Kong").to_pylist()
    for a, b in itertools.pairwise(rows):
        assert a["start"] < a["end"] <= b["start"]
    assert all(any(r[k] for k in HOLIDAYS) for r in rows)
    xmas = [r for r in rows if r["christmas"] and r["start"].year == 2025]
    assert (xmas[0]["start"], xmas[-1]["end"]) == (UTC(2025, 12, 11, 16), UTC(2025, 12, 25, 16))
    both = [r for r in rows if r["lunar_new_year"] and r["valentines_day"]]
    assert UTC(2026, 2, 3, 16) in {r["start"] for r in both}  # LNY 17 Feb 2026 season from 4 Feb


def test_seasons_follow_daylight_saving_time():
    rows = holiday_seasons([2026], timezone="Europe/London").to_pylist()
    mothers = [r for r in rows if r["mothers_day"]]
    assert mothers[0]["start"] == UTC(2026, 4, 26, 23)  # 27 Apr 00:00 BST
    xmas = [r for r in rows if r["christmas"]]
    assert xmas[0]["start"] == UTC(2026, 12, 12)  # 12 Dec 00:00 GMT


def test_lead_days_and_time_zone_are_checked():
    with pytest.raises(ValidationError, match="lead_days must be a whole number of days from 1"):
        holiday_seasons([2026], lead_days=0)
    with pytest.raises(ValidationError, match=r"IANA name such as 'Asia/Hong_Kong'\. Got 'Mars/X'"):
        holiday_seasons([2026], timezone="Mars/X")


def _orders(rows):
    cols = ("customer_id", "ts", "amount", "status")
    return ibis.memtable({c: [r[i] for r in rows] for i, c in enumerate(cols)})


def test_occasion_orders_counts_season_orders_in_the_workspace_time_zone():
    orders = _orders(
        [
            ("a", UTC(2025, 12, 11, 15, 59, 59), 1.0, "completed"),  # 11 Dec 23:59 HK: before
            ("a", UTC(2025, 12, 11, 16), 1.0, "completed"),  # 12 Dec 00:00 HK: first day
            ("a", UTC(2025, 12, 25, 15, 59), 1.0, "completed"),  # Christmas day, 23:59 HK
            ("a", UTC(2025, 12, 25, 16), 1.0, "completed"),  # 26 Dec HK: after
            ("b", UTC(2026, 2, 10, 4), 1.0, "completed"),  # in LNY and Valentine's seasons
            ("b", UTC(2026, 2, 12), 1.0, "refunded"),  # refunds never count
            ("b", UTC(2026, 11, 5), 1.0, "completed"),  # after the as-of day
            ("c", UTC(2026, 3, 1), 1.0, None),  # no status: a sale, outside every season
        ]
    )
    t = occasion_orders(orders, as_of="2026-06-30", timezone="Asia/Hong_Kong")
    assert t.columns == OCCASION_COLUMNS
    got = {r["customer_id"]: r for r in t.to_pandas().to_dict("records")}
    assert set(got) == {"a", "b", "c"}
    assert (got["a"]["orders"], got["a"]["holiday_orders"], got["a"]["christmas_orders"]) == (
        4,
        2,
        2,
    )
    b = got["b"]
    assert (b["orders"], b["holiday_orders"], b["holiday_share"]) == (1, 1, 1.0)
    assert (b["lunar_new_year_orders"], b["valentines_day_orders"]) == (1, 1)
    assert (got["c"]["holiday_orders"], got["c"]["holiday_share"]) == (0, 0.0)
    late = _orders([("d", UTC(2025, 12, 25, 20), 1.0, "completed")])  # 26 Dec 04:00 in HK
    for tz, n in (("UTC", 1), ("Asia/Hong_Kong", 0)):
        t = occasion_orders(late, as_of="2026-06-30", timezone=tz).to_pandas()
        assert t.christmas_orders.tolist() == [n], tz


def test_every_place_the_demo_generates_has_a_class():
    classes = {(r["country"], r["name"]): r["urbanity"] for r in places_table().to_pylist()}
    for country, _, _, city, _ in demo_ref.PLACES:
        assert (country, city.lower()) in classes, (country, city)
    assert {u for *_, u, _ in PLACES} == set(URBANITY)
    assert classes[("HK", "islands")] == "rural" and classes[("TW", "宜蘭縣")] == "rural"
    assert len(classes) == len(places_table())  # one class per written name


def test_place_urbanity_matches_names_in_english_and_chinese_within_the_country():
    p = ibis.memtable(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f", "g"],
            "country": ["HK", "TW", "TW", "tw ", "SG", "HK", None],
            "city": [" sha tin district", "台東縣", "Taipei", "Hsinchu County", "Singapore",
                     "Taipei City", "Islands"],
        }
    )  # fmt: skip
    got = dict(place_urbanity(p).to_pandas().values.tolist())
    assert got == {"a": "urban", "b": "rural", "c": "urban", "d": "rural", "e": "urban"}
