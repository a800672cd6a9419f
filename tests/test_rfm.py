"""RFM: hand-computed toy cases, the orientation of the scores, ties, the segment map, and an
independent pandas computation that must agree exactly on generated and on demo data."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from orders_data import orders_table, random_orders
from segmint.errors import DataError, ValidationError
from segmint.features.purchases import parse_as_of, purchase_summary
from segmint.features.rfm import (
    RFM_COLUMNS,
    RFM_SEGMENTS,
    SEGMENT_GRID,
    rfm,
    segment_for,
    segment_summary,
)
from segmint.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rfm.md"


def D(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi)


def run(orders: pa.Table, **kw) -> pd.DataFrame:
    out = rfm(ibis.memtable(orders), as_of=kw.pop("as_of", AS_OF), **kw).to_pandas()
    return out.set_index("customer_id").sort_index()


# -- hand-computed toy case --------------------------------------------------------------------
#
# as of 2026-06-30 (the whole day counts):
#   A  2026-03-01 50 completed; 2026-06-30 23:59 100 completed   → last 06-30, 2 orders, 150
#   B  2026-06-15 100 completed; 2026-07-01 00:00 500 completed  → the second is after as_of:
#                                                                  last 06-15, 1 order, 100
#   C  2026-06-15 60 completed + 40 status missing (same day)    → last 06-15, 2 orders, 100
#   D  2026-01-01 30 completed; 02-01 20 refunded; 02-02 10 cancelled → 1 order, 30
#   E  2026-06-29 999 refunded (its only order)                  → not scored
#   F  2025-06-30 10 completed                                   → last 2025-06-30, 1 order, 10
#   (no customer) 2026-06-01 70 completed                         → not scored
# n = 5. w = customers strictly worse; score = 1 + floor(bins·w/n):
#   R by last day: F < D < B = C < A  → w = 0, 1, 2, 2, 4   → bins 5: 1, 2, 3, 3, 5
#   F by orders:   B = D = F (1) < A = C (2) → w = 0,0,0 and 3,3 → bins 5: 1,1,1 and 4,4
#   M by total:    F 10 < D 30 < B = C 100 < A 150 → w = 0, 1, 2, 2, 4 → 1, 2, 3, 3, 5
#   codes: A 545, B 313, C 343, D 212, F 111
#   segments (R × floor((F+M)/2)): A R5 FM4 champions; B R3 FM2 need_attention;
#   C R3 FM3 need_attention; D R2 FM1 hibernating; F R1 FM1 lost
#   recency days: A 0, B 15, C 15, D 180 (Jan 1 → Jun 30), F 365
TOY = [
    ("A", D(2026, 3, 1), 50.0, "completed"),
    ("A", D(2026, 6, 30, 23, 59), 100.0, "completed"),
    ("B", D(2026, 6, 15), 100.0, "completed"),
    ("B", dt.datetime(2026, 7, 1, 0, 0), 500.0, "completed"),
    ("C", D(2026, 6, 15, 9), 60.0, "completed"),
    ("C", D(2026, 6, 15, 18), 40.0, None),
    ("D", D(2026, 1, 1), 30.0, "completed"),
    ("D", D(2026, 2, 1), 20.0, "refunded"),
    ("D", D(2026, 2, 2), 10.0, "cancelled"),
    ("E", D(2026, 6, 29), 999.0, "refunded"),
    ("F", D(2025, 6, 30), 10.0, "completed"),
    (None, D(2026, 6, 1), 70.0, "completed"),
]


def test_toy_case_by_hand():
    out = run(orders_table(TOY))
    assert list(out.index) == ["A", "B", "C", "D", "F"]  # E (refunded only) and no-id left out
    assert out["recency_days"].tolist() == [0, 15, 15, 180, 365]
    assert out["frequency"].tolist() == [2, 1, 2, 1, 1]
    assert out["monetary"].tolist() == [150.0, 100.0, 100.0, 30.0, 10.0]
    assert out["rfm"].tolist() == ["545", "313", "343", "212", "111"]
    assert out["segment"].tolist() == [
        "champions",
        "need_attention",
        "need_attention",
        "hibernating",
        "lost",
    ]
    assert out["order_days"].tolist() == [2, 1, 1, 1, 1]
    assert list(out.reset_index().columns) == list(RFM_COLUMNS)


def test_toy_case_three_bins_by_hand():
    # score = 1 + floor(3·w/5): R w 0,1,2,2,4 → 1,1,2,2,3; F w 0/3 → 1/2; M as R.
    out = run(orders_table(TOY), bins=3)
    assert out["rfm"].tolist() == ["323", "212", "222", "111", "111"]
    # segments are read on 5 bands whatever the bins: the same as with 5 bins
    assert out["segment"].tolist() == run(orders_table(TOY))["segment"].tolist()


def test_orders_after_as_of_count_once_the_day_is_reached():
    later = run(orders_table(TOY), as_of=dt.date(2026, 7, 1))
    assert later.loc["B", "monetary"] == 600.0
    assert later.loc["B", "recency_days"] == 0
    earlier = run(orders_table(TOY), as_of=dt.date(2026, 6, 29))
    assert "A" in earlier.index and earlier.loc["A", "frequency"] == 1  # 06-30 order not yet
    assert earlier.loc["A", "recency_days"] == 120  # 2026-03-01 → 2026-06-29


def test_only_refunded_customer_is_not_scored_and_other_statuses_can_be_counted():
    assert "E" not in run(orders_table(TOY)).index
    out = run(orders_table(TOY), statuses=("completed", "refunded"))
    assert out.loc["E", "monetary"] == 999.0
    assert out.loc["D", "frequency"] == 2


# -- orientation: the best customers get the best scores -----------------------------------------
def test_best_customers_get_555():
    # customer k (0..9): k+1 orders, last order 10·(10-k) days before as-of, spends more with k
    rows = []
    for k in range(10):
        last = D(2026, 6, 30) - dt.timedelta(days=10 * (10 - k))
        for j in range(k + 1):
            rows.append((f"k{k}", last - dt.timedelta(days=400 + j), 10.0 * (k + 1), "completed"))
        rows.append((f"k{k}", last, 1.0 * k, "completed"))
    out = run(orders_table(rows))
    assert out.loc["k9", "rfm"] == "555"
    assert out.loc["k9", "segment"] == "champions"
    assert out.loc["k0", "rfm"] == "111"
    assert out.loc["k0", "segment"] == "lost"
    # more recent → higher R; more orders → higher F; more money → higher M
    for score, metric, sign in (
        ("r_score", "recency_days", -1),
        ("f_score", "frequency", 1),
        ("m_score", "monetary", 1),
    ):
        ranked = out.sort_values(metric, ascending=sign > 0)
        assert ranked[score].is_monotonic_increasing, score


def test_recent_one_time_small_buyer_is_new_not_champion():
    rows = [
        (f"x{k}", D(2026, 1, 1) + dt.timedelta(days=k), 100.0 + k, "completed") for k in range(9)
    ]
    rows += [(f"x{k}", D(2025, 12, 1), 100.0, "completed") for k in range(9)]
    rows.append(("newbie", D(2026, 6, 30), 1.0, "completed"))
    out = run(orders_table(rows))
    assert out.loc["newbie", "rfm"] == "511"
    assert out.loc["newbie", "segment"] == "new_customers"


# -- ties ------------------------------------------------------------------------------------------
def test_identical_values_share_a_score_even_across_band_edges():
    # 10 customers, 6 of whom spent exactly 50 (and 0.1 + 0.2 vs 0.3 must tie too)
    rows = [(f"t{k}", D(2026, 6, 1), 50.0, "completed") for k in range(6)]
    rows += [("u1", D(2026, 6, 1), 0.1, "completed"), ("u1", D(2026, 6, 2), 0.2, "completed")]
    rows += [("u2", D(2026, 6, 1), 0.3, "completed"), ("u2", D(2026, 6, 2), 0.0, "completed")]
    rows += [("v1", D(2026, 6, 1), 80.0, "completed"), ("v2", D(2026, 6, 1), 90.0, "completed")]
    out = run(orders_table(rows))
    assert out.loc[[f"t{k}" for k in range(6)], "m_score"].nunique() == 1
    assert out.loc["u1", "m_score"] == out.loc["u2", "m_score"] == 1
    # t*: w = 2 → 1 + floor(5·2/10) = 2; v1: w = 8 → 5; v2: w = 9 → 5
    assert out.loc["t0", "m_score"] == 2
    assert out.loc[["v1", "v2"], "m_score"].tolist() == [5, 5]
    # everyone bought on 2026-06-01 (u* later) → R ties: t*, v* share R
    assert out.loc[[f"t{k}" for k in range(6)] + ["v1", "v2"], "r_score"].nunique() == 1


def test_ntile_would_split_this_tie_but_we_do_not():
    rows = [(f"c{k}", D(2026, 6, 1), 10.0, "completed") for k in range(5)]
    rows += [(f"d{k}", D(2026, 6, 1), 20.0, "completed") for k in range(5)]
    out = run(orders_table(rows))
    assert out["m_score"].tolist() == [1] * 5 + [3] * 5  # w = 0 → 1; w = 5 → 1 + 2 = 3
    assert out["r_score"].nunique() == 1 and out["r_score"].iloc[0] == 1


def test_scores_are_deterministic_over_row_order():
    t = random_orders(seed=5, customers=300, orders=2000)
    shuffled = t.take(np.random.default_rng(1).permutation(t.num_rows))
    pd.testing.assert_frame_equal(run(t), run(shuffled))


# -- the segment map ---------------------------------------------------------------------------
#: Published R / FM ranges of the widely used map (R and the F–M average, 0–5 scale); every
#: cell of our grid must lie inside the ranges of the segment it names.
PUBLISHED_RANGES = {
    "champions": ((4, 5), (4, 5)),
    "loyal": ((2, 5), (3, 5)),
    "potential_loyalist": ((3, 5), (1, 3)),
    "new_customers": ((4, 5), (0, 1)),
    "promising": ((3, 4), (0, 1)),
    "need_attention": ((2, 3), (2, 3)),
    "about_to_sleep": ((2, 3), (0, 2)),
    "at_risk": ((0, 2), (2, 5)),
    "cant_lose_them": ((0, 1), (4, 5)),
    "hibernating": ((1, 2), (1, 2)),
    "lost": ((0, 2), (0, 2)),
}


def test_grid_cells_lie_in_the_published_ranges_and_every_segment_is_reachable():
    seen = set()
    for r, cells in SEGMENT_GRID.items():
        for fm, slug in enumerate(cells, start=1):
            (r_lo, r_hi), (fm_lo, fm_hi) = PUBLISHED_RANGES[slug]
            assert r_lo <= r <= r_hi and fm_lo <= fm <= fm_hi, (r, fm, slug)
            seen.add(slug)
    assert seen == set(RFM_SEGMENTS) and len(RFM_SEGMENTS) == 11


def test_segments_have_titles_and_actions_in_both_languages():
    zh = {
        "champions": "冠軍客戶",
        "loyal": "忠誠客戶",
        "potential_loyalist": "潛力忠誠客戶",
        "new_customers": "新客戶",
        "promising": "有望客戶",
        "need_attention": "需要關注",
        "about_to_sleep": "即將沉睡",
        "at_risk": "有流失風險",
        "cant_lose_them": "不能失去",
        "hibernating": "冬眠客戶",
        "lost": "已流失",
    }
    assert list(RFM_SEGMENTS) == list(zh)  # the standard order, best first
    for slug, seg in RFM_SEGMENTS.items():
        assert seg.slug == slug and seg.title_zh == zh[slug]
        assert seg.title_en and seg.action_en and seg.action_zh and seg.description_zh
        assert re.search(r"[\u4e00-\u9fff]", seg.action_zh), slug


def _grid_from_markdown(text: str) -> dict[int, tuple[str, ...]]:
    rows = re.findall(r"^\|\s*\*\*(\d)\*\*\s*\|(.+)\|\s*$", text, flags=re.M)
    return {int(r): tuple(c.strip().strip("`") for c in rest.split("|")) for r, rest in rows}


def _grid_from_docstring(text: str) -> dict[int, tuple[str, ...]]:
    rows = re.findall(r"^(\d)\s{4,}(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s*$", text, flags=re.M)
    return {int(r[0]): tuple(r[1:]) for r in rows}


def test_documented_grids_match_the_code():
    import segmint.features.rfm as mod

    assert _grid_from_docstring(mod.__doc__) == SEGMENT_GRID
    assert _grid_from_markdown(DOCS.read_text(encoding="utf-8")) == SEGMENT_GRID


def test_docs_list_every_segment_with_its_titles():
    text = DOCS.read_text(encoding="utf-8")
    for seg in RFM_SEGMENTS.values():
        assert f"`{seg.slug}`" in text and seg.title_zh in text and seg.action_en in text


def test_segment_for_matches_the_expression_on_every_cell():
    # one customer per (R, FM) cell is hard to build; instead check every 5-point triple
    triples = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
    t = ibis.memtable(pd.DataFrame(triples, columns=["r", "f", "m"]))
    from segmint.features.rfm import _grid_case

    got = t.mutate(s=_grid_case(t.r, (t.f + t.m) // 2)).to_pandas()
    for row in got.itertuples():
        assert row.s == segment_for(row.r, row.f, row.m)


def test_segment_for_refuses_scores_outside_1_to_5():
    with pytest.raises(ValidationError, match=r"1\.\.5"):
        segment_for(6, 1, 1)


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [2, 6, 0, "5", True])
def test_bad_bins_are_refused(bins):
    with pytest.raises(ValidationError, match="must be 3, 4 or 5"):
        rfm(ibis.memtable(orders_table(TOY)), as_of=AS_OF, bins=bins)


@pytest.mark.parametrize("value", ["2026-13-01", "30/06/2026", "", "2026-6-3", "yesterday"])
def test_bad_as_of_is_refused_with_the_expected_shape(value):
    with pytest.raises(ValidationError, match=r"must be a date written YYYY-MM-DD\. Got"):
        parse_as_of(value)


def test_as_of_with_a_time_of_day_is_refused_but_midnight_is_a_day():
    with pytest.raises(ValidationError, match="calendar day"):
        parse_as_of(dt.datetime(2026, 6, 30, 12))
    assert parse_as_of(dt.datetime(2026, 6, 30)) == AS_OF
    assert parse_as_of(pd.Timestamp("2026-06-30")) == AS_OF


def test_statuses_must_be_a_list():
    with pytest.raises(ValidationError, match="statuses"):
        purchase_summary(ibis.memtable(orders_table(TOY)), as_of=AS_OF, statuses="completed")


def test_no_order_before_as_of_gives_an_empty_table():
    assert len(run(orders_table(TOY), as_of=dt.date(2020, 1, 1))) == 0


# -- an independent reference in pandas ----------------------------------------------------------
#: The segment grid typed again from docs/rfm.md, R = 5 … 1, FM = 1 … 5.
REF_GRID = {
    5: "new_customers potential_loyalist potential_loyalist champions champions",
    4: "promising potential_loyalist potential_loyalist champions champions",
    3: "about_to_sleep need_attention need_attention loyal loyal",
    2: "hibernating hibernating at_risk at_risk at_risk",
    1: "lost lost at_risk cant_lose_them cant_lose_them",
}


def reference_rfm(orders: pd.DataFrame, as_of: dt.date, bins: int) -> pd.DataFrame:
    """RFM straight from the definition, in pandas, sharing no code with segmint."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    keep = (
        (orders["status"].isna() | (orders["status"] == "completed"))
        & orders["customer_id"].notna()
        & orders["ts"].notna()
        & (orders["ts"] < end)
    )
    o = orders[keep]
    g = o.groupby("customer_id")
    out = pd.DataFrame(
        {
            "last": g["ts"].max().dt.normalize(),
            "frequency": g.size(),
            "monetary": g["amount"].sum().round(4),
        }
    )
    out["recency_days"] = (pd.Timestamp(as_of) - out["last"]).dt.days
    n = len(out)
    grid = {r: row.split() for r, row in REF_GRID.items()}
    for axis, col in (("r", "last"), ("f", "frequency"), ("m", "monetary")):
        worse = out[col].rank(method="min").astype("int64") - 1  # ties share the lowest rank
        out[f"{axis}_score"] = 1 + (worse * bins) // n
        out[f"{axis}5"] = 1 + (worse * 5) // n
    out["rfm"] = (
        out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    )
    fm = (out["f5"] + out["m5"]) // 2
    out["segment"] = [grid[r][k - 1] for r, k in zip(out["r5"], fm, strict=True)]
    return out.sort_index()


