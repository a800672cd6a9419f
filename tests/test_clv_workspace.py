"""``ws.clv()``, ``segmint clv``, the ``clv`` metric in segment definitions and the report's CLV
section, on a small demo workspace (1,500 people, seed 7, imported as ``segmint demo`` does)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from report_workspace import make_workspace
from segmint.cli import app
from segmint.demo import IMPORT_PLAN, generate
from segmint.errors import SegmintError
from segmint.models.clv import customer_scores
from segmint.predict import CLV_COLUMNS
from segmint.report import build_report
from segmint.report.data import CLV_BINS, gather
from segmint.workspace import Workspace

SEG = {"title_en": "T", "title_zh_hant": "T", "owner": "crm", "reviewed_on": "2026-01-01"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A demo workspace with RFM and a stored clv table; returns (folder, CLVResult)."""
    root = tmp_path_factory.mktemp("clv")
    paths = generate(1500, seed=7).write(root / "data")
    with Workspace.create(root / "shop", currency="HKD") as ws:
        for plan in IMPORT_PLAN:
            ws.import_file(
                plan.kind, paths[plan.name], mapping=dict(plan.mapping), source=plan.source
            )
        result = ws.clv()
        summary = ws.btyd_summary(unit="D").to_pandas()
    return root / "shop", result, summary


@pytest.fixture
def ws(shop):
    with Workspace.open(shop[0]) as w:
        yield w


def test_clv_table_is_stored_with_one_row_per_buyer(shop, ws):
    _, result, summary = shop
    stored = ws.table("clv").to_pandas()
    assert tuple(stored.columns) == CLV_COLUMNS
    assert len(stored) == len(summary) > 1000
    assert stored["customer_id"].is_unique
    assert set(stored["customer_id"]) == set(summary["customer_id"])
    assert stored["p_alive"].between(0, 1).all()
    assert (stored["clv"] >= 0).all() and (stored["expected_spend"] > 0).all()
    assert (stored["expected_purchases"] >= 0).all()
    assert set(stored["churn_risk"]) == {"low", "medium", "high"}
    assert set(pd.to_datetime(stored["as_of"]).dt.date) == {ws.default_as_of()}
    assert result.as_of == ws.default_as_of()


def test_parameters_come_with_standard_errors(shop):
    params = shop[1].params
    assert list(params["model"].unique()) == ["BG/NBD", "Gamma-Gamma"]
    assert list(params["parameter"]) == ["r", "alpha", "a", "b", "p", "q", "gamma"]
    assert (params["estimate"] > 0).all()
    assert np.isfinite(params["std_error"]).all() and (params["std_error"] > 0).all()


def test_table_equals_customer_scores_in_pandas(shop, ws):
    _, result, summary = shop
    expected = customer_scores(
        result.purchase_model, result.spend_model, summary, unit="D"
    ).set_index("customer_id")
    got = ws.table("clv").to_pandas().set_index("customer_id").loc[expected.index]
    np.testing.assert_allclose(got["clv"], expected["clv"], rtol=1e-9)
    np.testing.assert_allclose(got["p_alive"], expected["probability_alive"], rtol=1e-9)
    assert (got["churn_risk"] == expected["risk"]).all()


def test_high_churn_risk_means_longer_silence(shop, ws):
    summary = shop[2].set_index("customer_id")
    stored = ws.table("clv").to_pandas().set_index("customer_id")
    silence = (summary["T"] - summary["recency"]).loc[stored.index]
    by_band = silence.groupby(stored["churn_risk"]).mean()
    assert by_band["high"] > 2 * by_band["low"]


def test_save_false_and_a_longer_horizon(shop, ws):
    before = ws.table("clv").to_pandas().set_index("customer_id")["clv"]
    longer = ws.clv(horizon_months=24, save=False)
    after = ws.table("clv").to_pandas().set_index("customer_id")["clv"]
    pd.testing.assert_series_equal(before, after)  # nothing stored
    two_years = longer.table.to_pandas().set_index("customer_id")["clv"].loc[before.index]
    assert (two_years >= before - 1e-9).all() and two_years.sum() > 1.3 * before.sum()


def test_clv_metrics_in_segment_definitions(ws):
    stored = ws.table("clv").to_pandas()
    high = {**SEG, "slug": "churn_high", "where": {"metric": "clv.churn_risk", "op": "eq",
                                                   "value": "high"}}  # fmt: skip
    assert ws.segment_preview(high).count == (stored["churn_risk"] == "high").sum() > 0
    cut = float(stored["clv"].quantile(0.9))
    valuable_at_risk = {
        **SEG,
        "slug": "valuable_at_risk",
        "where": {
            "all": [
                {"metric": "clv.p_alive", "op": "lt", "value": 0.5},
                {"metric": "clv.clv", "op": "gte", "value": cut},
            ]
        },
    }
    expected = ((stored["p_alive"] < 0.5) & (stored["clv"] >= cut)).sum()
    assert ws.segment_preview(valuable_at_risk).count == expected > 0


