"""Pieces of the report for other pages (the web app's Overview and Personas; layer 4).

The report's sections and charts, one at a time: the web app shows the same figures with the
same code, in the language of the page, without building the whole report.

Example:
    >>> from segmint.report.data import ReportData
    >>> charts(ReportData(), "zh-Hant")
    {'monthly': None, 'rfm_treemap': None, 'clv_histogram': None, 'churn_bands': None}
    >>> persona_cards(ReportData(), "en")
    []
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup

from segmint.features.purchases import counted_orders
from segmint.report import data as _data
from segmint.report import page as _page
from segmint.report.data import ReportData, parse_as_of
from segmint.report.i18n import PLOTLY_LOCALES, Translator

__all__ = [
    "SECTIONS",
    "charts",
    "coverage_findings",
    "gather_sections",
    "persona_cards",
    "segment_sizes_chart",
    "translator",
]

#: Sections :func:`gather_sections` can gather (the report's own, by name).
SECTIONS = ("overview", "coverage", "identity", "rfm", "abc", "clv", "personas")


def translator(lang: str, currency: str = "HKD") -> Translator:
    """The report's words and number formats (money, dates, shares) in ``lang``."""
    return Translator(lang, currency=currency)


def gather_sections(
    ws: Any, parts: Iterable[str] = SECTIONS, *, as_of: dt.date | str | None = None
) -> ReportData:
    """Run only the report queries of ``parts`` (see :data:`SECTIONS`) on ``ws``.

    RFM, ABC, CLV and personas need orders; without any they stay empty.
    """
    wanted = set(parts)
    unknown = wanted - set(SECTIONS)
    if unknown:
        from segmint.errors import ValidationError, close_matches

        bad = sorted(unknown)[0]
        raise ValidationError(
            f"The report has no section '{bad}'.", suggestions=close_matches(bad, SECTIONS)
        )
    day = parse_as_of(as_of)
    config = ws.config
    data = ReportData(
        workspace_name=getattr(config, "name", "segmint"),
        currency=getattr(config, "currency", "HKD"),
    )
    if wanted & {"overview", "coverage", "identity"}:
        _data._overview(ws, counted_orders(ws.table("orders"), as_of=None), data)
    if "coverage" in wanted:
        _data._coverage(ws, data)
    if "identity" in wanted:
        _data._identity(ws, data)
    has_orders = data.overview.get("orders") if data.overview else None
    if has_orders is None and wanted & {"rfm", "abc", "clv", "personas"}:
        has_orders = counted_orders(ws.table("orders"), as_of=None).count().execute()
    if has_orders:
        data.as_of = day or ws.default_as_of()
        if "rfm" in wanted:
            _data._rfm(ws, data.as_of, data)
        if "abc" in wanted:
            _data._abc(ws, data.as_of, data)
        if "clv" in wanted:
            _data._clv(ws, data)
        if "personas" in wanted:
            _data._personas(ws, data)
    return data


def _charts(lang: str, currency: str) -> _page._Charts:
    t = Translator(lang, currency=currency)
    locale = PLOTLY_LOCALES[t.lang]
    return _page._Charts(t, locale[0] if locale else None)


def charts(data: ReportData, lang: str) -> dict[str, Markup | None]:
    """The report's figures for ``data`` as HTML fragments (None where there is no data):
    ``monthly``, ``rfm_treemap``, ``clv_histogram``, ``churn_bands``. The page must load
    plotly.js itself."""
    c = _charts(lang, data.currency)
    return {
        "monthly": _page._monthly(c, data.monthly),
        "rfm_treemap": _page._treemap(c, data.rfm_segments, _page._segment_info(data, lang)),
        "clv_histogram": _page._clv_histogram(c, data.clv_histogram),
        "churn_bands": _page._churn_bands(c, data.churn_bands),
    }


def coverage_findings(data: ReportData, lang: str) -> list[str]:
    """Data-coverage warnings (fields only one source knows, poorly known or missing fields)."""
    return _page._coverage_findings(Translator(lang, currency=data.currency), data.coverage)


def persona_cards(data: ReportData, lang: str) -> list[dict[str, Any]]:
    """The report's persona cards in ``lang``: name, facts, features, description, rules."""
    if data.personas.empty:
        return []
    return _page._persona_cards(Translator(lang, currency=data.currency), data.personas)


def segment_sizes_chart(
    sizes: pd.DataFrame,
    lang: str,
    *,
    titles: Mapping[str, str] | None = None,
    title: str = "",
    currency: str = "HKD",
) -> Markup | None:
    """Lines of segment sizes over time: ``sizes`` has columns month (Timestamp), segment,
    members; ``titles`` names the segments in ``lang``."""
    if sizes.empty:
        return None
    c = _charts(lang, currency)
    t = c.t
    fig = go.Figure()
    titles = titles or {}
    for i, (slug, rows) in enumerate(sizes.groupby("segment", sort=False)):
        name = _page._esc(titles.get(slug, slug))
        colour = _page.SEGMENT_COLOURS[i % len(_page.SEGMENT_COLOURS)][0]
        fig.add_trace(
            go.Scatter(
                x=[t.month(m) for m in rows["month"]],
                y=rows["members"],
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 2},
                hovertext=[f"{name}: {t.count(n)}" for n in rows["members"]],
                hoverinfo="text",
            )
        )
    c.layout(
        fig,
        title,
        360,
        xaxis={"type": "category"},
        yaxis={"rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
    )
    return c.html(fig, "segment-sizes")
