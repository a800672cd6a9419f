"""Personas: a readable card for each cluster (layer 3, templates only, no network models).

For each cluster :func:`describe_personas` gives its size and share of customers, its share of
value (``value_column``, e.g. revenue or CLV), the features that distinguish it with their
effect size — the standardised mean difference ``d = (mean_in − mean_rest) / pooled_sd``
(Cohen's d; for a categorical column, of the indicator of its most over-represented level) — a
generated name and plain-language description in English and Traditional Chinese, the
preferred channel (most common value of ``channel_column`` in the cluster) and a suggested offer.

Names and offers come from the strongest distinguishing features whose names segmint knows
(recency, frequency / rate, monetary / revenue / aov / spend / value, discount, holiday,
units, tenure, browse, events); other features, and the ``column=level`` indicators of
categorical columns, are described by their readable label
(:mod:`segmint.models.feature_labels`), never by a raw column name or ``(missing)``.

:func:`cluster_customers` clusters **buyers** only (``buyers_column`` > 0, e.g. order_count):
people without an order cannot be told apart by purchase behaviour, so they get one fixed,
rule-defined card instead of a cluster — "Not yet customers" (cluster :data:`NOT_YET_CUSTOMERS`
= -1), sized, with the split between those who browse (online events) and contacts known only
from a list.

:func:`persona_table` turns cluster labels into an ibis table
``customer_id → cluster, persona, persona_zh_hant``
that segment definitions can use as a computed metric.

Example:
    >>> import pandas as pd
    >>> X = pd.DataFrame({"frequency": [1, 1, 2, 20, 22, 25], "recency_days": [300, 280, 320, 5, 3, 9],
    ...                   "channel": ["email", "email", "sms", "whatsapp", "whatsapp", "email"]})
    >>> cards = describe_personas(X, [0, 0, 0, 1, 1, 1], value_column="frequency",
    ...                           channel_column="channel")
    >>> cards[1].name_en, cards[1].name_zh, cards[1].preferred_channel
    ('Recently active, frequent customers', '近期活躍、高頻顧客', 'whatsapp')
    >>> round(cards[1].value_share, 2), cards[1].offer_key
    (0.94, 'vip')
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ValidationError, close_matches
from segmint.models.feature_labels import feature_label, is_indicator, level_label

#: The cluster number of the people without an order (a rule-defined card, not a k-means cluster).
NOT_YET_CUSTOMERS = -1

__all__ = [
    "NOT_YET_CUSTOMERS",
    "OFFERS",
    "ClusterResult",
    "FeatureEffect",
    "Persona",
    "cluster_customers",
    "describe_personas",
    "not_yet_customers_card",
    "persona_frame",
    "persona_records",
    "persona_table",
]

# keyword → (en high, zh high, en low, zh low, en phrase high, zh phrase high, en low, zh low)
_WORDS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (
        ("discount", "coupon", "promo"),
        (
            "deal-seeking",
            "愛用優惠",
            "full-price",
            "原價購買",
            "use discount codes more often",
            "較常使用優惠碼",
            "rarely use discount codes",
            "甚少使用優惠碼",
        ),
    ),
    (
        ("holiday", "season", "gift"),
        (
            "seasonal gift",
            "節日送禮",
            "everyday",
            "日常購買",
            "buy mostly in holiday seasons",
            "多在節日期間購買",
            "buy all year round",
            "全年購買",
        ),
    ),
    (
        ("unit", "quantity", "basket_size", "wholesale"),
        (
            "bulk-buying",
            "大批量採購",
            "single-item",
            "單件購買",
            "buy many units per order",
            "每單購買件數多",
            "buy few units per order",
            "每單購買件數少",
        ),
    ),
    (
        ("browse",),
        (
            "browsing-only",
            "只瀏覽",
            "buying",
            "有購買",
            "browse without buying",
            "瀏覽但未購買",
            "buy rather than just browse",
            "會實際購買",
        ),
    ),
    (
        ("recency",),
        (
            "lapsed",
            "久未購買",
            "recently active",
            "近期活躍",
            "have not bought for a long time",
            "很久沒有購買",
            "bought recently",
            "最近有購買",
        ),
    ),
    (
        ("tenure", "age_days", "first_order"),
        (
            "long-standing",
            "長期",
            "new",
            "新",
            "have been customers for longer",
            "成為顧客的時間較長",
            "joined recently",
            "最近才成為顧客",
        ),
    ),
    (
        ("frequency", "order_count", "rate", "orders"),
        (
            "frequent",
            "高頻",
            "occasional",
            "低頻",
            "buy more often",
            "購買次數較多",
            "buy less often",
            "購買次數較少",
        ),
    ),
    (
        ("aov", "monetary", "revenue", "spend", "value", "clv", "amount"),
        (
            "high-spending",
            "高消費",
            "budget",
            "低消費",
            "spend more",
            "消費金額較高",
            "spend less",
            "消費金額較低",
        ),
    ),
    (
        ("event", "session", "web", "engagement"),
        (
            "engaged online",
            "線上活躍",
            "offline",
            "少上網",
            "are more active online",
            "線上互動較多",
            "are less active online",
            "線上互動較少",
        ),
    ),
]

#: offer key → (English, Traditional Chinese)
OFFERS: dict[str, tuple[str, str]] = {
    "win_back": ("a win-back voucher with a time limit", "限時回購優惠券"),
    "welcome": ("a welcome series with a second-order incentive", "迎新系列及第二張訂單優惠"),
    "bundle_coupon": (
        "bundles and members-only coupons instead of blanket discounts",
        "以組合優惠及會員專屬優惠券取代全場折扣",
    ),
    "seasonal": ("early access to gift sets before the next holiday", "節日前搶先預訂禮盒"),
    "volume": ("volume pricing and a dedicated account manager", "批量價格及專屬客戶經理"),
    "first_order": ("a first-order discount on the products they viewed", "瀏覽過產品的首單折扣"),
    "vip": (
        "VIP early access and loyalty rewards (no discount needed)",
        "VIP 搶先購及積分獎賞（毋須折扣）",
    ),
    "reactivate": ("personalised recommendations to buy again", "個人化推薦，鼓勵再次購買"),
    "cross_sell": ("cross-sell of complementary categories", "交叉推薦相關類別產品"),
}


@dataclass(frozen=True)
class FeatureEffect:
    """How one feature differs inside a cluster from the rest (``d``: standardised difference)."""

    feature: str
    cluster_mean: float
    rest_mean: float
    effect_size: float

    @property
    def label_en(self) -> str:
        """The feature in English words (:func:`~segmint.models.feature_labels.feature_label`)."""
        return feature_label(self.feature, "en")

    @property
    def label_zh(self) -> str:
        """The feature in Traditional Chinese words."""
        return feature_label(self.feature, "zh-Hant")


@dataclass
class Persona:
    """One cluster's card."""

    cluster: int
    size: int
    share: float
    value_share: float | None
    features: list[FeatureEffect] = field(default_factory=list)
    name_en: str = ""
    name_zh: str = ""
    description_en: str = ""
    description_zh: str = ""
    preferred_channel: str | None = None
    offer_key: str = "cross_sell"
    offer_en: str = ""
    offer_zh: str = ""
    #: rule-defined cards only (e.g. not yet customers): the rule, in English and Chinese
    rules_en: list[str] = field(default_factory=list)
    rules_zh: list[str] = field(default_factory=list)


