"""A small demo workspace for the segment tests, and the planted group of every customer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmint.demo import IMPORT_PLAN, generate
from segmint.workspace import Workspace

PEOPLE = 2000
SEED = 7


def build_demo_workspace(root: Path) -> tuple[Workspace, pd.DataFrame]:
    """Generate ``PEOPLE`` people, import them as `segmint demo` does; return the workspace and
    a frame (customer_id, group) from the ground truth (a person may have several customers)."""
    data = generate(PEOPLE, seed=SEED)
    paths = data.write(root / "data")
    ws = Workspace.create(root / "ws", default_region="HK", currency="HKD")
    for plan in IMPORT_PLAN:
        ws.import_file(plan.kind, paths[plan.name], mapping=dict(plan.mapping), source=plan.source)
    truth = root / "data" / "ground_truth"
    records = pd.read_csv(truth / "records.csv", dtype=str)
    persons = pd.read_csv(truth / "persons.csv", dtype=str)[["person_id", "group"]]
    ident = ws.table("identities").to_pandas()
    lookup = {
        (t, v): c for t, v, c in zip(ident.id_type, ident.id_value, ident.customer_id, strict=True)
    }

    def customer(r) -> str | None:
        if r.source in ("shopify", "hubspot", "pos", "line"):
            return lookup.get((r.source, r.record_key))
        if r.source == "whatsapp":
            return lookup.get(("whatsapp", r.phone))
        if r.source == "instagram":
            return lookup.get(("instagram", str(r.record_key).lower().lstrip("@")))
        return None

    records["customer_id"] = records.apply(customer, axis=1)
    groups = (
        records.dropna(subset=["customer_id"])
        .merge(persons, on="person_id")[["customer_id", "group"]]
        .drop_duplicates()
    )
    return ws, groups
