"""``segmint report`` through typer's CliRunner and through the real entry point."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from report_workspace import make_workspace
from segmint.cli import app, main
from segmint.errors import ValidationError


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "shop"
    make_workspace(folder).close()
    return folder


def _written(output: str) -> tuple[str, str]:
    m = re.search(r"Wrote the report to (\S+) \(([\d.]+ (?:MB|kB|bytes))\)\.", output)
    assert m, output
    return m.group(1), m.group(2)


def test_report_in_chinese_to_a_chosen_file(shop, tmp_path):
    out = tmp_path / "報告.html"
    result = CliRunner().invoke(
        app,
        ["report", "-w", str(shop), "--lang", "zh-Hant", "-o", str(out), "--as-of", "2026-06-30"],
    )
    assert result.exit_code == 0, result.output
    path, size = _written(result.output)
    assert path == str(out.resolve())
    html = out.read_text(encoding="utf-8")
    assert "客戶分析報告" in html and "2026年6月30日" in html
    assert size == f"{out.stat().st_size / 1e6:.1f} MB"


def test_report_defaults_to_the_workspace_folder(shop, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "--workspace", str(shop)])
    assert result.exit_code == 0, result.output
    path, _ = _written(result.output)
    assert path == str((shop / "report.html").resolve())
    assert '<html lang="en">' in (shop / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / "report.html").exists()


def test_relative_output_is_relative_to_the_current_folder(shop, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "-w", str(shop), "-o", "out.html"])
    assert result.exit_code == 0, result.output
    assert _written(result.output)[0] == str(tmp_path / "out.html")


def test_unknown_language_is_an_error(shop, tmp_path):
    result = CliRunner().invoke(
        app, ["report", "-w", str(shop), "--lang", "zh", "-o", str(tmp_path / "x.html")]
    )
    assert isinstance(result.exception, ValidationError)
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--lang", "fr"],
            "Error: The report language must be one of en, zh-Hant. Got 'fr' instead.",
        ),
        (
            ["--as-of", "June"],
            "Error: The as-of date must be a date written YYYY-MM-DD. Got 'June'",
        ),
    ],
)
def test_bad_input_prints_error_and_exits_1(shop, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "-w", str(shop), *args])
    assert exit_.value.code == 1
    assert message in " ".join(capsys.readouterr().out.split())


def test_not_a_workspace(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "-w", str(tmp_path)])
    assert exit_.value.code == 1
    assert "is not a segmint workspace" in " ".join(capsys.readouterr().out.split())


def test_missing_output_folder_is_an_error(shop, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "-w", str(shop), "-o", str(tmp_path / "nope" / "r.html")])
    assert exit_.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Error: The report's folder must exist." in out and "nope" in out