def _words(feature: str) -> tuple[str, ...] | None:
    if is_indicator(feature):  # "top_channel=web" is a channel, not web engagement
        return None
    low = feature.lower()
    for keys, words in _WORDS:
        if any(k in low for k in keys):
            return words
    return None


def _offer(effects: list[FeatureEffect]) -> str:
    """The offer of the strongest feature segmint knows (|d| ≥ 0.5)."""
    for e in effects:
        if abs(e.effect_size) < 0.5 or is_indicator(e.feature):
            continue
        low, up = e.feature.lower(), e.effect_size > 0
        if "browse" in low and up:
            return "first_order"
        if any(k in low for k in ("discount", "coupon", "promo")) and up:
            return "bundle_coupon"
        if any(k in low for k in ("holiday", "season", "gift")) and up:
            return "seasonal"
        if any(k in low for k in ("unit", "quantity", "wholesale")) and up:
            return "volume"
        if "recency" in low:
            return "win_back" if up else "vip"
        if any(k in low for k in ("tenure", "first_order")) and not up:
            return "welcome"
        if any(k in low for k in ("frequency", "order_count", "rate")):
            return "vip" if up else "reactivate"
        if any(k in low for k in ("aov", "monetary", "revenue", "spend", "value")) and up:
            return "vip"
    return "cross_sell"


