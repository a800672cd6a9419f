"""Orders for the RFM / BTYD / ABC tests: hand-written rows and a seeded random generator.

Both return a pyarrow table in the canonical ``orders`` schema, so a test can hand it to
``ibis.memtable`` (features), insert it into a workspace, or write it as Parquet (Spark).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from segmint.schema import TABLES

ORDERS_SCHEMA = TABLES["orders"].to_pyarrow()


def orders_table(rows: list[tuple]) -> pa.Table:
    """Rows of (customer_id, ts, amount, status) → canonical orders (order ids o1, o2, …)."""
    return pa.Table.from_pylist(
        [
            {
                "order_id": f"o{i}",
                "customer_id": c,
                "ts": ts,
                "amount": amount,
                "currency": "HKD",
                "status": status,
            }
            for i, (c, ts, amount, status) in enumerate(rows, start=1)
        ],
        schema=ORDERS_SCHEMA,
    )


def random_orders(
    *, seed: int, customers: int, orders: int, as_of: dt.date = dt.date(2026, 6, 30)
) -> pa.Table:
    """Messy random orders that exercise every rule of "which orders count".

    - days drawn from ~14 months before ``as_of`` (many recency ties) and a few after it;
    - several orders on one day for the same customer (same-day repeats);
    - half the amounts from a few prices (monetary ties, incl. 0.1 + 0.2 style float sums);
    - statuses completed / refunded / cancelled / missing; some missing customer ids,
      timestamps and amounts.
    """
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.7, 1.0, customers)
    cust = rng.choice(customers, size=orders, p=weights / weights.sum())
    day = rng.integers(-420, 12, orders)  # days relative to as_of; > 0 is after it
    # same-day repeats: a tenth of the orders copy the day of the customer's previous order
    order = np.argsort(cust, kind="stable")
    prev_same = np.zeros(orders, dtype=bool)
    prev_same[order[1:]] = cust[order[1:]] == cust[order[:-1]]
    copy = prev_same & (rng.random(orders) < 0.1)
    day_sorted = day[order]
    idx = np.nonzero(copy[order])[0]
    day_sorted[idx] = day_sorted[idx - 1]
    day[order] = day_sorted
    seconds = rng.integers(0, 86400, orders)
    base = dt.datetime.combine(as_of, dt.time(0))
    ts = np.datetime64(base, "us") + (day * 86400 + seconds).astype("timedelta64[s]")
    prices = np.array([0.1, 0.2, 0.3, 9.9, 19.9, 49.5, 99.0])
    amount = np.where(
        rng.random(orders) < 0.5,
        prices[rng.integers(0, len(prices), orders)],
        np.round(rng.lognormal(4.0, 1.0, orders), 2),
    )
    status = rng.choice(
        np.array(["completed", "refunded", "cancelled", ""], dtype=object),
        size=orders,
        p=[0.88, 0.06, 0.03, 0.03],
    )
    status[status == ""] = None
    cid = np.array([f"c{c:05d}" for c in cust], dtype=object)
    cid[rng.random(orders) < 0.005] = None
    amount_arr = pa.array(amount, mask=rng.random(orders) < 0.005)
    ts_arr = pa.array(ts, type=pa.timestamp("us"), mask=rng.random(orders) < 0.002)
    return pa.table(
        {
            "order_id": pa.array([f"o{i}" for i in range(orders)]),
            "customer_id": pa.array(cid, type=pa.string()),
            "ts": ts_arr,
            "amount": amount_arr,
            "currency": pa.array(["HKD"] * orders),
            "channel": pa.nulls(orders, pa.string()),
            "discount": pa.nulls(orders, pa.float64()),
            "status": pa.array(status, type=pa.string()),
            "source": pa.array(["test"] * orders),
        },
        schema=ORDERS_SCHEMA,
    )
