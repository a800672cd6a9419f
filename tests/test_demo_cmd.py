"""``segmint demo``: generate → import with stitching → RFM, CLV, personas → report, end to end."""

from __future__ import annotations

import pytest

from segmint import Workspace
from segmint.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "segmint-demo"
    try:
        main(["demo", str(folder), "--customers", "400", "--seed", "3"])
    except SystemExit as exc:  # main() exits only on errors
        return folder, exc.code
    return folder, 0


def test_demo_writes_an_offline_report(demo_run, capsys):
    folder, code = demo_run
    assert code == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("plotly.js v") >= 1  # the library is inlined ...
    assert '<script src="http' not in html  # ... and nothing is fetched
    for heading in ("Data overview", "Identity merge", "RFM", "ABC"):
        assert heading in html


def test_demo_workspace_holds_stitched_people_and_rfm(demo_run):
    folder, _ = demo_run
    with Workspace.open(folder) as ws:
        people = ws.table("profiles").count().execute()
        records = ws.table("source_profiles").count().execute()
        rfm = ws.table("rfm").to_pandas()
        merged = ws.table("merge_log").count().execute()
    # several sources describe the same people: stitching must have merged records
    assert 0 < people < records
    assert merged > 0
    assert set(rfm.r_score) <= {1, 2, 3, 4, 5} and len(rfm) > 100
    assert rfm.segment.nunique() >= 6


def test_demo_predicts_clv_and_reports_it(demo_run):
    folder, _ = demo_run
    with Workspace.open(folder) as ws:
        clv = ws.table("clv").to_pandas()
        buyers = ws.btyd_summary().count().execute()
    assert len(clv) == buyers > 100
    assert set(clv.churn_risk) <= {"low", "medium", "high"} and clv.p_alive.between(0, 1).all()
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="clv"' in html and "chart-churn-bands" in html


def test_demo_clusters_buyers_into_personas_and_reports_them(demo_run):
    folder, _ = demo_run
    with Workspace.open(folder) as ws:
        clusters = ws.table("clusters").to_pandas()
        cards = ws.table("personas").to_pandas().set_index("cluster")
        people = ws.table("profiles").count().execute()
        buyers = ws.btyd_summary().count().execute()
    assert len(clusters) == people  # every profile has a persona (segment rules use them)
    assert (clusters["cluster"] >= 0).sum() == buyers  # only buyers are clustered
    k = len(cards) - 1
    assert 3 <= k <= 5 and sorted(cards.index) == [-1, *range(k)]
    assert cards.loc[-1, "name_en"] == "Not yet customers"
    assert cards.loc[-1, "size"] == people - buyers
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="personas"' in html and html.count('class="persona"') == k + 1
    assert "Not yet customers" in html


def test_demo_refuses_to_overwrite_without_force(demo_run, capsys):
    folder, _ = demo_run
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", str(folder), "--customers", "400"])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "already holds a workspace" in out and "--force" in out
