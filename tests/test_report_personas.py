"""The report's Personas section: one card per stored cluster (``ws.clusters(save=True)``), with
numbers checked against independent pandas computations on the stored tables, in both languages;
no section without a ``clusters`` table. A small demo workspace (1,500 people, seed 7, imported
as ``segmint demo`` does): its buyers form 4 clusters, the people without an order the
rule-defined "not yet customers" card (cluster -1), shown last."""

from __future__ import annotations

import html as htmllib
import json
import re

import numpy as np
import pandas as pd
import pytest

from report_workspace import make_workspace
from segmint.demo import IMPORT_PLAN, generate
from segmint.report import build_report
from segmint.report.data import gather
from segmint.report.i18n import Translator
from segmint.workspace import Workspace

#: the cards of the fixture in report order: 4 clusters of buyers, then "not yet customers"
CARDS = [0, 1, 2, 3, -1]
#: raw feature columns of ws.customer_features(): never shown in a persona's words
RAW = ("order_count", "recency_days", "tenure_days", "orders_per_year", "discount_share",
       "top_channel", "browse_only", "aov", "(missing)", "(other)")  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("personas")
    paths = generate(1500, seed=7).write(root / "data")
    with Workspace.create(root / "shop", currency="HKD") as ws:
        for plan in IMPORT_PLAN:
            ws.import_file(
                plan.kind, paths[plan.name], mapping=dict(plan.mapping), source=plan.source
            )
        ws.clusters(save=True, n_clusters=4, random_state=0)
    return root / "shop"


@pytest.fixture
def ws(shop):
    with Workspace.open(shop) as w:
        yield w


def _section(page: str) -> str:
    start = page.index('<section class="block" id="personas">')
    return page[start : page.index("</section>", start)]


def _cards(section: str) -> dict[int, str]:
    """cluster → the card's visible text (tags removed, entities decoded, spaces collapsed)."""
    parts = re.split(r'<article class="persona" data-cluster="(-?\d+)">', section)[1:]
    out = {}
    for k, body in zip(parts[::2], parts[1::2], strict=True):
        text = htmllib.unescape(re.sub(r"<[^>]+>", " ", body))
        out[int(k)] = re.sub(r"\s+", " ", text)
    return out


def _expected(ws) -> pd.DataFrame:
    """Per cluster, computed with pandas from the stored clusters table and the features."""
    clusters = ws.table("clusters").to_pandas()
    revenue = ws.customer_features().to_pandas()[["customer_id", "revenue"]]
    df = clusters.merge(revenue, on="customer_id", how="left")
    per = df.groupby("cluster").agg(
        customers=("customer_id", "size"),
        revenue=("revenue", "sum"),
        persona=("persona", "first"),
        persona_zh_hant=("persona_zh_hant", "first"),
    )
    per["share"] = per["customers"] / len(clusters)
    per["value_share"] = per["revenue"] / df["revenue"].sum()
    return per


def _effect(features: pd.DataFrame, inside: np.ndarray, name: str) -> float:
    """Cohen's d (pooled sd) of a numeric column or of a ``column=level`` indicator."""
    if "=" in name:
        col, level = name.split("=", 1)
        s = features[col].astype(object).where(features[col].notna(), "(missing)").astype(str)
        x = (s == level).astype(float)
    else:
        x = features[name].astype(float)
    a, b = x[inside].dropna(), x[~inside].dropna()
    pooled = np.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    diff = a.mean() - b.mean()
    if pooled == 0:  # perfect separation: persona.py reports ±10
        return float(np.sign(diff)) * 10.0
    return float(diff / pooled)


def test_stored_tables_keep_both_names_and_the_cards(ws):
    clusters = ws.table("clusters").to_pandas()
    assert list(clusters.columns) == ["customer_id", "cluster", "persona", "persona_zh_hant"]
    assert clusters["persona_zh_hant"].notna().all()
    profiles = ws.table("profiles").count().execute()
    assert len(clusters) == profiles  # every profile, buyers or not, for segment rules
    stored = ws.table("personas").to_pandas().set_index("cluster")
    assert sorted(stored.index) == sorted(CARDS)
    names = clusters.groupby("cluster")[["persona", "persona_zh_hant"]].first()
    assert (names["persona"] == stored.loc[names.index, "name_en"]).all()
    assert (names["persona_zh_hant"] == stored.loc[names.index, "name_zh_hant"]).all()
    features = ws.customer_features().to_pandas()
    buyers = int((features["order_count"] > 0).sum())
    assert (clusters["cluster"] >= 0).sum() == buyers
    for k, row in stored.drop(index=-1).iterrows():
        e = json.loads(row["explanation_json"])
        assert e["rules"] and 0.5 < e["tree_auc"] <= 1 and 0.5 < e["lda_auc"] <= 1, k
        assert len(e["rules_zh_hant"]) == len(e["rules"]) == len(e["rules_raw"])
        assert e["customers"] == buyers  # 1,500-person demo: below the 20,000 sample
        assert json.loads(row["features_json"])
    not_yet = stored.loc[-1]
    assert not_yet["name_en"] == "Not yet customers"
    assert not_yet["name_zh_hant"] == "尚未購買的聯絡人"
    assert not_yet["size"] == profiles - buyers and not_yet["value_share"] == 0.0
    browse = int(((features["order_count"] == 0) & (features["events"] > 0)).sum())
    assert f"{browse:,} browse the shop" in not_yet["description_en"]
    assert (
        f"{profiles - buyers - browse:,} are known only as contacts" in (not_yet["description_en"])
    )
    rule = json.loads(not_yet["explanation_json"])
    assert rule["rule_defined"] and rule["rules_zh_hant"][0].startswith("截至分析日未有訂單")


