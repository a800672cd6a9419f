"""A corpus of bad import files: each gives precise problems and leaves the workspace unchanged.

The CSV files and their expected problems live in ``tests/data/bad_imports/`` (see
``expected.yaml``); binary cases (Excel, Big5) are written here. Every case is imported into a
workspace that already holds customers and orders; the import must be refused with problems
naming file, spreadsheet row and column, and every table must hold exactly the rows it held.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from tests._import_support import new_workspace, snapshot, write

from segmint.errors import ImportValidationError, ValidationError

DATA = Path(__file__).parent / "data" / "bad_imports"
EXPECTED = yaml.safe_load((DATA / "expected.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A workspace with customers and orders, copied for each case."""
    root = tmp_path_factory.mktemp("baseline")
    ws = new_workspace(root)
    ws.import_file(
        "customers",
        write(
            root / "baseline_customers.csv",
            "Email,Name,Phone\namy@shop.hk,Amy,9123 4567\nbob@shop.hk,Bob,",
        ),
    )
    ws.import_file(
        "orders",
        write(
            root / "baseline_orders.csv", "Order ID,Email,Total,Date\nB1,amy@shop.hk,10,2026-05-01"
        ),
    )
    ws.close()
    return root / "ws"


@pytest.fixture
def ws(baseline, tmp_path):
    folder = tmp_path / "ws"
    shutil.copytree(baseline, folder)
    from segmint.workspace import Workspace

    w = Workspace.open(folder)
    yield w
    w.close()


def _assert_refused(ws, kind, path, expected, **kwargs):
    before = snapshot(ws)
    assert before["customers" if False else "profiles"], "the baseline holds data"
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file(kind, path, **kwargs)
    problems = exc.value.problems
    for want in expected:
        hits = [
            p
            for p in problems
            if p.file == path.name
            and p.row == want["row"]
            and p.column == want["column"]
            and want["contains"] in p.message
        ]
        rendered = "\n".join(p.render() for p in problems)
        assert hits, f"missing {want} in:\n{rendered}"
    # the rendered form names file, row and column
    first = problems[0].render()
    assert first.startswith(path.name)
    assert snapshot(ws) == before, "a refused import must not change any table"
    return problems


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.removesuffix(".csv"))
def test_bad_file_is_refused_with_precise_problems(ws, name):
    case = EXPECTED[name]
    _assert_refused(ws, case["kind"], DATA / name, case["problems"])


def test_every_file_of_the_corpus_has_expectations():
    files = {p.name for p in DATA.glob("*.csv")}
    assert files == set(EXPECTED)


def test_every_problem_is_listed_not_just_the_first(ws):
    problems = _assert_refused(
        ws,
        "orders",
        DATA / "orders_amount_not_a_number.csv",
        EXPECTED["orders_amount_not_a_number.csv"]["problems"],
    )
    assert len(problems) == 2


def test_xlsx_with_text_in_amount_cells(ws, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = "Orders"
    sheet.append(["Order ID", "Email", "Total", "Created at"])
    sheet.append(["X1", "amy@shop.hk", 12.5, dt.datetime(2026, 6, 1, 9, 0)])
    sheet.append(["X2", "amy@shop.hk", "twelve", dt.datetime(2026, 6, 2, 9, 0)])
    sheet.append(["X3", "amy@shop.hk", 5, "2026-13-01"])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    _assert_refused(
        ws,
        "orders",
        path,
        [
            {"row": 3, "column": "Total", "contains": "Got 'twelve' instead."},
            {"row": 4, "column": "Created at", "contains": "Got '2026-13-01' instead."},
        ],
        sheet="Orders",
    )


def test_big5_file_with_a_bad_date(ws, tmp_path):
    path = tmp_path / "pos_big5.csv"
    text = "訂單編號,電話,金額,日期\nP1,9123 4567,100,2026/06/30\nP2,9123 4567,100,2026/06/31\n"
    path.write_bytes(text.encode("big5"))
    _assert_refused(
        ws,
        "orders",
        path,
        [{"row": 3, "column": "日期", "contains": "Got '2026/06/31' instead."}],
    )


def test_mapping_mistakes_are_refused_before_reading_rows(ws):
    before = snapshot(ws)
    path = DATA / "orders_no_amount_column.csv"
    with pytest.raises(ValidationError) as exc:
        ws.import_file("orders", path, mapping={"amout": "Total"})
    assert exc.value.suggestions == ["amount"]
    with pytest.raises(ValidationError) as exc:
        ws.import_file("orders", path, mapping={"amount": "Totl"})
    assert "Totl" in str(exc.value)
    with pytest.raises(ValidationError, match="import kind"):
        ws.import_file("orderz", path)
    assert snapshot(ws) == before


def test_problem_counts_are_capped_per_check_but_counted(ws, tmp_path):
    lines = ["Order ID,Email,Total,Date"] + [f"Z{i},a@shop.hk,oops,2026-01-01" for i in range(25)]
    path = write(tmp_path / "many.csv", "\n".join(lines))
    with pytest.raises(ImportValidationError) as exc:
        ws.import_file("orders", path)
    assert len(exc.value.problems) == 25
    text = str(exc.value)
    assert "25 problem(s)" in text and "… and 5 more" in text  # first 20 shown
