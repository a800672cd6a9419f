"""``segmint rfm`` and ``segmint abc`` through typer's CliRunner and the real entry point."""

from __future__ import annotations

import ibis
import pytest
from typer.testing import CliRunner

from orders_data import random_orders
from segmint.cli import app, main
from segmint.workspace import Workspace


@pytest.fixture
def shop(tmp_path):
    folder = tmp_path / "shop"
    with Workspace.create(folder) as ws:
        ws.con.insert("orders", ibis.memtable(random_orders(seed=6, customers=400, orders=3000)))
    return folder


def test_rfm_prints_segments_and_saves_the_table(shop):
    result = CliRunner().invoke(app, ["rfm", "-w", str(shop), "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "RFM as of 2026-06-30" in out and "5 bins" in out
    for title in ("Champions", "Can't Lose Them", "Hibernating", "Lost"):
        assert title in out
    assert "Saved table rfm" in out
    with Workspace.open(shop) as ws:
        saved = ws.table("rfm").to_pandas()
        expected = ws.rfm(as_of="2026-06-30").to_pandas()
    assert len(saved) == len(expected) > 300
    assert set(saved["as_of"].astype(str)) == {"2026-06-30"}
    assert f"{len(saved):,} customers" in out


def test_rfm_in_chinese_with_three_bins(shop):
    result = CliRunner().invoke(app, ["rfm", "-w", str(shop), "--bins", "3", "--lang", "zh-Hant"])
    assert result.exit_code == 0, result.output
    assert "冠軍客戶" in result.output and "3 bins" in result.output
    with Workspace.open(shop) as ws:
        assert ws.table("rfm").to_pandas()["r_score"].max() == 3


def test_rfm_before_any_order_says_so(shop):
    result = CliRunner().invoke(app, ["rfm", "-w", str(shop), "--as-of", "2001-01-01"])
    assert result.exit_code == 0, result.output
    assert "No completed orders on or before 2001-01-01" in result.output


def test_abc_prints_classes_and_saves(shop):
    result = CliRunner().invoke(app, ["abc", "-w", str(shop), "--thresholds", "0.7", "0.9"])
    assert result.exit_code == 0, result.output
    assert "first 70% of revenue" in result.output and "Saved table abc" in result.output
    with Workspace.open(shop) as ws:
        assert set(ws.table("abc").to_pandas()["abc_class"]) == {"A", "B", "C"}


@pytest.mark.parametrize(
    "args,message",
    [
        (["rfm", "--as-of", "2026-02-30"], "The as-of date must be a date written YYYY-MM-DD"),
        (["rfm", "--bins", "7"], "The number of RFM bins must be 3, 4 or 5. Got 7"),
        (["rfm", "--lang", "fr"], "The language must be 'en' or 'zh-Hant'"),
        (["abc", "--as-of", "June"], "Got 'June' instead"),
        (["abc", "--thresholds", "0.9", "0.5"], "The ABC thresholds must be"),
    ],
)
def test_bad_input_is_an_error_with_exit_1(shop, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "-w", str(shop)])
    assert exit_info.value.code == 1
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert out.startswith("Error:") and message in out


def test_no_workspace_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rfm", "-w", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 1
    assert "is not a segmint workspace" in " ".join(capsys.readouterr().out.split())