def _effects(df: pd.DataFrame, inside: np.ndarray, columns: Sequence[str]) -> list[FeatureEffect]:
    out = []
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            x = s.to_numpy(dtype=float)
            label = col
        else:  # categorical: the most over-represented level
            values = s.astype(object).where(s.notna(), "(missing)").astype(str)
            lift = (
                values[inside]
                .value_counts(normalize=True)
                .sub(values[~inside].value_counts(normalize=True), fill_value=0.0)
            )
            if lift.empty:
                continue
            level = str(lift.sort_values(ascending=False, kind="stable").index[0])
            x = (values == level).to_numpy(dtype=float)
            label = f"{col}={level}"
        a, b = x[inside], x[~inside]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) == 0 or len(b) == 0:
            continue
        va = a.var(ddof=1) if len(a) > 1 else 0.0
        vb = b.var(ddof=1) if len(b) > 1 else 0.0
        pooled = np.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / max(len(a) + len(b) - 2, 1))
        diff = a.mean() - b.mean()
        d = diff / pooled if pooled > 0 else (0.0 if diff == 0 else float(np.sign(diff)) * 10.0)
        out.append(FeatureEffect(label, float(a.mean()), float(b.mean()), round(float(d), 4)))
    out.sort(key=lambda e: (-abs(e.effect_size), e.feature))
    return out


def _name(effects: list[FeatureEffect], cluster: int) -> tuple[str, str]:
    en, zh, seen = [], [], set()
    for e in effects:
        words = _words(e.feature)
        if words is None or abs(e.effect_size) < 0.5 or words in seen:
            continue
        seen.add(words)
        hi = e.effect_size > 0
        en.append(words[0] if hi else words[2])
        zh.append(words[1] if hi else words[3])
        if len(en) == 2:
            break
    if not en:
        for e in effects[:1]:
            if abs(e.effect_size) >= 0.5:
                w_en, w_zh = _fallback_words(e)
                en.append(w_en)
                zh.append(w_zh)
    if not en:
        return f"Typical customers (cluster {cluster})", f"一般顧客（第 {cluster} 群）"
    first = en[0][0].upper() + en[0][1:]
    return ", ".join([first, *en[1:]]) + " customers", "、".join(zh) + "顧客"


def _fallback_words(e: FeatureEffect) -> tuple[str, str]:
    """Name words of a feature segmint has no keyword for: its label, or a known level."""
    hi = e.effect_size > 0
    if is_indicator(e.feature):
        level = e.feature.split("=", 1)[1]
        en, zh = level_label(level, "en"), level_label(level, "zh-Hant")
        if en == level or level.startswith("("):  # unknown level, (missing), (other)
            en, zh = feature_label(e.feature, "en"), feature_label(e.feature, "zh-Hant")
        return (en if hi else f"not {en}"), (zh if hi else f"非{zh}")
    return (
        f"{'high' if hi else 'low'} {e.label_en}",
        f"{e.label_zh}{'偏高' if hi else '偏低'}",
    )


