"""Overlapping, messy identifiers that stitching must merge, and junk that must not merge anyone."""

from __future__ import annotations

import re
from collections import defaultdict

import phonenumbers
import pyarrow.compute as pc
import pytest

from _demo_support import demo
from segmint.config import JunkIdentifiers
from segmint.demo._reference import JUNK_EMAILS, JUNK_PHONES


@pytest.fixture(scope="module")
def records():
    return demo().records.to_pandas()


def test_people_appear_in_several_sources(records):
    persons = demo().persons.num_rows
    assert persons < len(records)  # duplicates exist
    per_person = records.groupby("person_id")["source"].nunique()
    assert (per_person >= 3).mean() > 0.3
    # and a correct stitcher merges many of them
    clusters = records.groupby("person_id")["cluster"].nunique()
    assert records["cluster"].nunique() < len(records) * 0.6
    assert (clusters == 1).mean() > 0.5


def test_expected_clusters_never_mix_people(records):
    assert (records.groupby("cluster")["person_id"].nunique() == 1).all()


def test_clusters_follow_the_shared_identifiers(records):
    """Recompute the clusters from the records' identifier columns (union-find)."""
    records = records.astype(object).where(records.notna(), None)
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, row in enumerate(records.itertuples(index=False)):
        for key in (
            f"e:{row.email}" if row.email else None,
            f"p:{row.phone}" if row.phone else None,
            row.link,
            row.link2,
        ):
            if key is None:
                continue
            j = first.setdefault(key, i)
            parent[find(i)] = find(j)
    mine = [find(i) for i in range(len(records))]
    pairs = set(zip(mine, records["cluster"], strict=True))
    assert len(pairs) == records["cluster"].nunique() == len(set(mine))


def test_a_person_in_shopify_whatsapp_and_pos_links_by_phone(records):
    by_person = records.groupby("person_id")
    found = 0
    for _, rows in by_person:
        src = set(rows["source"])
        if {"shopify", "whatsapp", "pos"} <= src and rows["cluster"].nunique() == 1:
            found += 1
    assert found >= 10


def test_identifier_keys_are_normalised_and_never_junk(records):
    junk = JunkIdentifiers()
    emails = records["email"].dropna()
    assert (emails == emails.str.strip().str.lower()).all()
    assert not emails.isin(JUNK_EMAILS).any()
    phones = records["phone"].dropna()
    assert phones.str.fullmatch(r"\+\d{8,15}").all()
    for p in phones.sample(500, random_state=1):
        num = phonenumbers.parse(p)
        assert phonenumbers.is_valid_number(num), p
        assert len(set(str(num.national_number))) >= junk.min_phone_distinct_digits
    # no real phone or e-mail is shared by two people
    assert (records.dropna(subset=["phone"]).groupby("phone")["person_id"].nunique() == 1).all()
    assert (records.dropna(subset=["email"]).groupby("email")["person_id"].nunique() == 1).all()


def test_junk_identifiers_are_present_and_shared_by_different_people(records):
    junk = records.dropna(subset=["junk"])
    assert set(junk["junk"]) & set(JUNK_EMAILS)
    assert set(junk["junk"]) & set(JUNK_PHONES)
    shared = junk.groupby("junk")["person_id"].nunique()
    assert (shared >= 2).sum() >= 3
    # the default junk rules of the workspace config recognise every one of them
    cfg = JunkIdentifiers()
    import fnmatch

    for value in set(junk["junk"]):
        if "@" in value:
            assert any(fnmatch.fnmatch(value, pat) for pat in cfg.emails), value
        else:
            assert value in cfg.phones or len(set(value)) < cfg.min_phone_distinct_digits, value


def test_junk_sits_in_the_files():
    src = demo().sources
    ig = src["instagram_contacts"]["email"].to_pylist()
    assert sum(e in JUNK_EMAILS for e in ig if e) >= 5
    pos_phones = src["pos_orders"]["電話"].to_pylist()
    assert {"00000000", "12345678"} & set(pos_phones)
    shop = src["shopify_customers"]["Default Address Phone"].to_pylist()
    assert set(shop) & set(JUNK_PHONES)
    hub = src["hubspot_contacts"]["Email"].to_pylist()
    assert "test@example.com" in hub


