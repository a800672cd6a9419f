"""The built-in segment library: every definition works on demo data and the planted demo groups
land in the segments meant for them."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from _segments_support import build_demo_workspace
from segmint import segments
from segmint.rules import Catalog, load_specs, resolve
from segmint.schema import TABLES

CRITERIA = {
    "geographic.yaml": ["geo_hong_kong", "geo_greater_taipei", "urban", "rural"],
    "demographic.yaml": ["age_25_34", "gender_female", "income_high"],
    "psychographic.yaml": ["interest_skincare", "lifestyle_new_parent"],
    "firmographic.yaml": [
        "business_customers",
        "company_medium",
        "revenue_under_10m",
        "revenue_10m_100m",
        "revenue_100m_1b",
        "revenue_1b_plus",
    ],
    "purchase.yaml": [
        "first_time_buyers",
        "repeat_buyers",
        "loyal_buyers",
        "lapsed_win_back",
        "big_spenders",
        "discount_sensitive",
    ],
    "user_status.yaml": [
        "status_non_user",
        "status_potential",
        "status_first_time",
        "status_regular",
        "status_ex_user",
    ],
    "occasion.yaml": [
        "birthday_next_14_days",
        "holiday_buyers",
        "holiday_buyers_lunar_new_year",
        "holiday_buyers_valentines",
        "holiday_buyers_11_11",
    ],
    "benefit.yaml": [
        "benefit_value_for_money",
        "benefit_premium_quality",
        "benefit_self_care",
        "benefit_gifting",
    ],
    "loyalty.yaml": ["nps_promoters", "nps_passives", "nps_detractors"],
    "engagement.yaml": ["engagement_active", "engagement_cooling", "engagement_dormant"],
    "ecommerce.yaml": ["abandoned_cart", "browsing_interest_skincare", "promotion_responders"],
    "price.yaml": ["full_price_buyers", "discount_only_buyers"],
    "journey.yaml": ["aida_action", "aida_desire", "aida_interest", "aida_awareness"],
    "channel.yaml": ["channel_in_store", "channel_whatsapp", "channel_email", "channel_web"],
}


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory):
    ws, groups = build_demo_workspace(tmp_path_factory.mktemp("segments-demo"))
    yield ws, groups
    ws.close()


@pytest.fixture(scope="session")
def membership(demo_ws) -> pd.DataFrame:
    """(segment, customer_id, group) of every library segment at the end of the demo data."""
    ws, groups = demo_ws
    at = ws._segment_as_of(None)
    tables = ws._segment_tables(at)
    resolved = segments.resolve_all(segments.load_definitions(), tables)
    now = segments.current_members(resolved, tables, at, timezone="Asia/Hong_Kong").to_pandas()
    return now.merge(groups, on="customer_id", how="left")


def test_library_files_carry_every_criterion_and_the_11_rfm_segments():
    sets = load_specs(segments.library_files())
    slugs = {x.slug for st in sets for x in st.segments}
    for file, wanted in CRITERIA.items():
        assert (segments.library_dir() / file).exists(), file
        assert set(wanted) <= slugs, (file, set(wanted) - slugs)
    assert len([s for s in slugs if s.startswith("rfm_")]) == 11
    for st in sets:
        for x in st.segments:
            assert x.title_en and x.title_zh_hant and x.owner and x.reviewed_on, x.slug
            assert x.title_en != x.title_zh_hant


def test_library_resolves_against_the_canonical_catalog_with_rfm_and_abc(demo_ws):
    ws, _ = demo_ws
    tables = ws._segment_tables(None)
    catalog = Catalog.default(
        metrics={k: v.schema() for k, v in tables.metrics.items()}, event_names=None
    )
    resolved = resolve(list(load_specs(segments.library_files())), catalog)
    assert len(resolved) >= 60
    assert set(TABLES["profiles"].names) >= {"country", "birth_date", "industry"}


def test_every_library_segment_is_non_empty_and_not_everyone(demo_ws, membership):
    ws, _ = demo_ws
    people = ws.table("profiles").count().execute()
    counts = membership.segment.value_counts()
    slugs = {x.slug for st in load_specs(segments.library_files()) for x in st.segments}
    empty = sorted(slugs - set(counts.index))
    assert not empty, f"empty library segments on demo data: {empty}"
    too_big = {s: n for s, n in counts.items() if n > 0.9 * people}
    assert not too_big, too_big


def test_exclusive_sets_partition(demo_ws, membership):
    for prefix in ("status_", "engagement_", "channel_", "rfm_", "aida_"):
        part = membership[membership.segment.str.startswith(prefix)]
        assert part.customer_id.is_unique, prefix
    status = membership[membership.segment.str.startswith("status_")]
    assert len(status) == demo_ws[0].table("profiles").count().execute()  # everyone, once


def _share(membership: pd.DataFrame, group: str, wanted: set[str], among: set[str]) -> float:
    """Share of the group's customers in ``among`` that are also in one of ``wanted``."""
    mine = membership[membership.group == group]
    base = set(mine.customer_id[mine.segment.isin(among)])
    hit = set(mine.customer_id[mine.segment.isin(wanted)]) & base
    assert base, (group, among)
    return len(hit) / len(base)


BUYERS = {"status_regular", "status_first_time"}
REPEAT = {"repeat_buyers"}
AIDA = {"aida_action", "aida_desire", "aida_interest", "aida_awareness"}
HOLIDAYS = {
    "holiday_buyers_lunar_new_year",
    "holiday_buyers_valentines",
    "holiday_buyers_mothers_day",
    "holiday_buyers_11_11",
    "holiday_buyers_christmas",
}


