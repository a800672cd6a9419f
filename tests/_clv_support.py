"""Shared helpers of the CLV tests: the CDNOW summary computed independently, in plain pandas.

The published CDNOW conventions (Fader, Hardie & Lee 2005): weeks; calibration = the first 39
weeks, to 1997-09-30 inclusive; holdout to 1998-06-30; several purchases on one day are one
transaction (values summed); T from the first purchase to the end of calibration; frequency =
repeat transactions in calibration; monetary value = mean of the repeat transactions.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

CDNOW_FILE = (
    Path(__file__).resolve().parents[1] / "src" / "segmint" / "datasets" / "cdnow_sample.txt"
)
CAL_END = pd.Timestamp("1997-09-30")
OBS_END = pd.Timestamp("1998-06-30")


@lru_cache(maxsize=1)
def cdnow_summary() -> pd.DataFrame:
    """One row per customer: frequency, recency, T, monetary_value (calibration, weeks), and
    frequency_holdout; sorted by customer id."""
    raw = pd.read_csv(
        CDNOW_FILE,
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "cds", "dollars"],
        dtype={"customer_id": str, "date": str},
    )
    raw["day"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    tx = raw.groupby(["customer_id", "day"], as_index=False)["dollars"].sum()
    cal = tx[tx["day"] <= CAL_END].sort_values(["customer_id", "day"])
    hold = tx[(tx["day"] > CAL_END) & (tx["day"] <= OBS_END)]
    g = cal.groupby("customer_id")
    first, last, n = g["day"].min(), g["day"].max(), g.size()
    total = g["dollars"].sum()
    first_value = g["dollars"].first()  # rows are sorted by day
    out = pd.DataFrame(
        {
            "frequency": (n - 1).astype(float),
            "recency": (last - first).dt.days / 7.0,
            "T": (CAL_END - first).dt.days / 7.0,
            "monetary_value": np.where(n > 1, (total - first_value) / (n - 1).clip(lower=1), 0.0),
        }
    )
    out["frequency_holdout"] = hold.groupby("customer_id").size().reindex(out.index).fillna(0)
    out.index.name = "customer_id"
    return out.reset_index().sort_values("customer_id").reset_index(drop=True)


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a / b - 1.0)))