def _phrase(e: FeatureEffect, lang: str) -> str:
    words = _words(e.feature)
    hi = e.effect_size > 0
    if words is not None:
        text = (words[4] if hi else words[6]) if lang == "en" else (words[5] if hi else words[7])
    elif is_indicator(e.feature):
        if lang == "en":
            text = f"are {'more' if hi else 'less'} often {e.label_en}"
        else:
            text = f"{'較多' if hi else '較少'}為{e.label_zh}"
    elif lang == "en":
        text = f"have {'higher' if hi else 'lower'} {e.label_en}"
    else:
        text = f"{e.label_zh}{'較高' if hi else '較低'}"
    d = f"d = {e.effect_size:+.1f}"
    return f"{text} ({d})" if lang == "en" else f"{text}（{d}）"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def describe_personas(
    features: Any,
    labels: Sequence[int] | np.ndarray,
    *,
    columns: Sequence[str] | None = None,
    value_column: str | None = None,
    channel_column: str | None = None,
    id_column: str = "customer_id",
    top: int = 3,
    population: int | None = None,
    peers: tuple[str, str] = ("everyone else", "其他顧客"),
) -> list[Persona]:
    """A :class:`Persona` per cluster, in cluster order (see the module docstring).

    ``features`` has one row per customer (pandas or pyarrow) and ``labels`` the cluster of each
    row (e.g. ``ClusterSegmenter.predict(features)``). ``columns`` are the features compared
    (default: every column except the id and the channel). ``population`` is the number of
    people shares are taken of (default: the rows of ``features``; larger when only buyers were
    clustered); ``peers`` names whom the clusters are compared with (English, Chinese).
    """
    df = features.to_pandas() if hasattr(features, "to_pandas") else features
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(
            "The customer features of describe_personas must be a pandas DataFrame or a pyarrow "
            f"Table. Got {type(features).__name__} instead."
        )
    lab = np.asarray(labels)
    if lab.shape != (len(df),):
        raise ValidationError(
            f"labels must have one cluster per customer ({len(df)}). "
            f"Got {lab.shape[0] if lab.ndim else 'a scalar'} instead."
        )
    for name, col in (("value_column", value_column), ("channel_column", channel_column)):
        if col is not None and col not in df.columns:
            raise ValidationError(
                f"The {name} of describe_personas must be a column of the customer features. "
                f"Got '{col}' instead.",
                suggestions=close_matches(col, [str(c) for c in df.columns]),
            )
    skip = {id_column, channel_column}
    cols = [c for c in (columns or df.columns) if c not in skip]
    people = len(df) if population is None else population
    total_value = float(df[value_column].sum()) if value_column else None
    cards = []
    for k in sorted(np.unique(lab).tolist()):
        inside = lab == k
        effects = _effects(df, inside, cols)
        shown = [e for e in effects if abs(e.effect_size) >= 0.2][:top] or effects[:1]
        share = float(inside.sum() / people) if people else 0.0
        value_share = None
        if value_column and total_value:
            value_share = float(df.loc[inside, value_column].sum()) / total_value
        channel = None
        if channel_column:
            counts = df.loc[inside, channel_column].dropna().astype(str).value_counts()
            if not counts.empty:
                channel = str(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])
        offer = _offer(effects)
        name_en, name_zh = _name(effects, int(k))
        value_en = f" and {_pct(value_share)} of value" if value_share is not None else ""
        value_zh = f"，貢獻 {_pct(value_share)} 價值" if value_share is not None else ""
        en_phr = [_phrase(e, "en") for e in shown]
        en_list = en_phr[0] if len(en_phr) == 1 else ", ".join(en_phr[:-1]) + " and " + en_phr[-1]
        desc_en = (
            f"{name_en}: {inside.sum():,} customers ({_pct(share)}){value_en}. "
            f"Compared with {peers[0]} they {en_list}."
        )
        desc_zh = (
            f"{name_zh}：{inside.sum():,} 位顧客（{_pct(share)}）{value_zh}。"
            f"與{peers[1]}相比，他們{'，'.join(_phrase(e, 'zh') for e in shown)}。"
        )
        if channel:
            desc_en += f" Best reached by {level_label(channel, 'en')}."
            desc_zh += f"最佳接觸渠道：{level_label(channel, 'zh-Hant')}。"
        desc_en += f" Suggested offer: {OFFERS[offer][0]}."
        desc_zh += f"建議優惠：{OFFERS[offer][1]}。"
        cards.append(
            Persona(
                cluster=int(k),
                size=int(inside.sum()),
                share=share,
                value_share=value_share,
                features=shown,
                name_en=name_en,
                name_zh=name_zh,
                description_en=desc_en,
                description_zh=desc_zh,
                preferred_channel=channel,
                offer_key=offer,
                offer_en=OFFERS[offer][0],
                offer_zh=OFFERS[offer][1],
            )
        )
    _dedupe_names(cards)
    return cards


def _dedupe_names(cards: list[Persona]) -> None:
    counts: dict[str, int] = {}
    for c in cards:
        counts[c.name_en] = counts.get(c.name_en, 0) + 1
    for c in cards:
        if counts[c.name_en] > 1:
            c.name_en += f" ({c.cluster})"
            c.name_zh += f"（{c.cluster}）"


