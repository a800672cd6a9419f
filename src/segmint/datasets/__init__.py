"""Small public data sets shipped inside segmint (layer 2), with their provenance.

See ``README.md`` next to this file for where each data set comes from and which published
numbers it reproduces.

Example:
    >>> from segmint.datasets import load_cdnow_sample
    >>> orders = load_cdnow_sample()
    >>> len(orders), orders["customer_id"].nunique()
    (6919, 2357)
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["CDNOW_SAMPLE_FILE", "load_cdnow_sample"]

#: File name of the CDNOW 1/10 sample inside this package.
CDNOW_SAMPLE_FILE = "cdnow_sample.txt"


def load_cdnow_sample() -> pd.DataFrame:
    """The CDNOW 1/10 sample (Fader & Hardie): 6,919 orders of 2,357 customers, 1997-01 to 1998-06.

    Returns one row per line of the file, shaped like the canonical ``orders`` table:
    ``order_id`` (``"cdnow-000001"`` …, in file order), ``customer_id`` (the file's zero-padded
    id, e.g. ``"00004"``), ``ts`` (the purchase date at midnight), ``amount`` (dollars) and
    ``quantity`` (number of CDs). Several orders can fall on one day; buy-till-you-die models
    count them as one transaction.

    >>> first = load_cdnow_sample().iloc[0]
    >>> first["customer_id"], float(first["amount"]), int(first["quantity"])
    ('00004', 29.33, 2)
    """
    ref = resources.files(__name__).joinpath(CDNOW_SAMPLE_FILE)
    with ref.open("r", encoding="ascii") as fh:
        raw = pd.read_csv(
            fh,
            sep=r"\s+",
            header=None,
            names=["customer_id", "sample_id", "date", "quantity", "amount"],
            dtype={"customer_id": str, "sample_id": str, "date": str},
            engine="python",
        )
    return pd.DataFrame(
        {
            "order_id": [f"cdnow-{i:06d}" for i in range(1, len(raw) + 1)],
            "customer_id": raw["customer_id"].astype(str),
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
            "amount": raw["amount"].astype("float64"),
            "quantity": raw["quantity"].astype("int64"),
        }
    )
