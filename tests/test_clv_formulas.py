"""The two marketer formulas, checked against numbers worked out by hand."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from segmint.datasets import load_cdnow_sample
from segmint.models.clv import (
    PurchaseCLTV,
    RetentionCLTV,
    purchase_cltv,
    purchase_cltv_table,
    retention_cltv,
    retention_cltv_table,
)


@pytest.fixture
def orders() -> pd.DataFrame:
    """Three customers over three months (2024-01 … 2024-03), two channels.

    Active per month: Jan {a, b} (revenue 40), Feb {a, c} (60), Mar {b} (30).
    Retained Jan→Feb: a (1 of 2); Feb→Mar: none (0 of 2). A refunded order is ignored.
    """
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c", "c"],
            "ts": pd.to_datetime(
                ["2024-01-05", "2024-02-05", "2024-01-10", "2024-03-01", "2024-02-20", "2024-03-15"]
            ),
            "amount": [10.0, 20.0, 30.0, 30.0, 40.0, 99.0],
            "status": ["completed", None, "completed", "completed", "completed", "refunded"],
            "channel": ["web", "web", "store", "store", "web", "web"],
        }
    )


def test_retention_formula_by_hand(orders):
    res = retention_cltv(
        orders,
        period="month",
        customer_service_cost=2.0,
        discount_rate_annual=0.12,
        acquisition_cost=5.0,
        as_of="2024-03-31",
    )
    assert isinstance(res, RetentionCLTV)
    assert res.average_customer_revenue == pytest.approx(130 / 5)
    assert res.retention_rate == pytest.approx(1 / 4)
    d = 1.12 ** (1 / 12) - 1
    assert res.discount_rate == pytest.approx(d)
    assert res.value == pytest.approx((26.0 - 2.0) * 0.25 / (1 + d - 0.25) - 5.0)
    assert (res.complete_periods, res.customers, res.period) == (3, 3, "month")
    assert res.explain().startswith("CLTV = (ACR 26.00 − CS 2.00) × RR 0.250 ÷ (1 + d 0.009")
    assert res.to_dict()["acquisition_cost"] == 5.0


def test_incomplete_last_period_is_dropped(orders):
    # as of 2024-03-20 March is incomplete: only Jan and Feb count
    res = retention_cltv(orders, period="month", discount_rate_annual=0.0, as_of="2024-03-20")
    assert res.complete_periods == 2
    assert res.average_customer_revenue == pytest.approx(100 / 4)
    assert res.retention_rate == pytest.approx(1 / 2)


def test_retention_table_per_segment(orders):
    table = retention_cltv_table(
        orders, "channel", period="month", discount_rate_annual=0.0, as_of="2024-03-31"
    )
    assert list(table.index) == ["(all)", "store", "web"]
    # web: Jan {a} 10, Feb {a, c} 60 → ACR 70/3; retained Jan→Feb 1 of 1, Feb→Mar 0 of 2
    assert table.loc["web", "average_customer_revenue"] == pytest.approx(70 / 3)
    assert table.loc["web", "retention_rate"] == pytest.approx(1 / 3)
    # store: Jan {b} 30, Mar {b} 30 → not retained Jan→Feb, Feb has nobody
    assert table.loc["store", "retention_rate"] == 0.0
    assert table.loc["(all)", "retention_rate"] == pytest.approx(0.25)
    assert {"customer_service_cost", "discount_rate", "acquisition_cost", "value"} <= set(
        table.columns
    )


def test_purchase_formula_by_hand(orders):
    res = purchase_cltv(
        orders,
        window_months=3,
        gross_margin=0.4,
        lifespan="retention",
        retention_period="month",
        as_of="2024-03-31",
    )
    assert isinstance(res, PurchaseCLTV)
    # 5 orders by 3 customers in 3 months → 5/3 per quarter → × 4 per year
    assert res.average_purchase_frequency_rate == pytest.approx(5 / 3 * 4)
    assert res.average_purchase_price == pytest.approx(130 / 5)
    # monthly retention 1/4 → expected lifetime 1/(1 − 1/4) months, in years
    assert res.average_customer_lifespan == pytest.approx(4 / 3 / 12)
    assert res.value == pytest.approx(20 / 3 * 26 * (1 / 9) * 0.4)
    assert res.explain().endswith(f"× margin 0.40 = {res.value:.2f}")


def test_purchase_formula_with_observed_lifespan(orders):
    res = purchase_cltv(orders, window_months=3, lifespan="observed", as_of="2024-03-31")
    # spans: a 31 days, b 51 days, c 0 days (its March order was refunded)
    assert res.average_customer_lifespan == pytest.approx((31 + 51 + 0) / 3 / 365.25)
    assert res.gross_margin is None and res.retention_rate is None
    table = purchase_cltv_table(
        orders, "channel", window_months=3, lifespan="observed", as_of="2024-03-31"
    )
    assert table.loc["web", "orders"] == 3 and table.loc["store", "orders"] == 2


def test_formulas_on_cdnow_and_on_an_ibis_table():
    orders = load_cdnow_sample()
    on_pandas = retention_cltv(orders, period="quarter", discount_rate_annual=0.1)
    on_ibis = retention_cltv(ibis.memtable(orders), period="quarter", discount_rate_annual=0.1)
    a, b = on_pandas.to_dict(), on_ibis.to_dict()
    assert a.keys() == b.keys()
    for key, value in a.items():  # numbers within 1e-12, everything else equal
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert value == pytest.approx(b[key], rel=1e-12), key
        else:
            assert value == b[key], key
    # the data end on 1998-06-30: six complete quarters
    assert on_pandas.complete_periods == 6
    assert 0 < on_pandas.retention_rate < 1
    assert on_pandas.customers == 2357
    res = purchase_cltv(orders)
    assert res.value == pytest.approx(
        res.average_purchase_frequency_rate
        * res.average_purchase_price
        * res.average_customer_lifespan
    )
