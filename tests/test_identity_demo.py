"""Stitching the demo generator's files reproduces its ground truth.

The generator (``segmint.demo``) writes Shopify, HubSpot, WhatsApp, LINE, Instagram and POS
files with overlapping, messy identifiers and records which true person and which *expected
cluster* (the people an identifier-based stitcher should find) is behind every record. Importing
the files must merge the planted duplicates and never put two true people together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

demo = pytest.importorskip("segmint.demo")

from tests._import_support import new_workspace  # noqa: E402

from segmint.demo.generator import IMPORT_PLAN  # noqa: E402


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    data = demo.generate(1500, seed=11, events=True)
    data.write(root / "files", format="csv")
    ws = new_workspace(root)
    results = {}
    for f in IMPORT_PLAN:
        path = next((root / "files").glob(f"{f.name}.*"))
        mapping = dict(f.mapping)
        if f.kind == "events":
            mapping.setdefault("shopify", "user_id")  # Segment userId = Shopify customer id
        results[f.name] = ws.import_file(f.kind, path, mapping=mapping, source=f.source)
    ident = ws.table("identities").to_pandas()
    records = pd.read_csv(next((root / "files").rglob("records.csv")), dtype=str)
    yield ws, records, ident, results
    ws.close()


def _customer_of(records: pd.DataFrame, ident: pd.DataFrame) -> pd.Series:
    lookup = {
        (t, v): c for t, v, c in zip(ident.id_type, ident.id_value, ident.customer_id, strict=True)
    }

    def one(r) -> str | None:
        if r.source in ("shopify", "hubspot", "pos", "line"):
            return lookup.get((r.source, r.record_key))
        if r.source == "whatsapp":
            return lookup.get(("whatsapp", r.phone))
        if r.source == "instagram":
            return lookup.get(("instagram", str(r.record_key).lower().lstrip("@")))
        return None

    return records.apply(one, axis=1)


def test_every_file_imports(stitched):
    _, _, _, results = stitched
    assert {f.name for f in IMPORT_PLAN} == set(results)
    assert all(r.inserted > 0 for r in results.values())


def test_planted_duplicates_merge_and_people_never_mix(stitched):
    _, records, ident, _ = stitched
    people = records[records.source != "events"].copy()
    people["cid"] = _customer_of(people, ident)
    assert people.cid.notna().all(), people[people.cid.isna()].head()
    # no segmint customer holds records of two true people (junk never merged anyone)
    assert (people.groupby("cid").person_id.nunique() == 1).all()
    # each expected cluster is exactly one segmint customer, and vice versa
    assert (people.groupby("cluster").cid.nunique() == 1).all()
    assert (people.groupby("cid").cluster.nunique() == 1).all()
    # and duplicates were planted: fewer people than records
    assert people.cid.nunique() < len(people)


def test_demo_placeholders_link_nobody(stitched):
    ws, _, _, results = stitched
    assert results["instagram_contacts"].junk_identifiers > 0
    log = ws.table("merge_log").to_pandas()
    assert not log.id_value.isin(["test@example.com", "none@none.com", "12345678"]).any()


def test_reimporting_the_demo_changes_nothing(stitched, tmp_path):
    ws, *_ = stitched
    before = ws.table("profiles").count().execute(), ws.table("orders").count().execute()
    files = Path(ws.path).parent / "files"
    f = next(x for x in IMPORT_PLAN if x.name == "shopify_orders")
    r = ws.import_file(f.kind, next(files.glob(f"{f.name}.*")), mapping=f.mapping, source=f.source)
    assert r.inserted == r.updated == 0 and not r.changed
    assert (ws.table("profiles").count().execute(), ws.table("orders").count().execute()) == before
