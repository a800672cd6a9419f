"""The HTML report: self-contained, translated, and its numbers equal independent computations."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pandas as pd
import pyarrow as pa
import pytest

from report_workspace import AS_OF, make_workspace, raw_tables
from segmint.errors import ValidationError
from segmint.report import build_report, gather, render
from segmint.report.data import CONSOLIDATED, ReportData
from segmint.report.i18n import CATALOG, Translator
from segmint.schema import PROFILE_FIELDS, TABLES
from segmint.workspace import Workspace

SECTIONS = (
    "section.overview",
    "section.coverage",
    "section.identity",
    "section.rfm",
    "section.abc",
)


class _Page(HTMLParser):
    """Collects what the tests look at: attributes, headings, tables, script bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[str] = []
        self.h2: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._text: list[str] | None = None
        self._where: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        if tag in ("h2", "td", "th", "script", "style"):
            self._text, self._where = [], tag

    def handle_endtag(self, tag):
        if self._text is None or tag != self._where:
            return
        text = "".join(self._text)
        if tag == "h2":
            self.h2.append(text.strip())
        elif tag in ("td", "th"):
            self.tables[-1][-1].append(text.strip())
        elif tag == "script":
            self.scripts.append(text)
        else:
            self.styles.append(text)
        self._text = self._where = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    w = make_workspace(tmp_path_factory.mktemp("report") / "shop")
    yield w
    w.close()


@pytest.fixture(scope="module")
def data(ws) -> ReportData:
    return gather(ws, as_of=AS_OF)


@pytest.fixture(scope="module")
def html_en(data) -> str:
    return render(data, "en")


@pytest.fixture(scope="module")
def html_zh(data) -> str:
    return render(data, "zh-Hant")


# -- self-contained --------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_plotly_is_inlined_once_and_nothing_is_fetched(lang, html_en, html_zh):
    html = html_en if lang == "en" else html_zh
    page = parse(html)
    assert html.count("* plotly.js v") == 1  # the library's banner: inlined exactly once
    assert sum("Plotly.newPlot" in s for s in page.scripts) >= 5  # the charts
    assert not any(k == "src" for tag, k, _ in page.attrs if tag == "script")
    assert "link" not in page.tags and "iframe" not in page.tags and "img" not in page.tags
    external = [
        (tag, k, v)
        for tag, k, v in page.attrs
        if k in ("src", "href", "action", "data", "poster", "srcset")
        and re.match(r"\s*(https?:|//|ftp:)", v, re.I)
    ]
    assert external == []
    assert all(v.startswith("#") for tag, k, v in page.attrs if k == "href")  # in-page links
    for css in page.styles:
        assert "@import" not in css and "url(" not in css
    # outside the plotly.js library itself, the page holds no web address at all
    ours = [s for s in page.scripts if "* plotly.js v" not in s]
    rest = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    for text in [rest, *ours]:
        assert not re.search(r"https?://", text), re.search(r".{60}https?://.{60}", text)


def test_page_is_utf8_html_with_language(html_en, html_zh):
    assert html_en.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html_en
    assert '<html lang="zh-Hant">' in html_zh
    assert '<meta charset="utf-8">' in html_zh


# -- translated headings -------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_section_headings_in_the_chosen_language(lang, html_en, html_zh):
    page = parse(html_en if lang == "en" else html_zh)
    assert page.h2 == [CATALOG[lang][k] for k in SECTIONS]
    other = "zh-Hant" if lang == "en" else "en"
    for key in SECTIONS:
        assert CATALOG[other][key] not in page.h2


def test_chinese_report_has_chinese_labels(html_zh, data):
    page = parse(html_zh)
    headers = [row for table in page.tables for row in table[:1]]
    assert ["來源", "記錄數", "人數", "訂單數", "營業額", "事件數"] in headers
    t = Translator("zh-Hant", currency="HKD")
    assert t.field("birth_date") in html_zh and "出生日期" in html_zh
    assert "港元" in html_zh and "HKD " not in html_zh.split("</style>", 1)[1].replace(
        "營業額（港元）", ""
    )
    assert "客戶分析報告" in html_zh and "Customer report" not in html_zh


# -- numbers against independent computations ------------------------------------------------------
def test_overview_numbers(data):
    raw = raw_tables()
    o = raw["orders"][raw["orders"]["status"] == "completed"]  # refunds and cancels never count
    assert data.overview["customers"] == 40
    assert data.overview["records"] == len(raw["source_profiles"])
    assert data.overview["orders"] == len(o)
    assert data.overview["revenue"] == pytest.approx(o["amount"].sum())
    src = data.sources.set_index("source")
    assert src.loc["shopify", "records"] == 30
    assert src.loc["pos", "orders"] == (o["source"] == "pos").sum()
    assert src.loc["web", "events"] == 85
    assert data.monthly["orders"].sum() == len(o)
    assert data.monthly["month"].is_monotonic_increasing


