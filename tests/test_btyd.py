"""BTYD summary: hand-computed cases, an independent pandas reference with lifetimes' semantics,
the published CDNOW figures, and lifetimes itself where it is installed."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from orders_data import orders_table, random_orders
from segmint.errors import ValidationError
from segmint.features.btyd import (
    BTYD_COLUMNS,
    btyd_from_summary,
    btyd_patterns,
    btyd_summary,
)
from segmint.features.rfm import rfm

AS_OF = dt.date(2026, 6, 30)


def run(orders, **kw) -> pd.DataFrame:
    out = btyd_summary(ibis.memtable(orders), as_of=kw.pop("as_of", AS_OF), **kw).to_pandas()
    return out.set_index("customer_id").sort_index()


# as of 2026-06-30:
#   A  03-01 50; 06-30 23:59 100            → 2 days: frequency 1, recency 121 (Mar 1 → Jun 30),
#                                             T 121, monetary_value 100 (the repeat day)
#   B  06-15 100; 07-01 500 (after as_of)   → frequency 0, recency 0, T 15, monetary 0
#   C  06-15 60 + 40 (same day)             → one transaction: frequency 0, T 15
#   D  01-01 30; 01-20 10 + 20 (same day); 02-01 99 refunded
#                                           → days 01-01, 01-20: frequency 1, recency 19,
#                                             T 180, monetary_value 30 (10 + 20 summed)
#   E  06-29 999 refunded only              → not in the summary
TOY = [
    ("A", dt.datetime(2026, 3, 1, 10), 50.0, "completed"),
    ("A", dt.datetime(2026, 6, 30, 23, 59), 100.0, "completed"),
    ("B", dt.datetime(2026, 6, 15, 10), 100.0, "completed"),
    ("B", dt.datetime(2026, 7, 1, 0, 0), 500.0, "completed"),
    ("C", dt.datetime(2026, 6, 15, 9), 60.0, "completed"),
    ("C", dt.datetime(2026, 6, 15, 18), 40.0, None),
    ("D", dt.datetime(2026, 1, 1, 8), 30.0, "completed"),
    ("D", dt.datetime(2026, 1, 20, 8), 10.0, "completed"),
    ("D", dt.datetime(2026, 1, 20, 20), 20.0, "completed"),
    ("D", dt.datetime(2026, 2, 1, 8), 99.0, "refunded"),
    ("E", dt.datetime(2026, 6, 29, 8), 999.0, "refunded"),
]


def test_toy_case_by_hand_in_days():
    out = run(orders_table(TOY))
    assert list(out.reset_index().columns) == list(BTYD_COLUMNS)
    assert list(out.index) == ["A", "B", "C", "D"]
    assert out["frequency"].tolist() == [1, 0, 0, 1]
    assert out["recency"].tolist() == [121.0, 0.0, 0.0, 19.0]
    assert out["T"].tolist() == [121.0, 15.0, 15.0, 180.0]
    assert out["monetary_value"].tolist() == [100.0, 0.0, 0.0, 30.0]


def test_toy_case_in_weeks_is_days_over_seven():
    days, weeks = run(orders_table(TOY)), run(orders_table(TOY), unit="W")
    assert weeks["frequency"].tolist() == days["frequency"].tolist()
    np.testing.assert_allclose(weeks["recency"], days["recency"] / 7, rtol=1e-15)
    np.testing.assert_allclose(weeks["T"], days["T"] / 7, rtol=1e-15)
    assert weeks.loc["D", "T"] == pytest.approx(180 / 7)


@pytest.mark.parametrize("unit", ["M", "d", "weeks", None])
def test_bad_unit_is_refused(unit):
    with pytest.raises(ValidationError, match="'D' \\(days\\) or 'W' \\(weeks\\)"):
        btyd_summary(ibis.memtable(orders_table(TOY)), as_of=AS_OF, unit=unit)


def test_from_rfm_equals_from_orders():
    orders = ibis.memtable(random_orders(seed=8, customers=400, orders=3000))
    via_rfm = btyd_from_summary(rfm(orders, as_of=AS_OF), as_of=AS_OF, unit="W").to_pandas()
    direct = btyd_summary(orders, as_of=AS_OF, unit="W").to_pandas()
    key = "customer_id"
    pd.testing.assert_frame_equal(
        via_rfm.sort_values(key).reset_index(drop=True),
        direct.sort_values(key).reset_index(drop=True),
    )


def test_from_summary_names_missing_columns():
    t = ibis.memtable({"customer_id": ["a"], "revenue": [1.0]})
    with pytest.raises(ValidationError, match="first_order_date"):
        btyd_from_summary(t, as_of=AS_OF)


def test_patterns_count_customers_per_frequency_recency_T():
    orders = ibis.memtable(random_orders(seed=9, customers=800, orders=4000))
    summary = btyd_summary(orders, as_of=AS_OF, unit="W")
    pats = btyd_patterns(summary).to_pandas()
    full = summary.to_pandas()
    assert pats["n_customers"].sum() == len(full)
    assert len(pats) < len(full)  # one-time buyers with the same T collapse
    ref = full.groupby(["frequency", "recency", "T"]).size()
    got = pats.set_index(["frequency", "recency", "T"])["n_customers"]
    pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_names=False)


# -- independent reference: lifetimes' algorithm, written again in pandas -----------------------
def reference_btyd(orders: pd.DataFrame, as_of: dt.date, per_unit: float) -> pd.DataFrame:
    """Per (customer, day) sums; the first day is not a repeat; mean of the repeat days."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    keep = (
        (orders["status"].isna() | (orders["status"] == "completed"))
        & orders["customer_id"].notna()
        & orders["ts"].notna()
        & (orders["ts"] < end)
    )
    o = orders[keep].assign(day=lambda d: d["ts"].dt.normalize())
    daily = o.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    daily["first"] = ~daily.duplicated("customer_id")  # sorted by customer, day
    g = daily.groupby("customer_id")
    first, last = g["day"].min(), g["day"].max()
    out = pd.DataFrame({"frequency": g.size() - 1})
    out["recency"] = (last - first).dt.days / per_unit
    out["T"] = (pd.Timestamp(as_of) - first).dt.days / per_unit
    repeat = daily[~daily["first"]].groupby("customer_id")["amount"].mean()
    out["monetary_value"] = repeat.reindex(out.index).fillna(0.0)
    return out.sort_index()


