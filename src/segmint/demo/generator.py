"""``generate()``: realistic, deterministic demo data with a ground truth.

Example:
    >>> from segmint.demo import generate
    >>> data = generate(300, seed=1)
    >>> sorted(data.sources)[:3]
    ['events', 'hubspot_contacts', 'instagram_contacts']
    >>> data.persons.num_rows
    300
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmint.demo import _reference as ref
from segmint.demo import _strings as s
from segmint.demo.events import EVENT_COLUMNS, build_events
from segmint.demo.orders import STATUSES, Orders, PersonTruth, simulate_orders
from segmint.demo.params import GROUPS
from segmint.demo.people import People, make_people
from segmint.demo.sources import (
    CURRENCY,
    HUBSPOT_COLUMNS,
    INSTAGRAM_COLUMNS,
    LINE_COLUMNS,
    POS_COLUMNS,
    SHOPIFY_CUSTOMER_COLUMNS,
    SHOPIFY_CUSTOMER_EXTRAS,
    SHOPIFY_ORDER_COLUMNS,
    WHATSAPP_COLUMNS,
    Clock,
    Sources,
    build_sources,
)
from segmint.errors import ValidationError

__all__ = [
    "CLUSTER_FEATURES",
    "HEADERS",
    "IMPORT_PLAN",
    "XLSX_MAX_ROWS",
    "DemoData",
    "DemoFile",
    "Progress",
    "behaviour_features",
    "generate",
]

#: ``progress(step, fraction)``: called with a short description and the share of work done.
Progress = Callable[[str, float], None]

#: POS orders are written as .xlsx only up to this many rows (Excel is for demo sizes).
XLSX_MAX_ROWS = 100_000
#: ``format="auto"`` writes CSV up to this many customers and Parquet above.
CSV_MAX_CUSTOMERS = 100_000

#: The header of every source file, in file order.
HEADERS: dict[str, tuple[str, ...]] = {
    "shopify_customers": SHOPIFY_CUSTOMER_COLUMNS + SHOPIFY_CUSTOMER_EXTRAS,
    "shopify_orders": SHOPIFY_ORDER_COLUMNS,
    "hubspot_contacts": HUBSPOT_COLUMNS,
    "whatsapp_contacts": WHATSAPP_COLUMNS,
    "line_contacts": LINE_COLUMNS,
    "instagram_contacts": INSTAGRAM_COLUMNS,
    "pos_orders": POS_COLUMNS,
    "events": EVENT_COLUMNS,
}

_MONEY = {
    "shopify_customers": ("Total Spent",),
    "shopify_orders": ("Subtotal", "Discount Amount", "Total", "Lineitem price"),
    "pos_orders": ("金額",),
}


@dataclass(frozen=True)
class DemoFile:
    """How the lead's ``segmint demo`` imports one generated file.

    ``mapping`` maps canonical fields to the file's columns where automatic header matching
    cannot know them (``--map FIELD=COLUMN``); ``traits`` lists columns to keep as free traits.
    """

    name: str
    kind: str  # customers | orders | events
    source: str
    mapping: dict[str, str] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    note: str = ""

    def file(self, fmt: str) -> str:
        """File name for the given tabular format (events are always Parquet)."""
        if self.name == "events":
            return "events.parquet"
        return f"{self.name}.{fmt}"


#: Import order for ``segmint demo``: people first, then orders, then events. ``mapping`` holds
#: only what automatic header matching (the Shopify/HubSpot presets and common aliases of
#: segmint.ingest.fields) cannot know.
IMPORT_PLAN: tuple[DemoFile, ...] = (
    DemoFile(
        "shopify_customers",
        "customers",
        "shopify",
        mapping={
            "consent_email_at": "Email Marketing Consent Updated At",
            "consent_sms_at": "SMS Marketing Consent Updated At",
        },
        traits=("Income Band", "Interests", "Lifestyle", "Values", "Tags", "Note"),
        note="Shopify preset + aliases (Gender, Birth Date, Language). 'Phone' is E.164, "
        "'Default Address Phone' as typed (local numbers of the row's country code). "
        "'no' with a consent time = withdrawn at that time.",
    ),
    DemoFile(
        "hubspot_contacts",
        "customers",
        "hubspot",
        traits=("Lifecycle Stage",),
        note="HubSpot preset. 'Country/Region' is a country name; local phone numbers are "
        "Hong Kong ones; 'Mobile Phone Number' is sometimes the junk 12345678.",
    ),
    DemoFile(
        "whatsapp_contacts",
        "customers",
        "whatsapp",
        mapping={
            "whatsapp": "Phone",
            "consent_whatsapp": "opted_in",
            "consent_whatsapp_at": "opted_in_at",
        },
        traits=("opted_out_at",),
        note="Phones always carry +country. Withdrawn: opted_in=false, opted_in_at = when "
        "given, opted_out_at = when withdrawn (kept as a trait).",
    ),
    DemoFile(
        "line_contacts",
        "customers",
        "line",
        mapping={"created_at": "followed_at"},
        note="line_user_id, display_name and phone match by alias.",
    ),
    DemoFile(
        "instagram_contacts",
        "customers",
        "instagram",
        mapping={"instagram": "username"},
        note="Some e-mails are shared placeholders (none@none.com, test@example.com, …).",
    ),
    DemoFile(
        "shopify_orders",
        "orders",
        "shopify",
        note="Shopify preset: one row per line item, order-level fields on the first row of "
        "an order. Financial Status paid | refunded | partially_refunded.",
    ),
    DemoFile(
        "pos_orders",
        "orders",
        "pos",
        traits=("門市", "付款方式"),
        note="Chinese headers match by alias (會員編號 → pos). Hong Kong shop sales; 日期 is "
        "Hong Kong local time; phones are local numbers or junk (00000000, 12345678, …).",
    ),
    DemoFile(
        "events",
        "events",
        "segment",
        mapping={"shopify": "user_id"},
        note="user_id is the Shopify 'Customer ID' (so it is mapped to the shopify identity); "
        "timestamp is UTC.",
    ),
)


@dataclass(frozen=True)
class DemoData:
    """Generated source tables and their ground truth.

    Attributes:
        sources: file stem → table, as a shop would export them (see :data:`HEADERS`). Large
            columns with repeated values (events, Shopify line items) are dictionary arrays in
            memory — ``to_pandas()`` gives categoricals — and plain strings in the files.
        truth: ``persons``, ``records`` and ``orders`` (the true person behind everything).
        params: the generating parameters (written as ``ground_truth/params.json``).
    """

    sources: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    params: dict

    @property
    def persons(self) -> pa.Table:
        """One row per true person: planted group, demographics, process parameters."""
        return self.truth["persons"]

    @property
    def records(self) -> pa.Table:
        """Every source record → true person, with its identifiers and expected cluster."""
        return self.truth["records"]

    @property
    def orders(self) -> pa.Table:
        """Every order with its true person (web and shop)."""
        return self.truth["orders"]

    def summary(self) -> dict[str, int]:
        """Row counts of every table (for the CLI and logs)."""
        out = {f"{k} rows": v.num_rows for k, v in self.sources.items()}
        out["persons"] = self.persons.num_rows
        out["orders"] = self.orders.num_rows
        out["records"] = self.records.num_rows
        out["expected profiles"] = len(pc.unique(self.records["cluster"]))
        return out

    def write(
        self,
        folder: str | Path,
        *,
        format: str = "auto",
        xlsx: bool | None = None,
        canonical_orders: bool = False,
        progress: Progress | None = None,
    ) -> dict[str, Path]:
        """Write every file into ``folder``; return file stem → path.

        Args:
            format: "csv", "parquet" or "auto" (CSV up to 100,000 customers, Parquet above)
                for every table except events (always Parquet) and the POS orders.
            xlsx: write the POS orders as ``pos_orders.xlsx``; None = only when it has at most
                :data:`XLSX_MAX_ROWS` rows (never at the million-customer scale).
            canonical_orders: also write ``orders.parquet`` in segmint's canonical orders
                schema with the true person as customer_id (for benchmarks).

        Example:
            >>> paths = generate(200, seed=3).write(tmp_path)  # doctest: +SKIP
        """
        fmt = _resolve_format(format, self.persons.num_rows)
        pos_rows = self.sources["pos_orders"].num_rows
        if xlsx and pos_rows > XLSX_MAX_ROWS:
            raise ValidationError(
                f"pos_orders.xlsx must have at most {XLSX_MAX_ROWS:,} rows. "
                f"Got {pos_rows:,} instead.",
                hint="write it as CSV or Parquet (xlsx=None or False).",
            )
        use_xlsx = pos_rows <= XLSX_MAX_ROWS if xlsx is None else xlsx
        folder = Path(folder)
        (folder / "ground_truth").mkdir(parents=True, exist_ok=True)
        jobs: list[tuple[str, Path, Callable[[], None]]] = []
        for name, table in self.sources.items():
            if name == "events":
                path = folder / "events.parquet"
            elif name == "pos_orders" and use_xlsx:
                path = folder / "pos_orders.xlsx"
            else:
                path = folder / f"{name}.{fmt}"
            jobs.append((name, path, _writer(table, path, _MONEY.get(name, ()))))
        gt = folder / "ground_truth"
        for name in ("persons", "records"):
            path = gt / f"{name}.{fmt}"
            jobs.append((name, path, _writer(self.truth[name], path, ())))
        path = gt / "orders.parquet"
        jobs.append(("truth_orders", path, _writer(self.truth["orders"], path, ())))
        products = folder / f"products.{fmt}"
        jobs.append(("products", products, _writer(_products_table(), products, ())))
        if canonical_orders:
            path = folder / "orders.parquet"
            jobs.append(("orders", path, _writer(_canonical_orders(self), path, ())))
        out: dict[str, Path] = {}
        for i, (name, path, job) in enumerate(jobs):
            if progress:
                progress(f"writing {path.name}", i / (len(jobs) + 1))
            job()
            out[name] = path
        params_path = gt / "params.json"
        params_path.write_text(
            json.dumps(self.params, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        out["params"] = params_path
        if progress:
            progress("written", 1.0)
        return out


# --- generate ------------------------------------------------------------------------------------


def generate(
    customers: int = 5000,
    *,
    seed: int = 7,
    end: date = date(2026, 6, 30),
    years: float = 2.0,
    events: bool = True,
    progress: Progress | None = None,
) -> DemoData:
    """Generate demo data for ``customers`` true people, deterministically from ``seed``.

    The people belong to planted groups (see :data:`segmint.demo.params.GROUPS`); they appear in
    several sources with overlapping, messy identifiers; all activity falls between
    ``end - years`` and ``end`` (Hong Kong time).

    Args:
        customers: number of true people (records in the files are more: duplicates).
        seed: same seed → byte-identical files.
        end: last day of the data (orders and events up to 23:59 that day, HK time).
        years: length of the history (at least 1.25, for the lapsed group).
        events: also generate ``events`` (the slowest part at scale).
        progress: optional callback ``progress(step, fraction_done)``.

    Example:
        >>> d = generate(500, seed=2, events=False)
        >>> d.records.num_rows > d.persons.num_rows
        True
    """
    if isinstance(customers, bool) or not isinstance(customers, int | np.integer):
        raise ValidationError(f"customers must be an integer. Got {customers!r} instead.")
    if not 50 <= customers <= 20_000_000:
        raise ValidationError(
            f"customers must be between 50 and 20,000,000. Got {customers:,} instead.",
            hint="use at least 50 so that every planted group has members.",
        )
    if not isinstance(end, date) or isinstance(end, datetime):
        raise ValidationError(f"end must be a date. Got {end!r} instead.")
    if not 1.25 <= float(years) <= 10:
        raise ValidationError(
            f"years must be between 1.25 and 10. Got {years!r} instead.",
            hint="the lapsed group needs 400 days of history.",
        )

    def step(what: str, frac: float) -> None:
        if progress:
            progress(what, frac)

    days = round(float(years) * 365)
    start = end - timedelta(days=days - 1)
    clock = Clock(start=start, days=days, tracking_days=float(max(0, days - 365)))
    streams = [np.random.default_rng(x) for x in np.random.SeedSequence(seed).spawn(6)]

    step("people", 0.0)
    people = make_people(int(customers), streams[0], end=end, seed=seed)
    hols = ref.holidays(start, end)
    hol_days = np.array([(d - start).days for _, d in hols], dtype=float)
    sale_days = np.array([(d - start).days for nm, d in hols if nm == "11.11"], dtype=float)
    step("orders", 0.15)
    orders, ptruth = simulate_orders(
        streams[1], people, window=float(days), holiday_days=hol_days, sale_days=sale_days
    )
    step("source files", 0.4)
    src = build_sources(streams[2], people, orders, ptruth, clock)
    tables = dict(src.tables)
    web_events = np.zeros(people.n, dtype=np.int64)
    if events:
        step("events", 0.6)
        tables["events"], web_events = build_events(
            streams[3], people, orders, ptruth, src, clock, src.records
        )
    else:
        tables["events"] = pa.table(
            {
                c: pa.array([], pa.timestamp("us", tz="UTC") if c == "timestamp" else pa.string())
                for c in EVENT_COLUMNS
            }
        )
    step("ground truth", 0.85)
    records, rec_index = _records_with_clusters(src, people)
    order_truth = _orders_truth(orders, people, src, clock, hol_days)
    persons = _persons_truth(people, orders, ptruth, src, clock, rec_index, web_events)
    params = _params(customers, seed, end, years, clock, hols, people)
    step("done", 1.0)
    return DemoData(
        sources=tables,
        truth={"persons": persons, "records": records, "orders": order_truth},
        params=params,
    )


def _resolve_format(fmt: str, customers: int) -> str:
    if fmt == "auto":
        return "csv" if customers <= CSV_MAX_CUSTOMERS else "parquet"
    if fmt not in ("csv", "parquet"):
        raise ValidationError(
            f"format must be 'csv', 'parquet' or 'auto'. Got {fmt!r} instead.",
        )
    return fmt


# --- ground truth --------------------------------------------------------------------------------


def _records_with_clusters(
    src: Sources, people: People
) -> tuple[pa.Table, tuple[np.ndarray, np.ndarray]]:
    """Records plus ``cluster``: the profile a correct stitcher builds for each record.

    Two records belong to one cluster when they share (transitively) a normalised e-mail, an
    E.164 phone, a Shopify customer id (= events user_id) or an events anonymous_id. Junk
    identifiers are not in these columns, so they never link anything.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t = src.records.table()
    t = {c: t[c].combine_chunks() for c in t.column_names}
    r = len(t["person"])
    keys = [
        s.join("e:", t["email"]),
        s.join("p:", t["phone"]),
        t["link"],
        t["link2"],
    ]
    rec, vals = [], []
    for k in keys:
        valid = np.asarray(k.is_valid())
        rec.append(np.flatnonzero(valid))
        vals.append(k.filter(pa.array(valid)))
    rec_idx = np.concatenate(rec)
    enc = pc.dictionary_encode(pa.concat_arrays(vals))
    key_idx = np.asarray(enc.indices, dtype=np.int64)
    size = r + len(enc.dictionary)
    graph = coo_matrix(
        (np.ones(rec_idx.size, dtype=np.int8), (rec_idx, r + key_idx)), shape=(size, size)
    )
    _, labels = connected_components(graph, directed=False)
    lab = labels[:r]
    _, first, inv = np.unique(lab, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    cluster = s.join("C", s.to_str(rank[inv] + 1, 7))
    person_id = people.person_id.take(t["person"])
    index = (t["person"].to_numpy(), rank[inv])
    table = pa.table(
        {
            "source": t["source"],
            "file": t["file"],
            "row": t["row"],
            "record_key": t["record_key"],
            "person_id": person_id,
            "email": t["email"],
            "phone": t["phone"],
            "junk": t["junk"],
            "link": t["link"],
            "link2": t["link2"],
            "cluster": cluster,
        }
    )
    return table, index


def _season_mask(day: np.ndarray, hol_days: np.ndarray) -> np.ndarray:
    """True for days within the 14-day gift season up to and including a holiday."""
    if not len(hol_days) or not len(day):
        return np.zeros(len(day), dtype=bool)
    idx = np.minimum(np.searchsorted(hol_days + 1, day, side="right"), len(hol_days) - 1)
    d = hol_days[idx]
    return (day < d + 1) & (day >= d + 1 - ref.HOLIDAY_LEAD_DAYS)


def _orders_truth(
    orders: Orders, people: People, src: Sources, clock: Clock, hol_days: np.ndarray
) -> pa.Table:
    m = len(orders)
    acc = src.accounts
    web_rank = np.cumsum(~orders.pos) - 1
    pos_rank = np.cumsum(orders.pos) - 1
    pos_table = src.tables["pos_orders"]
    pos_ids = pos_table["訂單編號"].combine_chunks()
    pos_member = pos_table["會員編號"].combine_chunks()
    shop_id = s.join("#", s.to_str(1001 + web_rank))
    order_id = pc.if_else(
        pa.array(orders.pos),
        pos_ids.take(pa.array(np.maximum(pos_rank, 0)))
        if len(pos_ids)
        else pa.nulls(m, pa.string()),
        shop_id,
    )
    cid = s.to_str(acc.customer_id).take(pa.array(np.maximum(acc.order_account, 0)))
    record = pc.if_else(
        pa.array(orders.pos),
        pos_member.take(pa.array(np.maximum(pos_rank, 0)))
        if len(pos_member)
        else pa.nulls(m, pa.string()),
        cid,
    )
    units = np.bincount(orders.item_order, weights=orders.item_qty, minlength=m)
    lines = np.bincount(orders.item_order, minlength=m)
    pos = orders.pos.astype(np.int64)
    return pa.table(
        {
            "order_id": order_id,
            "source": s.take(["shopify", "pos"], pos),
            "person_id": people.person_id.take(pa.array(orders.person)),
            "group": s.take(list(GROUPS), people.group[orders.person]),
            "record_key": record,
            "ts": s.utc_timestamps(clock.epoch(orders.t)),
            "amount": pa.array(orders.total),
            "subtotal": pa.array(orders.subtotal),
            "discount": pa.array(orders.discount),
            "discount_code": s.pool(list(ref.DISCOUNT_CODES), orders.code).cast(pa.string()),
            "status": s.take(STATUSES, orders.status),
            "channel": s.take(["web", "pos"], pos),
            "lines": pa.array(lines.astype(np.int64)),
            "units": pa.array(units.astype(np.int64)),
            "holiday_season": pa.array(_season_mask(orders.t, hol_days)),
        }
    )


def _persons_truth(
    people: People,
    orders: Orders,
    truth: PersonTruth,
    src: Sources,
    clock: Clock,
    rec_index: tuple[np.ndarray, np.ndarray],
    web_events: np.ndarray,
) -> pa.Table:
    n = people.n
    cnt = np.bincount(orders.person, minlength=n)
    web_cnt = np.bincount(orders.person[~orders.pos], minlength=n)
    revenue = np.bincount(orders.person, weights=orders.total, minlength=n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, orders.person, orders.t)
    np.maximum.at(last, orders.person, orders.t)
    has = cnt > 0

    def ts(t: np.ndarray, ok: np.ndarray) -> pa.Array:
        return s.null_where(s.utc_timestamps(clock.epoch(np.where(ok, t, 0))), ~ok)

    rec_person, rec_cluster = rec_index
    n_records = np.bincount(rec_person, minlength=n)
    pair = np.unique(rec_person * (int(rec_cluster.max(initial=0)) + 1) + rec_cluster)
    n_clusters = np.bincount(pair // (int(rec_cluster.max(initial=0)) + 1), minlength=n)
    co = people.company
    comp = people.companies
    cidx = pa.array(np.maximum(co, 0))

    def co_col(arr: pa.Array) -> pa.Array:
        return s.null_where(arr.take(cidx), co < 0) if len(arr) else pa.nulls(n, arr.type)

    gp = {g: GROUPS[g].spend for g in GROUPS}
    spend_p = np.array([gp[g].p if gp[g] else np.nan for g in GROUPS])[people.group]
    cols: dict[str, pa.Array] = {
        "person_id": people.person_id,
        "group": pa.array(people.group_name, pa.string()),
        "country": pa.array(people.country.astype(object), pa.string()),
        "region": s.take([p[2] for p in ref.PLACES], people.place),
        "city": s.take([p[3] for p in ref.PLACES], people.place),
        "gender": pa.array(people.gender, pa.string()),
        "birth_date": pa.array(people.birth_date.astype("datetime64[D]")),
        "language": pa.array(people.language, pa.string()),
        "income_band": pa.array(people.income_band, pa.string()),
        "interests": people.interests,
        "lifestyle": people.lifestyle,
        "values": people.values,
        "name_zh": people.name_zh,
        "name_en": people.name_en,
        "email": people.email,
        "phone": s.null_where(s.e164(people.country, people.phone), people.phone <= 0),
        "company": co_col(comp.name),
        "industry": co_col(comp.industry),
        "company_size": co_col(pa.array(comp.employees)),
        "annual_revenue": co_col(pa.array(comp.revenue)),
        "acquired_at": ts(truth.acquired, ~np.isnan(truth.acquired)),
        "inactive_at": ts(truth.stop, ~np.isnan(truth.stop)),
        "rate_per_day": pa.array(truth.rate),
        "dropout_p": pa.array(truth.dropout),
        "spend_nu": pa.array(truth.nu),
        "expected_order_value": pa.array(spend_p / truth.nu),
        "orders": pa.array(cnt.astype(np.int64)),
        "web_orders": pa.array(web_cnt.astype(np.int64)),
        "revenue": pa.array(np.round(revenue, 2)),
        "first_order_at": ts(first, has),
        "last_order_at": ts(last, has),
        "pos_member": pa.array(truth.pos_member),
        "web_events": pa.array(web_events.astype(np.int64)),
        "records": pa.array(n_records.astype(np.int64)),
        "clusters": pa.array(n_clusters.astype(np.int64)),
    }
    for ch, (state, t) in src.consent.items():
        cols[f"consent_{ch}"] = pa.array(state, pa.string())
        cols[f"consent_{ch}_at"] = ts(t, ~np.isnan(t))
    return pa.table(cols)


def _params(customers, seed, end, years, clock: Clock, hols, people: People) -> dict:
    counts = np.bincount(people.group, minlength=len(GROUPS))
    return {
        "generator": "segmint.demo.generate",
        "customers": int(customers),
        "seed": int(seed),
        "end": end.isoformat(),
        "years": float(years),
        "window_start": clock.start.isoformat(),
        "window_days": clock.days,
        "tracking_start": clock.date_of(clock.tracking_days).isoformat(),
        "time_unit": "days",
        "timezone": "Asia/Hong_Kong",
        "currency": CURRENCY,
        "groups": {
            name: {**g.to_json(), "people": int(counts[i])}
            for i, (name, g) in enumerate(GROUPS.items())
        },
        "holidays": [{"name": nm, "date": d.isoformat()} for nm, d in hols],
        "holiday_season_days": ref.HOLIDAY_LEAD_DAYS,
        "junk_identifiers": {"emails": list(ref.JUNK_EMAILS), "phones": list(ref.JUNK_PHONES)},
        "stitching_rule": (
            "records link when they share a normalised e-mail (lower case, trimmed), an E.164 "
            "phone (numbers without +country are local numbers of the row's country column, or "
            "of HK in files without one), a Shopify customer id (= events user_id) or an events "
            "anonymous_id; junk identifiers never link. records.cluster is the result."
        ),
        "separating_features": {
            "log_rate": "log(1 + orders per year of tenure); vip_loyal ≈ 3.9, regular ≈ 2.5",
            "recency_capped": "min(days since last order, 365) / 365; lapsed > 0.65",
            "tenure_capped": "min(days since first order, 120) / 120; new < 0.5",
            "log_aov": "log(1 + mean order amount); discount_hunter ≈ 5.1, vip ≈ 7.1, b2b ≈ 8.7",
            "discount_share": "share of orders with a discount code; discount_hunter ≈ 0.9",
            "holiday_share": "share of orders in a 14-day holiday season; holiday_shopper = 1",
            "log_units": "log(1 + mean units per order); b2b ≈ 4.4",
            "browse_only": "web events but no orders; browser = 1 (prospect: no events at all)",
            "recovery": "standardise, k-means with 9 clusters: adjusted Rand index ≥ 0.9",
        },
    }


# --- writing -------------------------------------------------------------------------------------


def _products_table() -> pa.Table:
    """The catalogue as a Shopify products export (Handle, Title, Type, Variant SKU, price)."""
    return pa.table(
        {
            "Handle": [re.sub(r"[^a-z0-9]+", "-", p[2].lower()).strip("-") for p in ref.PRODUCTS],
            "Title": [p[2] for p in ref.PRODUCTS],
            "Type": [p[1] for p in ref.PRODUCTS],
            "Variant SKU": [p[0] for p in ref.PRODUCTS],
            "Variant Price": [float(p[3]) for p in ref.PRODUCTS],
        }
    )


def _canonical_orders(data: DemoData) -> pa.Table:
    """Orders in segmint's canonical schema (customer_id = true person id)."""
    o = data.orders
    status = pc.if_else(pc.equal(o["status"], "refunded"), "refunded", "completed")
    return pa.table(
        {
            "order_id": o["order_id"],
            "customer_id": o["person_id"],
            "ts": o["ts"].cast(pa.timestamp("us")),
            "amount": o["amount"],
            "currency": pa.array([CURRENCY] * o.num_rows, pa.string()),
            "channel": o["channel"],
            "discount": o["discount"],
            "status": status,
            "source": o["source"],
        }
    )


def _writer(table: pa.Table, path: Path, money: Iterable[str]) -> Callable[[], None]:
    suffix = path.suffix
    if suffix == ".csv":
        return lambda: _write_csv(table, path, tuple(money))
    if suffix == ".parquet":
        return lambda: _write_parquet(table, path)
    return lambda: _write_xlsx(table, path)


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Parquet with plain string columns for readers (no Arrow schema: no dictionary types).

    Dictionary-encode only columns with few distinct values: re-encoding a dictionary array with
    millions of entries costs more than it saves.
    """
    import pyarrow.parquet as pq

    small = [
        f.name
        for f, col in zip(table.schema, table.columns, strict=True)
        if not pa.types.is_dictionary(f.type)
        or max((len(c.dictionary) for c in col.chunks), default=0) <= 100_000
    ]
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=1,
        use_dictionary=small,
        row_group_size=1_000_000,
        store_schema=False,
    )


def _write_csv(table: pa.Table, path: Path, money: tuple[str, ...]) -> None:
    """CSV as exporters write it: unquoted header, quotes only where needed, money as 12.50."""
    import pyarrow.csv as pcsv

    cols = []
    for name in table.column_names:
        col = table[name]
        if name in money:
            col = pc.round(col, 2).cast(pa.decimal128(18, 2))
        cols.append(col)
    out = pa.table(cols, names=table.column_names)
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(table.column_names)
    with open(path, "wb") as fh:
        fh.write(head.getvalue().encode("utf-8"))
        pcsv.write_csv(
            out,
            fh,
            pcsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=65536),
        )


_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _write_xlsx(table: pa.Table, path: Path) -> None:
    """A one-sheet workbook with byte-identical output for identical data."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(table.column_names)
    cols = [table[c].to_pylist() for c in table.column_names]
    for row in zip(*cols, strict=True):
        ws.append(list(row))
    fixed = datetime(2020, 1, 1)
    wb.properties.creator = "segmint demo"
    wb.properties.created = fixed
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps the save time into docProps/core.xml and the zip entries; pin both
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>",
                    rb"<dcterms:modified\1>2020-01-01T00:00:00Z</dcterms:modified>",
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, data)


#: Features on which the planted groups form compact, separate clusters (standardise them, then
#: k-means with one cluster per group reaches an adjusted Rand index ≥ 0.9; see the tests).
CLUSTER_FEATURES = (
    "log_rate",
    "recency_capped",
    "tenure_capped",
    "log_aov",
    "discount_share",
    "holiday_share",
    "log_units",
    "browse_only",
)


def behaviour_features(data: DemoData) -> pd.DataFrame:
    """Per-person behaviour features, indexed by person_id, with the planted ``group``.

    Computed from the ground truth (orders and persons), so model tests can check recovery
    without the importer. Raw: frequency, recency_days, tenure_days (days before the end of the
    data), aov, web_events. Clustering (:data:`CLUSTER_FEATURES`):

    - ``log_rate``: log(1 + orders per year of tenure ≥ 30 days) — vip_loyal ≫ regular
    - ``recency_capped``: min(recency, 365) / 365 — lapsed > 0.65, everybody who buys ≲ 0.3
    - ``tenure_capped``: min(tenure, 120) / 120 — new < 0.5, others 1
    - ``log_aov``: log(1 + mean order amount) — discount_hunter ≈ 5.1, vip ≈ 7.1, b2b ≈ 8.7
    - ``discount_share``: share of orders with a code — discount_hunter ≈ 0.9
    - ``holiday_share``: share of orders in a 14-day holiday season — holiday_shopper = 1
    - ``log_units``: log(1 + mean units per order) — b2b ≈ 4.4
    - ``browse_only``: 1 for people with web events but no orders (browser)

    People without orders get 0 for order features and the window length as recency.
    """
    end = pd.Timestamp(data.params["end"]) + pd.Timedelta(days=1) - pd.Timedelta(hours=8)
    end = end.tz_localize("UTC")
    o = data.orders.select(
        ["person_id", "ts", "amount", "discount_code", "holiday_season", "units"]
    ).to_pandas()
    o["has_code"] = o["discount_code"].notna()
    g = o.groupby("person_id").agg(
        frequency=("amount", "size"),
        last=("ts", "max"),
        first=("ts", "min"),
        aov=("amount", "mean"),
        discount_share=("has_code", "mean"),
        holiday_share=("holiday_season", "mean"),
        units=("units", "mean"),
    )
    p = data.persons.select(["person_id", "group", "web_events"]).to_pandas()
    f = p.set_index("person_id").join(g)
    window = float(data.params["window_days"])
    f["frequency"] = f["frequency"].fillna(0).astype(int)
    f["recency_days"] = ((end - f["last"]).dt.total_seconds() / 86400).fillna(window)
    f["tenure_days"] = ((end - f["first"]).dt.total_seconds() / 86400).fillna(0.0)
    f["aov"] = f["aov"].fillna(0.0)
    f["log_rate"] = np.log1p(f["frequency"] / np.maximum(f["tenure_days"], 30) * 365)
    f["recency_capped"] = np.minimum(f["recency_days"], 365) / 365
    f["tenure_capped"] = np.minimum(f["tenure_days"], 120) / 120
    f["log_aov"] = np.log1p(f["aov"])
    f["discount_share"] = f["discount_share"].fillna(0.0).astype(float)
    f["holiday_share"] = f["holiday_share"].fillna(0.0).astype(float)
    f["log_units"] = np.log1p(f["units"].fillna(0.0))
    f["browse_only"] = ((f["frequency"] == 0) & (f["web_events"] > 0)).astype(float)
    raw = ["frequency", "recency_days", "tenure_days", "aov", "web_events"]
    return f[[*raw, *CLUSTER_FEATURES, "group"]]