def test_coverage_equals_pandas(data):
    sp = raw_tables()["source_profiles"].reindex(columns=["source", *PROFILE_FIELDS])

    def filled(s: pd.Series) -> pd.Series:
        text = s.map(lambda v: v.strip() if isinstance(v, str) else v)
        return s.notna() & ~text.isin(["", "{}", "[]", "null"])

    expected = sp.groupby("source")[list(PROFILE_FIELDS)].agg(lambda s: filled(s).mean()).T
    got = data.coverage.drop(columns=[CONSOLIDATED])
    pd.testing.assert_frame_equal(
        got[sorted(got.columns)], expected[sorted(expected.columns)].astype("float64"),
        check_names=False,
    )  # fmt: skip
    assert data.coverage.loc["email", "whatsapp"] == 0.0
    assert data.coverage.loc["phone", "shopify"] == 0.5
    assert data.coverage.loc["email", CONSOLIDATED] == pytest.approx(30 / 40)
    assert data.coverage.loc["traits", "shopify"] == pytest.approx(6 / 30)  # "{}" is empty


def test_identity_summary(data):
    sp = raw_tables()["source_profiles"]
    k = sp.groupby("customer_id")["source"].nunique().clip(upper=3)
    assert data.sources_per_person.set_index("n_sources")["people"].to_dict() == {
        n: int((k == n).sum()) for n in (1, 2, 3)
    }
    assert data.identity["people"] == 40
    assert data.identity["merged_records"] == len(sp) - sp["customer_id"].nunique()
    assert data.identity["largest"] == 3
    by_type = data.merges_by_type.set_index("id_type")
    assert by_type.loc["phone", "merges"] == 21 and by_type.loc["email", "merges"] == 1
    assert by_type.loc["email", "people"] == 30
    both = set(sp.loc[sp.source == "shopify", "customer_id"]) & set(
        sp.loc[sp.source == "whatsapp", "customer_id"]
    )
    assert data.source_overlap.loc["shopify", "whatsapp"] == len(both) == 16
    assert data.source_overlap.loc["pos", "pos"] == 11


def _independent_rfm_table(ws) -> pd.DataFrame:
    """Segment sizes and means from the raw fixture rows in pandas, given each customer's
    segment from ws.rfm (the segment map itself is tested with the RFM feature)."""
    o = raw_tables()["orders"]
    end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    o = o[(o["status"] == "completed") & (o["ts"] < end)]
    per = o.groupby("customer_id").agg(
        frequency=("order_id", "size"), monetary=("amount", "sum"), last=("ts", "max")
    )
    per["recency"] = (pd.Timestamp(AS_OF) - per["last"].dt.normalize()).dt.days
    labels = ws.rfm(as_of=AS_OF).to_pandas().set_index("customer_id")["segment"]
    per = per.join(labels, how="left")
    assert per["segment"].notna().all() and len(labels) == len(per)
    g = per.groupby("segment")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["monetary"].sum(),
            "mean_recency": g["recency"].mean(),
            "mean_frequency": g["frequency"].mean(),
            "mean_monetary": g["monetary"].mean(),
        }
    )
    out["share"] = out["customers"] / out["customers"].sum()
    out["revenue_share"] = out["revenue"] / out["revenue"].sum()
    return out


def test_segment_numbers_equal_an_independent_computation(ws, data):
    from segmint.features.rfm import RFM_SEGMENTS

    expected = _independent_rfm_table(ws)
    got = data.rfm_segments.set_index("segment")
    assert list(got.index) == list(RFM_SEGMENTS)  # every named segment, in the standard order
    assert got["customers"].sum() == 36  # 36 buyers (4 of the 40 people never ordered)
    shown = got[got["customers"] > 0]
    assert set(shown.index) == set(expected.index)
    for col in expected.columns:
        assert shown[col].to_dict() == pytest.approx(expected.loc[shown.index, col].to_dict())
    assert (got.loc[got["customers"] == 0, ["share", "revenue_share"]] == 0).all().all()


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_segment_table_shows_those_numbers(ws, data, lang, html_en, html_zh):
    from segmint.features.rfm import RFM_SEGMENTS

    expected = _independent_rfm_table(ws)
    t = Translator(lang, currency="HKD")
    page = parse(html_en if lang == "en" else html_zh)
    table = next(tb for tb in page.tables if tb[0][0] == t("col.segment"))
    rows = {r[0]: r for r in table[1:]}
    suffix = "zh" if lang == "zh-Hant" else "en"
    for slug, seg in RFM_SEGMENTS.items():
        title, action = getattr(seg, f"title_{suffix}"), getattr(seg, f"action_{suffix}")
        description = getattr(seg, f"description_{suffix}")
        row = rows[title + description]  # the cell holds the title and, below, the description
        assert row[-1] == action
        if slug in expected.index:
            e = expected.loc[slug]
            assert row[1:7] == [
                t.count(e["customers"]),
                t.pct(e["share"]),
                t.pct(e["revenue_share"]),
                t.num(e["mean_recency"], 0),
                t.num(e["mean_frequency"], 1),
                t.num(e["mean_monetary"], 0),
            ]
        else:
            assert row[1:7] == ["0", "0.0%", "0.0%", "–", "–", "–"]