@pytest.mark.parametrize("unit,per_unit", [("D", 1.0), ("W", 7.0)])
def test_agrees_with_an_independent_pandas_computation(unit, per_unit):
    orders = random_orders(seed=77, customers=2500, orders=20000)
    got = run(orders, unit=unit)
    ref = reference_btyd(orders.to_pandas(), AS_OF, per_unit)
    assert list(got.index) == list(ref.index)
    assert (got["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    assert (got["recency"].to_numpy() == ref["recency"].to_numpy()).all()
    assert (got["T"].to_numpy() == ref["T"].to_numpy()).all()
    # mean of repeat days vs (total - first day) / repeats: equal up to float rounding
    np.testing.assert_allclose(got["monetary_value"], ref["monetary_value"], rtol=1e-9, atol=1e-9)
    assert (got["frequency"] > 0).sum() > 500


# -- CDNOW: published figures and lifetimes --------------------------------------------------------
CDNOW_END = dt.date(1997, 9, 30)  # end of the 39-week calibration period


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    from segmint.datasets import load_cdnow_sample

    df = load_cdnow_sample()
    return df.assign(status="completed")[["order_id", "customer_id", "ts", "amount", "status"]]


@pytest.fixture(scope="module")
def cdnow_summary(cdnow) -> pd.DataFrame:
    t = ibis.memtable(cdnow)
    return btyd_summary(t, as_of=CDNOW_END, unit="W").to_pandas().set_index("customer_id")


def test_cdnow_matches_the_published_calibration_summary(cdnow_summary):
    s = cdnow_summary
    assert len(s) == 2357  # every customer of the sample bought in the first quarter of 1997
    assert (s["frequency"] > 0).sum() == 946  # the Gamma-Gamma customers of Fader & Hardie
    c4 = s.loc["00004"]  # the first customer of the published data: x = 2, t_x = 30.43, T = 38.86
    assert c4["frequency"] == 2
    assert c4["recency"] == pytest.approx(30.43, abs=0.005)
    assert c4["T"] == pytest.approx(38.86, abs=0.005)


def test_cdnow_equals_lifetimes(cdnow, cdnow_summary):
    utils = pytest.importorskip(
        "lifetimes.utils", reason="lifetimes is an optional reference (pip install lifetimes)"
    )
    ref = utils.summary_data_from_transaction_data(
        cdnow,
        "customer_id",
        "ts",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(CDNOW_END),
        freq="D",
        freq_multiplier=7,
    ).sort_index()
    got = cdnow_summary.sort_index()
    assert list(got.index) == list(ref.index)
    np.testing.assert_array_equal(got["frequency"].to_numpy(), ref["frequency"].to_numpy())
    np.testing.assert_allclose(got["recency"], ref["recency"], rtol=1e-12)
    np.testing.assert_allclose(got["T"], ref["T"], rtol=1e-12)
    np.testing.assert_allclose(got["monetary_value"], ref["monetary_value"], rtol=1e-9)
