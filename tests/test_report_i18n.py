"""The report's translation catalog: complete in both languages, and its number formats."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest

from segmint.errors import ValidationError
from segmint.report.i18n import CATALOG, LANGS, PLOTLY_LOCALES, Translator, check_lang
from segmint.schema import ID_TYPES, PROFILE_FIELDS


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_in_every_language():
    assert set(CATALOG) == set(LANGS) == set(PLOTLY_LOCALES)
    en = set(CATALOG["en"])
    for lang, texts in CATALOG.items():
        assert set(texts) == en, f"{lang}: missing {en - set(texts)}, extra {set(texts) - en}"


def test_placeholders_agree_between_languages():
    for key, text in CATALOG["en"].items():
        assert _placeholders(CATALOG["zh-Hant"][key]) == _placeholders(text), key


def test_every_profile_field_and_identifier_has_a_label():
    for lang in LANGS:
        t = Translator(lang)
        for f in PROFILE_FIELDS:
            assert t.has(f"field.{f}"), (lang, f)
        for i in ID_TYPES:
            assert t.has(f"id_type.{i}"), (lang, i)


def test_chinese_texts_are_chinese_and_traditional():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    # characters whose simplified form differs; none may appear in a zh-Hant text
    simplified = set("们这来为数据报户览时间类别顾营额电话邮设计选项对应单导购买发关经订")
    for key, text in CATALOG["zh-Hant"].items():
        if key.startswith(("section.", "card.", "col.", "chart.")) or key == "title":
            assert cjk.search(text), f"{key} is not translated: {text!r}"
        assert not simplified & set(text), f"{key} uses simplified characters: {text!r}"


@pytest.mark.parametrize(
    ("given", "suggested"),
    [("zh", "zh-Hant"), ("zh-TW", "zh-Hant"), ("EN", "en"), ("zh-hant", "zh-Hant")],
)
def test_unknown_language_is_refused_with_a_suggestion(given, suggested):
    with pytest.raises(ValidationError) as err:
        check_lang(given)
    assert err.value.suggestions == [suggested]
    assert f"Did you mean '{suggested}'?" in str(err.value)
    assert f"Got '{given}' instead" in str(err.value)


def test_unknown_language_without_close_name():
    with pytest.raises(ValidationError, match=r"must be one of en, zh-Hant\. Got 'fr' instead"):
        Translator("fr")


def test_number_formats_per_language():
    en, zh = Translator("en", currency="HKD"), Translator("zh-Hant", currency="TWD")
    assert en.count(1234567) == zh.count(1234567) == "1,234,567"
    assert en.pct(0.1234) == zh.pct(0.1234) == "12.3%"
    assert en.money(1234.4) == "HKD 1,234"
    assert zh.money(1234.4) == "1,234 新台幣"
    assert en.compact(1_234_567) == "1.2M"
    assert zh.compact(1_234_567) == "123.5萬"
    assert zh.compact(234_567_890) == "2.3億"
    assert en.compact(999) == zh.compact(999) == "999"
    assert en.date(dt.date(2026, 6, 30)) == "30 Jun 2026"
    assert zh.date(dt.date(2026, 6, 30)) == "2026年6月30日"
    assert zh.month(dt.date(2026, 6, 1)) == "2026年6月"
    assert en.count(None) == zh.pct(float("nan")) == "–"


def test_every_key_is_used_by_the_page():
    """No dead texts: each key appears in page.py or the template (labels of fields, identifier
    types and source counts are looked up by prefix)."""
    from pathlib import Path

    import segmint.report

    folder = Path(segmint.report.__file__).parent
    code = (folder / "page.py").read_text(encoding="utf-8") + (
        folder / "templates" / "report.html.j2"
    ).read_text(encoding="utf-8")
    dynamic = ("field.", "id_type.", "sources_n.")
    unused = [
        k
        for k in CATALOG["en"]
        if not k.startswith(dynamic) and f'"{k}"' not in code and f"'{k}'" not in code
    ]
    assert unused == []