@pytest.mark.parametrize(
    ("group", "wanted", "among", "at_least"),
    [
        ("lapsed", {"lapsed_win_back"}, BUYERS | {"lapsed_win_back"}, 0.8),
        (
            "lapsed",
            {"rfm_at_risk", "rfm_cant_lose_them", "rfm_lost", "rfm_hibernating"},
            REPEAT,
            0.8,
        ),
        ("lapsed", {"engagement_dormant"}, REPEAT, 0.7),
        ("lapsed", {"status_ex_user"}, REPEAT, 0.8),
        ("vip_loyal", {"rfm_champions", "rfm_loyal"}, REPEAT, 0.8),
        ("vip_loyal", {"loyal_buyers"}, REPEAT, 0.8),
        ("vip_loyal", {"big_spenders"}, REPEAT, 0.8),
        ("vip_loyal", {"nps_promoters"}, {"nps_promoters", "nps_passives", "nps_detractors"}, 0.95),
        ("discount_hunter", {"discount_sensitive"}, REPEAT, 0.7),
        (
            "new",
            {
                "first_time_buyers",
                "rfm_new_customers",
                "rfm_promising",
                "rfm_about_to_sleep",
                "rfm_potential_loyalist",
            },
            BUYERS,
            0.8,
        ),
        ("b2b", {"business_customers"}, BUYERS, 0.9),
        ("holiday_shopper", {"holiday_buyers"}, BUYERS, 0.95),
        ("holiday_shopper", {"holiday_buyers_lunar_new_year"}, BUYERS, 0.75),
        ("holiday_shopper", {"holiday_buyers_valentines"}, BUYERS, 0.75),
        ("holiday_shopper", {"holiday_buyers_11_11"}, BUYERS, 0.65),
        ("holiday_shopper", HOLIDAYS, {"holiday_buyers"}, 1.0),
        ("holiday_shopper", {"benefit_gifting"}, BUYERS, 0.95),
        ("discount_hunter", {"benefit_value_for_money"}, REPEAT, 0.7),
        ("browser", {"aida_desire", "aida_interest"}, AIDA, 0.7),
        ("vip_loyal", {"aida_action"}, AIDA, 0.95),
        (
            "browser",
            {"status_potential", "status_non_user"},
            {"status_potential", "status_non_user", *BUYERS},
            1.0,
        ),
        (
            "prospect",
            {"status_non_user", "status_potential"},
            {"status_potential", "status_non_user", *BUYERS},
            1.0,
        ),
    ],
)
def test_planted_groups_land_in_their_segments(membership, group, wanted, among, at_least):
    assert _share(membership, group, wanted, among) >= at_least


@pytest.mark.parametrize(
    ("segment", "groups", "at_least"),
    [
        ("lapsed_win_back", {"lapsed"}, 0.7),
        ("discount_only_buyers", {"discount_hunter"}, 0.9),
        ("business_customers", {"b2b", "prospect"}, 0.95),  # HubSpot leads are businesses too
        ("nps_detractors", {"lapsed", "discount_hunter"}, 0.9),
        ("rfm_champions", {"vip_loyal", "regular", "b2b", "discount_hunter"}, 0.95),
        ("holiday_buyers", {"holiday_shopper"}, 0.95),
        ("holiday_buyers_lunar_new_year", {"holiday_shopper"}, 0.95),
        ("holiday_buyers_valentines", {"holiday_shopper"}, 0.95),
        ("holiday_buyers_11_11", {"holiday_shopper"}, 0.95),
        ("revenue_1b_plus", {"b2b", "prospect"}, 0.95),
    ],
)
def test_library_segments_are_precise_on_planted_groups(membership, segment, groups, at_least):
    mine = membership[(membership.segment == segment) & membership.group.notna()]
    assert len(mine) > 0
    assert mine.group.isin(groups).mean() >= at_least


def test_library_files_are_plain_yaml_without_sql(tmp_path):
    for path in segments.library_files():
        text = path.read_text(encoding="utf-8")
        assert "select " not in text.lower()
        assert yaml.safe_load(text)


def test_urban_and_rural_split_the_profiles_with_a_known_place(demo_ws, membership):
    ws, _ = demo_ws
    urban = set(membership.customer_id[membership.segment == "urban"])
    rural = set(membership.customer_id[membership.segment == "rural"])
    assert urban and rural and not urban & rural
    p = ws.table("profiles").to_pandas().set_index("customer_id")
    assert set(p.loc[sorted(rural), "city"]) <= {"Islands", "Changhua County"}
    assert {"Taipei City", "Kwun Tong", "Singapore"} <= set(p.loc[sorted(urban), "city"])
    assert len(urban | rural) == p.city.notna().sum() - (p.country == "Canada").sum()


def test_revenue_bands_partition_companies_with_a_revenue(demo_ws, membership):
    ws, _ = demo_ws
    bands = membership[membership.segment.str.startswith("revenue_")]
    assert bands.customer_id.is_unique
    p = ws.table("profiles").to_pandas()
    assert len(bands) == p.annual_revenue.notna().sum()
    revenue = p.set_index("customer_id").annual_revenue
    big = bands.customer_id[bands.segment == "revenue_1b_plus"]
    assert (revenue.loc[big] >= 1e9).all()