def persona_frame(cards: Sequence[Persona]) -> pd.DataFrame:
    """The cards as a table (one row per cluster), e.g. for a report."""
    return pd.DataFrame(
        [
            {
                "cluster": c.cluster,
                "name_en": c.name_en,
                "name_zh": c.name_zh,
                "size": c.size,
                "share": c.share,
                "value_share": c.value_share,
                "features": "; ".join(f"{e.feature} (d={e.effect_size:+.2f})" for e in c.features),
                "preferred_channel": c.preferred_channel,
                "offer_en": c.offer_en,
                "offer_zh": c.offer_zh,
                "description_en": c.description_en,
                "description_zh": c.description_zh,
            }
            for c in cards
        ]
    )


def persona_table(
    customer_ids: Sequence[Any] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    cards: Sequence[Persona] | None = None,
) -> Any:
    """An ibis table ``customer_id, cluster, persona, persona_zh_hant`` for use as a computed
    metric (``persona`` is the English name, ``persona_zh_hant`` the Traditional Chinese one).

    >>> persona_table(["a", "b"], [1, 0]).select("customer_id", "cluster").to_pyarrow().to_pylist()
    [{'customer_id': 'a', 'cluster': 1}, {'customer_id': 'b', 'cluster': 0}]
    """
    import ibis
    import pyarrow as pa

    lab = np.asarray(labels, dtype=np.int64)
    if len(lab) != len(customer_ids):
        raise ValidationError(
            f"labels must have one cluster per customer ({len(customer_ids)}). "
            f"Got {len(lab)} instead."
        )
    names = {c.cluster: c.name_en for c in cards or ()}
    names_zh = {c.cluster: c.name_zh for c in cards or ()}
    table = pa.table(
        {
            "customer_id": pa.array([str(c) for c in customer_ids], type=pa.string()),
            "cluster": pa.array(lab, type=pa.int64()),
            "persona": pa.array([names.get(int(k)) for k in lab], type=pa.string()),
            "persona_zh_hant": pa.array([names_zh.get(int(k)) for k in lab], type=pa.string()),
        }
    )
    return ibis.memtable(table)


def persona_records(cards: Sequence[Persona], explanations: dict[int, Any] | None = None) -> Any:
    """The cards (and optional :class:`~segmint.models.explain.Explanation` per cluster) as an
    ibis table with one row per cluster, for storing beside the ``clusters`` table: cluster,
    name_en, name_zh_hant, size, share, value_share, preferred_channel, offer_key, offer_en,
    offer_zh_hant, description_en, description_zh_hant, features_json (feature, label_en,
    label_zh_hant, cluster_mean, rest_mean, effect_size), explanation_json (rules and
    rules_zh_hant in words, rules_raw with column names, tree_auc, lda_auc, tree_accuracy,
    baseline_accuracy, members, customers, test_rows, top_features; for a rule-defined card
    its rule, with null figures; null when not explained).
    """
    import json

    import ibis
    import pyarrow as pa

    explanations = explanations or {}
    rows = []
    for c in cards:
        e = explanations.get(c.cluster)
        explanation = None
        if e is None and c.rules_en:
            explanation = json.dumps(
                {"rules": c.rules_en, "rules_zh_hant": c.rules_zh, "rule_defined": True},
                ensure_ascii=False,
            )
        elif e is not None:
            explanation = json.dumps(
                {
                    "rules": e.readable_rules("en") if e.leaves else list(e.rules),
                    "rules_zh_hant": e.readable_rules("zh-Hant") if e.leaves else list(e.rules),
                    "rules_raw": list(e.rules),
                    "tree_auc": e.tree_auc,
                    "lda_auc": e.lda_auc,
                    "tree_accuracy": e.tree_accuracy,
                    "baseline_accuracy": e.baseline_accuracy,
                    "members": e.members,
                    "customers": e.customers,
                    "test_rows": e.test_rows,
                    "top_features": list(e.top_features),
                },
                ensure_ascii=False,
            )
        rows.append(
            {
                "cluster": c.cluster,
                "name_en": c.name_en,
                "name_zh_hant": c.name_zh,
                "size": c.size,
                "share": c.share,
                "value_share": c.value_share,
                "preferred_channel": c.preferred_channel,
                "offer_key": c.offer_key,
                "offer_en": c.offer_en,
                "offer_zh_hant": c.offer_zh,
                "description_en": c.description_en,
                "description_zh_hant": c.description_zh,
                "features_json": json.dumps(
                    [
                        {
                            "feature": f.feature,
                            "label_en": f.label_en,
                            "label_zh_hant": f.label_zh,
                            "cluster_mean": f.cluster_mean,
                            "rest_mean": f.rest_mean,
                            "effect_size": f.effect_size,
                        }
                        for f in c.features
                    ],
                    ensure_ascii=False,
                ),
                "explanation_json": explanation,
            }
        )
    schema = pa.schema(
        [
            ("cluster", pa.int64()),
            ("name_en", pa.string()),
            ("name_zh_hant", pa.string()),
            ("size", pa.int64()),
            ("share", pa.float64()),
            ("value_share", pa.float64()),
            ("preferred_channel", pa.string()),
            ("offer_key", pa.string()),
            ("offer_en", pa.string()),
            ("offer_zh_hant", pa.string()),
            ("description_en", pa.string()),
            ("description_zh_hant", pa.string()),
            ("features_json", pa.string()),
            ("explanation_json", pa.string()),
        ]
    )
    return ibis.memtable(pa.Table.from_pylist(rows, schema=schema))