def test_identifiers_are_messy_like_real_exports():
    src = demo().sources
    emails = [
        e
        for e in src["shopify_customers"]["Email"].to_pylist()
        + src["hubspot_contacts"]["Email"].to_pylist()
        if e
    ]
    assert any(e != e.lower() for e in emails)  # upper-case letters
    assert any(e != e.strip() for e in emails)  # stray spaces
    phones = [p for p in src["shopify_customers"]["Default Address Phone"].to_pylist() if p]
    patterns = {
        "hk spaced": r"\d{4} \d{4}",
        "hk plain": r"\d{8}",
        "intl spaced": r"\+\d{2,3} [\d -]+",
        "tw dashes": r"09\d{2}-\d{3}-\d{3}",
    }
    for name, pat in patterns.items():
        assert any(re.fullmatch(pat, p) for p in phones), name


def test_written_phones_parse_to_the_recorded_e164():
    """Local numbers belong to the row's country column, or to Hong Kong where there is none."""
    d = demo()
    rec = d.records.to_pandas()
    key_of = defaultdict(dict)
    for row in rec.itertuples(index=False):
        key_of[row.source][row.record_key] = row.phone
    checks = 0
    shop = d.sources["shopify_customers"].to_pylist()
    for row in shop[:800]:
        want = key_of["shopify"][row["Customer ID"]]
        for col in ("Phone", "Default Address Phone"):
            raw = row[col]
            if not raw or raw in JUNK_PHONES:
                continue
            num = phonenumbers.parse(raw, row["Default Address Country Code"])
            assert phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) == want
            checks += 1
    for src, key_col, phone_col in (
        ("whatsapp", "Phone", "Phone"),
        ("line", "line_user_id", "phone"),
        ("hubspot", "Record ID", "Phone Number"),
        ("hubspot", "Record ID", "Mobile Phone Number"),
    ):
        for row in d.sources[f"{src}_contacts"].to_pylist()[:500]:
            raw = row[phone_col]
            if not raw or raw in JUNK_PHONES:
                continue
            num = phonenumbers.parse(raw, "HK")
            got = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            assert got == key_of[src][row[key_col]], (src, raw)
            checks += 1
    pos = d.sources["pos_orders"].to_pylist()
    for row in pos[:500]:
        if row["電話"] and row["電話"] not in JUNK_PHONES:
            num = phonenumbers.parse(row["電話"], "HK")
            got = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            assert got == key_of["pos"][row["會員編號"]]
            checks += 1
    assert checks > 1000


def test_same_person_same_phone_written_differently():
    d = demo()
    rec = d.records.to_pandas().dropna(subset=["phone"])
    wa = {r["Phone"]: r for r in d.sources["whatsapp_contacts"].to_pylist()}
    shop = {r["Customer ID"]: r for r in d.sources["shopify_customers"].to_pylist()}
    differs = 0
    for _, rows in rec.groupby("phone"):
        srcs = dict(zip(rows["source"], rows["record_key"], strict=False))
        if "whatsapp" in srcs and "shopify" in srcs:
            s = shop[srcs["shopify"]]
            typed = s["Default Address Phone"] or s["Phone"]
            if typed and typed != wa[srcs["whatsapp"]]["Phone"]:
                differs += 1
    assert differs >= 20


def test_events_identify_people_consistently():
    d = demo()
    ev = d.sources["events"]
    users = set(pc.unique(ev["user_id"].combine_chunks().cast("string")).to_pylist()) - {None}
    shop_ids = set(d.sources["shopify_customers"]["Customer ID"].to_pylist())
    assert users and users <= shop_ids
    rec = d.records.to_pandas()
    ev_rec = rec[rec["source"] == "events"]
    assert len(ev_rec) > 0
    assert ev_rec["link"].dropna().str.startswith("shopify:").all()
    assert ev_rec["link2"].dropna().str.startswith("anon:").all()
