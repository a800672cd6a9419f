"""The files a real shop would export: Shopify, HubSpot, WhatsApp, LINE, Instagram, POS.

Each builder returns an Arrow table with the documented headers and appends the identity records
it creates to a :class:`RecordLog` (the ground truth of who is who).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.demo import _reference as ref
from segmint.demo import _strings as s
from segmint.demo.orders import STATUSES, Orders, PersonTruth
from segmint.demo.params import GROUPS
from segmint.demo.people import People, unique_strings

__all__ = [
    "SHOPIFY_CUSTOMER_COLUMNS",
    "SHOPIFY_ORDER_COLUMNS",
    "Clock",
    "RecordLog",
    "Sources",
    "build_sources",
]

SHOPIFY_CUSTOMER_COLUMNS = (
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
)
#: extra columns after the documented Shopify ones (customer metafields / loyalty-app fields);
#: an importer keeps the unmapped ones as traits
SHOPIFY_CUSTOMER_EXTRAS = (
    "Gender",
    "Birth Date",
    "Language",
    "Income Band",
    "Interests",
    "Lifestyle",
    "Values",
    "Email Marketing Consent Updated At",
    "SMS Marketing Consent Updated At",
)
SHOPIFY_ORDER_COLUMNS = (
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
)
HUBSPOT_COLUMNS = (
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
)
WHATSAPP_COLUMNS = ("Name", "Phone", "opted_in", "opted_in_at", "opted_out_at")
LINE_COLUMNS = ("line_user_id", "display_name", "phone", "followed_at")
INSTAGRAM_COLUMNS = ("username", "full_name", "email")
POS_COLUMNS = ("訂單編號", "會員編號", "姓名", "電話", "金額", "日期", "門市", "付款方式")

CURRENCY = "HKD"
_NOTES = (
    "prefers WhatsApp",
    "請用中文聯絡",
    "sensitive skin",
    "gift wrapping every order",
    "deliver after 7pm",
    "corporate gifts",
    "asked about refill packs",
)


@dataclass(frozen=True)
class Clock:
    """Converts window days (Hong Kong local, float) into timestamps."""

    start: date
    days: int  # window length; day `days` is the exclusive end
    tracking_days: float  # web tracking (events) starts at this day

    @property
    def start_epoch(self) -> int:
        """UTC epoch seconds of the window start (00:00 Hong Kong time)."""
        midnight = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return int(midnight.timestamp()) - s.LOCAL_OFFSET_S

    def epoch(self, t: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of window days ``t``."""
        return self.start_epoch + np.floor(np.asarray(t, dtype=float) * 86400).astype(np.int64)

    def shopify(self, t: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        """``2026-06-30 14:03:00 +0800`` (how Shopify exports times); null where not valid."""
        return s.local_time(self.epoch(t), "%Y-%m-%d %H:%M:%S +0800", valid=valid)

    def iso(self, t: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        """``2026-06-30T14:03:00+08:00``; null where not valid."""
        return s.local_time(self.epoch(t), "%Y-%m-%dT%H:%M:%S+08:00", valid=valid)

    def minutes(self, t: np.ndarray) -> pa.Array:
        """``2026-06-30 14:03`` (HubSpot's export format)."""
        return s.local_time(self.epoch(t), "%Y-%m-%d %H:%M")

    def date_of(self, t: float) -> date:
        return self.start + timedelta(days=int(np.floor(t)))


@dataclass
class RecordLog:
    """Identity records of every source (one per Shopify customer, WhatsApp contact, …)."""

    parts: list[dict] = field(default_factory=list)

    def add(
        self,
        source: str,
        file: str,
        key: pa.Array,
        person: np.ndarray,
        *,
        email: pa.Array | None = None,
        phone: pa.Array | None = None,
        junk: pa.Array | None = None,
        link: pa.Array | None = None,
        link2: pa.Array | None = None,
        row: np.ndarray | None = None,
    ) -> None:
        n = len(person)
        nulls = pa.nulls(n, pa.string())
        self.parts.append(
            {
                "source": pa.array([source] * n, pa.string()) if n else nulls,
                "file": pa.array([file] * n, pa.string()) if n else nulls,
                "row": pa.array(row if row is not None else np.arange(2, n + 2), pa.int64()),
                "record_key": key.cast(pa.string()),
                "person": pa.array(np.asarray(person, dtype=np.int64)),
                "email": email if email is not None else nulls,
                "phone": phone if phone is not None else nulls,
                "junk": junk if junk is not None else nulls,
                "link": link if link is not None else nulls,
                "link2": link2 if link2 is not None else nulls,
            }
        )

    def table(self) -> pa.Table:
        cols = {k: pa.concat_arrays([p[k] for p in self.parts]) for k in self.parts[0]}
        return pa.table(cols)


@dataclass
class Accounts:
    """Shopify customer accounts (one person may have two)."""

    person: np.ndarray
    primary: np.ndarray
    created: np.ndarray  # day the account was made
    customer_id: np.ndarray  # int64
    email: pa.Array  # as stored (lower case)
    phone_field: pa.Array  # "Phone" column (E.164) or null
    phone_typed: pa.Array  # "Default Address Phone" or null (may be junk)
    phone_key: pa.Array  # E.164 the account identifies, or null
    email_consent: np.ndarray  # "yes" | "no" | "withdrawn"
    email_consent_t: np.ndarray
    sms_consent: np.ndarray
    sms_consent_t: np.ndarray
    order_account: np.ndarray  # per order: account index, -1 for POS orders


@dataclass
class Sources:
    tables: dict[str, pa.Table]
    records: RecordLog
    accounts: Accounts
    consent: dict[str, tuple[np.ndarray, np.ndarray]]  # channel → (state per person, time)
    newsletter: np.ndarray  # browsers without a Shopify account who subscribed by e-mail


def _messy_emails(rng: np.random.Generator, email: pa.Array, rate: float) -> pa.Array:
    """E-mails as people type them: some capitalised, title-cased, upper-case, trailing space."""
    n = len(email)
    variant = np.where(rng.random(n) < rate, rng.integers(1, 5, n), 0)
    options = [
        email,
        pc.utf8_capitalize(email),
        pc.utf8_title(email),
        pc.utf8_upper(email),
        s.join(email, " "),
    ]
    return s.choose(variant, options)


def _consent(
    rng: np.random.Generator, since: np.ndarray, window: float, p_given: float, p_withdraw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Consent state ("yes" | "withdrawn" | "no") and the time of the last change."""
    n = len(since)
    given = rng.random(n) < p_given
    t_given = since + rng.random(n) * np.maximum(window - since, 0) * 0.3
    withdrawn = given & (rng.random(n) < p_withdraw)
    t_withdrawn = t_given + rng.random(n) * np.maximum(window - t_given, 0)
    state = np.where(withdrawn, "withdrawn", np.where(given, "yes", "no")).astype(object)
    t = np.where(withdrawn, t_withdrawn, np.where(given, t_given, np.nan))
    return state, t


def _names(
    rng: np.random.Generator, people: People, rows: np.ndarray, p_chinese: float
) -> tuple[pa.Array, pa.Array]:
    """First and last names as a source holds them (Chinese characters or English)."""
    idx = pa.array(rows)
    zh = pa.array(people.chinese_name[rows] & (rng.random(len(rows)) < p_chinese))
    first = pc.if_else(zh, people.given_zh.take(idx), people.first_en.take(idx))
    last = pc.if_else(zh, people.surname_zh.take(idx), people.last_en.take(idx))
    lower = pa.array(rng.random(len(rows)) < 0.03)
    first = pc.if_else(lower, pc.utf8_lower(first), first)
    return first, last


def _place_cols(people: People, rows: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
    pl = people.place[rows]
    city = s.take([p[3] for p in ref.PLACES], pl)
    prov = s.take([p[1] for p in ref.PLACES], pl)
    prov = pc.if_else(pc.equal(prov, ""), pa.scalar(None, pa.string()), prov)
    region = s.take([p[2] for p in ref.PLACES], pl)
    return city, prov, region


def _web_order_span(orders: Orders, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last web-order day per person (NaN if none)."""
    web = ~orders.pos
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, orders.person[web], orders.t[web])
    np.maximum.at(last, orders.person[web], orders.t[web])
    first[np.isinf(first)] = np.nan
    last[np.isinf(last)] = np.nan
    return first, last


def build_sources(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    truth: PersonTruth,
    clock: Clock,
) -> Sources:
    """Every source file as an Arrow table, plus the identity records behind them."""
    log = RecordLog()
    tables: dict[str, pa.Table] = {}
    accounts, newsletter = _accounts(rng, people, orders, truth, clock)
    tables["shopify_customers"] = _shopify_customers(rng, people, orders, accounts, clock, log)
    tables["shopify_orders"] = _shopify_orders(rng, people, orders, accounts, clock)
    tables["pos_orders"] = _pos_orders(rng, people, orders, truth, clock, log)
    tables["hubspot_contacts"] = _hubspot(rng, people, truth, clock, log)
    wa_table, wa_consent = _whatsapp(rng, people, truth, clock, log)
    tables["whatsapp_contacts"] = wa_table
    tables["line_contacts"] = _line(rng, people, truth, clock, log)
    tables["instagram_contacts"] = _instagram(rng, people, log)

    consent = {
        "email": _per_person(people.n, accounts, accounts.email_consent, accounts.email_consent_t),
        "sms": _per_person(people.n, accounts, accounts.sms_consent, accounts.sms_consent_t),
        "whatsapp": wa_consent,
    }
    return Sources(
        tables=tables,
        records=log,
        accounts=accounts,
        consent=consent,
        newsletter=newsletter,
    )


def _per_person(
    n: int, acc: Accounts, state: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    out_s = np.full(n, None, dtype=object)
    out_t = np.full(n, np.nan)
    prim = np.flatnonzero(acc.primary)
    out_s[acc.person[prim]] = state[prim]
    out_t[acc.person[prim]] = t[prim]
    return out_s, out_t


# --- Shopify -------------------------------------------------------------------------------------


def _accounts(
    rng: np.random.Generator, people: People, orders: Orders, truth: PersonTruth, clock: Clock
) -> tuple[Accounts, np.ndarray]:
    n = people.n
    window = float(clock.days)
    gname = people.group_name
    buyer = np.array([GROUPS[g].spend is not None for g in GROUPS])[people.group]
    browser = gname == "browser"
    browser_account = browser & (rng.random(n) < 0.7)
    newsletter = browser & ~browser_account & people.has_email
    has_acc = (buyer & ~truth.pos_only) | browser_account
    first_web, last_web = _web_order_span(orders, n)
    signup = rng.uniform(0, window, n)
    created = np.where(
        np.isnan(first_web),
        np.where(np.isnan(truth.acquired), signup, truth.acquired + rng.random(n)),
        first_web - rng.uniform(0, 0.01, n),
    )
    created = np.clip(created, 0, window - 1e-6)
    dup = has_acc & (rng.random(n) < 0.04)
    span = np.nan_to_num(last_web - first_web, nan=0.0)
    switch = np.where(
        span > 0,
        np.nan_to_num(first_web) + rng.uniform(0.2, 0.8, n) * span,
        created + rng.random(n) * (window - created),
    )
    prim_p = np.flatnonzero(has_acc)
    dup_p = np.flatnonzero(dup)
    person = np.concatenate([prim_p, dup_p])
    primary = np.r_[np.ones(len(prim_p), bool), np.zeros(len(dup_p), bool)]
    t_created = np.concatenate([created[prim_p], switch[dup_p]])
    m = len(person)

    # e-mail: the primary account has the person's own; a second account another address
    serial = pa.array(person + 1)
    fl = pc.replace_substring_regex(
        pc.utf8_lower(people.first_en.take(pa.array(person))), "[^a-z]", ""
    )
    ll = pc.replace_substring_regex(
        pc.utf8_lower(people.last_en.take(pa.array(person))), "[^a-z]", ""
    )
    other_dom = s.take(["outlook.com", "gmail.com", "icloud.com"], rng.integers(0, 3, m))
    # "first.last.<serial>" cannot collide with any primary address (see people.make_people)
    second = s.join(fl, ".", ll, ".", pc.cast(serial, pa.string()), "@", other_dom)
    own = people.email.take(pa.array(person))
    email = pc.if_else(pa.array(primary), own, second)
    email = pc.if_else(pc.is_null(email), second, email)

    # phones: Shopify's "Phone" (normalised, needed for SMS) and the typed address phone
    has_phone = people.phone[person] > 0
    roll = rng.random(m)
    want_field = has_phone & (roll < 0.6)
    want_typed = has_phone & ((roll > 0.4) | (rng.random(m) < 0.3))
    e164 = s.e164(people.country[person], people.phone[person])
    typed = s.written_phones(rng, people.country[person], people.phone[person], local="some")
    phone_field = s.null_where(e164, ~want_field)
    phone_typed = s.null_where(typed, ~want_typed)
    junk = rng.random(m) < 0.025
    junk_vals = s.take(ref.JUNK_PHONES, rng.integers(0, len(ref.JUNK_PHONES), m))
    phone_typed = pc.if_else(pa.array(junk & ~want_typed), junk_vals, phone_typed)
    phone_key = s.null_where(e164, ~(want_field | want_typed))

    since = t_created
    e_state, e_t = _consent(rng, since, window, 0.55, 0.15)
    sm_state, sm_t = _consent(rng, since, window, 0.30, 0.10)
    sm_state = np.where(want_field, sm_state, "no").astype(object)
    sm_t = np.where(want_field, sm_t, np.nan)
    # second accounts were made in a hurry: no marketing consent
    e_state[~primary] = "no"
    e_t[~primary] = np.nan
    sm_state[~primary] = "no"
    sm_t[~primary] = np.nan

    # customer ids grow with creation time
    order = np.argsort(t_created, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    customer_id = 7_100_000_000_000 + rank * 1000 + rng.integers(0, 1000, m)

    # orders → account (web orders after the switch go to the second account)
    acc_of = np.full(n, -1, dtype=np.int64)
    acc_of[prim_p] = np.arange(len(prim_p))
    dup_of = np.full(n, -1, dtype=np.int64)
    dup_of[dup_p] = len(prim_p) + np.arange(len(dup_p))
    op = orders.person
    use_dup = (dup_of[op] >= 0) & (orders.t >= switch[op])
    order_account = np.where(use_dup, dup_of[op], acc_of[op])
    order_account = np.where(orders.pos, -1, order_account)
    # a person's web orders always land in an account
    assert not np.any((order_account < 0) & ~orders.pos)

    return (
        Accounts(
            person=person,
            primary=primary,
            created=t_created,
            customer_id=customer_id,
            email=email,
            phone_field=phone_field,
            phone_typed=phone_typed,
            phone_key=phone_key,
            email_consent=e_state,
            email_consent_t=e_t,
            sms_consent=sm_state,
            sms_consent_t=sm_t,
            order_account=order_account,
        ),
        newsletter,
    )


def _shopify_customers(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    acc: Accounts,
    clock: Clock,
    log: RecordLog,
) -> pa.Table:
    m = len(acc.person)
    p = acc.person
    pidx = pa.array(p)
    order = np.argsort(acc.customer_id, kind="stable")  # export sorted by id
    first, last = _names(rng, people, p, 0.55)
    city, prov, _ = _place_cols(people, p)
    no_addr = rng.random(m) < 0.25
    country = pa.array(people.country[p].astype(object), pa.string())
    web = acc.order_account >= 0
    n_orders = np.bincount(acc.order_account[web], minlength=m)
    paid = web & (orders.status != STATUSES.index("refunded"))
    spent = np.bincount(acc.order_account[paid], weights=orders.total[paid], minlength=m)
    company = people.company[p]
    has_co = company >= 0
    co_name = s.null_where(
        people.companies.name.take(pa.array(np.maximum(company, 0)))
        if len(people.companies.name)
        else pa.nulls(m, pa.string()),
        ~has_co,
    )
    gname = people.group_name[p]
    yes_no = {"yes": "yes", "no": "no", "withdrawn": "no"}
    tags = s.join_present(
        [
            s.null_where(pa.array(["newsletter"] * m), acc.email_consent != "yes"),
            s.null_where(pa.array(["wholesale"] * m), gname != "b2b"),
            s.null_where(pa.array(["VIP"] * m), ~((gname == "vip_loyal") & (rng.random(m) < 0.6))),
            s.null_where(pa.array(["second account"] * m), acc.primary | (rng.random(m) < 0.5)),
        ]
    )
    note = s.null_where(s.take(_NOTES, rng.integers(0, len(_NOTES), m)), rng.random(m) > 0.05)

    prim = acc.primary
    extras_mask = {
        "Gender": 0.6,
        "Birth Date": 0.55,
        "Language": 0.5,
        "Income Band": 0.25,
        "Interests": 0.4,
        "Lifestyle": 0.3,
        "Values": 0.3,
    }
    keep = {k: prim & (rng.random(m) < v) for k, v in extras_mask.items()}
    birth = (
        pa.array(people.birth_date[p].astype(object), pa.date32())
        if m
        else pa.nulls(0, pa.date32())
    )
    birth_str = (
        pc.strftime(birth.cast(pa.timestamp("s")), format="%Y-%m-%d")
        if m
        else pa.nulls(0, pa.string())
    )

    def consent_time(t: np.ndarray) -> pa.Array:
        return clock.shopify(np.nan_to_num(t), valid=~np.isnan(t))

    email_raw = _messy_emails(rng, acc.email, 0.06)
    cols = {
        "Customer ID": s.to_str(acc.customer_id),
        "First Name": first,
        "Last Name": last,
        "Email": email_raw,
        "Accepts Email Marketing": pa.array([yes_no[v] for v in acc.email_consent], pa.string()),
        "Default Address Company": co_name,
        "Default Address City": s.null_where(city, no_addr),
        "Default Address Province Code": s.null_where(prov, no_addr),
        "Default Address Country Code": country,
        "Default Address Phone": acc.phone_typed,
        "Phone": acc.phone_field,
        "Accepts SMS Marketing": pa.array([yes_no[v] for v in acc.sms_consent], pa.string()),
        "Total Spent": pa.array(np.round(spent, 2)),
        "Total Orders": pa.array(n_orders.astype(np.int64)),
        "Tags": tags,
        "Note": note,
        "Gender": s.null_where(pa.array(people.gender[p], pa.string()), ~keep["Gender"]),
        "Birth Date": s.null_where(birth_str, ~keep["Birth Date"]),
        "Language": s.null_where(pa.array(people.language[p], pa.string()), ~keep["Language"]),
        "Income Band": s.null_where(
            pa.array(people.income_band[p], pa.string()), ~keep["Income Band"]
        ),
        "Interests": s.null_where(people.interests.take(pidx), ~keep["Interests"]),
        "Lifestyle": s.null_where(people.lifestyle.take(pidx), ~keep["Lifestyle"]),
        "Values": s.null_where(people.values.take(pidx), ~keep["Values"]),
        "Email Marketing Consent Updated At": consent_time(acc.email_consent_t),
        "SMS Marketing Consent Updated At": consent_time(acc.sms_consent_t),
    }
    table = pa.table(cols).take(pa.array(order))
    junk = pc.if_else(
        pc.is_in(acc.phone_typed, pa.array(ref.JUNK_PHONES)),
        acc.phone_typed,
        pa.scalar(None, pa.string()),
    )
    o = pa.array(order)
    log.add(
        "shopify",
        "shopify_customers.csv",
        s.to_str(acc.customer_id[order]),
        p[order],
        email=acc.email.take(o),
        phone=acc.phone_key.take(o),
        junk=junk.take(o),
        link=s.join("shopify:", s.to_str(acc.customer_id[order])),
    )
    return table


def _shopify_orders(
    rng: np.random.Generator, people: People, orders: Orders, acc: Accounts, clock: Clock
) -> pa.Table:
    """One row per line item; order-level fields on the first row of each order only."""
    web = np.flatnonzero(~orders.pos)
    w = len(web)
    rank = np.full(len(orders), -1, dtype=np.int64)
    rank[web] = np.arange(w)
    item_web = ~orders.pos[orders.item_order]
    io = orders.item_order[item_web]
    first_row = np.r_[True, io[1:] != io[:-1]] if io.size else np.zeros(0, bool)
    r = rank[io]
    r_first = np.where(first_row, r, -1)  # index of the order on its first row, else -1
    a = acc.order_account[io]
    nf = ~first_row

    # per order values, then spread over the rows as dictionary arrays (no string copies)
    wo = web
    names = s.join("#", s.to_str(1001 + np.arange(w)))
    order_ids = s.to_str(5_900_000_000_000 + np.arange(w) * 100 + (np.arange(w) * 37) % 100)
    b2b = people.group[orders.person[wo]] == list(GROUPS).index("b2b")
    src = np.where(b2b, 3, np.searchsorted([0.9, 0.96], rng.random(w)))
    # the phone typed at checkout: the account's own number, often left empty
    typed = s.written_phones(rng, people.country[acc.person], people.phone[acc.person], local="hk")
    typed = s.null_where(typed, np.asarray(pc.is_null(acc.phone_key)))
    billing_acc = np.where(rng.random(w) < 0.7, acc.order_account[wo], -1)
    billing_row = np.where(first_row, billing_acc[np.maximum(r, 0)], -1)
    codes = orders.code[wo]
    prod = orders.item_product[item_web]

    def money(x: np.ndarray) -> pa.Array:
        return s.null_where(pa.array(np.round(x[np.maximum(r, 0)], 2)), nf)

    created = orders.t[io]
    paid_at = created + rng.uniform(5, 180, io.size) / 86400
    cols = {
        "Name": s.dict_take(names, r, unique=True),
        "Email": s.dict_take(acc.email, a, unique=True),
        "Financial Status": s.pool(STATUSES, np.where(nf, -1, orders.status[wo][np.maximum(r, 0)])),
        "Paid at": clock.shopify(paid_at, valid=first_row),
        "Currency": s.pool([CURRENCY], np.where(nf, -1, 0)),
        "Subtotal": money(orders.subtotal[wo]),
        "Discount Code": s.pool(
            list(ref.DISCOUNT_CODES), np.where(nf, -1, codes[np.maximum(r, 0)])
        ),
        "Discount Amount": money(orders.discount[wo]),
        "Total": money(orders.total[wo]),
        "Created at": clock.shopify(created),
        "Lineitem quantity": pa.array(orders.item_qty[item_web]),
        "Lineitem name": s.pool([p[2] for p in ref.PRODUCTS], prod),
        "Lineitem price": pa.array(orders.item_price[item_web]),
        "Lineitem sku": s.pool([p[0] for p in ref.PRODUCTS], prod),
        "Billing Phone": s.dict_take(typed, billing_row),
        "Phone": s.dict_take(acc.phone_field, np.where(nf, -1, a)),
        "Id": s.dict_take(order_ids, r_first, unique=True),
        "Source": s.pool(
            ["web", "iphone", "android", "shopify_draft_order"],
            np.where(nf, -1, src[np.maximum(r, 0)]),
        ),
    }
    return pa.table(cols)


# --- POS -----------------------------------------------------------------------------------------


def _pos_orders(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    truth: PersonTruth,
    clock: Clock,
    log: RecordLog,
) -> pa.Table:
    members = np.flatnonzero(truth.pos_member)
    k = len(members)
    ids = rng.permutation(max(k * 3, 10))[:k] + 100_000
    mid = s.join("M", s.to_str(ids, 7))
    # the member's details as the cashier typed them
    zh_name = people.chinese_name[members]
    title = np.where(people.gender[members] == "male", "生", "小姐")
    short = s.join(people.surname_zh.take(pa.array(members)), pa.array(title, pa.string()))
    full = pc.if_else(
        pa.array(zh_name),
        people.name_zh.take(pa.array(members)),
        people.name_en.take(pa.array(members)),
    )
    name = pc.if_else(pa.array(zh_name & (rng.random(k) < 0.15)), short, full)
    roll = rng.random(k)
    has_phone = people.phone[members] > 0
    valid = has_phone & (roll < 0.8)
    is_junk = roll >= 0.92
    phone = s.written_phones(rng, people.country[members], people.phone[members], local="always")
    junk_vals = s.take(ref.JUNK_PHONES, rng.integers(0, len(ref.JUNK_PHONES), k))
    phone = pc.if_else(pa.array(is_junk), junk_vals, s.null_where(phone, ~valid))
    e164 = s.null_where(s.e164(people.country[members], people.phone[members]), ~valid)
    # each member shops mostly in one store near home
    region = np.array([ref.PLACES[i][2] for i in people.place[members]], dtype=object)
    store_of = np.zeros(k, dtype=np.int64)
    for r in ("Hong Kong Island", "Kowloon", "New Territories"):
        rows = np.flatnonzero(region == r)
        cand = [i for i, st in enumerate(ref.STORES) if st[2] == r]
        store_of[rows] = np.array(cand)[rng.integers(0, len(cand), len(rows))]
    slot = np.full(people.n, -1, dtype=np.int64)
    slot[members] = np.arange(k)

    pos = np.flatnonzero(orders.pos)
    q = len(pos)
    ms = slot[orders.person[pos]]
    store = np.where(rng.random(q) < 0.8, store_of[ms], rng.integers(0, len(ref.STORES), q))
    codes = s.take([st[0] for st in ref.STORES], store)
    order_no = s.join(codes, "-", s.to_str(np.arange(1, q + 1), 8))
    pay = s.take(
        [p for p, _ in ref.PAYMENT_METHODS],
        rng.choice(
            len(ref.PAYMENT_METHODS),
            size=q,
            p=np.array([w for _, w in ref.PAYMENT_METHODS])
            / sum(w for _, w in ref.PAYMENT_METHODS),
        ),
    )
    # members who shopped are records of the POS file (row = their first order's row)
    first_row = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_row, ms, np.arange(q, dtype=np.int64) + 2)
    seen = first_row < np.iinfo(np.int64).max
    by_row = np.flatnonzero(seen)[np.argsort(first_row[seen], kind="stable")]
    log.add(
        "pos",
        "pos_orders.xlsx",
        mid.take(pa.array(by_row)),
        members[by_row],
        phone=e164.take(pa.array(by_row)),
        junk=s.null_where(junk_vals, ~is_junk).take(pa.array(by_row)),
        row=first_row[by_row],
    )
    msi = pa.array(ms)
    ts = s.utc_timestamps(clock.epoch(orders.t[pos]) + s.LOCAL_OFFSET_S).cast(pa.timestamp("s"))
    return pa.table(
        {
            "訂單編號": order_no,
            "會員編號": mid.take(msi),
            "姓名": name.take(msi),
            "電話": phone.take(msi),
            "金額": pa.array(orders.total[pos]),
            "日期": ts,
            "門市": s.take([st[1] for st in ref.STORES], store),
            "付款方式": pay,
        }
    )


# --- HubSpot -------------------------------------------------------------------------------------


def _hubspot(
    rng: np.random.Generator, people: People, truth: PersonTruth, clock: Clock, log: RecordLog
) -> pa.Table:
    n = people.n
    gname = people.group_name
    sel = (people.company >= 0) | ((rng.random(n) < 0.04) & people.has_email)
    rows = np.flatnonzero(sel & (people.has_email | (people.phone > 0)))
    k = len(rows)
    ridx = pa.array(rows)
    first, last = _names(rng, people, rows, 0.2)
    email = people.email.take(ridx)
    test = rng.random(k) < 0.015
    email_raw = _messy_emails(rng, email, 0.15)
    email_raw = pc.if_else(pa.array(test), pa.scalar("test@example.com"), email_raw)
    has_phone = people.phone[rows] > 0
    roll = rng.random(k)
    # local formats only for Hong Kong numbers: 'Country/Region' is a name, not a code
    ph = s.written_phones(rng, people.country[rows], people.phone[rows], local="hk")
    mob = s.written_phones(rng, people.country[rows], people.phone[rows], local="hk")
    ph_ok = has_phone & (roll < 0.6)
    mob_ok = has_phone & (roll > 0.7)
    junk_mob = ~mob_ok & (rng.random(k) < 0.03)
    phone_col = s.null_where(ph, ~ph_ok)
    mobile_col = pc.if_else(pa.array(junk_mob), pa.scalar("12345678"), s.null_where(mob, ~mob_ok))
    co = people.company[rows]
    has_co = co >= 0
    cidx = pa.array(np.maximum(co, 0))
    comp = people.companies

    def co_col(arr: pa.Array) -> pa.Array:
        return s.null_where(arr.take(cidx), ~has_co) if len(arr) else pa.nulls(k, arr.type)

    city, _, region = _place_cols(people, rows)
    created = np.where(
        np.isnan(truth.acquired[rows]),
        rng.uniform(0, clock.days, k),
        np.maximum(truth.acquired[rows] - rng.uniform(0, 60, k), 0),
    )
    g = gname[rows]
    stage = np.where(
        g == "b2b",
        "Customer",
        np.where(
            has_co,
            np.array(
                ["Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity"],
                dtype=object,
            )[rng.integers(0, 4, k)],
            "Subscriber",
        ),
    )
    record_id = (
        30_000_000 + np.sort(rng.choice(60_000_000, size=k, replace=False))
        if k
        else (np.zeros(0, dtype=np.int64))
    )
    order = np.argsort(created, kind="stable")
    table = pa.table(
        {
            "Record ID": s.to_str(record_id),
            "First Name": first.take(pa.array(order)),
            "Last Name": last.take(pa.array(order)),
            "Email": email_raw.take(pa.array(order)),
            "Phone Number": phone_col.take(pa.array(order)),
            "Mobile Phone Number": mobile_col.take(pa.array(order)),
            "Company Name": co_col(comp.name).take(pa.array(order)),
            "Industry": co_col(comp.industry).take(pa.array(order)),
            "Number of Employees": co_col(pa.array(comp.employees)).take(pa.array(order)),
            "Annual Revenue": co_col(pa.array(comp.revenue)).take(pa.array(order)),
            "City": city.take(pa.array(order)),
            "State/Region": region.take(pa.array(order)),
            "Country/Region": s.take(
                [ref.COUNTRY_NAMES[c] for c in ref.COUNTRIES],
                s.country_index(people.country[rows])[order],
            ),
            "Create Date": clock.minutes(created[order]),
            "Lifecycle Stage": pa.array(stage[order], pa.string()),
        }
    )
    e164 = s.e164(people.country[rows], people.phone[rows])
    phone_key = s.null_where(e164, ~(ph_ok | mob_ok))
    email_key = s.null_where(email, test)
    junk = pc.if_else(
        pa.array(test),
        pa.scalar("test@example.com"),
        s.null_where(pa.array(["12345678"] * k, pa.string()), ~junk_mob),
    )
    o = pa.array(order)
    log.add(
        "hubspot",
        "hubspot_contacts.csv",
        s.to_str(record_id),
        rows[order],
        email=email_key.take(o),
        phone=phone_key.take(o),
        junk=junk.take(o),
    )
    return table


# --- chat apps -----------------------------------------------------------------------------------


def _whatsapp(
    rng: np.random.Generator, people: People, truth: PersonTruth, clock: Clock, log: RecordLog
) -> tuple[pa.Table, tuple[np.ndarray, np.ndarray]]:
    """WhatsApp contacts and the WhatsApp consent per person (state, time)."""
    n = people.n
    base = {"HK": 0.5, "SG": 0.45, "MO": 0.5, "TW": 0.12}
    p = np.array([base.get(c, 0.2) for c in people.country]) if n else np.zeros(0)
    # prospects came in through chat apps; those without a company (HubSpot) always via WhatsApp
    prospect = people.group_name == "prospect"
    p = np.where(prospect, np.where(people.company >= 0, 0.5, 1.0), p)
    sel = (rng.random(n) < p) & (people.phone > 0)
    rows = np.flatnonzero(sel)
    k = len(rows)
    ridx = pa.array(rows)
    emoji = s.take(["🌸", "✨", "😊", "🐱", "💄"], rng.integers(0, 5, k))
    options = [
        people.name_en.take(ridx),
        pc.if_else(
            pa.array(people.chinese_name[rows]),
            people.name_zh.take(ridx),
            people.name_en.take(ridx),
        ),
        people.first_en.take(ridx),
        s.join(people.first_en.take(ridx), " ", emoji),
    ]
    name = s.choose(rng.choice(4, size=k, p=[0.4, 0.35, 0.17, 0.08]), options)
    name = s.null_where(name, rng.random(k) < 0.05)
    phone = s.written_phones(rng, people.country[rows], people.phone[rows], local="never")
    since = np.where(
        np.isnan(truth.acquired[rows]),
        rng.uniform(0, clock.days * 0.7, k),
        truth.acquired[rows],
    )
    state, t = _consent(rng, since, float(clock.days), 0.7, 0.12)
    opted_in_t = np.where(state == "withdrawn", since + (t - since) * rng.random(k), t)
    order = np.argsort(np.nan_to_num(since), kind="stable")
    o = pa.array(order)
    table = pa.table(
        {
            "Name": name.take(o),
            "Phone": phone.take(o),
            "opted_in": pa.array(np.where(state == "yes", "true", "false")[order], pa.string()),
            "opted_in_at": clock.iso(np.nan_to_num(opted_in_t), valid=state != "no").take(o),
            "opted_out_at": clock.iso(np.nan_to_num(t), valid=state == "withdrawn").take(o),
        }
    )
    e164 = s.e164(people.country[rows], people.phone[rows])
    log.add("whatsapp", "whatsapp_contacts.csv", phone.take(o), rows[order], phone=e164.take(o))
    st = np.full(n, None, dtype=object)
    tt = np.full(n, np.nan)
    st[rows] = state
    tt[rows] = t
    return table, (st, tt)


def _line(
    rng: np.random.Generator,
    people: People,
    truth: PersonTruth,
    clock: Clock,
    log: RecordLog,
) -> pa.Table:
    n = people.n
    base = {"TW": 0.55, "HK": 0.06}
    p = np.array([base.get(c, 0.02) for c in people.country]) if n else np.zeros(0)
    p = np.where((people.group_name == "prospect") & (people.country == "TW"), 0.85, p)
    rows = np.flatnonzero(rng.random(n) < p)
    k = len(rows)
    ridx = pa.array(rows)
    uid = s.join("U", s.hex_ids(rng, k, 32))
    emoji = s.take(["🌷", "☕", "🍰", "⭐"], rng.integers(0, 4, k))
    display = s.choose(
        rng.choice(4, size=k, p=[0.4, 0.3, 0.2, 0.1]),
        [
            pc.if_else(
                pa.array(people.chinese_name[rows]),
                people.given_zh.take(ridx),
                people.first_en.take(ridx),
            ),
            people.first_en.take(ridx),
            pc.if_else(
                pa.array(people.chinese_name[rows]),
                people.name_zh.take(ridx),
                people.name_en.take(ridx),
            ),
            s.join(people.first_en.take(ridx), emoji),
        ],
    )
    has = (people.phone[rows] > 0) & (rng.random(k) < 0.4)
    phone = s.null_where(
        s.written_phones(rng, people.country[rows], people.phone[rows], local="hk"), ~has
    )
    followed = np.where(
        np.isnan(truth.acquired[rows]), rng.uniform(0, clock.days, k), truth.acquired[rows]
    )
    order = np.argsort(followed, kind="stable")
    o = pa.array(order)
    table = pa.table(
        {
            "line_user_id": uid.take(o),
            "display_name": display.take(o),
            "phone": phone.take(o),
            "followed_at": clock.iso(followed[order]),
        }
    )
    e164 = s.null_where(s.e164(people.country[rows], people.phone[rows]), ~has)
    log.add("line", "line_contacts.csv", uid.take(o), rows[order], phone=e164.take(o))
    return table


def _instagram(rng: np.random.Generator, people: People, log: RecordLog) -> pa.Table:
    n = people.n
    age_years = (
        (np.datetime64("2026-01-01") - people.birth_date).astype(int) / 365.25
        if n
        else (np.zeros(0))
    )
    p = np.where(age_years < 35, 0.4, 0.2)
    p = np.where(people.group_name == "prospect", 0.5, p)
    rows = np.flatnonzero(rng.random(n) < p)
    k = len(rows)
    ridx = pa.array(rows)
    fl = pc.replace_substring_regex(pc.utf8_lower(people.first_en.take(ridx)), "[^a-z]", "")
    ll = pc.replace_substring_regex(pc.utf8_lower(people.last_en.take(ridx)), "[^a-z]", "")
    handle = s.choose(
        rng.integers(0, 4, k),
        [
            s.join(fl, ".", ll),
            s.join(fl, "_", s.to_str(rng.integers(1, 1000, k))),
            s.join(ll, fl, s.to_str(rng.integers(80, 100, k))),
            s.join(fl, ".beauty"),
        ],
    )
    handle = unique_strings(handle, rows + 1, "_")
    full = s.choose(
        rng.choice(3, size=k, p=[0.5, 0.3, 0.2]),
        [
            people.name_en.take(ridx),
            pc.if_else(
                pa.array(people.chinese_name[rows]),
                s.join(people.name_zh.take(ridx), " ", people.first_en.take(ridx)),
                people.name_en.take(ridx),
            ),
            pa.nulls(k, pa.string()),
        ],
    )
    roll = rng.random(k)
    has_email = people.has_email[rows] & (roll < 0.35)
    junk = roll > 0.95
    email = people.email.take(ridx)
    raw = s.null_where(_messy_emails(rng, email, 0.1), ~has_email)
    junk_vals = s.take(ref.JUNK_EMAILS, rng.integers(0, len(ref.JUNK_EMAILS), k))
    raw = pc.if_else(pa.array(junk), junk_vals, raw)
    table = pa.table({"username": handle, "full_name": full, "email": raw})
    log.add(
        "instagram",
        "instagram_contacts.csv",
        handle,
        rows,
        email=s.null_where(email, ~has_email | junk),
        junk=s.null_where(junk_vals, ~junk),
    )
    return table
