"""Import fields per kind and the mapping from file headers to them (layer 2).

A *field* is what segmint understands (``email``, ``amount``, ``ts`` …); a *column* is what the
file calls it (``電郵``, ``Total``, ``Created at``). :func:`resolve_mapping` finds the columns:

1. an explicit mapping ``{"amount": "Total"}`` wins;
2. then a known export layout (*preset*) recognised from its headers — Shopify customers,
   Shopify orders, HubSpot contacts — maps its documented columns;
3. then common headers in English and Chinese (Traditional and Simplified) are recognised.

Headers are compared after NFKC normalisation (full-width → half-width), lower-casing and removing
spaces, ``_`` and ``-``: ``E-mail``, ``e_mail`` and ``Ｅｍａｉｌ`` are the same header.

Example:
    >>> m = resolve_mapping("customers", ["姓名", "電話", "電郵", "會員編號", "VIP"])
    >>> m.columns
    {'name': '姓名', 'phone': '電話', 'email': '電郵', 'pos': '會員編號'}
    >>> m.unmapped
    ['VIP']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from segmint.errors import ValidationError, close_matches

__all__ = [
    "CHANNEL_ID_FIELDS",
    "FIELDS",
    "IDENTIFIER_FIELDS",
    "KINDS",
    "PRESETS",
    "ColumnMapping",
    "normalise_header",
    "resolve_mapping",
]

KINDS = ("customers", "orders", "order_items", "events")

#: Identifier fields that are channel ids (→ an identity of that id_type).
CHANNEL_ID_FIELDS = (
    "whatsapp",
    "instagram",
    "facebook",
    "line",
    "wechat",
    "shopify",
    "hubspot",
    "pos",
    "user_id",
)
#: Every field that names a person. ``phone_2`` is a second phone (Shopify's address phone,
#: HubSpot's mobile); it becomes a ``phone`` identity too.
IDENTIFIER_FIELDS = ("email", "phone", "phone_2", *CHANNEL_ID_FIELDS)

_CONSENT = ("consent_email", "consent_sms", "consent_whatsapp")

#: field → value type, per kind. Types: id, email, phone, text, ts, date, money, int, bool, json.
FIELDS: dict[str, dict[str, str]] = {
    "customers": {
        "source_id": "id",
        "email": "email",
        "phone": "phone",
        "phone_2": "phone",
        "whatsapp": "phone",
        **{f: "id" for f in CHANNEL_ID_FIELDS if f != "whatsapp"},
        "first_name": "text",
        "last_name": "text",
        "name": "text",
        "gender": "text",
        "birth_date": "date",
        "country": "text",
        "region": "text",
        "city": "text",
        "language": "text",
        "company": "text",
        "industry": "text",
        "company_size": "int",
        "annual_revenue": "money",
        "created_at": "ts",
        **{c: "bool" for c in _CONSENT},
        **{f"{c}_at": "ts" for c in _CONSENT},
        "traits": "json",
    },
    "orders": {
        "order_id": "id",
        "customer_id": "id",
        "email": "email",
        "phone": "phone",
        "phone_2": "phone",
        "whatsapp": "phone",
        **{f: "id" for f in CHANNEL_ID_FIELDS if f != "whatsapp"},
        "name": "text",
        "ts": "ts",
        "amount": "money",
        "currency": "text",
        "channel": "text",
        "discount": "money",
        "status": "text",
        "product_id": "id",
        "product_name": "text",
        "category": "text",
        "quantity": "int",
        "price": "money",
    },
    "order_items": {
        "order_id": "id",
        "product_id": "id",
        "product_name": "text",
        "category": "text",
        "quantity": "int",
        "price": "money",
    },
    "events": {
        "message_id": "id",
        "customer_id": "id",
        "anonymous_id": "id",
        "email": "email",
        "phone": "phone",
        "phone_2": "phone",
        "whatsapp": "phone",
        **{f: "id" for f in CHANNEL_ID_FIELDS if f != "whatsapp"},
        "name": "text",
        "type": "text",
        "event": "text",
        "ts": "ts",
        "properties": "json",
        "channel": "text",
    },
}

#: Common headers, English and Chinese (Traditional and Simplified), per field. Kind-specific
#: entries in ``_KIND_ALIASES`` take precedence.
# fmt: off
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "e-mail", "email address", "e-mail address", "mail", "emails",
        "電郵", "电邮", "電子郵件", "电子邮件", "電郵地址", "电邮地址", "電子郵箱", "电子邮箱",
        "郵箱", "邮箱", "電子信箱", "电子信箱", "信箱",
    ),
    "phone": (
        "phone", "phone number", "telephone", "tel", "mobile", "mobile number", "mobile phone",
        "cell", "cell phone", "contact number", "phone no",
        "電話", "电话", "手機", "手机", "電話號碼", "电话号码", "手機號碼", "手机号码", "手機號",
        "手机号", "聯絡電話", "联系电话", "聯絡號碼", "联系号码", "行動電話", "移動電話",
        "移动电话", "手提電話", "流動電話",
    ),
    "whatsapp": (
        "whatsapp", "whatsapp number", "whatsapp phone", "wa id", "wa_id", "whatsapp id",
        "whatsapp號碼", "whatsapp号码",
    ),
    "instagram": (
        "instagram", "instagram handle", "instagram username", "instagram id", "ig",
        "ig handle", "ig username", "ig account",
    ),
    "facebook": (
        "facebook", "facebook id", "facebook user id", "fb id", "fb", "psid", "messenger id",
    ),
    "line": ("line", "line id", "line user id", "line userid", "line uid", "line帳號", "line账号"),
    "wechat": (
        "wechat", "wechat id", "weixin", "openid", "wechat openid",
        "微信", "微信號", "微信号", "微信id",
    ),
    "shopify": ("shopify customer id", "shopify id"),
    "hubspot": ("hubspot id", "hubspot record id", "hubspot contact id"),
    "pos": (
        "member id", "member no", "member number", "membership number", "membership no",
        "membership id", "loyalty id", "loyalty number", "card number", "member card",
        "會員編號", "会员编号", "會員號", "会员号", "會員號碼", "会员号码", "會員卡號",
        "会员卡号", "會員ID", "会员ID",
    ),
    "user_id": ("user id", "userid", "uid", "app user id"),
    "anonymous_id": ("anonymous id", "anonymousid", "anon id", "device id", "visitor id"),
    "first_name": ("first name", "firstname", "given name", "forename", "名"),
    "last_name": ("last name", "lastname", "surname", "family name", "姓", "姓氏"),
    "name": (
        "name", "full name", "customer name", "contact name", "display name", "member name",
        "姓名", "名字", "名稱", "名称", "客戶名稱", "客户名称", "客戶姓名", "客户姓名",
        "會員姓名", "会员姓名", "會員名稱", "会员名称", "聯絡人", "联系人", "顧客姓名", "顾客姓名",
    ),
    "gender": ("gender", "sex", "性別", "性别"),
    "birth_date": (
        "birthday", "birth date", "birthdate", "date of birth", "dob", "生日", "出生日期",
        "出生年月日",
    ),
    "country": (
        "country", "country code", "country/region", "country region", "nation",
        "國家", "国家", "國家/地區", "国家/地区", "國家地區", "国家地区",
    ),
    "region": (
        "region", "state", "province", "state/region", "province code", "state code", "county",
        "地區", "地区", "省份", "省", "州", "區域", "区域", "縣市", "县市",
    ),
    "city": ("city", "town", "城市", "市", "城市/地區"),
    "language": ("language", "locale", "preferred language", "語言", "语言"),
    "company": (
        "company", "company name", "organization", "organisation", "employer", "business name",
        "公司", "公司名稱", "公司名称", "機構", "机构",
    ),
    "industry": ("industry", "sector", "行業", "行业"),
    "company_size": (
        "number of employees", "employees", "company size", "employee count", "headcount",
        "員工人數", "员工人数",
    ),
    "annual_revenue": ("annual revenue", "revenue", "年收入", "年營業額", "年营业额"),
    "created_at": (
        "created at", "create date", "created", "created date", "signup date", "sign up date",
        "joined", "join date", "registration date", "registered at", "member since",
        "註冊日期", "注册日期", "註冊時間", "注册时间", "加入日期", "建立日期", "創建時間",
        "创建时间", "入會日期", "入会日期",
    ),
    "consent_email": (
        "accepts email marketing", "accepts marketing", "email consent", "email opt in",
        "email optin", "email marketing consent", "email subscribed", "subscribed to email",
        "marketing contact status", "接受電郵推廣", "接受电邮推广", "電郵推廣", "电邮推广",
    ),
    "consent_sms": (
        "accepts sms marketing", "sms consent", "sms opt in", "sms optin", "sms subscribed",
        "接受短訊推廣", "接受短信推广",
    ),
    "consent_whatsapp": (
        "accepts whatsapp marketing", "whatsapp consent", "whatsapp opt in", "whatsapp optin",
        "whatsapp subscribed", "接受whatsapp推廣", "接受whatsapp推广",
    ),
    "consent_email_at": ("email consent date", "email consent at", "email opt in date"),
    "consent_sms_at": ("sms consent date", "sms consent at", "sms opt in date"),
    "consent_whatsapp_at": ("whatsapp consent date", "whatsapp consent at"),
    "traits": ("traits",),
    "order_id": (
        "order id", "order number", "order no", "order #", "order", "order name", "invoice",
        "invoice number", "invoice no", "receipt", "receipt number", "receipt no",
        "transaction id", "訂單編號", "订单编号", "訂單號", "订单号", "訂單號碼", "订单号码",
        "單號", "单号", "收據編號", "收据编号", "發票號碼", "发票号码", "交易編號", "交易编号",
    ),
    "customer_id": ("customer id", "customer_id", "segmint id", "segmint customer id"),
    "ts": (
        "date", "order date", "created at", "timestamp", "ts", "time", "datetime", "date time",
        "purchase date", "transaction date", "order time", "order created at",
        "日期", "下單時間", "下单时间", "訂單日期", "订单日期", "時間", "时间", "交易時間",
        "交易时间", "交易日期", "購買日期", "购买日期", "購買時間", "购买时间", "訂單時間",
        "订单时间",
    ),
    "amount": (
        "amount", "total", "order total", "total amount", "grand total", "total price",
        "order amount", "net amount", "revenue", "金額", "金额", "總額", "总额", "總金額",
        "总金额", "訂單金額", "订单金额", "合計", "合计", "實付金額", "实付金额", "消費金額",
        "消费金额",
    ),
    "currency": ("currency", "currency code", "貨幣", "货币", "幣別", "币别", "幣種", "币种"),
    "channel": (
        "channel", "sales channel", "source", "source name", "渠道", "通路", "銷售渠道",
        "销售渠道", "來源", "来源",
    ),
    "discount": (
        "discount", "discount amount", "discounts", "total discount", "total discounts",
        "折扣", "折扣金額", "折扣金额", "優惠", "优惠", "優惠金額", "优惠金额",
    ),
    "status": (
        "status", "order status", "financial status", "payment status", "狀態", "状态",
        "訂單狀態", "订单状态", "付款狀態", "付款状态",
    ),
    "product_id": (
        "sku", "product id", "product sku", "item sku", "item id", "product code",
        "lineitem sku", "商品編號", "商品编号", "產品編號", "产品编号", "貨號", "货号",
        "商品代碼", "商品代码",
    ),
    "product_name": (
        "product", "product name", "item", "item name", "product title", "lineitem name",
        "商品", "商品名稱", "商品名称", "產品", "产品", "產品名稱", "产品名称", "品名",
    ),
    "category": (
        "category", "product category", "product type", "type of product",
        "類別", "类别", "分類", "分类", "商品類別", "商品类别", "品類", "品类",
    ),
    "quantity": (
        "quantity", "qty", "units", "lineitem quantity", "數量", "数量", "件數", "件数",
    ),
    "price": (
        "price", "unit price", "item price", "lineitem price", "單價", "单价", "價格", "价格",
        "售價", "售价",
    ),
    "message_id": ("message id", "messageid", "event id", "msg id", "訊息編號", "消息编号"),
    "type": ("type", "event type", "call type"),
    "event": ("event", "event name", "action", "事件", "事件名稱", "事件名称"),
    "properties": ("properties", "props", "event properties", "屬性", "属性"),
}

#: Kind-specific readings of ambiguous headers.
_KIND_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        # in a customer file "Customer ID" is that system's key for the record
        "source_id": (
            "customer id", "customer_id", "id", "record id", "contact id", "customer number",
            "customer no", "client id", "客戶編號", "客户编号", "顧客編號", "顾客编号",
            "客戶ID", "客户ID",
        ),
    },
    "orders": {"customer_id": ("customer id", "customer_id")},
    "order_items": {},
    "events": {
        "ts": (
            "timestamp", "ts", "time", "date", "datetime", "sent at", "sentat",
            "original timestamp", "originaltimestamp", "received at", "receivedat",
            "event time", "時間", "时间", "日期",
        ),
        "channel": ("channel", "source", "渠道", "來源", "来源"),
    },
}


# fmt: on


@dataclass(frozen=True)
class Preset:
    """A documented export layout: recognised by ``signature`` headers, maps ``columns``."""

    name: str
    kind: str
    source: str
    signature: tuple[str, ...]
    columns: dict[str, str]  # header as documented → field


#: Documented export layouts. Headers not listed here fall back to the common aliases, and on a
#: customer file to ``traits``.
PRESETS: tuple[Preset, ...] = (
    Preset(
        "shopify_customers",
        "customers",
        "shopify",
        ("Customer ID", "Accepts Email Marketing"),
        {
            "Customer ID": "shopify",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Accepts Email Marketing": "consent_email",
            "Default Address Company": "company",
            "Default Address City": "city",
            "Default Address Province Code": "region",
            "Default Address Country Code": "country",
            "Default Address Phone": "phone_2",
            "Phone": "phone",
            "Accepts SMS Marketing": "consent_sms",
        },
    ),
    Preset(
        "shopify_orders",
        "orders",
        "shopify",
        ("Name", "Financial Status", "Lineitem name"),
        {
            "Name": "order_id",
            "Email": "email",
            "Financial Status": "status",
            "Created at": "ts",
            "Currency": "currency",
            "Total": "amount",
            "Discount Amount": "discount",
            "Lineitem quantity": "quantity",
            "Lineitem name": "product_name",
            "Lineitem price": "price",
            "Lineitem sku": "product_id",
            "Phone": "phone",
            "Billing Phone": "phone_2",
            "Source": "channel",
            "Vendor": "category",
        },
    ),
    Preset(
        "hubspot_contacts",
        "customers",
        "hubspot",
        ("Record ID", "Email"),
        {
            "Record ID": "hubspot",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Phone Number": "phone",
            "Mobile Phone Number": "phone_2",
            "Company Name": "company",
            "Industry": "industry",
            "Number of Employees": "company_size",
            "Annual Revenue": "annual_revenue",
            "City": "city",
            "State/Region": "region",
            "Country/Region": "country",
            "Create Date": "created_at",
            "Marketing contact status": "consent_email",
        },
    ),
)

_SEP = re.compile(r"[\s_\-]+")


def normalise_header(header: str) -> str:
    """The form headers are compared in.

    >>> normalise_header(" E-Mail Address： ")
    'emailaddress'
    >>> normalise_header("ＷｈａｔｓＡｐｐ 號碼")
    'whatsapp號碼'
    """
    h = unicodedata.normalize("NFKC", header).strip().lower()
    h = h.strip("*\"' ").rstrip(":").strip()
    return _SEP.sub("", h)


def _alias_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    fields = FIELDS[kind]
    for f, aliases in _KIND_ALIASES.get(kind, {}).items():
        for a in aliases:
            index.setdefault(normalise_header(a), f)
    for f, aliases in _ALIASES.items():
        if f not in fields:
            continue
        for a in (f, *aliases):
            index.setdefault(normalise_header(a), f)
    return index


def known_headers() -> set[str]:
    """Every normalised header any kind recognises (used to judge a decoding)."""
    out: set[str] = set()
    for kind in KINDS:
        out |= set(_alias_index(kind))
    return out


@dataclass
class ColumnMapping:
    """Which column fills which field.

    Attributes:
        kind: the import kind.
        columns: field → header, in file order.
        unmapped: headers that fill no field (kept in ``traits``/``properties`` where the kind
            has such a column, otherwise ignored).
        preset: the recognised export layout, if any.
        source: the default source name suggested by the preset.
        notes: remarks (e.g. a header that two columns compete for).
    """

    kind: str
    columns: dict[str, str]
    unmapped: list[str]
    preset: str | None = None
    source: str | None = None
    notes: list[str] = field(default_factory=list)


def detect_preset(kind: str, headers: Sequence[str]) -> Preset | None:
    """The documented export layout ``headers`` follow, if any (case-insensitive)."""
    norm = {normalise_header(h) for h in headers}
    for preset in PRESETS:
        if preset.kind == kind and all(normalise_header(s) in norm for s in preset.signature):
            return preset
    return None


def resolve_mapping(
    kind: str,
    headers: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    *,
    file: str = "file",
) -> ColumnMapping:
    """Map the columns of a file to the fields of ``kind``.

    Raises ``ValidationError`` (with "did you mean") for an unknown kind, an explicit mapping to a
    field the kind does not have, or to a column the file does not have.

    >>> resolve_mapping("orders", ["Order", "Total", "Created at"], {"amount": "Total"}).columns
    {'order_id': 'Order', 'amount': 'Total', 'ts': 'Created at'}
    """
    if kind not in FIELDS:
        raise ValidationError(
            f"The import kind must be one of {', '.join(KINDS)}. Got '{kind}' instead.",
            suggestions=close_matches(kind, KINDS),
        )
    fields = FIELDS[kind]
    headers = list(headers)
    chosen: dict[str, str] = {}
    notes: list[str] = []

    for f, col in (explicit or {}).items():
        if f not in fields:
            raise ValidationError(
                f"The field '{f}' in --map is not a field of {kind} imports. Fields: "
                f"{', '.join(fields)}.",
                suggestions=close_matches(f, fields),
                location=file,
                hint="use --map FIELD=COLUMN with one of the fields above.",
            )
        if col not in headers:
            by_norm = {normalise_header(h): h for h in headers}
            if normalise_header(col) in by_norm:
                col = by_norm[normalise_header(col)]
            else:
                raise ValidationError(
                    f"The column '{col}' mapped to '{f}' is not in {file}. Columns: "
                    f"{', '.join(headers)}.",
                    suggestions=close_matches(col, headers),
                    location=file,
                    hint="copy the header exactly as it is written in the first row.",
                )
        chosen[f] = col

    taken = set(chosen.values())
    preset = detect_preset(kind, headers)
    if preset is not None:
        documented = {normalise_header(h): f for h, f in preset.columns.items()}
        for h in headers:
            f = documented.get(normalise_header(h))
            if f and f not in chosen and h not in taken:
                chosen[f] = h
                taken.add(h)

    index = _alias_index(kind)
    for h in headers:
        if h in taken:
            continue
        f = index.get(normalise_header(h))
        if f is None:
            continue
        if f in chosen:
            notes.append(f"column '{h}' also looks like '{f}', which '{chosen[f]}' already fills")
            continue
        chosen[f] = h
        taken.add(h)

    order = {h: i for i, h in enumerate(headers)}
    columns = dict(sorted(chosen.items(), key=lambda kv: order[kv[1]]))
    unmapped = [h for h in headers if h not in taken]
    return ColumnMapping(
        kind=kind,
        columns=columns,
        unmapped=unmapped,
        preset=preset.name if preset else None,
        source=preset.source if preset else None,
        notes=notes,
    )
