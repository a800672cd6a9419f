"""Backends for the conformance suite: DuckDB and PySpark (``local[2]``), one session per run.

The same orders are written once as Parquet and read by both engines, so every test runs one
ibis expression on each and compares the results. Spark runs with UTC as its session time zone
(segmint stores naive UTC timestamps), two shuffle partitions and no UI; its warehouse lives in
a fresh temporary folder. Java 17 is required (Java 25 breaks Spark 4.0).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest

# the shared order generator lives one folder up (tests/orders_data.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orders_data import random_orders


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip('pyspark is not installed: python -m pip install -e ".[spark]"')
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("segmint-conformance")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def orders_parquet(tmp_path_factory) -> Path:
    """Messy orders (ties, refunds, missing values, orders after the as-of day) as Parquet."""
    path = tmp_path_factory.mktemp("conformance") / "orders.parquet"
    pq.write_table(random_orders(seed=2026, customers=700, orders=6000), path)
    return path


@pytest.fixture(scope="session")
def orders_on(spark_session, orders_parquet) -> dict[str, ibis.Table]:
    """The orders as an ibis table on each engine: {"duckdb": …, "pyspark": …}."""
    duck = ibis.duckdb.connect()
    spark = ibis.pyspark.connect(spark_session)
    return {
        "duckdb": duck.read_parquet(orders_parquet, table_name="orders"),
        "pyspark": spark.read_parquet(orders_parquet, table_name="orders"),
    }
