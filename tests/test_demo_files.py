"""The demo generator writes the files a real shop would have, byte-identical for one seed."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from _demo_support import demo, header, read_csv
from segmint.demo import HEADERS, IMPORT_PLAN, generate
from segmint.demo import generator as gen_module
from segmint.errors import ValidationError

SHOPIFY_CUSTOMER_DOC = [
    "Customer ID",
    "First Name",
    "Last Name",
    "Email",
    "Accepts Email Marketing",
    "Default Address Company",
    "Default Address City",
    "Default Address Province Code",
    "Default Address Country Code",
    "Default Address Phone",
    "Phone",
    "Accepts SMS Marketing",
    "Total Spent",
    "Total Orders",
    "Tags",
    "Note",
]
SHOPIFY_ORDER_DOC = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Currency",
    "Subtotal",
    "Discount Code",
    "Discount Amount",
    "Total",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Billing Phone",
    "Phone",
    "Id",
    "Source",
]
HUBSPOT_DOC = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Mobile Phone Number",
    "Company Name",
    "Industry",
    "Number of Employees",
    "Annual Revenue",
    "City",
    "State/Region",
    "Country/Region",
    "Create Date",
    "Lifecycle Stage",
]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    demo().write(folder)
    return folder


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(400, seed=3).write(a)
    generate(400, seed=3).write(b)
    da, db = _digests(a), _digests(b)
    assert "pos_orders.xlsx" in da and "events.parquet" in da
    assert da == db


def test_different_seed_gives_different_files(tmp_path):
    generate(400, seed=3).write(tmp_path / "a")
    generate(400, seed=4).write(tmp_path / "b")
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    changed = [name for name in da if da[name] != db.get(name)]
    assert "shopify_customers.csv" in changed
    assert "events.parquet" in changed
    assert "ground_truth/persons.csv" in changed


def test_written_files(written):
    names = {p.name for p in written.iterdir()}
    assert {
        "shopify_customers.csv",
        "shopify_orders.csv",
        "hubspot_contacts.csv",
        "whatsapp_contacts.csv",
        "line_contacts.csv",
        "instagram_contacts.csv",
        "pos_orders.xlsx",
        "events.parquet",
        "products.csv",
        "ground_truth",
    } <= names
    truth = {p.name for p in (written / "ground_truth").iterdir()}
    assert truth == {"persons.csv", "records.csv", "orders.parquet", "params.json"}


def test_documented_headers(written):
    assert header(written / "shopify_customers.csv")[:16] == SHOPIFY_CUSTOMER_DOC
    assert header(written / "shopify_orders.csv") == SHOPIFY_ORDER_DOC
    assert header(written / "hubspot_contacts.csv") == HUBSPOT_DOC
    assert header(written / "whatsapp_contacts.csv")[:4] == [
        "Name",
        "Phone",
        "opted_in",
        "opted_in_at",
    ]
    for name in ("line_contacts", "instagram_contacts", "shopify_customers"):
        assert header(written / f"{name}.csv") == list(HEADERS[name])
    events = pq.read_schema(written / "events.parquet")
    assert events.names == list(HEADERS["events"])
    # plain strings for every reader (no Arrow dictionary types leak into the file)
    assert str(events.field("event").type) == "string"
    assert str(events.field("timestamp").type) == "timestamp[us, tz=UTC]"


def test_pos_workbook_has_chinese_headers_and_real_dates(written):
    from openpyxl import load_workbook

    ws = load_workbook(written / "pos_orders.xlsx", read_only=True).active
    rows = ws.iter_rows(values_only=True)
    assert list(next(rows)) == [
        "訂單編號",
        "會員編號",
        "姓名",
        "電話",
        "金額",
        "日期",
        "門市",
        "付款方式",
    ]
    first = next(rows)
    assert re.fullmatch(r"[A-Z]{2,3}-\d{8}", first[0])
    assert re.fullmatch(r"M\d{7}", first[1])
    assert isinstance(first[4], float)
    assert first[5].year in (2024, 2025, 2026)


def test_shopify_orders_layout(written):
    t = read_csv(written / "shopify_orders.csv").to_pylist()
    assert t[0]["Name"] == "#1001"
    created = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0800")
    statuses = set()
    multi = 0
    for prev, row in zip([None, *t[:-1]], t, strict=True):
        assert created.fullmatch(row["Created at"])
        assert row["Email"] and row["Lineitem sku"] and int(row["Lineitem quantity"]) >= 1
        if prev is not None and prev["Name"] == row["Name"]:
            multi += 1
            # order-level fields only on the first row of an order, as Shopify exports them
            for col in ("Financial Status", "Total", "Subtotal", "Paid at", "Currency", "Id"):
                assert row[col] is None, (row["Name"], col)
            assert row["Created at"] == prev["Created at"]
        else:
            statuses.add(row["Financial Status"])
            assert row["Currency"] == "HKD" and row["Id"]
            assert re.fullmatch(r"\d+\.\d\d", row["Total"])  # money as 12.50
            sub, disc, tot = (float(row[c]) for c in ("Subtotal", "Discount Amount", "Total"))
            assert abs(sub - disc - tot) < 0.011
    assert multi > 1000
    assert statuses == {"paid", "refunded", "partially_refunded"}


def test_contact_files_look_like_their_apps(written):
    wa = read_csv(written / "whatsapp_contacts.csv").to_pylist()
    assert all(r["Phone"].startswith("+") for r in wa)  # WhatsApp always knows the country
    assert {r["opted_in"] for r in wa} == {"true", "false"}
    withdrawn = [r for r in wa if r["opted_out_at"]]
    assert withdrawn and all(r["opted_in"] == "false" and r["opted_in_at"] for r in withdrawn)
    line = read_csv(written / "line_contacts.csv").to_pylist()
    assert all(re.fullmatch(r"U[0-9a-f]{32}", r["line_user_id"]) for r in line)
    assert 0 < sum(1 for r in line if r["phone"]) < len(line)
    ig = read_csv(written / "instagram_contacts.csv").to_pylist()
    assert len({r["username"] for r in ig}) == len(ig)
    assert 0 < sum(1 for r in ig if r["email"]) < len(ig) / 2
    hub = read_csv(written / "hubspot_contacts.csv").to_pylist()
    b2b = [r for r in hub if r["Company Name"]]
    assert b2b and all(r["Industry"] and int(r["Number of Employees"]) > 0 for r in b2b)
    assert {r["Lifecycle Stage"] for r in hub} >= {"Customer", "Lead", "Subscriber"}


def test_names_and_places_are_local(written):
    rows = read_csv(written / "shopify_customers.csv").to_pylist()
    han = re.compile(r"[\u4e00-\u9fff]")
    assert sum(bool(han.search(r["Last Name"] or "")) for r in rows) > 0.2 * len(rows)
    assert sum(bool(re.fullmatch(r"[A-Za-z' -]+", r["Last Name"] or "")) for r in rows) > 0.2 * len(
        rows
    )
    countries = {r["Default Address Country Code"] for r in rows}
    assert {"HK", "TW", "SG"} <= countries and len(countries) >= 5
    hk_cities = {
        r["Default Address City"] for r in rows if r["Default Address Country Code"] == "HK"
    }
    assert {"Sha Tin", "Kwun Tong"} <= hk_cities
    provinces = {
        r["Default Address Province Code"]
        for r in rows
        if r["Default Address Country Code"] == "HK"
    }
    assert provinces - {None} == {"HK", "KL", "NT"}


def test_params_json(written):
    params = json.loads((written / "ground_truth" / "params.json").read_text(encoding="utf-8"))
    assert params["seed"] == 7 and params["end"] == "2026-06-30"
    regular = params["groups"]["regular"]
    assert set(regular["bgnbd"]) >= {"r", "alpha", "a", "b"}
    assert set(regular["spend"]) >= {"p", "q", "gamma"}
    assert sum(g["people"] for g in params["groups"].values()) == params["customers"]


def test_import_plan_names_existing_files_and_columns(written):
    for f in IMPORT_PLAN:
        path = written / f.file("csv")
        if f.name == "pos_orders":
            path = written / "pos_orders.xlsx"
            cols = list(HEADERS["pos_orders"])
        elif path.suffix == ".parquet":
            cols = pq.read_schema(path).names
        else:
            cols = header(path)
        assert path.exists(), path
        assert f.kind in ("customers", "orders", "events")
        missing = [c for c in [*f.mapping.values(), *f.traits] if c not in cols]
        assert not missing, (f.name, missing)


def test_xlsx_only_at_demo_sizes(tmp_path, monkeypatch):
    data = generate(300, seed=5, events=False)
    monkeypatch.setattr(gen_module, "XLSX_MAX_ROWS", 10)
    paths = data.write(tmp_path / "auto")
    assert paths["pos_orders"].name == "pos_orders.csv"
    assert not (tmp_path / "auto" / "pos_orders.xlsx").exists()
    with pytest.raises(ValidationError, match=r"pos_orders.xlsx must have at most 10 rows"):
        data.write(tmp_path / "forced", xlsx=True)


def test_parquet_format_and_canonical_orders(tmp_path):
    data = generate(300, seed=5)
    paths = data.write(tmp_path, format="parquet", canonical_orders=True)
    assert paths["shopify_orders"].suffix == ".parquet"
    assert pq.read_schema(paths["shopify_orders"]).names == SHOPIFY_ORDER_DOC
    orders = pq.read_table(paths["orders"])
    from segmint.schema import TABLES

    assert orders.column_names == list(TABLES["orders"].names)
    assert orders.num_rows == data.orders.num_rows
    assert set(orders["status"].to_pylist()) <= {"completed", "refunded"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 10}, "customers must be between 50 and 20,000,000"),
        ({"customers": 100, "years": 1.0}, "years must be between 1.25 and 10"),
        ({"customers": "many"}, "customers must be an integer"),
    ],
)
def test_generate_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        generate(**kwargs)


def test_write_refuses_unknown_format(tmp_path):
    with pytest.raises(ValidationError, match="format must be 'csv', 'parquet' or 'auto'"):
        generate(100, seed=1, events=False).write(tmp_path, format="xls")


def test_import_plan_resolves_with_the_importer_mapping(written):
    """Every file of the plan maps the fields segmint demo needs (presets, aliases, --map)."""
    from segmint.ingest.fields import resolve_mapping

    need = {
        "shopify_customers": {
            "shopify",
            "email",
            "phone",
            "consent_email",
            "consent_email_at",
            "birth_date",
            "gender",
            "country",
        },
        "hubspot_contacts": {"hubspot", "email", "company", "industry", "company_size"},
        "whatsapp_contacts": {"whatsapp", "name", "consent_whatsapp", "consent_whatsapp_at"},
        "line_contacts": {"line", "name", "phone", "created_at"},
        "instagram_contacts": {"instagram", "name", "email"},
        "shopify_orders": {"order_id", "ts", "amount", "email", "status", "product_id"},
        "pos_orders": {"order_id", "pos", "phone", "amount", "ts"},
        "events": {"message_id", "shopify", "anonymous_id", "event", "ts", "properties"},
    }
    for f in IMPORT_PLAN:
        path = written / f.file("csv")
        if f.name == "pos_orders":
            cols = list(HEADERS["pos_orders"])
        elif path.suffix == ".parquet":
            cols = pq.read_schema(path).names
        else:
            cols = header(path)
        m = resolve_mapping(f.kind, cols, f.mapping, file=path.name)
        assert need[f.name] <= set(m.columns), (f.name, need[f.name] - set(m.columns))
