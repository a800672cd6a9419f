"""Column mapping: Shopify/HubSpot exports, English and Chinese headers, explicit --map."""

from __future__ import annotations

import pytest

from segmint.errors import ValidationError
from segmint.ingest import PRESETS, normalise_header, resolve_mapping

SHOPIFY_CUSTOMER_HEADERS = [
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
]  # fmt: skip
SHOPIFY_ORDER_HEADERS = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Billing Name",
    "Billing Phone", "Phone", "Id", "Vendor", "Source",
]  # fmt: skip
HUBSPOT_HEADERS = [
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number",
    "Company Name", "Industry", "Number of Employees", "Annual Revenue", "City",
    "State/Region", "Country/Region", "Create Date", "Lifecycle Stage",
    "Marketing contact status",
]  # fmt: skip


def test_shopify_customer_export_columns():
    m = resolve_mapping("customers", SHOPIFY_CUSTOMER_HEADERS)
    assert m.preset == "shopify_customers"
    assert m.source == "shopify"
    assert m.columns == {
        "shopify": "Customer ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "consent_email": "Accepts Email Marketing",
        "company": "Default Address Company",
        "city": "Default Address City",
        "region": "Default Address Province Code",
        "country": "Default Address Country Code",
        "phone_2": "Default Address Phone",
        "phone": "Phone",
        "consent_sms": "Accepts SMS Marketing",
    }
    # nothing is lost: the rest goes to traits
    assert set(m.unmapped) == {
        "Default Address Address1", "Default Address Address2", "Default Address Zip",
        "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
    }  # fmt: skip


def test_shopify_orders_export_columns():
    m = resolve_mapping("orders", SHOPIFY_ORDER_HEADERS)
    assert m.preset == "shopify_orders"
    c = m.columns
    assert c["order_id"] == "Name"
    assert c["amount"] == "Total"
    assert c["ts"] == "Created at"
    assert c["status"] == "Financial Status"
    assert c["discount"] == "Discount Amount"
    assert (c["quantity"], c["price"], c["product_id"], c["product_name"]) == (
        "Lineitem quantity",
        "Lineitem price",
        "Lineitem sku",
        "Lineitem name",
    )
    assert (c["email"], c["phone"], c["phone_2"]) == ("Email", "Phone", "Billing Phone")
    assert "Id" not in c.values() and "Paid at" not in c.values()


def test_hubspot_contacts_export_columns():
    m = resolve_mapping("customers", HUBSPOT_HEADERS)
    assert m.preset == "hubspot_contacts"
    assert m.source == "hubspot"
    c = m.columns
    assert c["hubspot"] == "Record ID"
    assert c["phone"] == "Phone Number" and c["phone_2"] == "Mobile Phone Number"
    assert c["company"] == "Company Name" and c["company_size"] == "Number of Employees"
    assert c["annual_revenue"] == "Annual Revenue" and c["industry"] == "Industry"
    assert c["region"] == "State/Region" and c["country"] == "Country/Region"
    assert c["created_at"] == "Create Date"
    assert c["consent_email"] == "Marketing contact status"
    assert m.unmapped == ["Lifecycle Stage"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["姓名", "電話", "電郵", "會員編號", "性別", "生日", "城市", "地區", "國家",
             "公司", "行業"],
            ["name", "phone", "email", "pos", "gender", "birth_date", "city", "region",
             "country", "company", "industry"],
        ),
        (
            ["名字", "手機", "電子郵件", "会员编号", "性别", "出生日期", "国家", "行业"],
            ["name", "phone", "email", "pos", "gender", "birth_date", "country", "industry"],
        ),
        (["客户姓名", "手机号码", "电子邮件", "电邮"], ["name", "phone", "email"]),
    ],
)  # fmt: skip
def test_chinese_customer_headers(headers, expected):
    m = resolve_mapping("customers", headers)
    assert list(m.columns) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["訂單編號", "金額", "日期", "電話"], ["order_id", "amount", "ts", "phone"]),
        (["订单编号", "总额", "下单时间", "会员编号"], ["order_id", "amount", "ts", "pos"]),
        (["訂單號", "總額", "下單時間", "電郵"], ["order_id", "amount", "ts", "email"]),
    ],
)
def test_chinese_order_headers(headers, expected):
    assert list(resolve_mapping("orders", headers).columns) == expected


def test_headers_are_compared_loosely():
    assert normalise_header(" E-Mail ") == normalise_header("e_mail") == "email"
    assert normalise_header("Ｅｍａｉｌ") == "email"  # full-width
    m = resolve_mapping("customers", ["E-MAIL ADDRESS", "first_name", "Mobile Number"])
    assert m.columns == {"email": "E-MAIL ADDRESS", "first_name": "first_name",
                         "phone": "Mobile Number"}  # fmt: skip


def test_explicit_mapping_wins_over_automatic():
    headers = ["Order", "Total", "Subtotal", "Created at", "Email"]
    m = resolve_mapping("orders", headers, {"amount": "Subtotal", "ts": "Created at"})
    assert m.columns["amount"] == "Subtotal"
    assert m.columns["order_id"] == "Order"
    assert "Total" in m.unmapped  # no longer competes for amount
    # a mapped column is not also used by automatic mapping
    m = resolve_mapping("orders", headers, {"email": "Total"})
    assert m.columns["email"] == "Total" and m.columns.get("amount") != "Total"


def test_explicit_mapping_tolerates_header_spelling():
    m = resolve_mapping("orders", ["Order", "Created at"], {"ts": "created AT"})
    assert m.columns["ts"] == "Created at"


def test_unknown_field_says_did_you_mean():
    with pytest.raises(ValidationError) as exc:
        resolve_mapping("orders", ["Total"], {"amout": "Total"}, file="orders.csv")
    assert exc.value.suggestions == ["amount"]
    assert "'amout'" in str(exc.value) and "Did you mean 'amount'?" in str(exc.value)
    assert "orders.csv" in str(exc.value)


def test_missing_column_says_did_you_mean():
    with pytest.raises(ValidationError) as exc:
        resolve_mapping("orders", ["Total", "Created at"], {"ts": "Created"}, file="o.csv")
    assert "Created at" in exc.value.suggestions
    assert "'Created' mapped to 'ts' is not in o.csv" in str(exc.value)


def test_unknown_kind():
    with pytest.raises(ValidationError, match="import kind") as exc:
        resolve_mapping("order", ["x"])
    assert "orders" in exc.value.suggestions


def test_presets_are_kind_specific():
    # a customers-style "Name" is a person's name, not a Shopify order number
    assert resolve_mapping("customers", ["Name", "Email"]).columns == {
        "name": "Name",
        "email": "Email",
    }
    assert {p.name for p in PRESETS} == {"shopify_customers", "shopify_orders", "hubspot_contacts"}


def test_competing_columns_keep_the_first_and_note_it():
    m = resolve_mapping("customers", ["Phone", "電話", "Email"])
    assert m.columns["phone"] == "Phone"
    assert "電話" in m.unmapped
    assert any("電話" in n for n in m.notes)
