"""The figures of docs/clustering.md: choice of k and recovery of the demo's planted groups.

    python benchmarks/demo_clusters.py                       # 3,000 people, seed 7 (the tests)
    python benchmarks/demo_clusters.py --customers 5000 --seed 1

Demo data (``segmint.demo.generate``), behaviour features from the ground truth
(``behaviour_features``, the ``CLUSTER_FEATURES`` without ``browse_only``), buyers only (the
planted browser and prospect groups never order). ``ClusterSegmenter`` searches k in
``--min-k``…``--max-k`` (default 3–10, holding the 7 planted buying groups); the script prints,
per k, the silhouette, Calinski–Harabasz, Davies–Bouldin and stability figures the choice uses,
the adjusted Rand index of that k's fit against the planted groups, the k each criterion
picks, and the ARI over all people with the non-buyers as one rule-defined group. Markdown
output, ready for the docs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from segmint.demo import generate
from segmint.demo.generator import CLUSTER_FEATURES, behaviour_features
from segmint.models.cluster import CRITERIA, ClusterSegmenter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--min-k", type=int, default=3)
    ap.add_argument("--max-k", type=int, default=10)
    args = ap.parse_args()
    f = behaviour_features(generate(args.customers, seed=args.seed))
    f = f.reset_index().rename(columns={"person_id": "customer_id"})
    buys = f["frequency"].to_numpy() > 0
    buyers = f[buys].reset_index(drop=True)
    cols = ["customer_id", *(c for c in CLUSTER_FEATURES if c != "browse_only")]
    t0 = time.perf_counter()
    model = ClusterSegmenter(min_clusters=args.min_k, max_clusters=args.max_k, random_state=0).fit(
        buyers[cols]
    )
    seconds = time.perf_counter() - t0
    print(f"{args.customers:,} people (seed {args.seed}), {len(buyers):,} buyers in "
          f"{buyers['group'].nunique()} planted groups; search {args.min_k}–{args.max_k} "
          f"took {seconds:.1f} s\n")  # fmt: skip
    print("| k | silhouette | Calinski–Harabasz | Davies–Bouldin | stability | ARI |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, s in model.k_scores_.items():
        fixed = ClusterSegmenter(n_clusters=int(k), stability_seeds=0, random_state=0)
        ari = adjusted_rand_score(buyers["group"], fixed.fit(buyers[cols]).predict(buyers))
        mark = "**" if int(k) == model.n_clusters_ else ""
        print(f"| {mark}{k}{mark} | {s['silhouette']:.3f} | {s['calinski_harabasz']:,.0f} | "
              f"{s['davies_bouldin']:.3f} | {s['stability']:.2f} | {ari:.3f} |")  # fmt: skip
    scores = model.k_scores_
    stable = [int(k) for k, s in scores.items() if s["stability"] >= model.min_stability]
    # the same figures, each criterion's rule (as ClusterSegmenter(criterion=...) would choose)
    picks = {c: ClusterSegmenter(criterion=c)._choose(stable, scores) for c in CRITERIA}
    print("\nk picked:", ", ".join(f"{c} {k}" for c, k in picks.items()))
    labels = np.full(len(f), -1)
    labels[buys] = model.predict(buyers)
    planted = f["group"].where(buys, "not yet")
    on_buyers = adjusted_rand_score(buyers["group"], labels[buys])
    overall = adjusted_rand_score(planted, labels)
    print(f"chosen k = {model.n_clusters_}: ARI {on_buyers:.3f} on buyers, {overall:.3f} over all")


if __name__ == "__main__":
    main()
