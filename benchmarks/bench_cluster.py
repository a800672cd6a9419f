"""Clustering 1M customers: ClusterSegmenter fit on a sample, then every customer assigned.

    python benchmarks/bench_cluster.py                        # 1M customers, k chosen in 3–5
    python benchmarks/bench_cluster.py --customers 1e5        # quick look

Synthetic features with numpy (seeded): 5 planted groups with gamma-distributed order counts
and order values (skewed, so the money/frequency columns are log-transformed), recency, a
discount share and two categorical columns (country, gender). The timed part is
``ClusterSegmenter(sample_size=…).fit(features)`` (choice of k over 3–5 with the stability
check) plus ``predict(features)`` for every customer. Prints wall time per step, the ARI against
the planted groups and peak RSS (``ru_maxrss`` of this process, data generation included).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmint.models.cluster import ClusterSegmenter


def make_features(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """n customers in 5 planted groups (shares 40/25/15/12/8 %)."""
    rng = np.random.default_rng(seed)
    shares = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
    group = rng.choice(5, size=n, p=shares)
    freq_mean = np.array([2.0, 6.0, 1.2, 15.0, 4.0])[group]
    aov_mean = np.array([300.0, 450.0, 200.0, 1200.0, 6000.0])[group]
    rec_mean = np.array([60.0, 30.0, 400.0, 10.0, 45.0])[group]
    disc = np.array([0.1, 0.05, 0.2, 0.05, 0.9])[group]
    orders = 1 + rng.poisson(freq_mean)
    aov = rng.gamma(8.0, aov_mean / 8.0)
    df = pd.DataFrame(
        {
            "customer_id": np.char.add("c", np.arange(n).astype(str)),
            "order_count": orders,
            "revenue": orders * aov,
            "aov": aov,
            "recency_days": rng.gamma(4.0, rec_mean / 4.0),
            "discount_share": np.clip(disc + rng.normal(0, 0.08, n), 0, 1),
            "country": rng.choice(["HK", "TW", "SG"], size=n, p=[0.6, 0.3, 0.1]),
            "gender": rng.choice(["female", "male", "other"], size=n, p=[0.55, 0.43, 0.02]),
        }
    )
    return df, group


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=float, default=1e6)
    ap.add_argument("--sample-size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = int(args.customers)
    t0 = time.perf_counter()
    df, truth = make_features(n, args.seed)
    t1 = time.perf_counter()
    model = ClusterSegmenter(sample_size=args.sample_size, random_state=args.seed).fit(df)
    t2 = time.perf_counter()
    labels = model.predict(df)
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ari = adjusted_rand_score(truth, labels)
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {n:,} customers")
    print(f"generate features   {t1 - t0:7.2f} s (not timed)")
    print(f"fit (sample {min(n, args.sample_size):,})  {t2 - t1:7.2f} s   k = {model.n_clusters_}")
    print(f"predict all          {t3 - t2:7.2f} s")
    print(f"fit + assign         {t3 - t1:7.2f} s   (target ≤ 60 s)")
    print(f"ARI vs planted       {ari:7.3f}")
    print(f"peak RSS             {rss:7.0f} MiB")
    print("k scores:", model.k_scores_)


if __name__ == "__main__":
    main()
