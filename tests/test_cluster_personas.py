"""ClusterSegmenter, personas and discriminant explanations on the demo's planted groups."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from _demo_support import demo
from segmint.demo.generator import CLUSTER_FEATURES, behaviour_features
from segmint.errors import NotFittedError, ValidationError
from segmint.features.customer_features import customer_features
from segmint.models.base import model_from_json
from segmint.models.cluster import ClusterSegmenter
from segmint.models.explain import explain_membership
from segmint.models.persona import describe_personas, persona_frame, persona_table

FEATURES = list(CLUSTER_FEATURES)


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    f = behaviour_features(demo())  # 3,000 people, seed 7
    f["revenue"] = f["frequency"] * f["aov"]
    return f.reset_index().rename(columns={"person_id": "customer_id"})


@pytest.fixture(scope="module")
def nine(feats) -> tuple[ClusterSegmenter, np.ndarray]:
    model = ClusterSegmenter(n_clusters=9, random_state=0).fit(feats[["customer_id", *FEATURES]])
    return model, model.predict(feats)


#: the demo's features without browse_only (always 0 for people with an order)
BUYER_FEATURES = [c for c in FEATURES if c != "browse_only"]
#: planted groups that buy (browser and prospect never do)
BUYING_GROUPS = 7


@pytest.fixture(scope="module")
def buyers(feats) -> pd.DataFrame:
    return feats[feats["frequency"] > 0].reset_index(drop=True)


@pytest.fixture(scope="module")
def searched(buyers) -> ClusterSegmenter:
    """The automatic search over 3–10: a range holding the 7 planted buying groups."""
    return ClusterSegmenter(min_clusters=3, max_clusters=10, random_state=0).fit(
        buyers[["customer_id", *BUYER_FEATURES]]
    )


# -- recovery of the planted groups ------------------------------------------------------------
def test_planted_groups_are_recovered_at_the_planted_k(feats, nine):
    _, labels = nine
    ari = adjusted_rand_score(feats["group"], labels)
    print(f"ARI at k=9: {ari:.3f}")
    assert ari >= 0.9


def test_buyers_are_exactly_the_planted_buying_groups(feats, buyers):
    assert sorted(buyers["group"].unique()) == sorted(
        ["vip_loyal", "regular", "discount_hunter", "holiday_shopper", "new", "lapsed", "b2b"]
    )
    assert set(feats.loc[feats["frequency"] == 0, "group"]) == {"browser", "prospect"}


def test_automatic_search_chooses_the_planted_k_and_recovers_the_groups(buyers, searched):
    """Over 3–10 the vote of silhouette, Calinski–Harabasz and Davies–Bouldin among stable k
    picks the 7 planted buying groups, recovered with ARI ≥ 0.9 (docs/clustering.md)."""
    labels = searched.predict(buyers)
    ari = adjusted_rand_score(buyers["group"], labels)
    print(f"chosen k={searched.n_clusters_}, ARI {ari:.3f}, scores {searched.k_scores_}")
    assert searched.n_clusters_ == BUYING_GROUPS
    assert ari >= 0.9
    scores = searched.k_scores_
    assert set(scores) == {str(k) for k in range(3, 11)}
    assert scores["7"]["stability"] >= 0.8
    best_ch = max(scores, key=lambda k: scores[k]["calinski_harabasz"])
    best_db = min(scores, key=lambda k: scores[k]["davies_bouldin"])
    assert best_ch == best_db == "7"
    # every planted buying group is the majority of exactly one cluster
    majority = pd.crosstab(buyers["group"], labels).idxmax(axis=1)
    assert majority.nunique() == BUYING_GROUPS


def test_silhouette_alone_merges_the_small_vip_group(buyers, searched):
    """Why the vote: the silhouette alone prefers 6, where the 5 % vip_loyal join regular."""
    model = ClusterSegmenter(
        min_clusters=3, max_clusters=10, criterion="silhouette", random_state=0
    ).fit(buyers[["customer_id", *BUYER_FEATURES]])
    assert model.n_clusters_ == 6
    assert model.k_scores_ == searched.k_scores_  # same figures, another rule
    labels = model.predict(buyers)
    table = pd.crosstab(buyers["group"], labels)
    vip_cluster = table.loc["vip_loyal"].idxmax()
    assert table.loc["regular", vip_cluster] > table.loc["vip_loyal", vip_cluster]
    assert adjusted_rand_score(buyers["group"], labels) < 0.9


def test_default_range_is_three_to_five(buyers):
    model = ClusterSegmenter(random_state=0).fit(buyers[["customer_id", *BUYER_FEATURES]])
    assert set(model.k_scores_) == {"3", "4", "5"}
    assert 3 <= model.n_clusters_ <= 5
    assert model.params_["criterion"] == "vote"


def test_cluster_customers_gives_non_buyers_one_rule_defined_card(feats):
    from segmint.models.persona import NOT_YET_CUSTOMERS, cluster_customers

    cols = ["customer_id", *FEATURES, "revenue", "frequency", "web_events"]
    result = cluster_customers(
        feats[cols], buyers_column="frequency", min_clusters=3, max_clusters=10, random_state=0
    )
    assert result.model.n_clusters_ == BUYING_GROUPS
    assert "browse_only" not in result.model.numeric_features_
    truth = feats.set_index("customer_id").loc[result.customer_ids, "group"]
    planted = truth.where(~truth.isin(["browser", "prospect"]), "not yet")
    ari = adjusted_rand_score(planted, result.labels)
    print(f"ARI over all 3,000 people (non-buyers as one group): {ari:.3f}")
    assert ari >= 0.9
    assert (result.labels == NOT_YET_CUSTOMERS).sum() == truth.isin(["browser", "prospect"]).sum()
    cards = result.personas
    assert [c.cluster for c in cards] == [*range(BUYING_GROUPS), NOT_YET_CUSTOMERS]
    assert sum(c.size for c in cards) == len(feats)
    assert sum(c.share for c in cards) == pytest.approx(1.0)
    not_yet = cards[-1]
    browsers = int((truth == "browser").sum())
    prospects = int((truth == "prospect").sum())
    assert not_yet.name_en == "Not yet customers" and not_yet.name_zh == "尚未購買的聯絡人"
    assert not_yet.value_share == 0.0 and not_yet.offer_key == "first_order"
    assert f"{browsers:,} browse the shop" in not_yet.description_en
    assert f"{prospects:,} are known only as contacts" in not_yet.description_en
    assert f"其中 {browsers:,} 人有瀏覽網店" in not_yet.description_zh
    assert "Compared with other buyers they" in cards[0].description_en
    assert "與其他已購買顧客相比" in cards[0].description_zh
    table = result.table().to_pyarrow().to_pandas()
    assert len(table) == len(feats)
    assert set(table.loc[table["cluster"] == -1, "persona"]) == {"Not yet customers"}


def test_same_seed_same_clusters_and_sampling(feats):
    X = feats[["customer_id", *FEATURES]]
    a = ClusterSegmenter(n_clusters=5, sample_size=1000, random_state=3).fit(X)
    b = ClusterSegmenter(n_clusters=5, sample_size=1000, random_state=3).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.params_["fit_rows"] == 1000
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    # clusters are numbered by size in the fit sample, largest first
    assert a.cluster_sizes_.tolist() == sorted(a.cluster_sizes_.tolist(), reverse=True)
    assert a.cluster_sizes_.sum() == 1000


def test_mixed_numeric_and_categorical_features():
    rng = np.random.default_rng(1)
    n = 600
    group = np.repeat([0, 1, 2], n // 3)
    X = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "revenue": rng.gamma(4, np.array([50.0, 2000.0, 50.0])[group] / 4),
            "orders": rng.poisson(np.array([2, 20, 2])[group]),
            "share": rng.uniform(0, 1, n),
            "country": np.where(group == 2, "TW", "HK"),
            "vip": group == 1,
        }
    )
    X.loc[5, "revenue"] = np.nan
    # the uniform 'share' is noise; a weight of 3 lets the country split groups 0 and 2.
    # The silhouette alone finds the 3 groups; the default vote (Calinski–Harabasz and
    # Davies–Bouldin agree on 5) also cuts the uniform column of groups 0 and 2 in halves —
    # the known cost of the vote (docs/clustering.md) — but never mixes two groups.
    voted = ClusterSegmenter(categorical_weight=3.0, random_state=0).fit(X)
    assert voted.n_clusters_ == 5
    purity = pd.crosstab(voted.predict(X), group).max(axis=1).sum() / n
    assert purity == 1.0
    model = ClusterSegmenter(categorical_weight=3.0, criterion="silhouette", random_state=0).fit(X)
    assert model.k_scores_ == voted.k_scores_
    assert model.numeric_features_ == ["revenue", "orders", "share"]
    assert set(model.categories_) == {"country", "vip"}
    assert model.log_features_ == ["revenue"]  # skewed money; counts (skew < 1), share untouched
    assert model.n_clusters_ == 3
    assert adjusted_rand_score(group, model.predict(X)) > 0.95
    assert model.feature_names_out_[:3] == ["revenue", "orders", "share"]
    assert "country=(other)" in model.feature_names_out_
    Z = model.transform(X)
    assert Z.shape == (n, len(model.feature_names_out_)) and np.isfinite(Z).all()
    # unseen level → "(other)" and still assigned
    Y = X.head(3).assign(country="JP")
    assert model.predict(Y).shape == (3,)


# -- contract ----------------------------------------------------------------------------------
def test_json_round_trip_predicts_the_same(feats, nine):
    model, labels = nine
    text = model.to_json()
    assert "NaN" not in text
    loaded = model_from_json(text)
    assert type(loaded) is ClusterSegmenter
    np.testing.assert_array_equal(loaded.predict(feats), labels)
    assert loaded.k_scores_ == model.k_scores_


def test_not_fitted_errors():
    with pytest.raises(NotFittedError) as info:
        ClusterSegmenter().predict(pd.DataFrame({"a": [1.0]}))
    assert str(info.value).startswith(
        "This ClusterSegmenter is not fitted yet, so predict() cannot be used. Hint: call "
        "ClusterSegmenter(...).fit(...) first"
    )


@pytest.mark.parametrize(
    "params,message",
    [
        (
            {"n_clusters": 1},
            "The 'n_clusters' parameter of ClusterSegmenter must be None or an int ≥ 2. "
            "Got 1 instead.",
        ),
        (
            {"min_clusters": 4, "max_clusters": 3},
            "The 'max_clusters' parameter of ClusterSegmenter must be ≥ min_clusters (4). "
            "Got 3 instead.",
        ),
        (
            {"log_transform": "sqrt"},
            "The 'log_transform' parameter of ClusterSegmenter must be one of 'auto', 'none'. "
            "Got 'sqrt' instead.",
        ),
        (
            {"numeric": ["recncy"]},
            "The feature column 'recncy' of ClusterSegmenter must be a column of the customer "
            "features. Got columns customer_id, recency, spend instead. Did you mean 'recency'?",
        ),
        (
            {"numeric": ["tier"]},
            "The numeric feature 'tier' of ClusterSegmenter must hold numbers. Got object "
            "instead. Hint: list it under categorical=[...] instead of numeric=[...].",
        ),
        (
            {"criterion": "bic"},
            "The 'criterion' parameter of ClusterSegmenter must be one of 'vote', 'silhouette', "
            "'calinski_harabasz', 'davies_bouldin'. Got 'bic' instead.",
        ),
        (
            {"n_clusters": 40},
            "The customer features of ClusterSegmenter must have at least 80 rows (2 × 40 "
            "clusters). Got 50 instead. Hint: use fewer clusters or more customers.",
        ),
    ],
)
def test_error_messages_are_pinned(params, message):
    X = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(50)],
            "recency": np.arange(50.0),
            "spend": np.arange(50.0) ** 2,
        }
    )
    if params.get("numeric") == ["tier"]:
        X["tier"] = pd.Series(["a", "b"] * 25, dtype=object)
        X = X.drop(columns=["spend"])
        message = message.replace("customer_id, recency, spend", "customer_id, recency, tier")
    with pytest.raises(ValidationError) as info:
        ClusterSegmenter(**params).fit(X)
    assert str(info.value) == message


def test_missing_column_at_predict_and_wrong_input_type(nine):
    model, _ = nine
    with pytest.raises(ValidationError) as info:
        model.predict(pd.DataFrame({"log_rat": [1.0]}))
    assert str(info.value).startswith(
        "The customer features must have the columns the ClusterSegmenter was fitted on. "
        "Got no column 'log_rate'"
    )
    with pytest.raises(ValidationError) as info:
        model.predict([[1.0, 2.0]])
    assert str(info.value) == (
        "The customer features of ClusterSegmenter must be a pandas DataFrame or a pyarrow "
        "Table. Got list instead. Hint: execute the ibis expression first, e.g. "
        "ws.execute(features) or expr.to_pandas()."
    )


# -- personas ----------------------------------------------------------------------------------
def test_personas_describe_the_planted_groups_in_both_languages(feats, nine):
    _, labels = nine
    cards = describe_personas(feats[[*FEATURES, "revenue"]], labels, value_column="revenue", top=3)
    assert [c.cluster for c in cards] == list(range(9))
    assert sum(c.size for c in cards) == len(feats)
    assert abs(sum(c.value_share for c in cards) - 1) < 1e-9
    by_group = {feats.loc[labels == c.cluster, "group"].value_counts().index[0]: c for c in cards}
    assert set(by_group) == set(feats["group"])
    b2b, vip, lapsed = by_group["b2b"], by_group["vip_loyal"], by_group["lapsed"]
    assert b2b.name_en == "Bulk-buying, high-spending customers"
    assert b2b.name_zh == "大批量採購、高消費顧客"
    assert b2b.offer_key == "volume"
    assert b2b.features[0].feature == "log_units" and b2b.features[0].effect_size > 3
    assert vip.offer_key == "vip" and "High-spending" in vip.name_en
    assert lapsed.name_en.startswith("Lapsed") and lapsed.name_zh.startswith("久未購買")
    assert lapsed.offer_key == "win_back"
    assert by_group["discount_hunter"].offer_key == "bundle_coupon"
    assert by_group["holiday_shopper"].offer_key == "seasonal"
    assert by_group["browser"].offer_key == "first_order"
    # b2b are 6 % of people but a large share of value
    assert b2b.value_share > 0.3 > 0.1 > b2b.share
    assert "Compared with everyone else they" in b2b.description_en
    assert "與其他顧客相比" in b2b.description_zh and "建議優惠" in b2b.description_zh
    assert len({c.name_en for c in cards}) == 9  # names are unique
    frame = persona_frame(cards)
    assert list(frame["cluster"]) == list(range(9)) and frame["name_zh"].notna().all()


def test_persona_channel_and_metric_table():
    X = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "frequency": [1, 1, 2, 20, 22, 25],
            "channel": ["email", "email", "sms", "whatsapp", "whatsapp", "email"],
        }
    )
    labels = [0, 0, 0, 1, 1, 1]
    cards = describe_personas(X, labels, channel_column="channel")
    assert [c.preferred_channel for c in cards] == ["email", "whatsapp"]
    assert cards[0].value_share is None
    assert "Best reached by WhatsApp." in cards[1].description_en
    t = persona_table(X["customer_id"], labels, cards)
    assert t.schema().names == ("customer_id", "cluster", "persona", "persona_zh_hant")
    con = ibis.duckdb.connect()
    got = con.to_pyarrow(t.filter(t.cluster == 1).order_by("customer_id")).to_pylist()
    assert [r["customer_id"] for r in got] == ["d", "e", "f"]
    assert {r["persona"] for r in got} == {cards[1].name_en}
    assert {r["persona_zh_hant"] for r in got} == {cards[1].name_zh}
    with pytest.raises(ValidationError) as info:
        describe_personas(X, labels, value_column="revenu")
    assert str(info.value) == (
        "The value_column of describe_personas must be a column of the customer features. "
        "Got 'revenu' instead."
    )


def test_personas_never_show_raw_column_names_or_missing():
    """Categorical levels and unknown columns are described by readable labels."""
    X = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(8)],
            "country": [None, None, None, None, "HK", "HK", "TW", "HK"],
            "loyalty_points": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
        }
    )
    cards = describe_personas(X, [0, 0, 0, 0, 1, 1, 1, 1])
    first = cards[0]
    assert first.features[0].feature == "country=(missing)"
    assert first.features[0].label_en == "country: unknown"
    assert first.features[0].label_zh == "國家／地區：未知"
    assert first.name_en == "Country: unknown customers"
    assert first.name_zh == "國家／地區：未知顧客"
    assert "are more often country: unknown (d = +10.0)" in first.description_en
    assert "較多為國家／地區：未知" in first.description_zh
    assert cards[1].name_en == "Hong Kong customers" and cards[1].name_zh == "香港顧客"
    for card in cards:
        for text in (card.name_en, card.name_zh, card.description_en, card.description_zh):
            assert "(missing)" not in text and "=" not in text.replace("d = ", "")


# -- explanation -------------------------------------------------------------------------------
def test_explanation_separates_a_planted_group(feats):
    e = explain_membership(feats[FEATURES], (feats["group"] == "b2b").to_numpy())
    assert e.tree_auc > 0.98 and e.lda_auc > 0.98
    assert e.tree_accuracy > 0.98 > e.baseline_accuracy
    assert e.top_features[0] == "log_units"
    assert e.rules and e.rules[0].startswith("log_units > ")
    assert "members" in e.rules[0]
    assert e.readable_rules("en")[0].startswith("units per order (log) > ")
    zh = e.readable_rules("zh-Hant")[0]
    assert zh.startswith("每單件數（對數） > ") and "為成員（" in zh and zh.endswith("位顧客）")
    assert len(e.readable_rules("zh-Hant")) == len(e.rules) == len(e.leaves)
    assert e.test_rows == 900 and e.members == int((feats["group"] == "b2b").sum())
    again = explain_membership(feats[FEATURES], (feats["group"] == "b2b").to_numpy())
    assert again.rules == e.rules and again.tree_auc == e.tree_auc  # seeded


def test_explanation_of_a_cluster_and_of_noise(feats, nine):
    _, labels = nine
    e = explain_membership(feats[FEATURES], labels == 0)  # the regulars: the hardest cluster
    assert e.tree_auc > 0.85
    rng = np.random.default_rng(0)
    noise = explain_membership(feats[FEATURES], rng.random(len(feats)) < 0.3)
    assert noise.tree_auc < 0.62  # nothing separates a random segment


def test_explanation_errors_are_pinned(feats):
    with pytest.raises(ValidationError) as info:
        explain_membership(feats[FEATURES], feats["group"] == "b2b", max_depth=0)
    assert str(info.value) == (
        "The 'max_depth' argument of explain_membership must be an int in [1, 10]. Got 0 instead."
    )
    with pytest.raises(ValidationError) as info:
        explain_membership(feats[FEATURES], np.zeros(len(feats), dtype=bool))
    assert str(info.value) == (
        "membership must have at least 5 members and 5 non-members. Got 0 members of 3000 "
        "instead. Hint: explain a larger segment, or compare it with more customers."
    )
    with pytest.raises(ValidationError) as info:
        explain_membership(feats[FEATURES], [True, False])
    assert str(info.value) == (
        "membership must have one True/False per customer (3000). Got 2 values instead."
    )


# -- feature builder ---------------------------------------------------------------------------
def test_customer_features_builder_on_demo_orders():
    d = demo()
    o = d.orders.to_pandas()
    orders = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": o["person_id"].astype(str),
                "ts": o["ts"].dt.tz_convert("UTC").dt.tz_localize(None),
                "amount": o["amount"].astype(float),
                "discount": np.where(o["discount_code"].notna(), 1.0, 0.0),
                "channel": np.where(o["record_key"].astype(str).str.startswith("P"), "pos", "web"),
                "status": "completed",
            }
        )
    )
    persons = d.persons.to_pandas()
    profiles = ibis.memtable(
        persons[["person_id", "gender", "country"]].rename(columns={"person_id": "customer_id"})
    )
    expr = customer_features(
        orders, as_of=dt.date(2026, 6, 30), profiles=profiles, profile_columns=("gender", "country")
    )
    f = expr.to_pandas().set_index("customer_id")
    assert len(f) == len(persons)
    counts = o.groupby("person_id").size()
    pid = counts.index[0]
    assert f.loc[str(pid), "order_count"] == counts.iloc[0]
    assert (f["order_count"] >= 0).all() and f["discount_share"].between(0, 1).all()
    model = ClusterSegmenter(random_state=0).fit(f.reset_index())
    assert set(model.categories_) == {"gender", "country", "top_channel"}
    assert {"revenue", "aov", "order_count"} <= set(model.log_features_)


# -- workspace wiring --------------------------------------------------------------------------
def test_cluster_customers_does_not_depend_on_row_order(feats):
    # engines return rows in no fixed order (DuckDB with several threads); same seed, same answer
    from segmint.models.persona import cluster_customers

    cols = ["customer_id", *FEATURES, "revenue"]
    a = cluster_customers(feats[cols], n_clusters=4, random_state=0)
    shuffled = feats[cols].sample(frac=1.0, random_state=1)
    b = cluster_customers(shuffled, n_clusters=4, random_state=0)
    assert a.customer_ids == sorted(a.customer_ids)
    pd.testing.assert_series_equal(
        pd.Series(a.labels, index=a.customer_ids),
        pd.Series(b.labels, index=b.customer_ids).loc[a.customer_ids],
    )


def test_workspace_clusters_and_personas(tmp_path):
    from orders_data import random_orders
    from segmint.workspace import Workspace

    with Workspace.create(tmp_path / "shop") as ws:
        ws.con.insert("orders", ibis.memtable(random_orders(seed=3, customers=400, orders=3000)))
        result = ws.personas(as_of="2026-06-30", random_state=0)
        assert 3 <= result.model.n_clusters_ <= 5
        assert len(result.personas) == result.model.n_clusters_
        assert all(p.name_en and p.name_zh for p in result.personas)
        table = ws.clusters(as_of="2026-06-30", save=True, random_state=0)
        stored = table.to_pandas()
        assert list(stored.columns) == ["customer_id", "cluster", "persona", "persona_zh_hant"]
        assert len(stored) == len(result.customer_ids) and stored["persona"].notna().all()
        # the same seed gives the same clusters
        np.testing.assert_array_equal(
            stored.set_index("customer_id").loc[result.customer_ids, "cluster"], result.labels
        )
        assert "clusters" in ws.con.list_tables()


@pytest.mark.parametrize(
    "module",
    [
        "segmint.models.cluster",
        "segmint.models.persona",
        "segmint.models.explain",
        "segmint.models.feature_labels",
        "segmint.features.customer_features",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
