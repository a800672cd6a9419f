"""``segmint personas`` through typer's CliRunner and the real entry point, on the report test
workspace (40 people, 36 with orders, 4 without)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from report_workspace import NO_ORDERS, make_workspace
from segmint.cli import app, main
from segmint.workspace import Workspace


@pytest.fixture
def shop(tmp_path):
    folder = tmp_path / "shop"
    make_workspace(folder).close()
    return folder


def test_personas_prints_cards_and_saves_both_tables(shop):
    args = ["personas", "-w", str(shop), "--as-of", "2026-06-30", "--min-k", "3", "--max-k", "4"]
    result = CliRunner().invoke(app, [*args, "--seed", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Choice of k" in out and "Calinski–Harabasz" in out and "← chosen" in out
    assert "Not yet customers" in out and f"{len(NO_ORDERS)} people" in out
    assert "What sets them apart" in out and "How to recognise them" in out
    assert "Saved tables clusters" in out
    assert "recency_days" not in out and "(missing)" not in out
    with Workspace.open(shop) as ws:
        clusters = ws.table("clusters").to_pandas()
        cards = ws.table("personas").to_pandas()
        people = ws.table("profiles").count().execute()
    assert len(clusters) == people == 40
    assert (clusters["cluster"] == -1).sum() == len(NO_ORDERS)
    k = clusters.loc[clusters["cluster"] >= 0, "cluster"].nunique()
    assert 3 <= k <= 4 and sorted(cards["cluster"]) == [-1, *range(k)]
    for name in cards["name_en"]:
        assert name in out
    # the same seed gives the same personas
    again = CliRunner().invoke(app, [*args, "--seed", "1"])
    assert again.exit_code == 0
    with Workspace.open(shop) as ws:
        assert ws.table("clusters").to_pandas().equals(clusters)


def test_personas_in_chinese(shop):
    result = CliRunner().invoke(app, ["personas", "-w", str(shop), "--lang", "zh-Hant"])
    assert result.exit_code == 0, result.output
    assert "分群數目 k 的選擇" in result.output and "尚未購買的聯絡人" in result.output
    assert "與眾不同之處" in result.output and "如何辨認" in result.output
    assert "Not yet customers" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--min-k", "4", "--max-k", "3"],
            "Error: --max-k must be ≥ --min-k (4). Got 3 instead. Hint: e.g. --min-k 4 --max-k 6",
        ),
        (["--lang", "fr"], "Error: The language must be 'en' or 'zh-Hant'. Got 'fr' instead."),
    ],
)
def test_bad_input_is_an_error_with_exit_1(shop, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["personas", "-w", str(shop), *args])
    assert exit_info.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith(message)
