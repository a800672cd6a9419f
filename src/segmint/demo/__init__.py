"""Realistic demo data with a ground truth (layer 2: numpy/pyarrow/Faker, no queries).

``generate(n)`` draws ``n`` true people in planted customer groups, their orders (BG/NBD timing,
Gamma-Gamma values), events (Segment spec) and the exports a shop would hold about them — Shopify,
HubSpot, WhatsApp, LINE, Instagram, a Hong Kong POS — with overlapping, messy identifiers.
``DemoData.write(folder)`` writes the files and ``ground_truth/`` (persons, records, orders,
params.json). See docs/demo-data.md.

Example:
    >>> from segmint.demo import generate
    >>> data = generate(200, seed=1, events=False)
    >>> data.persons.num_rows
    200
"""

from segmint.demo.generator import (
    HEADERS,
    IMPORT_PLAN,
    XLSX_MAX_ROWS,
    DemoData,
    DemoFile,
    Progress,
    generate,
)
from segmint.demo.params import GROUPS, BetaGeo, GammaGamma, Group

__all__ = [
    "GROUPS",
    "HEADERS",
    "IMPORT_PLAN",
    "XLSX_MAX_ROWS",
    "BetaGeo",
    "DemoData",
    "DemoFile",
    "GammaGamma",
    "Group",
    "Progress",
    "generate",
]
