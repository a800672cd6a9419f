"""Helpers for the import and identity tests (files under tmp_path, workspace snapshots, CLI)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from segmint.workspace import Workspace


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` (dedented lines) to ``path`` and return it."""
    lines = [line.strip() for line in text.strip().splitlines()]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def new_workspace(tmp_path: Path, name: str = "ws", **settings) -> Workspace:
    settings.setdefault("default_region", "HK")
    return Workspace.create(tmp_path / name, **settings)


def rows(ws: Workspace, table: str) -> list[tuple]:
    """Every row of ``table``, sorted, as tuples (for exact comparisons)."""
    t: pa.Table = ws.table(table).to_pyarrow()
    out = [tuple(r.values()) for r in t.to_pylist()]
    return sorted(out, key=lambda r: tuple((v is None, str(v)) for v in r))


def snapshot(ws: Workspace) -> dict[str, list[tuple]]:
    """The content of every table of the workspace."""
    return {name: rows(ws, name) for name in sorted(ws.con.list_tables())}


def column(ws: Workspace, table: str, name: str) -> list:
    return ws.table(table).to_pyarrow().column(name).to_pylist()


SHOPIFY_CUSTOMERS = """
Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags
7100000001,Amy,Chan,Amy.Chan@Gmail.com,yes,,1 Queen's Rd,,Hong Kong,,HK,,,+852 9123 4567,no,120.50,2,likes tea,no,"vip, tea"
7100000002,大文,陳,chan.taiman@yahoo.com.hk,no,,,,Kowloon,,HK,,,6123 4567,yes,0.00,0,,no,
7100000003,Mei,Lin,mei.lin@gmail.com,yes,,,,Taipei,,TW,,0912-345-678,,no,30.00,1,,no,
"""  # noqa: E501

SHOPIFY_ORDERS = """
Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Phone,Phone,Id,Vendor,Source
#1001,amy.chan@gmail.com,paid,2026-06-30 14:05:00 +0800,fulfilled,HKD,1200.00,0,0,"1,180.00",SUMMER,20.00,2026-06-30 14:03:00 +0800,2,Green Tea,100.00,TEA-1,,,5001,Leaf,web
#1001,amy.chan@gmail.com,,,,,,,,,,,2026-06-30 14:03:00 +0800,1,Teapot,1000.00,POT-1,,,5001,Clay,
#1002,carol@example.hk,refunded,,,HKD,50,0,0,50.00,,0,2026-07-01 10:00:00 +0800,1,Mug,50,MUG-1,+852 6111 2222,,5002,Clay,pos
"""  # noqa: E501

HUBSPOT_CONTACTS = """
Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Company Name,Industry,Number of Employees,Annual Revenue,City,State/Region,Country/Region,Create Date,Lifecycle Stage,Marketing contact status
501,Amy,Chan,amy.chan@gmail.com,,,Tea Co,Food & Beverage,25,"1,500,000",Hong Kong,,Hong Kong,2025-01-15 10:23,customer,Marketing contact
502,Ken,Wong,ken@wong.hk,2345 6789,9876 5432,Wong Ltd,Retail,200,,Kowloon,,Hong Kong,2025-02-01 09:00,lead,Non-marketing contact
"""  # noqa: E501


def runner() -> CliRunner:
    return CliRunner()


def run_cli(args: list[str]) -> tuple[int, str]:
    """Run ``segmint ARGS`` through :func:`segmint.cli.main` (its error handling included)."""
    from segmint.cli import main

    r = CliRunner()
    with r.isolation() as streams:
        code = 0
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = streams[0].getvalue().decode("utf-8", "replace")
    out = re.sub("[\u2500-\u257f]", " ", out)  # table borders
    return code, " ".join(out.split())
