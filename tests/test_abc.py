"""ABC (Pareto) classes: hand-computed toy cases, ties at the boundary, the curve."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from orders_data import orders_table, random_orders
from segmint.errors import ValidationError
from segmint.features.abc import (
    ABC_COLUMNS,
    abc,
    abc_classes,
    abc_curve,
    abc_summary,
)
from segmint.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)


def classes(revenues: list[float], **kw) -> pd.DataFrame:
    t = ibis.memtable({"customer_id": [f"c{i}" for i in range(len(revenues))], "revenue": revenues})
    return abc_classes(t, **kw).to_pandas().set_index("customer_id").sort_index()


def test_textbook_case_by_hand():
    # total 100; share of those above: 0, .5, .8, .9, .96 → A A | B B | C
    out = classes([50.0, 30.0, 10.0, 6.0, 4.0])
    assert list(out.reset_index().columns) == list(ABC_COLUMNS)
    assert out["share_above"].tolist() == [0.0, 0.5, 0.8, 0.9, 0.96]
    assert out["abc_class"].tolist() == ["A", "A", "B", "B", "C"]
    assert out["cumulative_share"].tolist() == [0.5, 0.8, 0.9, 0.96, 1.0]
    assert out["revenue_share"].tolist() == [0.5, 0.3, 0.1, 0.06, 0.04]
    assert out["revenue_rank"].tolist() == [1, 2, 3, 4, 5]


def test_the_customer_crossing_the_line_is_in_a():
    # 70 + 20 = 90 %: the second customer crosses 80 % and is A; the rest bring 10 %
    out = classes([70.0, 20.0, 5.0, 5.0])
    assert out["abc_class"].tolist() == ["A", "A", "B", "B"]  # 5s: above = 90 % (< 95 %)


def test_one_huge_customer_is_a_and_the_95_line_is_exclusive():
    # above: 0, .9, .95, .98 → A, B, C (0.95 is not < 0.95), C
    assert classes([900.0, 50.0, 30.0, 20.0])["abc_class"].tolist() == ["A", "B", "C", "C"]


def test_equal_revenue_shares_a_class_and_a_rank():
    out = classes([40.0, 40.0, 10.0, 10.0])
    assert out["abc_class"].tolist() == ["A", "A", "B", "B"]  # 10s: above = 80 % → B, both
    assert out["revenue_rank"].tolist() == [1, 1, 3, 3]
    out = classes([30.0, 25.0, 25.0, 20.0])
    assert out["abc_class"].tolist() == ["A", "A", "A", "B"]  # 25s: above = 30 % both


def test_zero_and_negative_revenue_are_c_and_not_in_the_total():
    out = classes([60.0, 40.0, 0.0, -10.0])
    assert out["abc_class"].tolist() == ["A", "A", "C", "C"]
    assert out.loc["c1", "share_above"] == 0.6 and out.loc["c0", "revenue_share"] == 0.6


def test_nobody_with_revenue_means_all_c():
    assert classes([0.0, 0.0])["abc_class"].tolist() == ["C", "C"]


def test_custom_thresholds():
    out = classes([50.0, 30.0, 10.0, 6.0, 4.0], thresholds=(0.5, 0.9))
    assert out["abc_class"].tolist() == ["A", "B", "B", "C", "C"]


@pytest.mark.parametrize("bad", [(0.9, 0.8), (0.0, 0.5), (0.5, 1.5), (0.8,), ("x", 1), None])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValidationError, match="0 < A < B ≤ 1"):
        classes([1.0], thresholds=bad)


def test_from_orders_counts_completed_orders_up_to_as_of():
    rows = [
        ("a", dt.datetime(2026, 6, 1), 80.0, "completed"),
        ("b", dt.datetime(2026, 6, 1), 15.0, "completed"),
        ("b", dt.datetime(2026, 6, 2), 500.0, "refunded"),
        ("c", dt.datetime(2026, 6, 1), 5.0, None),
        ("c", dt.datetime(2026, 7, 1), 900.0, "completed"),  # after as-of
        ("d", dt.datetime(2026, 6, 1), 10.0, "cancelled"),  # only cancelled: not classified
    ]
    out = abc(ibis.memtable(orders_table(rows)), as_of=AS_OF).to_pandas().set_index("customer_id")
    assert out.sort_index()["revenue"].tolist() == [80.0, 15.0, 5.0]
    assert out.sort_index()["abc_class"].tolist() == ["A", "B", "C"]  # above: 0, .8, .95


def test_summary_and_curve_on_generated_data():
    t = abc(ibis.memtable(random_orders(seed=4, customers=2000, orders=12000)), as_of=AS_OF)
    full = t.to_pandas()
    s = abc_summary(t).to_pandas().set_index("abc_class")
    assert s["customers"].sum() == len(full)
    assert s["revenue_share"].sum() == pytest.approx(1.0)
    assert s.loc["A", "revenue_share"] >= 0.8 > s.loc["A", "revenue_share"] - 0.05
    assert s.loc["A", "customer_share"] < 0.6  # the Pareto shape of lognormal spend

    curve = abc_curve(t, points=50).to_pandas()
    assert len(curve) == 50
    assert curve["customer_share"].is_monotonic_increasing
    assert curve["revenue_share"].is_monotonic_increasing
    assert curve.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    # reference: sort revenues, cumulate, read at the end of each bucket
    rev = np.sort(np.maximum(full["revenue"].to_numpy(), 0))[::-1]
    n = len(rev)
    ends = np.array([max(p for p in range(1, n + 1) if -(-p * 50 // n) == k) for k in range(1, 51)])
    np.testing.assert_allclose(curve["customer_share"], ends / n)
    np.testing.assert_allclose(curve["revenue_share"], np.cumsum(rev)[ends - 1] / rev.sum())
    # the curve lies above the diagonal: the top customers bring more than their share
    assert (curve["revenue_share"] >= curve["customer_share"] - 1e-12).all()


def test_curve_needs_points():
    with pytest.raises(ValidationError, match="points"):
        abc_curve(ibis.memtable({"customer_id": ["a"], "revenue": [1.0]}), points=1)


def test_workspace_abc_saves_with_as_of(tmp_path):
    with Workspace.create(tmp_path / "shop") as ws:
        ws.con.insert("orders", ibis.memtable(random_orders(seed=2, customers=50, orders=300)))
        stored = ws.abc(as_of="2026-06-30", save=True).to_pandas()
        assert "abc" in ws.con.list_tables()
        assert set(stored["as_of"].astype(str)) == {"2026-06-30"}
        assert set(stored["abc_class"]) <= {"A", "B", "C"}
        with pytest.raises(ValidationError):
            ws.abc(thresholds=(0.95, 0.8))
