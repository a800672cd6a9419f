"""Clustering customers into segments on mixed numeric + categorical features (layer 3).

:class:`ClusterSegmenter` follows the estimator contract of :mod:`segmint.models.base`.

Preprocessing (stated, deterministic, saved in the JSON):

- **Numeric columns**: missing values are filled with the column median of the fit sample.
  With ``log_transform="auto"`` a column that is never negative, reaches above 10 and is
  right-skewed (sample skewness > 1: money, order counts, event counts) is replaced by
  ``log1p(x)``; shares in [0, 1] and already-logged columns stay as they are. Then every numeric
  column is standardised (mean 0, standard deviation 1 on the fit sample; a constant column gets
  scale 1). Standard rather than robust (median/IQR) scaling, because indicator-like columns
  (shares, 0/1 flags) have an IQR of 0.
- **Categorical columns** (text, category or bool): one-hot, at most ``max_categories`` levels per
  column (the most frequent; the rest become ``"(other)"``, missing becomes ``"(missing)"``),
  each indicator multiplied by ``categorical_weight / √2`` so that two customers differing in
  one categorical column are ``categorical_weight`` apart — the spread of about one standard
  deviation of one numeric column when the weight is 1. The default 0.5 lets demographics
  colour the clusters without dominating behaviour.

Fitting: k-means (``sklearn.cluster.KMeans``, ``n_init`` starts, ``random_state``) on a random
sample of at most ``sample_size`` customers; every customer is then assigned to the nearest
centre by :meth:`ClusterSegmenter.predict` (chunked numpy, so 1M customers take seconds).
Threads: fits on fewer than :data:`SMALL_FIT_ROWS` rows use one thread (``n_threads=None``):
for them OpenMP start-up and contention on a busy machine cost more than the threads save (a
2,400-row search over 8 values of k took 27 s with two contended cores and 1.5 s with one).
The labels do not depend on the number of threads.

Choice of k (``n_clusters=None``): for each k in ``[min_clusters, max_clusters]`` three
internal indices are computed — the mean silhouette (on at most ``silhouette_sample`` sampled
customers), the Calinski–Harabasz index (between- over within-cluster dispersion) and the
Davies–Bouldin index (mean over clusters of the worst similarity to another cluster; lower is
better) on the fit sample — and the stability: the mean adjusted Rand index between the labels
of the main fit and of fits with ``stability_seeds`` other seeds. Only the k with stability ≥
``min_stability`` compete (all k when none is stable). With ``criterion="vote"`` (default)
each index names its best k and the k named by at least two of the three wins; when all three
differ, the silhouette's k wins. Why a vote: the silhouette averages over *customers*, so
merging a small, tight group (5 % of customers) into a big neighbour costs it little, while
Davies–Bouldin averages over *clusters* and notices; on the demo's 7 planted buying groups the
silhouette alone picks 6, the vote picks 7 (docs/clustering.md). ``criterion`` may also name
one index. Every figure is kept in ``k_scores_``.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"customer_id": [f"c{i}" for i in range(300)],
    ...     "spend": np.exp(np.r_[rng.normal(3, 0.2, 200), rng.normal(7, 0.2, 100)]),
    ...     "region": ["HK"] * 100 + ["TW"] * 100 + ["SG"] * 100})
    >>> model = ClusterSegmenter(categorical_weight=2.0, random_state=0).fit(X)
    >>> model.n_clusters_, model.log_features_
    (3, ['spend'])
    >>> labels = model.predict(X)
    >>> [len(set(labels[i : i + 100])) for i in (0, 100, 200)], len(set(labels))
    ([1, 1, 1], 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from segmint.errors import ValidationError, close_matches
from segmint.models.base import Constraint, Estimator, Interval, NoneOr, Options

__all__ = ["CRITERIA", "SMALL_FIT_ROWS", "ClusterSegmenter", "ColumnList"]

_MISSING = "(missing)"
_OTHER = "(other)"

#: Ways to choose k: a vote of the three indices, or one index alone.
CRITERIA = ("vote", "silhouette", "calinski_harabasz", "davies_bouldin")
#: Below this many fit rows k-means runs on one thread unless ``n_threads`` says otherwise.
SMALL_FIT_ROWS = 20_000


@dataclass(frozen=True)
class ColumnList(Constraint):
    """A list (or tuple) of column names.

    >>> ColumnList().describe()
    'a list of column names'
    """

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) > 0
            and all(isinstance(v, str) for v in value)
        )

    def describe(self) -> str:
        return "a list of column names"

    def invalid_example(self) -> Any:
        return "not_a_list"


@dataclass(frozen=True)
class Text(Constraint):
    """A non-empty string."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value != ""

    def describe(self) -> str:
        return "a non-empty string"

    def invalid_example(self) -> Any:
        return ""


