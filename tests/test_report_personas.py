"""The report's Personas section: one card per stored cluster (``ws.clusters(save=True)``), with
numbers checked against independent pandas computations on the stored tables, in both languages;
no section without a ``clusters`` table. A small demo workspace (1,500 people, seed 7, imported
as ``segmint demo`` does)."""

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
    parts = re.split(r'<article class="persona" data-cluster="(\d+)">', section)[1:]
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
    stored = ws.table("personas").to_pandas().set_index("cluster")
    assert sorted(stored.index) == [0, 1, 2, 3]
    names = clusters.groupby("cluster")[["persona", "persona_zh_hant"]].first()
    assert (names["persona"] == stored.loc[names.index, "name_en"]).all()
    assert (names["persona_zh_hant"] == stored.loc[names.index, "name_zh_hant"]).all()
    for k, row in stored.iterrows():
        e = json.loads(row["explanation_json"])
        assert e["rules"] and 0.5 < e["tree_auc"] <= 1 and 0.5 < e["lda_auc"] <= 1, k
        assert e["customers"] == len(clusters)  # 1,500-person demo: below the 20,000 sample
        assert json.loads(row["features_json"])


def test_gathered_numbers_equal_pandas(ws):
    data = gather(ws).personas.set_index("cluster")
    exp = _expected(ws)
    assert list(data.index) == list(exp.index) == [0, 1, 2, 3]
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
    data = gather(ws).personas
    for r in data.itertuples():
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
    assert sorted(cards) == [0, 1, 2, 3]
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
        for f in json.loads(row["features_json"]):
            assert f"{f['feature']}" in text and f"d = {f['effect_size']:+.2f}" in text
        explanation = json.loads(row["explanation_json"])
        assert t.num(explanation["tree_auc"], 3) in text
        for rule in explanation["rules"]:
            assert rule in text
    other = Translator("en" if lang == "zh-Hant" else "zh-Hant")
    assert other("section.personas") not in section


def test_report_without_clusters_has_no_personas_section(tmp_path):
    with make_workspace(tmp_path / "small") as ws:
        assert gather(ws).personas.empty
        page = build_report(ws, lang="en")
    assert "Data overview" in page
    assert 'id="personas"' not in page and 'href="#personas"' not in page