COMPARED = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm",
            "segment"]  # fmt: skip


def _compare(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(got.index) == list(ref.index)
    for col in COMPARED:
        a, b = got[col].to_numpy(), ref[col].to_numpy()
        mismatch = np.flatnonzero(a != b)
        assert mismatch.size == 0, (col, got.index[mismatch[:5]].tolist(), a[mismatch[:5]])


@pytest.mark.parametrize("bins", [3, 4, 5])
def test_agrees_exactly_with_an_independent_pandas_computation(bins):
    orders = random_orders(seed=42, customers=3000, orders=24000)
    got = run(orders, bins=bins)
    ref = reference_rfm(orders.to_pandas(), AS_OF, bins)
    assert len(got) > 2400
    _compare(got, ref)
    # the data really exercises ties and every segment
    assert got["monetary"].duplicated().sum() > 100
    assert set(got["segment"]) == set(RFM_SEGMENTS)


def demo_orders(customers: int, seed: int) -> tuple[pa.Table, dt.date]:
    """Orders of the demo generator in the canonical schema (true person as customer)."""
    from segmint.demo import generate

    data = generate(customers, seed=seed, events=False)
    o = data.orders
    ts = o["ts"].cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    status = pa.array(
        ["refunded" if s == "refunded" else "completed" for s in o["status"].to_pylist()]
    )
    table = pa.table(
        {"order_id": o["order_id"], "customer_id": o["person_id"], "ts": ts,
         "amount": o["amount"], "status": status}
    )  # fmt: skip
    end = data.params.get("end") if isinstance(data.params, dict) else None
    as_of = dt.date.fromisoformat(str(end)[:10]) if end else dt.date(2026, 6, 30)
    return table, as_of


def test_agrees_exactly_with_pandas_on_the_demo_data():
    orders, as_of = demo_orders(3000, seed=11)
    got = rfm(ibis.memtable(orders), as_of=as_of).to_pandas().set_index("customer_id").sort_index()
    ref = reference_rfm(orders.to_pandas(), as_of, 5)
    assert len(got) > 1000
    _compare(got, ref)


# -- segment summary and the workspace ----------------------------------------------------------
def test_segment_summary_adds_up():
    r = rfm(ibis.memtable(random_orders(seed=3, customers=500, orders=3000)), as_of=AS_OF)
    s = segment_summary(r).to_pandas().set_index("segment")
    full = r.to_pandas()
    assert s["customers"].sum() == len(full)
    assert s["share"].sum() == pytest.approx(1.0)
    assert s["revenue_share"].sum() == pytest.approx(1.0)
    champs = full[full["segment"] == "champions"]
    assert s.loc["champions", "mean_monetary"] == pytest.approx(champs["monetary"].mean())


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "shop", rfm_bins=4)
    w.con.insert("orders", ibis.memtable(orders_table(TOY)))
    yield w
    w.close()