def _as_frame(X: Any, owner: str) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "to_pandas") and not hasattr(X, "execute"):  # pyarrow.Table
        return X.to_pandas()
    raise ValidationError(
        f"The customer features of {owner} must be a pandas DataFrame or a pyarrow Table. "
        f"Got {type(X).__name__} instead.",
        hint="execute the ibis expression first, e.g. ws.execute(features) or expr.to_pandas().",
    )


def _is_categorical(s: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(s)
        or pd.api.types.is_bool_dtype(s)
    )


class ClusterSegmenter(Estimator):
    """k-means personas on mixed customer features, with an automatic, stable choice of k.

    Parameters:
        n_clusters: a fixed k; ``None`` chooses k in ``[min_clusters, max_clusters]``.
        min_clusters, max_clusters: the range searched (default 3–5 personas).
        numeric, categorical: the feature columns; ``None`` takes every numeric / text column
            except ``id_column``.
        id_column: the customer id column (never a feature).
        log_transform: ``"auto"`` (log1p of skewed non-negative columns) or ``"none"``.
        categorical_weight: distance between two different levels of one categorical column.
        max_categories: levels kept per categorical column.
        sample_size: customers sampled for the fit (all when fewer).
        silhouette_sample: customers sampled to score the silhouette.
        n_init: k-means starts per fit.
        stability_seeds: extra seeds fitted to measure stability (0 skips the check).
        min_stability: adjusted Rand index a k needs against the other seeds to be preferred.
        criterion: how k is chosen among the stable k: ``"vote"`` of the three indices,
            or one of ``"silhouette"``, ``"calinski_harabasz"``, ``"davies_bouldin"``.
        n_threads: threads of k-means; ``None``: one below :data:`SMALL_FIT_ROWS` fit rows,
            the library default (all cores) above.
        random_state: the seed; the same seed and data give the same clusters.
    """

    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "n_clusters": NoneOr(Interval("int", 2, None)),
        "min_clusters": Interval("int", 2, None),
        "max_clusters": Interval("int", 2, None),
        "numeric": NoneOr(ColumnList()),
        "categorical": NoneOr(ColumnList()),
        "id_column": Text(),
        "log_transform": Options(("auto", "none")),
        "categorical_weight": Interval("float", 0, None),
        "max_categories": Interval("int", 2, None),
        "sample_size": Interval("int", 100, None),
        "silhouette_sample": Interval("int", 100, None),
        "n_init": Interval("int", 1, None),
        "stability_seeds": Interval("int", 0, None),
        "min_stability": Interval("float", 0, 1),
        "criterion": Options(CRITERIA),
        "n_threads": NoneOr(Interval("int", 1, None)),
        "random_state": Interval("int", 0, None),
    }
    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "params_",
        "n_clusters_",
        "numeric_features_",
        "log_features_",
        "fill_",
        "center_",
        "scale_",
        "categories_",
        "cluster_centers_",
        "cluster_sizes_",
        "k_scores_",
    )

    def __init__(
        self,
        n_clusters: int | None = None,
        min_clusters: int = 3,
        max_clusters: int = 5,
        numeric: list[str] | None = None,
        categorical: list[str] | None = None,
        id_column: str = "customer_id",
        log_transform: str = "auto",
        categorical_weight: float = 0.5,
        max_categories: int = 12,
        sample_size: int = 100_000,
        silhouette_sample: int = 5_000,
        n_init: int = 4,
        stability_seeds: int = 2,
        min_stability: float = 0.8,
        criterion: str = "vote",
        n_threads: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.min_clusters = min_clusters
        self.max_clusters = max_clusters
        self.numeric = numeric
        self.categorical = categorical
        self.id_column = id_column
        self.log_transform = log_transform
        self.categorical_weight = categorical_weight
        self.max_categories = max_categories
        self.sample_size = sample_size
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        self.stability_seeds = stability_seeds
        self.min_stability = min_stability
        self.criterion = criterion
        self.n_threads = n_threads
        self.random_state = random_state

    # -- fit --------------------------------------------------------------------------------------
    def _columns(self, df: pd.DataFrame) -> tuple[list[str], list[str]]:
        name = type(self).__name__
        for given in (self.numeric, self.categorical):
            for col in given or ():
                if col not in df.columns:
                    raise ValidationError(
                        f"The feature column '{col}' of {name} must be a column of the customer "
                        f"features. Got columns {', '.join(map(str, df.columns))} instead.",
                        suggestions=close_matches(col, [str(c) for c in df.columns]),
                    )
        rest = [c for c in df.columns if c != self.id_column]
        if self.numeric is not None:
            numeric = list(self.numeric)
        elif self.categorical is not None:
            numeric = [c for c in rest if c not in self.categorical and not _is_categorical(df[c])]
        else:
            numeric = [c for c in rest if not _is_categorical(df[c])]
        if self.categorical is not None:
            categorical = list(self.categorical)
        elif self.numeric is not None:
            categorical = []
        else:
            categorical = [c for c in rest if _is_categorical(df[c])]
        for col in numeric:
            if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
                raise ValidationError(
                    f"The numeric feature '{col}' of {name} must hold numbers. "
                    f"Got {df[col].dtype} instead.",
                    hint="list it under categorical=[...] instead of numeric=[...].",
                )
        if not numeric and not categorical:
            raise ValidationError(
                f"The customer features of {name} must have at least one feature column. "
                f"Got only {self.id_column!r} instead."
            )
        return [str(c) for c in numeric], [str(c) for c in categorical]

    def fit(self, X: Any, y: Any = None) -> ClusterSegmenter:
        """Choose k (unless fixed) and fit k-means on a sample of ``X`` (one row per customer)."""
        from threadpoolctl import threadpool_limits

        self._validate_params()
        name = type(self).__name__
        if self.max_clusters < self.min_clusters:
            raise ValidationError(
                f"The 'max_clusters' parameter of {name} must be ≥ min_clusters "
                f"({self.min_clusters}). Got {self.max_clusters!r} instead."
            )
        df = _as_frame(X, name)
        numeric, categorical = self._columns(df)
        ks = (
            [self.n_clusters]
            if self.n_clusters is not None
            else list(range(self.min_clusters, self.max_clusters + 1))
        )
        if len(df) < 2 * max(ks):
            raise ValidationError(
                f"The customer features of {name} must have at least {2 * max(ks)} rows "
                f"(2 × {max(ks)} clusters). Got {len(df)} instead.",
                hint="use fewer clusters or more customers.",
            )
        rng = np.random.default_rng(self.random_state)
        if len(df) > self.sample_size:
            idx = np.sort(rng.choice(len(df), size=self.sample_size, replace=False))
            sample = df.iloc[idx]
        else:
            sample = df
        self._learn_encoding(sample, numeric, categorical)
        Z = self.transform(sample)
        sil_idx = (
            np.sort(rng.choice(len(Z), size=self.silhouette_sample, replace=False))
            if len(Z) > self.silhouette_sample
            else np.arange(len(Z))
        )
        threads = self.n_threads
        if threads is None and len(Z) < SMALL_FIT_ROWS:
            threads = 1
        with threadpool_limits(limits=threads):
            scores, fits = self._search(Z, ks, sil_idx)
        stable = [k for k in ks if scores[str(k)]["stability"] >= self.min_stability] or ks
        best = self._choose(stable, scores)
        km = fits[best]
        order = self._canonical_order(km.cluster_centers_, km.labels_)
        centers = km.cluster_centers_[order]
        remap = np.empty(best, dtype=int)
        remap[order] = np.arange(best)
        sizes = np.bincount(remap[km.labels_], minlength=best)
        self.cluster_centers_ = centers
        self.cluster_sizes_ = sizes.astype(np.int64)
        self.n_clusters_ = int(best)
        self.k_scores_ = scores
        self.params_ = {
            "n_clusters": int(best),
            "criterion": self.criterion,
            "silhouette": scores[str(best)]["silhouette"],
            "stability": scores[str(best)]["stability"],
            "fit_rows": len(sample),
        }
        return self

    def _search(
        self, Z: np.ndarray, ks: list[int], sil_idx: np.ndarray
    ) -> tuple[dict[str, dict[str, float]], dict[int, Any]]:
        """k-means for each k (and the stability seeds); the figures of each k and its fit."""
        from sklearn.metrics import adjusted_rand_score

        scores: dict[str, dict[str, float]] = {}
        fits: dict[int, Any] = {}
        for k in ks:
            main = self._kmeans(Z, k, self.random_state)
            stability = 1.0
            if self.stability_seeds:
                aris = [
                    adjusted_rand_score(
                        main.labels_, self._kmeans(Z, k, self.random_state + 1 + s).labels_
                    )
                    for s in range(self.stability_seeds)
                ]
                stability = float(np.mean(aris))
            scores[str(k)] = {
                "silhouette": round(self._silhouette(Z[sil_idx], main.labels_[sil_idx]), 6),
                **self._indices(Z, main.labels_),
                "stability": round(stability, 6),
                "inertia": float(main.inertia_),
            }
            fits[k] = main
        return scores, fits

    def _choose(self, ks: list[int], scores: dict[str, dict[str, float]]) -> int:
        """The k of ``criterion`` among ``ks`` (ties → the smaller k); see the module docstring."""

        def best(index: str) -> int:
            sign = -1.0 if index == "davies_bouldin" else 1.0  # Davies–Bouldin: lower is better
            return max(ks, key=lambda k: (sign * scores[str(k)][index], -k))

        if self.criterion != "vote":
            return best(self.criterion)
        picks = [best(index) for index in CRITERIA[1:]]
        for k in picks:
            if picks.count(k) >= 2:
                return k
        return picks[0]

    @staticmethod
    def _indices(Z: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Calinski–Harabasz (higher is better) and Davies–Bouldin (lower is better)."""
        from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

        if len(np.unique(labels)) < 2:  # degenerate fit: the worst finite figures (JSON-safe)
            return {"calinski_harabasz": 0.0, "davies_bouldin": 1e6}
        return {
            "calinski_harabasz": round(float(calinski_harabasz_score(Z, labels)), 4),
            "davies_bouldin": round(float(davies_bouldin_score(Z, labels)), 6),
        }

    def _kmeans(self, Z: np.ndarray, k: int, seed: int) -> Any:
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit(Z)

    @staticmethod
    def _silhouette(Z: np.ndarray, labels: np.ndarray) -> float:
        from sklearn.metrics import silhouette_score

        if len(np.unique(labels)) < 2:
            return -1.0
        return float(silhouette_score(Z, labels))

    @staticmethod
    def _canonical_order(centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Clusters numbered by size (largest first), ties by centre: stable across runs."""
        sizes = np.bincount(labels, minlength=len(centers))
        keys = [(-int(sizes[i]), *np.round(centers[i], 9).tolist()) for i in range(len(centers))]
        return np.array(sorted(range(len(centers)), key=lambda i: keys[i]), dtype=int)

    def _learn_encoding(self, df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
        fill, center, scale, logged = [], [], [], []
        for col in numeric:
            x = df[col].to_numpy(dtype=float)
            if np.isinf(x).any():
                raise ValidationError(
                    f"The numeric feature '{col}' must be finite. Got an infinite value instead.",
                    hint="cap or drop the infinite values before clustering.",
                )
            med = float(np.nanmedian(x)) if np.isfinite(x).any() else 0.0
            x = np.where(np.isnan(x), med, x)
            if self.log_transform == "auto" and x.min() >= 0 and x.max() > 10:
                sd = x.std()
                skew = float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0
                if skew > 1:
                    logged.append(col)
                    x = np.log1p(x)
            fill.append(med)
            center.append(float(x.mean()))
            sd = float(x.std())
            scale.append(sd if sd > 0 else 1.0)
        categories: dict[str, list[str]] = {}
        for col in categorical:
            values = self._category_values(df[col])
            counts = values.value_counts(sort=False)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            categories[col] = [str(v) for v, _ in ranked[: self.max_categories]]
        self.numeric_features_ = numeric
        self.log_features_ = logged
        self.fill_ = np.asarray(fill, dtype=float)
        self.center_ = np.asarray(center, dtype=float)
        self.scale_ = np.asarray(scale, dtype=float)
        self.categories_ = categories

    @staticmethod
    def _category_values(s: pd.Series) -> pd.Series:
        return s.astype(object).where(s.notna(), _MISSING).astype(str)

    # -- use --------------------------------------------------------------------------------------
    @property
    def feature_names_out_(self) -> list[str]:
        """Names of the columns of :meth:`transform` (numeric, then ``column=level`` indicators)."""
        self._check_fitted("feature_names_out_")
        names = list(self.numeric_features_)
        for col, levels in self.categories_.items():
            names += [f"{col}={lv}" for lv in levels] + [f"{col}={_OTHER}"]
        return names

    def transform(self, X: Any) -> np.ndarray:
        """The scaled, encoded design matrix k-means works on (see the module docstring)."""
        if not hasattr(self, "center_"):
            self._check_fitted("transform()")
        df = _as_frame(X, type(self).__name__)
        needed = [*self.numeric_features_, *self.categories_]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValidationError(
                f"The customer features must have the columns the {type(self).__name__} was "
                f"fitted on. Got no column {', '.join(repr(m) for m in missing)} instead.",
                suggestions=close_matches(missing[0], [str(c) for c in df.columns]),
            )
        blocks = []
        if self.numeric_features_:
            num = df[self.numeric_features_].to_numpy(dtype=float, copy=True)
            nan = np.isnan(num)
            if nan.any():
                num[nan] = np.take(self.fill_, np.nonzero(nan)[1])
            for j, col in enumerate(self.numeric_features_):
                if col in self.log_features_:
                    num[:, j] = np.log1p(np.maximum(num[:, j], 0.0))
            blocks.append((num - self.center_) / self.scale_)
        w = self.categorical_weight / math.sqrt(2)
        for col, levels in self.categories_.items():
            values = self._category_values(df[col])
            codes = pd.Index(levels).get_indexer(values)  # -1 = other (unseen level)
            onehot = np.zeros((len(df), len(levels) + 1))
            onehot[np.arange(len(df)), np.where(codes < 0, len(levels), codes)] = w
            blocks.append(onehot)
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def predict(self, X: Any, *, chunk_rows: int = 200_000) -> np.ndarray:
        """The cluster (0 … n_clusters_ − 1, largest cluster of the fit first) of every row."""
        self._check_fitted("predict()")
        df = _as_frame(X, type(self).__name__)
        centers = np.asarray(self.cluster_centers_, dtype=float)
        c2 = (centers**2).sum(axis=1)
        out = np.empty(len(df), dtype=np.int64)
        for start in range(0, len(df), chunk_rows):
            Z = self.transform(df.iloc[start : start + chunk_rows])
            d = c2[None, :] - 2.0 * Z @ centers.T  # |z|² is the same for every centre
            out[start : start + len(Z)] = d.argmin(axis=1)
        return out

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X).predict(X)``."""
        return self.fit(X).predict(X)
