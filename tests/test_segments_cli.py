"""``segmint segments …`` through typer's CliRunner and the real entry point."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmint.cli import app, main
from segmint.schema import TABLES
from segmint.segments import library_files
from segmint.workspace import Workspace

MINE = """\
slug: hk_buyers
title_en: Hong Kong buyers
title_zh_hant: 香港買家
owner: crm
reviewed_on: 2026-01-01
where:
  all:
    - {field: country, op: eq, value: HK}
    - {in_segment: repeat_buyers}
"""


def _put(ws: Workspace, table: str, rows: list[dict]) -> None:
    ws.con.insert(table, pa.Table.from_pylist(rows, schema=TABLES[table].to_pyarrow()))


@pytest.fixture
def shop(tmp_path):
    folder = tmp_path / "shop"
    with Workspace.create(folder, default_region="HK") as ws:
        _put(
            ws,
            "profiles",
            [
                {"customer_id": "a", "country": "HK", "name": "Ann"},
                {"customer_id": "b", "country": "TW", "name": "Bo"},
            ],
        )
        _put(
            ws,
            "orders",
            [
                {
                    "order_id": f"o{i}",
                    "customer_id": c,
                    "ts": datetime(2026, 1, d, 9),
                    "amount": 100.0,
                    "status": "completed",
                    "discount": 0.0,
                }
                for i, (c, d) in enumerate([("a", 2), ("a", 9), ("b", 5), ("b", 9)])
            ],
        )
    return folder


def invoke(*args: str):
    return CliRunner().invoke(app, ["segments", *args])


def test_library_lists_and_copies(tmp_path):
    r = invoke("library")
    assert r.exit_code == 0, r.output
    assert "rfm_champions" in r.output and "abandoned_cart" in r.output
    r = invoke("library", "--copy", str(tmp_path / "mine"))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        p.name for p in library_files()
    ]
    again = invoke("library", "--copy", str(tmp_path / "mine"))
    assert again.exit_code != 0 and "already holds" in str(again.exception)


def test_validate_accepts_a_good_file_and_names_the_problem_of_a_bad_one(shop, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(MINE, encoding="utf-8")
    r = invoke("validate", str(good), "-w", str(shop))
    assert r.exit_code == 0, r.output
    assert "OK" in r.output and "hk_buyers" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINE.replace("field: country", "field: countr"), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["segments", "validate", str(bad), "-w", str(shop)])
    assert exit_.value.code == 1


def test_validate_works_outside_a_workspace(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(MINE, encoding="utf-8")
    r = invoke("validate", str(good), "-w", str(tmp_path))
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINE.replace("repeat_buyers", "repeat_buyer"), encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["segments", "validate", str(bad), "-w", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Error:" in out and "repeat_buyers" in out  # did you mean


def test_preview_file_and_slug(shop, tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(MINE, encoding="utf-8")
    r = invoke("preview", str(f), "-w", str(shop), "--as-of", "2026-01-10")
    assert r.exit_code == 0, r.output
    assert "hk_buyers: 1 customers" in r.output and "Ann" in r.output
    r = invoke("preview", "repeat_buyers", "-w", str(shop), "--as-of", "2026-01-10")
    assert "repeat_buyers: 2 customers" in r.output


def test_run_diff_and_explain(shop, capsys):
    (shop / "segments").mkdir()
    (shop / "segments" / "mine.yaml").write_text(MINE, encoding="utf-8")
    r = invoke("run", "-w", str(shop), "--as-of", "2026-01-03")
    assert r.exit_code == 0, r.output
    r = invoke("run", "-w", str(shop))  # default: the end of the latest order's day
    assert r.exit_code == 0, r.output
    assert "2026-01-10 00:00" in r.output and "hk_buyers" in r.output
    r = invoke(
        "diff",
        "--from",
        "2026-01-03",
        "--to",
        "2026-01-09",
        "-w",
        str(shop),
        "-s",
        "first_time_buyers",
        "-s",
        "repeat_buyers",
    )
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("│ first_time")]
    assert lines and lines[0].split("│")[2].strip() == "0"  # first-time → first-time: nobody
    assert lines[0].split("│")[3].strip() == "1"  # a became a repeat buyer
    r = invoke("explain", "hk_buyers", "a", "-w", str(shop))
    assert r.exit_code == 0, r.output
    assert "✓ segment hk_buyers" in r.output and "'HK'" in r.output
    with pytest.raises(SystemExit) as exit_:
        main(["segments", "run", "-w", str(shop), "--as-of", "2026-01-02"])
    assert exit_.value.code == 1
    assert "must not be older" in capsys.readouterr().out


def test_tags_add_list_remove(shop):
    r = CliRunner().invoke(app, ["tags", "add", "vip", "a", "b", "-w", str(shop)])
    assert r.exit_code == 0, r.output
    assert "Tagged 2 customer(s)" in r.output
    r = CliRunner().invoke(app, ["tags", "list", "-w", str(shop)])
    assert "vip" in r.output and "manual" in r.output and "2" in r.output
    r = CliRunner().invoke(app, ["tags", "remove", "vip", "-w", str(shop)])
    assert r.exit_code != 0 and "--all" in str(r.exception)
    r = CliRunner().invoke(app, ["tags", "remove", "vip", "--all", "-w", str(shop)])
    assert r.exit_code == 0 and "from 2 customer(s)" in r.output
    with Workspace.open(shop) as ws:
        assert ws.table("tags").count().execute() == 0
