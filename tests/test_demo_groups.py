"""The planted customer groups behave as documented and can be recovered by clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _demo_support import demo
from segmint.demo import GROUPS
from segmint.demo.generator import CLUSTER_FEATURES, behaviour_features

END = pd.Timestamp("2026-06-30 16:00", tz="UTC")  # 2026-07-01 00:00 Hong Kong time


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return behaviour_features(demo())


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    o = demo().orders.to_pandas()
    return o


def by_group(feats: pd.DataFrame, col: str) -> pd.Series:
    return feats.groupby("group")[col].mean()


def test_every_group_is_planted_with_its_share(feats):
    counts = feats["group"].value_counts()
    assert set(counts.index) == set(GROUPS)
    for name, g in GROUPS.items():
        assert abs(counts[name] - g.share * len(feats)) <= 1


def test_vip_buy_far_more_often_and_spend_more(feats):
    freq = by_group(feats, "frequency")
    aov = by_group(feats, "aov")
    assert freq["vip_loyal"] > 3 * freq["regular"]
    assert freq["vip_loyal"] > 3 * freq["lapsed"]
    assert aov["vip_loyal"] > 2 * aov["regular"]
    assert by_group(feats, "recency_days")["vip_loyal"] < 60


def test_lapsed_stopped_long_ago(orders, feats):
    lapsed = orders[orders["group"] == "lapsed"]
    assert len(lapsed) > 0
    assert (END - lapsed["ts"]).dt.days.min() > 180  # nothing in the last 180 days
    assert feats.loc[feats["group"] == "lapsed", "frequency"].min() >= 1


def test_new_customers_first_bought_in_the_last_60_days(feats):
    new = feats[feats["group"] == "new"]
    assert (new["frequency"] >= 1).all()
    assert new["tenure_days"].max() <= 60
    others = feats[feats["group"].isin(["regular", "vip_loyal", "discount_hunter", "lapsed"])]
    assert others["tenure_days"].min() > 120


def test_discount_hunters_use_codes_on_small_baskets(feats):
    share = by_group(feats, "discount_share")
    assert share["discount_hunter"] > 0.75
    assert share.drop(["discount_hunter", "browser", "prospect"]).max() < 0.3
    aov = by_group(feats, "aov")
    assert aov["discount_hunter"] < 0.5 * aov["regular"]


def test_holiday_shoppers_buy_only_in_gift_seasons(orders, feats):
    hol = orders[orders["group"] == "holiday_shopper"]
    assert hol["holiday_season"].all()
    assert orders.loc[orders["group"] == "regular", "holiday_season"].mean() < 0.35
    assert set(hol["ts"].dt.tz_convert("Asia/Hong_Kong").dt.month) >= {1, 2, 11, 12}


def test_b2b_buy_wholesale_and_have_firmographics():
    p = demo().persons.to_pandas()
    b2b = p[p["group"] == "b2b"]
    assert b2b["company"].notna().all() and b2b["industry"].notna().all()
    assert (b2b["company_size"] > 0).all() and (b2b["annual_revenue"] > 0).all()
    assert p.loc[p["group"] == "regular", "company"].isna().all()
    o = demo().orders.to_pandas()
    units = o.groupby("group")["units"].mean()
    assert units["b2b"] > 10 * units["regular"]


def test_browsers_browse_and_prospects_are_only_contacts(feats):
    browsers = feats[feats["group"] == "browser"]
    prospects = feats[feats["group"] == "prospect"]
    assert (browsers["frequency"] == 0).all() and (prospects["frequency"] == 0).all()
    assert (browsers["web_events"] > 0).mean() > 0.8
    assert (prospects["web_events"] == 0).all()


def test_groups_are_recoverable_by_clustering(feats):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(feats[list(CLUSTER_FEATURES)])
    labels = KMeans(len(GROUPS), n_init=10, random_state=0).fit_predict(x)
    assert adjusted_rand_score(feats["group"], labels) >= 0.9


def test_bgnbd_and_gamma_gamma_parameters_hold():
    p = demo().persons.to_pandas()
    for name in ("regular", "vip_loyal", "lapsed"):
        g = GROUPS[name]
        rate = p.loc[p["group"] == name, "rate_per_day"]
        assert rate.mean() == pytest.approx(g.bgnbd.mean_rate, rel=0.1)
        drop = p.loc[p["group"] == name, "dropout_p"]
        assert drop.mean() == pytest.approx(g.bgnbd.a / (g.bgnbd.a + g.bgnbd.b), rel=0.25)
        spend = p.loc[p["group"] == name, "expected_order_value"]
        assert spend.median() == pytest.approx(g.spend.mean_order_value, rel=0.25)
    # process parameters exist only where the group has that process
    assert (
        p.loc[p["group"].isin(["browser", "prospect", "holiday_shopper"]), "rate_per_day"]
        .isna()
        .all()
    )


def test_observed_spend_follows_the_planted_means(orders):
    mean = orders.groupby("group")["amount"].mean()
    for name in ("regular", "vip_loyal", "discount_hunter", "b2b"):
        assert mean[name] == pytest.approx(GROUPS[name].spend.mean_order_value, rel=0.25)


def test_some_birthdays_fall_in_the_next_14_days():
    p = demo().persons.to_pandas()
    bd = pd.to_datetime(p["birth_date"])
    nxt = pd.to_datetime(
        {
            "year": 2026,
            "month": bd.dt.month,
            "day": bd.dt.day.where(~((bd.dt.month == 2) & (bd.dt.day == 29)), 28),
        }
    )
    nxt = nxt.where(nxt >= pd.Timestamp("2026-06-30"), nxt + pd.DateOffset(years=1))
    soon = ((nxt - pd.Timestamp("2026-06-30")).dt.days <= 14).sum()
    assert 0.02 * len(p) < soon < 0.08 * len(p)


def test_demographics_and_traits_vary():
    p = demo().persons.to_pandas()
    assert set(p["gender"]) == {"female", "male", "non-binary"}
    assert set(p["language"]) == {"zh-Hant", "en", "zh-Hans"}
    assert p["income_band"].nunique() == 4
    assert p["interests"].str.contains(",").all()
    age = (pd.Timestamp("2026-06-30") - pd.to_datetime(p["birth_date"])).dt.days / 365.25
    assert age.between(17.9, 75.1).all()
    vip_values = p.loc[p["group"] == "vip_loyal", "values"].str.contains("premium quality").mean()
    assert vip_values > p.loc[p["group"] == "regular", "values"].str.contains("premium").mean()


def test_consent_with_withdrawals_on_every_channel():
    p = demo().persons.to_pandas()
    for ch in ("email", "sms", "whatsapp"):
        states = p[f"consent_{ch}"].value_counts()
        assert states.get("yes", 0) > 0 and states.get("withdrawn", 0) > 0, ch
        given = p[p[f"consent_{ch}"].isin(["yes", "withdrawn"])]
        assert given[f"consent_{ch}_at"].notna().all()
    assert np.all(p["consent_whatsapp_at"].dropna() <= END)