def test_clv_metric_needs_the_table(tmp_path):
    with make_workspace(tmp_path / "small") as ws:
        spec = {**SEG, "slug": "x", "where": {"metric": "clv.clv", "op": "gt", "value": 0}}
        with pytest.raises(SegmintError, match=r"clv\.clv"):
            ws.segment_preview(spec, as_of="2026-06-30")


def test_report_data_from_the_clv_table(ws):
    stored = ws.table("clv").to_pandas()
    data = gather(ws)
    n = len(stored)
    assert data.clv["customers"] == n
    assert math.isclose(data.clv["total"], stored["clv"].sum(), rel_tol=1e-9)
    top = stored["clv"].sort_values(ascending=False).head(math.ceil(n / 10)).sum()
    assert math.isclose(data.clv["top_decile_share"], top / stored["clv"].sum(), rel_tol=1e-9)
    assert len(data.clv_histogram) == CLV_BINS and data.clv_histogram["customers"].sum() == n
    bands = data.churn_bands.set_index("churn_risk")
    assert list(bands.index) == ["low", "medium", "high"]
    assert bands["customers"].to_dict() == stored["churn_risk"].value_counts().to_dict()
    assert math.isclose(bands["share"].sum(), 1.0) and math.isclose(bands["clv_share"].sum(), 1.0)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("Lifetime value and churn risk", "Churn-risk bands", "High risk", "Top 10%")),
        ("zh-Hant", ("終身價值與流失風險", "流失風險分級", "高風險", "前 10% 客戶")),
    ],
)
def test_report_shows_clv_and_churn_sections(ws, lang, words):
    html = build_report(ws, lang=lang)
    assert 'id="clv"' in html and 'href="#clv"' in html
    assert "chart-clv-histogram" in html and "chart-churn-bands" in html
    for word in words:
        assert word in html


def test_report_without_clv_has_no_clv_section(tmp_path):
    with make_workspace(tmp_path / "small") as ws:
        html = build_report(ws, lang="en")
        assert gather(ws).clv == {}
    assert "Data overview" in html  # the report still renders
    assert 'id="clv"' not in html and "chart-clv-histogram" not in html


def test_cli_prints_parameters_and_bands(shop):
    folder = shop[0]
    result = CliRunner().invoke(app, ["clv", "-w", str(folder), "--horizon", "12"])
    assert result.exit_code == 0, result.output
    out = result.output
    for word in ("BG/NBD", "Gamma-Gamma", "alpha", "± SE", "Churn risk", "Saved table clv"):
        assert word in out
    with Workspace.open(folder) as ws:
        stored = ws.table("clv").to_pandas()
    assert f"{len(stored):,} customers" in out
    high = int((stored["churn_risk"] == "high").sum())
    assert f"{high:,}" in out


def test_cli_refuses_a_zero_horizon(shop):
    result = CliRunner().invoke(app, ["clv", "-w", str(shop[0]), "--horizon", "0"])
    assert result.exit_code != 0


def test_a_fit_that_does_not_converge_falls_back_to_a_small_penalty(ws, monkeypatch):
    from segmint.errors import DataError
    from segmint.models.clv import GammaGammaModel

    plain = GammaGammaModel.fit

    def flaky(self, *args, **kwargs):
        if self.penalizer == 0:
            raise DataError("GammaGammaModel did not converge (test).")
        return plain(self, *args, **kwargs)

    monkeypatch.setattr(GammaGammaModel, "fit", flaky)
    result = ws.clv(save=False)
    assert result.penalizers == {"BG/NBD": 0.0, "Gamma-Gamma": 1e-4}
    assert result.spend_model.penalizer == 1e-4
    with pytest.raises(DataError, match=r"did not converge \(test\)"):
        ws.clv(save=False, penalizer=0.0)  # an explicit penalty is used as given


def test_default_fit_is_plain_maximum_likelihood(shop):
    assert shop[1].penalizers == {"BG/NBD": 0.0, "Gamma-Gamma": 0.0}


def test_cluster_metrics_in_segment_definitions(ws):
    ws.clusters(save=True, n_clusters=4, random_state=0)
    stored = ws.table("clusters").to_pandas()
    biggest = stored["persona"].value_counts().idxmax()
    spec = {**SEG, "slug": "persona_x",
            "where": {"metric": "clusters.persona", "op": "eq", "value": biggest}}  # fmt: skip
    assert ws.segment_preview(spec).count == (stored["persona"] == biggest).sum() > 0
