"""A small workspace for the report tests, written straight into the canonical tables.

Three sources with different coverage (Shopify knows emails and addresses, WhatsApp knows phones
and languages, the POS knows phones, genders and birthdays), 40 people of whom some appear in two
or three sources (with merge-log rows saying why), orders for 36 of them and a few events.
Deterministic: the same rows every time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.schema import TABLES
from segmint.workspace import Workspace

N_PEOPLE = 40
SHOPIFY = range(1, 31)  # people 1..30
WHATSAPP = range(15, 35)  # people 15..34
POS_PEOPLE = [p for p in range(25, 41) if p % 2 == 1 or p > 34]
NO_ORDERS = {3, 17, 33, 38}  # people without any order
AS_OF = dt.date(2026, 6, 30)


def cid(p: int) -> str:
    return f"c{p:02d}"


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].to_pyarrow()
    return pa.Table.from_pylist(rows, schema=schema)


def _records() -> list[dict]:
    rows = []
    t0 = dt.datetime(2025, 1, 1)
    for p in SHOPIFY:
        rows.append(
            {
                "record_id": f"shopify:{p}",
                "source": "shopify",
                "customer_id": cid(p),
                "first_name": f"First{p}",
                "last_name": f"Last{p}",
                "name": f"First{p} Last{p}",
                "email": f"person{p}@mail.hk",
                "phone": f"+8529000{p:04d}" if p % 2 == 0 else None,
                "country": "HK" if p % 3 else "TW",
                "city": "Hong Kong" if p % 3 else "Taipei",
                "created_at": t0 + dt.timedelta(days=p),
                "consent_email": p % 4 != 0,
                "consent_email_at": t0 + dt.timedelta(days=p),
                "traits": '{"interests": ["tea"]}' if p % 5 == 0 else "{}",
                "imported_at": dt.datetime(2026, 7, 1),
            }
        )
    for p in WHATSAPP:
        rows.append(
            {
                "record_id": f"whatsapp:{p}",
                "source": "whatsapp",
                "customer_id": cid(p),
                "name": f"陳{p}",
                "phone": f"+8529000{p:04d}",
                "language": "zh-Hant" if p % 2 else "en",
                "consent_whatsapp": True,
                "consent_whatsapp_at": t0 + dt.timedelta(days=2 * p),
                "imported_at": dt.datetime(2026, 7, 1),
            }
        )
    for p in POS_PEOPLE:
        rows.append(
            {
                "record_id": f"pos:{p}",
                "source": "pos",
                "customer_id": cid(p),
                "phone": f"+8529000{p:04d}",
                "gender": "F" if p % 2 else "M",
                "birth_date": dt.date(1980 + p % 20, 1 + p % 12, 1 + p % 28),
                "email": "" if p % 3 == 0 else None,  # blank text counts as missing
                "imported_at": dt.datetime(2026, 7, 1),
            }
        )
    return rows


def _profiles(records: list[dict]) -> list[dict]:
    by_person: dict[str, dict] = {}
    for r in records:
        prof = by_person.setdefault(r["customer_id"], {"customer_id": r["customer_id"]})
        for k, v in r.items():
            if k in ("record_id", "source", "customer_id", "imported_at") or v in (None, ""):
                continue
            prof.setdefault(k, v)
    return [by_person[cid(p)] for p in range(1, N_PEOPLE + 1)]


def _identities(records: list[dict]) -> list[dict]:
    rows = []
    for r in records:
        ids = [(r["source"], r["record_id"].split(":")[1])]
        if r.get("email"):
            ids.append(("email", r["email"]))
        if r.get("phone"):
            ids.append(("phone", r["phone"]))
        for id_type, value in ids:
            rows.append(
                {
                    "customer_id": r["customer_id"],
                    "id_type": "pos" if id_type == "pos" else id_type,
                    "id_value": value,
                    "record_id": r["record_id"],
                    "source": r["source"],
                    "first_seen": dt.datetime(2026, 7, 1),
                }
            )
    return rows


def _merge_log(records: list[dict]) -> list[dict]:
    """One row per record joined to the first record of its person, with the shared id."""
    rows, first = [], {}
    for r in records:
        c = r["customer_id"]
        if c not in first:
            first[c] = r
            continue
        f = first[c]
        rows.append(
            {
                "merged_at": dt.datetime(2026, 7, 1),
                "customer_id": c,
                "record_id": f["record_id"],
                "other_record_id": r["record_id"],
                "id_type": "phone",
                "id_value": r.get("phone"),
                "absorbed_customer_id": None,
            }
        )
    # one email merge: a second Shopify login of person 2 was folded in by email
    rows.append(
        {
            "merged_at": dt.datetime(2026, 7, 1),
            "customer_id": cid(2),
            "record_id": "shopify:2",
            "other_record_id": "shopify:2b",
            "id_type": "email",
            "id_value": "person2@mail.hk",
            "absorbed_customer_id": "c99",
        }
    )
    return rows


def _orders() -> list[dict]:
    rng = np.random.default_rng(20260630)
    rows = []
    start = dt.datetime(2024, 7, 1)
    span = (dt.datetime.combine(AS_OF, dt.time()) - start).days
    n = 0
    for p in range(1, N_PEOPLE + 1):
        if p in NO_ORDERS:
            continue
        k = 1 + int(rng.poisson(2.5 if p % 4 else 6))
        first = int(rng.integers(0, span - 1))
        for _ in range(k):
            n += 1
            day = int(rng.integers(first, span))
            status = "completed"
            if n % 17 == 0:
                status = "refunded"
            elif n % 23 == 0:
                status = "cancelled"
            rows.append(
                {
                    "order_id": f"o{n:04d}",
                    "customer_id": cid(p),
                    "ts": start + dt.timedelta(days=day, hours=int(rng.integers(0, 24))),
                    "amount": round(float(rng.gamma(2.0, 150.0 if p % 5 else 900.0)), 2),
                    "currency": "HKD",
                    "channel": "web" if p % 3 else "pos",
                    "discount": 0.0,
                    "status": status,
                    "source": "shopify" if p % 3 else "pos",
                }
            )
    # an order after the as-of date: RFM as of AS_OF must not count it
    rows.append(
        {
            "order_id": "o-late",
            "customer_id": cid(1),
            "ts": dt.datetime(2026, 7, 15, 10),
            "amount": 5000.0,
            "currency": "HKD",
            "channel": "web",
            "discount": 0.0,
            "status": "completed",
            "source": "shopify",
        }
    )
    return rows


def _events() -> list[dict]:
    rows = []
    names = ["Product Viewed"] * 5 + ["Product Added"] * 2 + ["Message Read"]
    for p in range(1, 21):
        for i, ev in enumerate(names[: 1 + p % len(names)]):
            rows.append(
                {
                    "message_id": f"m{p}-{i}",
                    "customer_id": cid(p),
                    "type": "track",
                    "event": ev,
                    "ts": dt.datetime(2026, 5, 1) + dt.timedelta(days=p, minutes=i),
                    "properties": "{}",
                    "channel": "whatsapp" if ev.startswith("Message") else "web",
                    "source": "whatsapp" if ev.startswith("Message") else "web",
                }
            )
    rows.append(
        {
            "message_id": "page-1",
            "anonymous_id": "anon-1",
            "type": "page",
            "ts": dt.datetime(2026, 5, 2),
            "properties": "{}",
            "source": "web",
        }
    )
    return rows


def make_workspace(path: Path, **settings) -> Workspace:
    """Create the report test workspace at ``path`` and return it (open)."""
    ws = Workspace.create(path, **settings)
    records = _records()
    tables = {
        "source_profiles": records,
        "profiles": _profiles(records),
        "identities": _identities(records),
        "merge_log": _merge_log(records),
        "orders": _orders(),
        "events": _events(),
    }
    for name, rows in tables.items():
        ws.con.insert(name, _table(name, rows))
    return ws


def raw_tables() -> dict[str, pd.DataFrame]:
    """The same rows as pandas frames, for independent computations in the tests."""
    records = _records()
    return {
        "source_profiles": pd.DataFrame(records),
        "profiles": pd.DataFrame(_profiles(records)),
        "orders": pd.DataFrame(_orders()),
        "merge_log": pd.DataFrame(_merge_log(records)),
        "identities": pd.DataFrame(_identities(records)),
    }