def not_yet_customers_card(
    features: pd.DataFrame,
    members: np.ndarray,
    *,
    population: int | None = None,
    value_column: str | None = None,
    browse_column: str | None = "browse_only",
    events_column: str | None = "events",
) -> Persona:
    """The fixed card of the people without an order (``members``): cluster
    :data:`NOT_YET_CUSTOMERS`, named "Not yet customers" / 「尚未購買的聯絡人」, sized, and
    split into people who browse (``browse_column`` = 1, or ``events_column`` > 0) and
    contacts known only from a list.

    >>> f = pd.DataFrame({"order_count": [0, 0, 0, 3], "events": [4, 0, 0, 9]})
    >>> card = not_yet_customers_card(f, f["order_count"].to_numpy() == 0)
    >>> card.name_en, card.size, card.cluster
    ('Not yet customers', 3, -1)
    >>> card.description_en.split(". ")[1]
    '1 browse the shop (online events, no order) and 2 are known only as contacts (no order, no online events)'
    """  # noqa: E501
    inside = np.asarray(members, dtype=bool)
    n = int(inside.sum())
    people = len(features) if population is None else population
    share = n / people if people else 0.0
    browse = None
    if browse_column and browse_column in features.columns:
        browse = int((features.loc[inside, browse_column].fillna(0) > 0).sum())
    elif events_column and events_column in features.columns:
        browse = int((features.loc[inside, events_column].fillna(0) > 0).sum())
    name_en, name_zh = "Not yet customers", "尚未購買的聯絡人"
    desc_en = f"{name_en}: {n:,} people ({_pct(share)}) with no order yet."
    desc_zh = f"{name_zh}：{n:,} 人（{_pct(share)}）尚未有訂單。"
    if browse is not None:
        desc_en += (
            f" {browse:,} browse the shop (online events, no order) and {n - browse:,} are "
            "known only as contacts (no order, no online events)."
        )
        desc_zh += f"其中 {browse:,} 人有瀏覽網店（有線上互動、未購買），{n - browse:,} 人只是聯絡人名單上的聯絡人（無訂單、無線上互動）。"  # noqa: E501
    desc_en += (
        " A rule, not a cluster: people without an order cannot be told apart by how they buy."
        f" Suggested offer: {OFFERS['first_order'][0]}; a welcome message for the contacts."
    )
    desc_zh += (
        "此為規則劃分而非分群：未購買的人無法以購買行為區分。"
        f"建議優惠：{OFFERS['first_order'][1]}；向聯絡人發送歡迎訊息。"
    )
    return Persona(
        cluster=NOT_YET_CUSTOMERS,
        size=n,
        share=share,
        value_share=0.0 if value_column else None,
        name_en=name_en,
        name_zh=name_zh,
        description_en=desc_en,
        description_zh=desc_zh,
        preferred_channel=None,
        offer_key="first_order",
        offer_en=OFFERS["first_order"][0],
        offer_zh=OFFERS["first_order"][1],
        rules_en=[f"no order up to the as-of day → 100% members ({n:,} customers)"],
        rules_zh=[f"截至分析日未有訂單 → 100% 為成員（{n:,} 位顧客）"],
    )


