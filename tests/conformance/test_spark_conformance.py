"""The RFM, BTYD and ABC expressions give identical results on DuckDB and on PySpark.

Each test builds one ibis expression per engine from the same Parquet orders, runs it and
compares the frames after normalising what legitimately differs: row order (sorted by key),
timestamp resolution (Spark returns ns, DuckDB us) and integer widths. Scores, codes, segments,
counts, days and money are compared exactly; shares that are running sums of floats (ABC) to
1e-12 relative, because the engines add in different orders.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segmint.features.abc import abc, abc_curve, abc_summary
from segmint.features.btyd import btyd_from_summary, btyd_patterns, btyd_summary
from segmint.features.purchases import purchase_summary
from segmint.features.rfm import RFM_SEGMENTS, rfm, segment_summary

pytestmark = pytest.mark.spark

AS_OF = dt.date(2026, 6, 30)


def normalise(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s) or (
            s.dtype == object and s.map(lambda v: isinstance(v, dt.date)).any()
        ):
            out[col] = pd.to_datetime(s).astype("datetime64[ns]")
        elif pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.astype("float64")
        elif pd.api.types.is_string_dtype(s) or s.dtype == object:
            out[col] = s.astype(object)
    return out.sort_values(key).reset_index(drop=True)


def both(orders_on, build, key: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = [normalise(build(orders_on[e]).to_pandas(), key) for e in ("duckdb", "pyspark")]
    assert list(frames[0].columns) == list(frames[1].columns)
    assert len(frames[0]) > 0
    return frames[0], frames[1]


@pytest.mark.parametrize("bins", [5, 3])
def test_rfm_is_identical(orders_on, bins):
    duck, spark = both(orders_on, lambda t: rfm(t, as_of=AS_OF, bins=bins), ["customer_id"])
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)
    assert len(duck) > 500 and set(duck["segment"]) == set(RFM_SEGMENTS)


def test_purchase_summary_is_identical(orders_on):
    duck, spark = both(orders_on, lambda t: purchase_summary(t, as_of=AS_OF), ["customer_id"])
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


@pytest.mark.parametrize("unit", ["D", "W"])
def test_btyd_summary_is_identical(orders_on, unit):
    duck, spark = both(
        orders_on, lambda t: btyd_summary(t, as_of=AS_OF, unit=unit), ["customer_id"]
    )
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)
    assert (duck["frequency"] > 0).sum() > 100


def test_btyd_from_rfm_and_patterns_are_identical(orders_on):
    def build(t):
        summary = btyd_from_summary(rfm(t, as_of=AS_OF), as_of=AS_OF, unit="W")
        return btyd_patterns(summary)

    duck, spark = both(orders_on, build, ["frequency", "recency", "T"])
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


def test_segment_summary_is_identical(orders_on):
    duck, spark = both(orders_on, lambda t: segment_summary(rfm(t, as_of=AS_OF)), ["segment"])
    pd.testing.assert_frame_equal(duck, spark, check_exact=False, rtol=1e-12)
    assert duck["customers"].tolist() == spark["customers"].tolist()


def test_abc_is_identical(orders_on):
    duck, spark = both(orders_on, lambda t: abc(t, as_of=AS_OF), ["customer_id"])
    exact = ["customer_id", "revenue", "revenue_rank", "abc_class"]
    pd.testing.assert_frame_equal(duck[exact], spark[exact], check_exact=True)
    pd.testing.assert_frame_equal(duck, spark, check_exact=False, rtol=1e-12)
    assert set(duck["abc_class"]) == {"A", "B", "C"}


def test_abc_summary_and_curve_are_identical(orders_on):
    duck, spark = both(orders_on, lambda t: abc_summary(abc(t, as_of=AS_OF)), ["abc_class"])
    assert duck["customers"].tolist() == spark["customers"].tolist()
    pd.testing.assert_frame_equal(duck, spark, check_exact=False, rtol=1e-12)
    duck, spark = both(orders_on, lambda t: abc_curve(abc(t, as_of=AS_OF), points=40),
                       ["customer_share"])  # fmt: skip
    assert len(duck) == 40
    np.testing.assert_allclose(duck.to_numpy(float), spark.to_numpy(float), rtol=1e-12)