def test_persona_words_never_show_raw_columns(ws):
    stored = ws.table("personas").to_pandas()
    for row in stored.itertuples():
        texts = [row.name_en, row.name_zh_hant, row.description_en, row.description_zh_hant]
        for f in json.loads(row.features_json):
            texts += [f["label_en"], f["label_zh_hant"]]
        if row.explanation_json:
            e = json.loads(row.explanation_json)
            texts += e["rules"] + e["rules_zh_hant"]
        for text in texts:
            for raw in RAW:
                assert raw not in text, (row.cluster, raw, text)


def test_gathered_numbers_equal_pandas(ws):
    data = gather(ws).personas.set_index("cluster")
    exp = _expected(ws).loc[CARDS]
    assert list(data.index) == list(exp.index) == CARDS
    assert (data["customers"] == exp["customers"]).all()
    np.testing.assert_allclose(data["share"], exp["share"])
    np.testing.assert_allclose(data["value_share"], exp["value_share"], rtol=1e-9, atol=1e-12)
    assert (data["name_en"] == exp["persona"]).all()
    assert (data["name_zh"] == exp["persona_zh_hant"]).all()


def test_effect_sizes_equal_pandas(ws):
    features = ws.customer_features().to_pandas()
    # as cluster_customers does: no orders → the largest recency and a tenure of 0
    features["recency_days"] = features["recency_days"].fillna(features["recency_days"].max())
    features["tenure_days"] = features["tenure_days"].fillna(0.0)
    labels = ws.table("clusters").to_pandas().set_index("customer_id")["cluster"]
    features["_k"] = features["customer_id"].map(labels)
    features = features[features["order_count"] > 0]  # clusters are compared with other buyers
    data = gather(ws).personas
    assert data["features"].iloc[-1] == []  # the not-yet card is a rule: no effect sizes
    for r in data.iloc[:-1].itertuples():
        inside = (features["_k"] == r.cluster).to_numpy()
        assert r.features
        for f in r.features:
            assert f["effect_size"] == pytest.approx(
                _effect(features, inside, f["feature"]), abs=1e-3
            ), (r.cluster, f["feature"])


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("Personas", "Share of revenue", "Preferred channel", "Suggested offer", "AUC")),
        ("zh-Hant", ("客戶角色", "營業額佔比", "首選渠道", "建議優惠", "AUC")),
    ],
)
def test_report_shows_a_card_per_persona(ws, lang, words):
    page = build_report(ws, lang=lang)
    assert 'id="personas"' in page and 'href="#personas"' in page
    section = _section(page)
    for word in words:
        assert word in section
    t = Translator(lang)
    exp = _expected(ws)
    stored = ws.table("personas").to_pandas().set_index("cluster")
    cards = _cards(section)
    assert list(cards) == CARDS
    for k, text in cards.items():
        e = exp.loc[k]
        name = e["persona_zh_hant"] if lang == "zh-Hant" else e["persona"]
        assert name in text
        assert t("persona.size", n=t.count(e["customers"]), share=t.pct(e["share"])) in text
        assert t.pct(e["value_share"]) in text
        row = stored.loc[k]
        description = row["description_zh_hant" if lang == "zh-Hant" else "description_en"]
        assert description in text
        assert row["offer_zh_hant" if lang == "zh-Hant" else "offer_en"] in text
        label = "label_zh_hant" if lang == "zh-Hant" else "label_en"
        for f in json.loads(row["features_json"]):
            assert f"{f[label]}" in text and f"d = {f['effect_size']:+.2f}" in text
        explanation = json.loads(row["explanation_json"])
        if k >= 0:
            assert t.num(explanation["tree_auc"], 3) in text
        rules = explanation["rules_zh_hant" if lang == "zh-Hant" else "rules"]
        other_rules = explanation["rules" if lang == "zh-Hant" else "rules_zh_hant"]
        assert rules
        for rule, other_rule in zip(rules, other_rules, strict=True):
            assert rule in text and other_rule not in text
    other = Translator("en" if lang == "zh-Hant" else "zh-Hant")
    assert other("section.personas") not in section


def test_report_without_clusters_has_no_personas_section(tmp_path):
    with make_workspace(tmp_path / "small") as ws:
        assert gather(ws).personas.empty
        page = build_report(ws, lang="en")
    assert "Data overview" in page
    assert 'id="personas"' not in page and 'href="#personas"' not in page


def test_segment_rules_reach_every_profile_through_the_clusters_metric(ws):
    """Non-buyers are in the clusters table too, so rules can target them by persona."""
    clusters = ws.table("clusters").to_pandas()
    seg = {"title_en": "T", "title_zh_hant": "T", "owner": "crm", "reviewed_on": "2026-01-01"}
    not_yet = {
        **seg,
        "slug": "not_yet",
        "where": {"metric": "clusters.persona", "op": "eq", "value": "Not yet customers"},
    }
    buyers = {**seg, "slug": "any_buyer",
              "where": {"metric": "clusters.cluster", "op": "gte", "value": 0}}  # fmt: skip
    assert ws.segment_preview(not_yet).count == (clusters["cluster"] == -1).sum() > 0
    assert ws.segment_preview(buyers).count == (clusters["cluster"] >= 0).sum() > 0