def test_workspace_defaults_and_save(ws):
    assert ws.default_as_of() == dt.date(2026, 7, 1)  # B's order at 07-01 00:00 is the latest
    stored = ws.rfm(save=True)
    df = stored.to_pandas().set_index("customer_id").sort_index()
    assert set(df["as_of"].astype(str)) == {"2026-07-01"} and set(df["bins"]) == {4}
    assert df["r_score"].max() <= 4
    assert "rfm" in ws.con.list_tables()
    expected = run(orders_table(TOY), as_of=dt.date(2026, 7, 1), bins=4)
    assert df["rfm"].tolist() == expected["rfm"].tolist()


def test_workspace_btyd_from_the_saved_rfm_equals_btyd_from_orders(ws):
    ws.rfm(as_of="2026-06-30", save=True)
    a = ws.btyd_summary(from_rfm=True).to_pandas().sort_values("customer_id")
    b = ws.btyd_summary(as_of="2026-06-30").to_pandas().sort_values("customer_id")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    with pytest.raises(ValidationError, match="as of 2026-06-30"):
        ws.btyd_summary(as_of="2026-01-01", from_rfm=True)


def test_workspace_refuses_bad_input(ws):
    with pytest.raises(ValidationError, match="3, 4 or 5"):
        ws.rfm(bins=7)
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        ws.rfm(as_of="30.06.2026")


def test_workspace_without_orders_says_so(tmp_path):
    with Workspace.create(tmp_path / "empty") as w, pytest.raises(DataError, match="no completed"):
        w.rfm()
