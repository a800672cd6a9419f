"""``segmint generate`` on the command line."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segmint.cli import app, main


def test_generate_writes_files_and_says_where(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["generate", "--customers", "300", "--seed", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "Wrote 13 files" in text and "300 people" in text
    assert (out / "shopify_customers.csv").exists()
    assert (out / "pos_orders.xlsx").exists()
    assert (out / "events.parquet").exists()
    params = json.loads((out / "ground_truth" / "params.json").read_text(encoding="utf-8"))
    assert params["customers"] == 300 and params["seed"] == 2


def test_generate_parquet_without_events(tmp_path):
    out = tmp_path / "pq"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "-n",
            "200",
            "--out",
            str(out),
            "--format",
            "parquet",
            "--no-events",
            "--canonical-orders",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "shopify_orders.parquet").exists()
    assert not (out / "shopify_orders.csv").exists()
    assert pq.read_metadata(out / "events.parquet").num_rows == 0
    assert pq.read_metadata(out / "orders.parquet").num_rows > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "--format must be csv, parquet or auto"),
        (["--end", "30/06/2026"], "--end must be a date like 2026-06-30"),
        (["--years", "0.5"], "years must be between 1.25 and 10"),
    ],
)
def test_generate_bad_input_is_an_error(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "-n", "100", "--out", str(tmp_path / "x"), *args])
    assert exc.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Error:" in out and message in out


def test_generate_too_few_customers_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["generate", "-n", "5", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()
