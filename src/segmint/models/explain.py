"""Discriminant explanation of a segment or cluster: what separates it from everyone else (layer 3).

:func:`explain_membership` takes customer features and a membership vector (True for members:
a segment, or ``labels == k`` for a cluster) and returns an :class:`Explanation`:

- **rules**: a shallow decision tree (``max_depth``, balanced class weights) fitted on a
  training split, each leaf that predicts membership written as a readable rule, e.g.
  ``log_units > 3.1 and log_aov > 7.9 → 98% members (179 customers)``; the same rules in
  words, in English or Traditional Chinese, from :meth:`Explanation.readable_rules`
  (feature names from :mod:`segmint.models.feature_labels`);
- **LDA coefficients**: linear discriminant weights on standardised features (a positive weight
  pushes towards membership), largest first;
- **how well they separate**, measured on a held-out, stratified split (``test_size``, seeded):
  accuracy and AUC of the tree and the AUC of the LDA score, beside the accuracy of always
  guessing the majority class.

Categorical columns are one-hot encoded (``column=level``); missing numbers are filled with the
median.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"units": np.r_[rng.normal(30, 3, 100), rng.normal(2, 1, 300)],
    ...                   "noise": rng.normal(0, 1, 400)})
    >>> e = explain_membership(X, np.r_[np.ones(100), np.zeros(300)].astype(bool))
    >>> e.rules[0].startswith("units > "), e.tree_auc > 0.99, e.top_features[0]
    (True, True, 'units')
    >>> e.readable_rules("zh-Hant")[0].endswith("位顧客）")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError
from segmint.models.base import Interval, check_argument

__all__ = ["Explanation", "RuleLeaf", "explain_membership", "rule_text"]


@dataclass(frozen=True)
class RuleLeaf:
    """One rule: conditions (feature, lower bound or None, upper bound or None), the training
    share of members in its leaf and the customers in it."""

    conditions: tuple[tuple[str, float | None, float | None], ...]
    share: float
    customers: int


def rule_text(leaf: RuleLeaf, lang: str = "raw") -> str:
    """A rule as text: ``"raw"`` with column names (as :attr:`Explanation.rules`), ``"en"`` or
    ``"zh-Hant"`` in words.

    >>> leaf = RuleLeaf((("recency_days", 200.0, None),), 0.95, 300)
    >>> rule_text(leaf), rule_text(leaf, "en")
    ('recency_days > 200 → 95% members (300 customers)', 'days since the last order > 200 → 95% members (300 customers)')
    >>> rule_text(leaf, "zh-Hant")
    '距上次購買日數 > 200 → 95% 為成員（300 位顧客）'
    """  # noqa: E501
    from segmint.models.feature_labels import condition_text

    conds = []
    for f, lo, hi in leaf.conditions:
        if lang != "raw":
            conds.append(condition_text(f, lo, hi, lang))
        elif lo is not None and hi is not None:
            conds.append(f"{lo:.3g} < {f} ≤ {hi:.3g}")
        elif lo is not None:
            conds.append(f"{f} > {lo:.3g}")
        else:
            conds.append(f"{f} ≤ {hi:.3g}")
    if lang == "zh-Hant":
        text = " 且 ".join(conds) or "所有顧客"
        return f"{text} → {leaf.share:.0%} 為成員（{leaf.customers:,} 位顧客）"
    text = " and ".join(conds) or "everyone"
    return f"{text} → {leaf.share:.0%} members ({leaf.customers:,} customers)"


@dataclass
class Explanation:
    """Why members differ from the rest, and how well that separates them (held-out figures)."""

    rules: list[str]
    lda_coefficients: dict[str, float]
    tree_accuracy: float
    tree_auc: float
    lda_auc: float
    baseline_accuracy: float
    members: int
    customers: int
    test_rows: int
    top_features: list[str] = field(default_factory=list)
    leaves: list[RuleLeaf] = field(default_factory=list)

    def readable_rules(self, lang: str = "en") -> list[str]:
        """:attr:`rules` with the features in words, in ``"en"`` or ``"zh-Hant"``."""
        return [rule_text(leaf, lang) for leaf in self.leaves]

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [
            f"{self.members:,} of {self.customers:,} customers are members.",
            f"Held-out ({self.test_rows:,} customers): tree accuracy {self.tree_accuracy:.1%} "
            f"(majority guess {self.baseline_accuracy:.1%}), tree AUC {self.tree_auc:.3f}, "
            f"LDA AUC {self.lda_auc:.3f}.",
            "Rules:",
            *[f"  {r}" for r in self.rules],
        ]
        return "\n".join(lines)


def _design(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    parts = []
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            x = s.astype(float)
            parts.append(x.fillna(x.median() if x.notna().any() else 0.0).rename(col))
        else:
            values = s.astype(object).where(s.notna(), "(missing)").astype(str)
            levels = values.value_counts().index[:20]
            for lv in sorted(levels):
                parts.append((values == lv).astype(float).rename(f"{col}={lv}"))
    return pd.concat(parts, axis=1)


def _rules(
    tree: Any, names: list[str], leaf_share: dict[int, float], min_share: float
) -> list[RuleLeaf]:
    """Each leaf whose training share of members is ≥ ``min_share``, most members first."""
    t = tree.tree_
    out: list[tuple[float, RuleLeaf]] = []

    def walk(node: int, bounds: dict[str, tuple[float | None, float | None]]) -> None:
        if t.children_left[node] == -1:
            n, share = int(t.n_node_samples[node]), leaf_share.get(node, 0.0)
            if share >= min_share and n > 0:
                conds = tuple((f, lo, hi) for f, (lo, hi) in bounds.items())
                out.append((share * n, RuleLeaf(conds, share, n)))
            return
        f, thr = names[t.feature[node]], float(t.threshold[node])
        lo, hi = bounds.get(f, (None, None))
        walk(t.children_left[node], {**bounds, f: (lo, thr if hi is None else min(hi, thr))})
        walk(t.children_right[node], {**bounds, f: (thr if lo is None else max(lo, thr), hi)})

    walk(0, {})
    out.sort(key=lambda x: -x[0])
    return [leaf for _, leaf in out]


def explain_membership(
    features: Any,
    membership: Sequence[bool] | np.ndarray,
    *,
    columns: Sequence[str] | None = None,
    id_column: str = "customer_id",
    max_depth: int = 3,
    test_size: float = 0.3,
    min_share: float = 0.5,
    random_state: int = 0,
) -> Explanation:
    """Rules and LDA weights that separate members from the rest (see the module docstring)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    owner = "explain_membership"
    check_argument(owner, "max_depth", max_depth, Interval("int", 1, 10))
    check_argument(owner, "test_size", test_size, Interval("float", 0, 1, closed="neither"))
    check_argument(owner, "min_share", min_share, Interval("float", 0, 1))
    check_argument(owner, "random_state", random_state, Interval("int", 0, None))
    df = features.to_pandas() if hasattr(features, "to_pandas") else features
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(
            "The customer features of explain_membership must be a pandas DataFrame or a "
            f"pyarrow Table. Got {type(features).__name__} instead."
        )
    y = np.asarray(membership).astype(bool)
    if y.shape != (len(df),):
        raise ValidationError(
            f"membership must have one True/False per customer ({len(df)}). "
            f"Got {y.size} values instead."
        )
    n_in = int(y.sum())
    if min(n_in, len(y) - n_in) < 5:
        raise ValidationError(
            "membership must have at least 5 members and 5 non-members. "
            f"Got {n_in} members of {len(y)} instead.",
            hint="explain a larger segment, or compare it with more customers.",
        )
    cols = [c for c in (columns or df.columns) if c != id_column]
    X = _design(df, cols)
    names = [str(c) for c in X.columns]
    Xtr, Xte, ytr, yte = train_test_split(
        X.to_numpy(), y, test_size=test_size, random_state=random_state, stratify=y
    )
    tree = DecisionTreeClassifier(
        max_depth=max_depth,
        class_weight="balanced",
        min_samples_leaf=max(5, len(ytr) // 200),
        random_state=random_state,
    ).fit(Xtr, ytr)
    leaves = tree.apply(Xtr)
    shares = pd.Series(ytr.astype(float)).groupby(leaves).mean()
    leaf_share = {int(k): float(v) for k, v in shares.items()}
    proba = tree.predict_proba(Xte)[:, 1]
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd[sd == 0] = 1.0
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit((Xtr - mu) / sd, ytr)
    lda_score = lda.decision_function((Xte - mu) / sd)
    coefs = dict(zip(names, lda.coef_[0].round(4).tolist(), strict=True))
    coefs = dict(sorted(coefs.items(), key=lambda kv: (-abs(kv[1]), kv[0])))
    importance = sorted(zip(tree.feature_importances_, names, strict=True), key=lambda x: -x[0])
    top = [n for imp, n in importance if imp > 0][:5]
    majority = max(yte.mean(), 1 - yte.mean())
    leaves = _rules(tree, names, leaf_share, min_share)
    return Explanation(
        rules=[rule_text(leaf) for leaf in leaves],
        lda_coefficients=coefs,
        tree_accuracy=float(accuracy_score(yte, proba >= 0.5)),
        tree_auc=float(roc_auc_score(yte, proba)),
        lda_auc=float(roc_auc_score(yte, lda_score)),
        baseline_accuracy=float(majority),
        members=n_in,
        customers=len(y),
        test_rows=len(yte),
        top_features=top,
        leaves=leaves,
    )
