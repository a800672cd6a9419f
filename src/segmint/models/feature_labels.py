"""Readable names of customer features, in English and Traditional Chinese (layer 3).

Persona cards and explanation rules talk to marketers, so they never show a raw column name
(``recency_days``) or an encoding artefact (``country=(missing)``). :func:`feature_label` turns
a feature of :func:`segmint.features.customer_features.customer_features` (or of the demo's
behaviour features) into words; a ``column=level`` indicator becomes "column: level" with the
level translated where segmint knows it (countries, genders, channels, ``(missing)`` →
"unknown"). Columns segmint does not know are shown with spaces for underscores.

:func:`condition_text` writes one condition of a decision-tree rule in either language;
an indicator threshold (0.5) reads as "is" / "is not".

Example:
    >>> feature_label("recency_days"), feature_label("recency_days", "zh-Hant")
    ('days since the last order', '距上次購買日數')
    >>> feature_label("country=(missing)"), feature_label("country=HK", "zh-Hant")
    ('country: unknown', '國家／地區：香港')
    >>> condition_text("gender=female", 0.5, None, "en")
    'gender is female'
    >>> condition_text("orders_per_year", None, 4.0, "zh-Hant")
    '每年訂單數 ≤ 4'
    >>> condition_text("revenue", 4031.5, None, "en")
    'total spend > 4,032'
"""

from __future__ import annotations

__all__ = ["LANGS", "condition_text", "feature_label", "is_indicator", "level_label"]

#: Languages of the labels.
LANGS = ("en", "zh-Hant")

#: column → (English, Traditional Chinese)
_FEATURES: dict[str, tuple[str, str]] = {
    # segmint.features.customer_features
    "order_count": ("number of orders", "訂單數"),
    "revenue": ("total spend", "累計消費"),
    "aov": ("average order value", "平均訂單金額"),
    "recency_days": ("days since the last order", "距上次購買日數"),
    "tenure_days": ("days since the first order", "首次購買至今日數"),
    "orders_per_year": ("orders per year", "每年訂單數"),
    "discount_share": ("share of orders with a discount", "使用折扣的訂單比例"),
    "top_channel": ("main order channel", "主要下單渠道"),
    "events": ("online events", "線上互動次數"),
    "browse_only": ("browses without buying", "只瀏覽未購買"),
    "gender": ("gender", "性別"),
    "country": ("country", "國家／地區"),
    "region": ("region", "地區"),
    "city": ("city", "城市"),
    "language": ("language", "語言"),
    "industry": ("industry", "行業"),
    "company_size": ("company size", "公司規模"),
    # segmint.demo.generator.behaviour_features
    "frequency": ("number of orders", "訂單數"),
    "log_rate": ("order rate (log)", "購買頻率（對數）"),
    "recency_capped": ("time since the last order (share of a year)", "距上次購買（年比例）"),
    "tenure_capped": ("customer age (share of 120 days)", "成為顧客時間（120 日比例）"),
    "log_aov": ("average order value (log)", "平均訂單金額（對數）"),
    "holiday_share": ("share of orders in holiday seasons", "節日期間訂單比例"),
    "log_units": ("units per order (log)", "每單件數（對數）"),
    "web_events": ("online events", "線上互動次數"),
}

#: level → (English, Traditional Chinese), for any column
_LEVELS: dict[str, tuple[str, str]] = {
    "(missing)": ("unknown", "未知"),
    "(other)": ("other", "其他"),
    # genders
    "female": ("female", "女"),
    "male": ("male", "男"),
    "other": ("other", "其他"),
    "f": ("female", "女"),
    "m": ("male", "男"),
    # channels
    "web": ("web shop", "網店"),
    "online": ("web shop", "網店"),
    "pos": ("shop counter (POS)", "門市"),
    "store": ("shop counter (POS)", "門市"),
    "email": ("email", "電郵"),
    "sms": ("SMS", "短訊"),
    "whatsapp": ("WhatsApp", "WhatsApp"),
    "line": ("LINE", "LINE"),
    "instagram": ("Instagram", "Instagram"),
    "facebook": ("Facebook", "Facebook"),
    "wechat": ("WeChat", "微信"),
    # countries (ISO codes as the importer stores them)
    "HK": ("Hong Kong", "香港"),
    "TW": ("Taiwan", "台灣"),
    "MO": ("Macao", "澳門"),
    "CN": ("mainland China", "中國內地"),
    "SG": ("Singapore", "新加坡"),
    "MY": ("Malaysia", "馬來西亞"),
    "JP": ("Japan", "日本"),
    "KR": ("South Korea", "南韓"),
    "AU": ("Australia", "澳洲"),
    "GB": ("United Kingdom", "英國"),
    "US": ("United States", "美國"),
    "CA": ("Canada", "加拿大"),
    "Canada": ("Canada", "加拿大"),
}


def _check(lang: str) -> int:
    from segmint.errors import ValidationError, close_matches

    if lang not in LANGS:
        raise ValidationError(
            f"The language of a feature label must be 'en' or 'zh-Hant'. Got {lang!r} instead.",
            suggestions=close_matches(lang, list(LANGS)),
        )
    return LANGS.index(lang)


def is_indicator(feature: str) -> bool:
    """True for a ``column=level`` indicator of a categorical column.

    >>> is_indicator("country=HK"), is_indicator("aov")
    (True, False)
    """
    return "=" in feature


def level_label(level: str, lang: str = "en") -> str:
    """A categorical level in words (the level itself when segmint does not know it).

    >>> level_label("pos"), level_label("(missing)", "zh-Hant"), level_label("VIP")
    ('shop counter (POS)', '未知', 'VIP')
    """
    i = _check(lang)
    known = _LEVELS.get(level) or _LEVELS.get(level.lower())
    return known[i] if known else level


def _column_label(column: str, i: int) -> str:
    known = _FEATURES.get(column)
    return known[i] if known else column.replace("_", " ")


def feature_label(feature: str, lang: str = "en") -> str:
    """The feature (a column or a ``column=level`` indicator) in words; see the module docstring."""
    i = _check(lang)
    if is_indicator(feature):
        column, level = feature.split("=", 1)
        sep = ": " if i == 0 else "："
        return f"{_column_label(column, i)}{sep}{level_label(level, lang)}"
    return _column_label(feature, i)


def _num(x: float) -> str:
    """Three significant digits, but whole numbers with separators from 1,000 (no 4.03e+03)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def condition_text(feature: str, lo: float | None, hi: float | None, lang: str = "en") -> str:
    """``lo < feature ≤ hi`` (either bound may be None) in words; an indicator reads "is (not)"."""
    i = _check(lang)
    if is_indicator(feature) and (lo is None) != (hi is None):
        column, level = feature.split("=", 1)
        col, lv = _column_label(column, i), level_label(level, lang)
        yes = lo is not None  # indicator > threshold (0.5): the level holds
        if i == 0:
            return f"{col} is {lv}" if yes else f"{col} is not {lv}"
        return f"{col}是{lv}" if yes else f"{col}不是{lv}"
    name = feature_label(feature, lang)
    if lo is not None and hi is not None:
        return f"{_num(lo)} < {name} ≤ {_num(hi)}"
    if lo is not None:
        return f"{name} > {_num(lo)}"
    return f"{name} ≤ {_num(hi if hi is not None else float('inf'))}"