def test_chinese_report_has_the_segment_titles(html_zh):
    from segmint.features.rfm import RFM_SEGMENTS

    for seg in RFM_SEGMENTS.values():
        assert seg.title_zh in html_zh
    assert "Champions" not in html_zh and "冠軍客戶" in html_zh


def test_abc_classes_and_curve(ws, data):
    o = raw_tables()["orders"]
    o = o[(o["status"] == "completed") & (o["ts"] < pd.Timestamp(AS_OF) + pd.Timedelta(days=1))]
    rev = o.groupby("customer_id")["amount"].sum().sort_values(ascending=False)
    classes = data.abc_classes.set_index("abc_class")
    assert list(classes.index) == ["A", "B", "C"]
    assert classes["customers"].sum() == len(rev)
    assert classes["revenue"].sum() == pytest.approx(rev.sum())
    # A: the top customers up to and including the one who crosses 80 % of revenue
    above = rev.cumsum().shift(fill_value=0) / rev.sum()
    assert classes.loc["A", "customers"] == (above < 0.8).sum()
    assert classes["threshold"].iloc[-1] == pytest.approx(1.0)
    curve = data.abc_curve
    assert curve.iloc[0].tolist() == [0.0, 0.0] and curve.iloc[-1].tolist() == pytest.approx([1, 1])
    assert curve["customer_share"].is_monotonic_increasing
    assert curve["revenue_share"].is_monotonic_increasing
    # the curve is concave: the top third of customers bring more than a third of revenue
    i = (curve["customer_share"] - 1 / 3).abs().idxmin()
    assert curve.loc[i, "revenue_share"] > 0.5


def test_as_of_defaults_to_the_latest_order_day(ws):
    data = gather(ws)
    assert data.as_of == dt.date(2026, 7, 15)  # the late order (after AS_OF) is the latest
    assert data.rfm_segments["customers"].sum() == 36


# -- edge cases ------------------------------------------------------------------------------------
def test_empty_workspace_renders_with_no_data_notes():
    with Workspace() as empty:
        html = build_report(empty, lang="zh-Hant")
    page = parse(html)
    assert page.h2 == [CATALOG["zh-Hant"][k] for k in SECTIONS]
    assert CATALOG["zh-Hant"]["no_orders"] in html
    assert CATALOG["zh-Hant"]["no_profiles"] in html


def test_render_needs_no_database():
    data = ReportData(workspace_name="hand-made", currency="TWD", as_of=dt.date(2026, 1, 31))
    data.overview = {
        "customers": 12_345, "records": 20_000, "orders": 3, "buyers": 2, "revenue": 1500.0,
        "aov": 500.0, "first_order": dt.datetime(2025, 1, 2), "last_order": dt.datetime(2026, 1, 3),
        "events": 0, "sources": 1,
    }  # fmt: skip
    data.monthly = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "orders": [1, 2],
            "revenue": [1.0, 2.0],
        }
    )
    html = render(data, "zh-Hant")
    assert "1.2萬" in html and "12,345" in html  # compact card value, exact in the tooltip
    assert "2026年1月31日" in html and "hand-made" in html
    assert "2025年1月" in html  # month labels of the chart


def test_user_text_is_escaped(tmp_path):
    with Workspace() as w:
        row = {"record_id": "x1", "source": "<script>alert(1)</script>", "customer_id": "c1"}
        w.con.insert(
            "source_profiles",
            pa.Table.from_pylist([row], schema=TABLES["source_profiles"].to_pyarrow()),
        )
        html = build_report(w)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_language_is_refused_before_any_work(ws, tmp_path):
    out = tmp_path / "r.html"
    with pytest.raises(ValidationError, match="Did you mean 'zh-Hant'"):
        ws.report(out, lang="zh-TW")
    with pytest.raises(ValidationError, match="Got 'fr' instead"):
        build_report(ws, lang="fr")
    assert not out.exists()


def test_bad_as_of_is_refused(ws):
    with pytest.raises(ValidationError, match=r"YYYY-MM-DD\. Got '30/06/2026' instead"):
        build_report(ws, as_of="30/06/2026")


def test_report_written_into_the_workspace_by_default(tmp_path):
    w = make_workspace(tmp_path / "shop", language="zh-Hant")
    try:
        path = w.report(as_of=AS_OF)
        assert path == (tmp_path / "shop" / "report.html").resolve() and path.is_absolute()
        assert '<html lang="zh-Hant">' in path.read_text(encoding="utf-8")  # the config's language
        assert w.report(tmp_path, lang="en") == (tmp_path / "report.html").resolve()  # a folder
        with pytest.raises(ValidationError, match="folder must exist"):
            w.report(tmp_path / "missing" / "r.html")
        assert not list(tmp_path.glob("**/.report-*"))  # no temporary files left behind
    finally:
        w.close()


def test_workspace_without_folder_needs_a_path(tmp_path):
    with Workspace() as w:
        with pytest.raises(ValidationError, match="report path must be given"):
            w.report()
        path = w.report(tmp_path / "mem.html", lang="zh-Hant")
    assert path.read_text(encoding="utf-8").count("* plotly.js v") == 1
