"""``segmint import`` through the CLI (typer's CliRunner around segmint.cli.main)."""

from __future__ import annotations

import datetime as dt

import pytest
from tests._import_support import SHOPIFY_CUSTOMERS, SHOPIFY_ORDERS, run_cli, write

from segmint.workspace import Workspace


@pytest.fixture
def shop(tmp_path):
    code, out = run_cli(["init", str(tmp_path / "shop"), "--region", "HK"])
    assert code == 0, out
    return tmp_path / "shop"


def test_import_customers_prints_a_summary(shop, tmp_path):
    path = write(tmp_path / "shopify_customers.csv", SHOPIFY_CUSTOMERS)
    code, out = run_cli(["import", "customers", str(path), "-w", str(shop)])
    assert code == 0, out
    assert "Imported customers from shopify_customers.csv" in out
    assert "inserted 3" in out and "people created 3" in out
    assert "shopify (shopify_customers)" in out
    assert "Kept in traits" in out and "Total Spent" in out
    with Workspace.open(shop) as ws:
        assert ws.table("profiles").count().execute() == 3
    # again: nothing changes, and the CLI says so
    code, out = run_cli(["import", "customers", str(path), "-w", str(shop)])
    assert code == 0 and "unchanged 3" in out and "Nothing changed" in out


def test_import_orders_from_xlsx_with_map(shop, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = "Sales"
    sheet.append(["Ref", "Buyer", "Grand", "When"])
    sheet.append(["S1", "amy@x.hk", 120.5, dt.datetime(2026, 6, 30, 14, 3)])
    sheet.append(["S2", "bob@x.hk", 80, dt.datetime(2026, 7, 1, 9, 0)])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    code, out = run_cli(
        [
            "import", "orders", str(path), "--map", "order_id=Ref", "--map", "email=Buyer",
            "--map", "amount=Grand", "--map", "ts=When", "--sheet", "Sales", "-w", str(shop),
        ]
    )  # fmt: skip
    assert code == 0, out
    assert "inserted 2" in out and "people created 2" in out
    with Workspace.open(shop) as ws:
        amounts = sorted(ws.table("orders").to_pyarrow().column("amount").to_pylist())
    assert amounts == [80.0, 120.5]


def test_shopify_orders_with_quoted_map(shop, tmp_path):
    path = write(tmp_path / "orders_export.csv", SHOPIFY_ORDERS)
    code, out = run_cli(
        ["import", "orders", str(path), "--map", "amount=Total", "--map", "ts=Created at",
         "-w", str(shop)]
    )  # fmt: skip
    assert code == 0, out
    assert "line items written 3" in out


def test_validation_errors_list_problems_and_exit_1(shop, tmp_path):
    lines = ["Order ID,Email,Total,Date"] + [f"Z{i},a@x.hk,oops{i},2026-01-01" for i in range(25)]
    path = write(tmp_path / "bad_orders.csv", "\n".join(lines))
    code, out = run_cli(["import", "orders", str(path), "-w", str(shop)])
    assert code == 1
    assert out.startswith("Error: Import refused: 25 problem(s) found; nothing was written.")
    assert "bad_orders.csv row 2, column 'Total': 'amount' must be a number" in out
    assert "Got 'oops0' instead." in out and "Got 'oops19' instead." in out
    assert "oops20" not in out and "… and 5 more" in out  # first 20 + count
    with Workspace.open(shop) as ws:
        assert ws.table("orders").count().execute() == 0


def test_refunds_flag(shop, tmp_path):
    path = write(tmp_path / "refunds.csv", "Order ID,Email,Total,Date\nR1,a@x.hk,-5,2026-01-01")
    code, out = run_cli(["import", "orders", str(path), "-w", str(shop)])
    assert code == 1 and "--refunds" in out
    code, out = run_cli(["import", "orders", str(path), "--refunds", "-w", str(shop)])
    assert code == 0, out


def test_usage_mistakes(shop, tmp_path):
    path = write(tmp_path / "c.csv", "Email\na@x.hk")
    code, out = run_cli(["import", "customers", str(path), "--map", "email", "-w", str(shop)])
    assert code == 1 and "--map must be FIELD=COLUMN" in out
    code, out = run_cli(["import", "customer", str(path), "-w", str(shop)])
    assert code == 1 and "Did you mean 'customers'?" in out
    code, out = run_cli(["import", "customers", str(path), "--map", "emial=Email", "-w", str(shop)])
    assert code == 1 and "Did you mean 'email'?" in out
    code, out = run_cli(["import", "customers", str(tmp_path / "nope.csv"), "-w", str(shop)])
    assert code == 1 and "does not exist" in out
    code, out = run_cli(["import", "customers", str(path), "-w", str(tmp_path / "nowhere")])
    assert code == 1 and "not a segmint workspace" in out


def test_date_order_and_source_options(shop, tmp_path):
    path = write(tmp_path / "o.csv", "Order ID,Email,Total,Date\nD1,a@x.hk,5,03/04/2026")
    code, out = run_cli(["import", "orders", str(path), "-w", str(shop)])
    assert code == 1 and "--date-order DMY" in out
    code, out = run_cli(
        ["import", "orders", str(path), "--date-order", "DMY", "--source", "pos", "-w", str(shop)]
    )
    assert code == 0, out
    with Workspace.open(shop) as ws:
        (order,) = ws.table("orders").to_pyarrow().to_pylist()
    assert order["source"] == "pos" and order["ts"] == dt.datetime(2026, 4, 2, 16, 0)


def test_big5_file_through_the_cli(shop, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes("姓名,電話,會員編號\n陳大文,9123 4567,M1\n".encode("big5"))
    code, out = run_cli(["import", "customers", str(path), "-w", str(shop)])
    assert code == 0, out
    with Workspace.open(shop) as ws:
        assert ws.table("profiles").to_pyarrow().column("name").to_pylist() == ["陳大文"]