@dataclass
class ClusterResult:
    """What :func:`cluster_customers` returns: the fitted model, labels (one per row; people
    without an order get :data:`NOT_YET_CUSTOMERS`), the cards (clusters first, then the "not
    yet customers" card when there are such people) and which rows were clustered."""

    model: Any
    customer_ids: list[str]
    labels: np.ndarray
    personas: list[Persona]
    clustered: np.ndarray | None = None

    def table(self) -> Any:
        """``customer_id, cluster, persona, persona_zh_hant`` as an ibis table (see
        :func:`persona_table`)."""
        return persona_table(self.customer_ids, self.labels, self.personas)


def cluster_customers(
    features: Any,
    *,
    id_column: str = "customer_id",
    value_column: str | None = "revenue",
    channel_column: str | None = "top_channel",
    buyers_column: str | None = "order_count",
    **params: Any,
) -> ClusterResult:
    """Fit a :class:`~segmint.models.cluster.ClusterSegmenter` (``params``) on executed customer
    features (e.g. :func:`segmint.features.customer_features.customer_features`), assign every
    customer and describe each cluster.

    With ``buyers_column`` present (default ``order_count``) only rows where it is > 0 are
    clustered (``browse_only``, always 0 for them, is left out); the others get the fixed
    :func:`not_yet_customers_card` (cluster :data:`NOT_YET_CUSTOMERS`). Cards of clusters are
    compared with the other buyers, and their shares are of all rows. Without it, every row is
    clustered, and customers who never ordered get the largest observed ``recency_days`` and a
    ``tenure_days`` of 0 (instead of the median fill of the model), so they are not mistaken
    for recent buyers. ``value_column`` and ``channel_column`` are used when present. Rows are
    sorted by ``id_column`` first, so the result does not depend on the order an engine
    returned them in.
    """
    from segmint.models.cluster import ClusterSegmenter

    df = features.to_pandas() if hasattr(features, "to_pandas") else features
    # engines return rows in no fixed order; sort so the same seed gives the same clusters
    if id_column in df.columns:
        df = df.sort_values(id_column, kind="stable", ignore_index=True)
    else:
        df = df.copy()
    if "recency_days" in df.columns and df["recency_days"].notna().any():
        df["recency_days"] = df["recency_days"].astype(float).fillna(df["recency_days"].max())
    if "tenure_days" in df.columns:
        df["tenure_days"] = df["tenure_days"].astype(float).fillna(0.0)
    value = value_column if value_column in df.columns else None
    channel = channel_column if channel_column in df.columns else None
    by_orders = buyers_column is not None and buyers_column in df.columns
    if by_orders:
        buys = df[buyers_column].fillna(0).to_numpy(dtype=float) > 0
        if not buys.any():
            raise ValidationError(
                f"The customer features must have customers with {buyers_column} > 0 to "
                f"cluster. Got {len(df):,} rows, none with {buyers_column} > 0, instead.",
                hint="import orders first, or pass buyers_column=None to cluster every row.",
            )
        drop = {channel, "browse_only"}
    else:
        buys = np.ones(len(df), dtype=bool)
        drop = {channel}
    buyers = df[buys].reset_index(drop=True)
    feature_cols = [c for c in df.columns if c not in drop]
    model = ClusterSegmenter(id_column=id_column, **params).fit(buyers[feature_cols])
    labels = np.full(len(df), NOT_YET_CUSTOMERS, dtype=np.int64)
    labels[buys] = model.predict(buyers[feature_cols])
    cards = describe_personas(
        buyers[[c for c in buyers.columns if c not in drop or c == channel]],
        labels[buys],
        value_column=value,
        channel_column=channel,
        id_column=id_column,
        population=len(df),
        peers=("other buyers", "其他已購買顧客") if by_orders else ("everyone else", "其他顧客"),
    )
    if not buys.all():
        cards.append(not_yet_customers_card(df, ~buys, value_column=value))
    return ClusterResult(model, df[id_column].astype(str).tolist(), labels, cards, buys)
