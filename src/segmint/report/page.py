"""Turn :class:`~segmint.report.data.ReportData` into one self-contained HTML page (layer 4).

No database here: frames in, text out. plotly.js is inlined once, from the plotly wheel, in the
page head; each chart is a ``<div>`` with a small ``Plotly.newPlot`` call. Nothing is fetched when
the page opens (no CDN, no web fonts, no map tiles), so the file can be mailed and opened offline.

Example:
    >>> from segmint.report.data import ReportData
    >>> html = render(ReportData(), lang="zh-Hant")
    >>> "客戶分析報告" in html
    True
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from typing import Any

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from segmint.report.data import CONSOLIDATED, ReportData
from segmint.report.i18n import PLOTLY_LOCALES, Translator

__all__ = ["FONT_STACK", "render"]

#: System fonts only (nothing to download), with CJK fallbacks for Traditional Chinese.
FONT_STACK = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
    '"PingFang TC", "Microsoft JhengHei", "Noto Sans CJK TC", "Noto Sans TC", '
    '"Source Han Sans TC", "WenQuanYi Micro Hei", sans-serif'
)

ACCENT = "#0f766e"
ACCENT_2 = "#f59e0b"
INK = "#1f2933"
MUTED = "#6b7280"
GRID = "#e5e7eb"

#: (fill, text) colours of the segments in the standard RFM order: best (green) to lost (grey).
SEGMENT_COLOURS = (
    ("#166534", "#ffffff"),
    ("#15803d", "#ffffff"),
    ("#4ade80", INK),
    ("#0284c7", "#ffffff"),
    ("#7dd3fc", INK),
    ("#facc15", INK),
    ("#fb923c", INK),
    ("#ea580c", "#ffffff"),
    ("#b91c1c", "#ffffff"),
    ("#9ca3af", INK),
    ("#4b5563", "#ffffff"),
)
ABC_COLOURS = {"A": "#0f766e", "B": "#f59e0b", "C": "#9ca3af"}
CHURN_COLOURS = {"low": "#15803d", "medium": "#f59e0b", "high": "#b91c1c"}

#: Below this consolidated share a field is reported as poorly known.
LOW_COVERAGE = 0.5


def _esc(text: object) -> str:
    """Escape user data shown inside plotly labels (plotly.js reads a subset of HTML there)."""
    return html_lib.escape(str(text), quote=False)


class _Charts:
    """Builds the page's figures as HTML fragments with stable ids and shared styling."""

    def __init__(self, t: Translator, locale: str | None) -> None:
        self.t = t
        self.config: dict[str, Any] = {
            "displaylogo": False,
            "responsive": True,
            "modeBarButtons": [["toImage"]],
        }
        if locale:
            self.config["locale"] = locale

    def layout(self, fig: go.Figure, title: str, height: int, **extra: Any) -> None:
        fig.update_layout(
            template="plotly_white",
            title={"text": _esc(title), "x": 0, "xanchor": "left", "font": {"size": 16}},
            font={"family": FONT_STACK, "color": INK, "size": 13},
            height=height,
            margin={"l": 10, "r": 10, "t": 50, "b": 10},
            separators=".,",
            hoverlabel={"font": {"family": FONT_STACK}},
            **extra,
        )

    def html(self, fig: go.Figure, name: str) -> Markup:
        config = {**self.config, "toImageButtonOptions": {"filename": f"segmint-{name}"}}
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            config=config,
            div_id=f"chart-{name}",
            default_width="100%",
            default_height=f"{fig.layout.height or 400}px",
            validate=True,
        )
        return Markup(div)  # plotly escapes the JSON it embeds ("<" becomes \u003c)


# -- figures ---------------------------------------------------------------------------------------
def _count_step(top: int, ticks: int = 5) -> int:
    """A whole tick step (1, 2, 5 × 10^k) giving about ``ticks`` ticks up to ``top``.

    >>> _count_step(35), _count_step(3), _count_step(12_000)
    (10, 1, 5000)
    """
    raw = max(top / ticks, 1)
    power = 10 ** (len(str(int(raw))) - 1)
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _monthly(c: _Charts, monthly: pd.DataFrame) -> Markup | None:
    if monthly.empty:
        return None
    t = c.t
    months = [t.month(m) for m in monthly["month"]]
    fig = go.Figure()
    fig.add_bar(
        x=months,
        y=monthly["revenue"],
        name=t("chart.monthly.revenue", currency=t.currency_name()),
        marker_color=ACCENT,
        hovertext=[t.money(v) for v in monthly["revenue"]],
        hoverinfo="x+text",
    )
    fig.add_scatter(
        x=months,
        y=monthly["orders"],
        name=t("chart.monthly.orders"),
        yaxis="y2",
        mode="lines+markers",
        line={"color": ACCENT_2, "width": 2},
        hovertext=[t.count(v) for v in monthly["orders"]],
        hoverinfo="x+text",
    )
    c.layout(
        fig,
        t("chart.monthly.title"),
        340,
        yaxis={
            "title": t("chart.monthly.revenue", currency=t.currency_name()),
            "rangemode": "tozero",
        },
        yaxis2={
            "title": t("chart.monthly.orders"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "tick0": 0,
            "dtick": _count_step(int(monthly["orders"].max())),
        },
        xaxis={"title": t("chart.monthly.month"), "type": "category"},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        bargap=0.25,
    )
    return c.html(fig, "monthly")


def _source_label(t: Translator, source: str) -> str:
    if source == CONSOLIDATED:
        return t("coverage.consolidated")
    return source or t("source.unknown")


def _coverage(c: _Charts, coverage: pd.DataFrame) -> Markup | None:
    if coverage.empty or not len(coverage.columns):
        return None
    t = c.t
    cols = list(coverage.columns)
    x = [_esc(_source_label(t, s)) for s in cols]
    y = [_esc(t.field(f)) for f in coverage.index]
    z = coverage.to_numpy()
    text = [[t.pct(v, 0) for v in row] for row in z]
    hover = [
        [
            _esc(t("coverage.hover", field=t.field(f), source=_source_label(t, s), share=t.pct(v)))
            for s, v in zip(cols, row, strict=True)
        ]
        for f, row in zip(coverage.index, z, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            zmin=0,
            zmax=1,
            colorscale=[[0, "#fef2f2"], [0.5, "#fde68a"], [1, ACCENT]],
            xgap=2,
            ygap=2,
            colorbar={"tickformat": ".0%", "thickness": 12, "len": 0.6},
        )
    )
    c.layout(
        fig,
        t("coverage.chart.title"),
        140 + 26 * len(y),
        xaxis={"side": "top", "title": t("coverage.axis.source"), "tickangle": 0},
        yaxis={"autorange": "reversed"},
    )
    fig.update_layout(margin={"t": 90})
    return c.html(fig, "coverage")


def _sources_per_person(c: _Charts, spp: pd.DataFrame) -> Markup | None:
    if spp.empty or not spp["people"].sum():
        return None
    t = c.t
    labels = [t(f"sources_n.{min(int(k), 3)}") for k in spp["n_sources"]]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=spp["people"],
            text=[t.count(v) for v in spp["people"]],
            textposition="outside",
            marker_color=[ACCENT, "#14b8a6", "#99f6e4"][: len(labels)],
            hoverinfo="x+text",
            cliponaxis=False,
        )
    )
    c.layout(
        fig,
        t("chart.sources_per_person.title"),
        320,
        xaxis={"title": t("chart.sources_per_person.x"), "type": "category"},
        yaxis={"title": t("chart.sources_per_person.y"), "rangemode": "tozero"},
    )
    return c.html(fig, "sources-per-person")


def _overlap(c: _Charts, overlap: pd.DataFrame) -> Markup | None:
    if overlap.empty or len(overlap) < 2:
        return None
    t = c.t
    names = [_esc(_source_label(t, s)) for s in overlap.index]
    z = overlap.to_numpy()
    hover = [
        [
            _esc(
                t("chart.overlap.hover", a=_source_label(t, a), b=_source_label(t, b), n=t.count(v))
            )
            for b, v in zip(overlap.columns, row, strict=True)
        ]
        for a, row in zip(overlap.index, z, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=[[t.count(v) for v in row] for row in z],
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale=[[0, "#f8fafc"], [1, ACCENT]],
            showscale=False,
            xgap=2,
            ygap=2,
        )
    )
    c.layout(
        fig,
        t("chart.overlap.title"),
        120 + 50 * len(names),
        xaxis={"side": "top", "tickangle": 0},
        yaxis={"autorange": "reversed"},
    )
    fig.update_layout(margin={"t": 80})
    return c.html(fig, "overlap")


def _treemap(c: _Charts, seg: pd.DataFrame, info: dict[str, dict[str, str]]) -> Markup | None:
    shown = seg[seg["customers"] > 0]
    if shown.empty:
        return None
    t = c.t
    colour = {s: SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)] for i, s in enumerate(seg["segment"])}
    labels = [_esc(info.get(s, {}).get("title", s)) for s in shown["segment"]]
    fig = go.Figure(
        go.Treemap(
            labels=labels,
            parents=[""] * len(labels),
            values=shown["customers"],
            ids=list(shown["segment"]),
            text=[
                f"{t.count(n)} · {t.pct(sh)}"
                for n, sh in zip(shown["customers"], shown["share"], strict=True)
            ],
            texttemplate="<b>%{label}</b><br>%{text}",
            hovertext=[
                _esc(
                    t(
                        "chart.treemap.hover",
                        segment=info.get(s, {}).get("title", s),
                        n=t.count(n),
                        share=t.pct(sh),
                        revenue_share=t.pct(rs),
                    )
                )
                for s, n, sh, rs in zip(
                    shown["segment"],
                    shown["customers"],
                    shown["share"],
                    shown["revenue_share"],
                    strict=True,
                )
            ],
            hoverinfo="text",
            marker={"colors": [colour[s][0] for s in shown["segment"]], "line": {"width": 2}},
            textfont={"color": [colour[s][1] for s in shown["segment"]], "size": 14},
            branchvalues="total",
            sort=False,
            tiling={"pad": 2},
        )
    )
    c.layout(fig, t("chart.treemap.title"), 460)
    return c.html(fig, "rfm-treemap")


def _abc_curve(c: _Charts, curve: pd.DataFrame, classes: pd.DataFrame) -> Markup | None:
    if curve.empty:
        return None
    t = c.t
    fig = go.Figure()
    # shaded class bands along the customer axis
    start = 0.0
    for _, row in classes.iterrows():
        end = start + float(row["customer_share"])
        colour = ABC_COLOURS.get(str(row["abc_class"]), "#e5e7eb")
        fig.add_vrect(x0=start, x1=end, fillcolor=colour, opacity=0.10, line_width=0)
        fig.add_annotation(
            x=(start + end) / 2,
            y=1.0,
            yref="paper",
            yanchor="bottom",
            text=f"<b>{_esc(t('abc.class', abc_class=row['abc_class']))}</b>",
            showarrow=False,
            font={"color": colour},
        )
        if end < 0.999:
            fig.add_vline(x=end, line={"color": colour, "dash": "dot", "width": 1})
        start = end
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name=t("chart.abc.equal"),
        line={"color": MUTED, "dash": "dash", "width": 1},
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=curve["customer_share"],
        y=curve["revenue_share"],
        mode="lines",
        name=t("chart.abc.curve"),
        line={"color": ACCENT, "width": 3},
        hovertext=[
            _esc(t("chart.abc.hover", x=t.pct(x), y=t.pct(y)))
            for x, y in zip(curve["customer_share"], curve["revenue_share"], strict=True)
        ],
        hoverinfo="text",
    )
    c.layout(
        fig,
        t("chart.abc.title"),
        440,
        xaxis={"title": t("chart.abc.x"), "tickformat": ".0%", "range": [-0.005, 1.02]},
        yaxis={"title": t("chart.abc.y"), "tickformat": ".0%", "range": [-0.005, 1.03]},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 0.02, "yanchor": "bottom"},
    )
    fig.update_layout(margin={"t": 80})
    return c.html(fig, "abc")


def _clv_histogram(c: _Charts, hist: pd.DataFrame) -> Markup | None:
    if hist.empty or not hist["customers"].sum():
        return None
    t = c.t
    last = len(hist) - 1
    labels, hover = [], []
    for i, r in enumerate(hist.itertuples()):
        start = t.num(r.bin_start, 0)
        end = "+" if i == last else t.num(r.bin_end, 0)
        labels.append(f"{start}+" if i == last else f"{start}–{end}")
        hover.append(_esc(t("chart.clv.hover", start=start, end=end, n=t.count(r.customers))))
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=hist["customers"],
            marker_color=ACCENT,
            hovertext=hover,
            hoverinfo="text",
        )
    )
    c.layout(
        fig,
        t("chart.clv.title"),
        340,
        xaxis={"title": t("chart.clv.x", currency=t.currency_name()), "type": "category"},
        yaxis={"title": t("chart.clv.y"), "rangemode": "tozero"},
        bargap=0.05,
    )
    return c.html(fig, "clv-histogram")


def _churn_bands(c: _Charts, bands: pd.DataFrame) -> Markup | None:
    if bands.empty or not bands["customers"].sum():
        return None
    t = c.t
    names = [_churn_label(t, b) for b in bands["churn_risk"]]
    colours = [CHURN_COLOURS.get(str(b), MUTED) for b in bands["churn_risk"]]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=bands["customers"],
            text=[
                f"{t.count(n)} · {t.pct(sh)}"
                for n, sh in zip(bands["customers"], bands["share"], strict=True)
            ],
            textposition="outside",
            marker_color=colours,
            hovertext=[
                _esc(t("chart.churn.hover", band=name, n=t.count(n), share=t.pct(sh)))
                for name, n, sh in zip(names, bands["customers"], bands["share"], strict=True)
            ],
            hoverinfo="text",
            cliponaxis=False,
        )
    )
    c.layout(
        fig,
        t("chart.churn.title"),
        320,
        xaxis={"type": "category"},
        yaxis={"title": t("chart.clv.y"), "rangemode": "tozero"},
    )
    return c.html(fig, "churn-bands")


_CHURN_KEYS = {"low": "churn.band.low", "medium": "churn.band.medium", "high": "churn.band.high"}


def _churn_label(t: Translator, band: str) -> str:
    key = _CHURN_KEYS.get(str(band))
    return t(key) if key else str(band)


# -- tables and findings ---------------------------------------------------------------------------
def _table(
    columns: Sequence[tuple[str, bool]],
    rows: list[list[Any]],
    *,
    classes: Sequence[str] = (),
    css: str = "",
) -> dict[str, Any]:
    """A table for the template: ``columns`` = (heading, is_number) pairs; a cell is a string or
    ``{"text": ..., "sub": ...}`` (a second, smaller line)."""
    return {"columns": list(columns), "rows": rows, "row_classes": list(classes), "css": css}


def _coverage_findings(t: Translator, coverage: pd.DataFrame) -> list[str]:
    if coverage.empty:
        return []
    sep = "、" if t.zh else ", "
    sources = [s for s in coverage.columns if s != CONSOLIDATED]
    found: list[str] = []
    if len(sources) > 1:
        only: dict[str, list[str]] = {}
        for f, row in coverage[sources].iterrows():
            having = [s for s in sources if row[s] > 0]
            if len(having) == 1:
                only.setdefault(having[0], []).append(t.field(f))
        for s in sources:
            if s in only:
                found.append(
                    t("coverage.single", source=_source_label(t, s), fields=sep.join(only[s]))
                )
    base = coverage[CONSOLIDATED] if CONSOLIDATED in coverage else coverage[sources].max(axis=1)
    low = [
        t("coverage.low_item", field=t.field(f), share=t.pct(v))
        for f, v in base.items()
        if 0 < v < LOW_COVERAGE
    ]
    if low:
        found.append(t("coverage.low", fields=sep.join(low)))
    missing = [t.field(f) for f, v in base.items() if v == 0]
    if missing:
        found.append(t("coverage.missing", fields=sep.join(missing)))
    return found


def _segment_info(data: ReportData, lang: str) -> dict[str, dict[str, str]]:
    info = {}
    for _, row in data.segment_info.iterrows():
        suffix = "zh" if lang == "zh-Hant" else "en"
        info[row["segment"]] = {
            "title": row[f"title_{suffix}"],
            "action": row[f"action_{suffix}"],
            "description": row[f"description_{suffix}"],
        }
    return info


def _text(x: Any) -> str:
    """Text of a frame cell; empty for None / NaN."""
    return "" if x is None or (isinstance(x, float) and pd.isna(x)) else str(x)


def _persona_cards(t: Translator, personas: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict per persona for the template (text already in the report language)."""
    from segmint.models.feature_labels import level_label

    suffix = "zh" if t.zh else "en"
    lang = "zh-Hant" if t.zh else "en"
    cards = []
    for _, r in personas.iterrows():
        value_share = r["value_share"]
        facts = [
            (t("persona.customers"), t("persona.size", n=t.count(r["customers"]),
                                         share=t.pct(r["share"]))),
            (t("persona.value_share"), t.pct(value_share) if pd.notna(value_share) else "–"),
            (t("persona.channel"),
             level_label(_text(r["preferred_channel"]), lang) if _text(r["preferred_channel"])
             else "–"),
            (t("persona.offer"), _text(r[f"offer_{suffix}"]) or "–"),
        ]  # fmt: skip
        features = [
            t(
                "persona.feature",
                feature=f.get("label_zh_hant" if t.zh else "label_en") or f["feature"],
                d=f"{f['effect_size']:+.2f}",
                inside=t.num(f["cluster_mean"], 2),
                rest=t.num(f["rest_mean"], 2),
            )
            for f in (r["features"] or [])
        ]
        auc = ""
        if pd.notna(r["tree_auc"]):
            auc = t("persona.auc", tree=t.num(r["tree_auc"], 3), lda=t.num(r["lda_auc"], 3))
        cards.append(
            {
                "cluster": int(r["cluster"]),
                "name": r[f"name_{suffix}"],
                "facts": facts,
                "features": features,
                "description": _text(r[f"description_{suffix}"]),
                "rules": list(r["rules_zh" if t.zh else "rules"] or []),
                "auc": auc,
            }
        )
    return cards


def render(data: ReportData, lang: str = "en", *, version: str | None = None) -> str:
    """Render the report page in ``lang`` (``"en"`` or ``"zh-Hant"``) and return its HTML."""
    import plotly.offline

    t = Translator(lang, currency=data.currency)
    locale = PLOTLY_LOCALES[t.lang]
    charts = _Charts(t, locale[0] if locale else None)
    ov, ident = data.overview, data.identity
    if version is None:
        from segmint import __version__ as version

    as_of = t.date(data.as_of) if data.as_of else t("as_of_latest")
    info = _segment_info(data, t.lang)

    cards = []
    if ov:
        cards = [
            (t("card.customers"), t.compact(ov["customers"]), t.count(ov["customers"])),
            (t("card.records"), t.compact(ov["records"]), t.count(ov["records"])),
            (t("card.orders"), t.compact(ov["orders"]), t.count(ov["orders"])),
            (t("card.revenue"), t.compact_money(ov["revenue"]), t.money(ov["revenue"], 2)),
            (t("card.aov"), t.money(ov.get("aov")), t.money(ov.get("aov"), 2)),
            (t("card.events"), t.compact(ov["events"]), t.count(ov["events"])),
            (t("card.sources"), t.count(ov["sources"]), t.count(ov["sources"])),
            (
                t("card.date_range"),
                t("date_range", start=t.date(ov["first_order"]), end=t.date(ov["last_order"]))
                if ov.get("first_order")
                else "–",
                "",
            ),
        ]
    sources_table = _table(
        [
            (t("col.source"), False),
            (t("col.records"), True),
            (t("col.people"), True),
            (t("col.orders"), True),
            (t("col.revenue"), True),
            (t("col.events"), True),
        ],
        [
            [
                _source_label(t, r.source),
                t.count(r.records),
                t.count(r.people),
                t.count(r.orders),
                t.money(r.revenue),
                t.count(r.events),
            ]
            for r in data.sources.itertuples()
        ],
    )
    events_table = _table(
        [(t("col.event"), False), (t("col.count"), True)],
        [[r.event, t.count(r.count)] for r in data.top_events.itertuples()],
    )
    coverage_table = _table(
        [(t("col.field"), False)] + [(_source_label(t, s), True) for s in data.coverage.columns],
        [
            [t.field(f), *(t.pct(v) for v in row)]
            for f, row in zip(data.coverage.index, data.coverage.to_numpy(), strict=True)
        ],
    )
    identity_cards = []
    if ident:
        identity_cards = [
            (t("card.records"), t.count(ident["records"])),
            (t("card.people"), t.count(ident["people"])),
            (t("card.merged_records"), t.count(ident["merged_records"])),
            (t("card.merges"), t.count(ident["merges"])),
            (t("card.records_per_person"), t.num(ident["records_per_person"], 2)),
            (t("card.largest"), t.count(ident["largest"])),
        ]
    merges_table = _table(
        [(t("col.id_type"), False), (t("col.merges"), True), (t("col.people_with_id"), True)],
        [
            [t.id_type(r.id_type), t.count(r.merges), t.count(r.people)]
            for r in data.merges_by_type.itertuples()
        ],
    )
    seg = data.rfm_segments
    segment_table = _table(
        [
            (t("col.segment"), False),
            (t("col.customers"), True),
            (t("col.share"), True),
            (t("col.revenue_share"), True),
            (t("col.mean_recency"), True),
            (t("col.mean_frequency"), True),
            (t("col.mean_monetary", currency=t.currency_name()), True),
            (t("col.action"), False),
        ],
        [
            [
                {
                    "text": info.get(r.segment, {}).get("title", r.segment),
                    "sub": info.get(r.segment, {}).get("description", ""),
                },
                t.count(r.customers),
                t.pct(r.share),
                t.pct(r.revenue_share),
                t.num(r.mean_recency, 0),
                t.num(r.mean_frequency, 1),
                t.num(r.mean_monetary, 0),
                info.get(r.segment, {}).get("action", ""),
            ]
            for r in seg.itertuples()
        ],
        classes=["empty" if not r.customers else "" for r in seg.itertuples()],
        css="segments",
    )
    abc = data.abc_classes
    abc_table = _table(
        [
            (t("col.class"), False),
            (t("col.customers"), True),
            (t("col.customer_share"), True),
            (t("col.revenue"), True),
            (t("col.revenue_share"), True),
            (t("col.threshold"), True),
        ],
        [
            [
                t("abc.class", abc_class=r.abc_class),
                t.count(r.customers),
                t.pct(r.customer_share),
                t.money(r.revenue),
                t.pct(r.revenue_share),
                t.pct(r.threshold, 0),
            ]
            for r in abc.itertuples()
        ],
    )
    abc_intro = ""
    if len(abc) >= 2:
        a_cut, b_cut = float(abc["threshold"].iloc[0]), float(abc["threshold"].iloc[1])
        abc_intro = t("abc.intro", a=t.pct(a_cut, 0), b=t.pct(b_cut - a_cut, 0))

    sections = [
        ("overview", t("section.overview")),
        ("coverage", t("section.coverage")),
        ("identity", t("section.identity")),
        ("rfm", t("section.rfm")),
        ("abc", t("section.abc")),
    ]
    # CLV and churn risk: only when the workspace holds a clv table (ws.clv())
    clv = data.clv
    clv_cards, churn_table = [], _table([], [])
    if clv:
        sections.append(("clv", t("section.clv")))
        clv_cards = [
            (t("card.clv_customers"), t.count(clv["customers"])),
            (t("card.clv_total"), t.compact_money(clv["total"])),
            (t("card.clv_mean"), t.money(clv.get("mean"))),
            (t("card.clv_median"), t.money(clv.get("median"))),
            (t("card.clv_top_decile"), t.pct(clv.get("top_decile_share"))),
        ]
        churn_table = _table(
            [
                (t("col.band"), False),
                (t("col.customers"), True),
                (t("col.share"), True),
                (t("col.clv"), True),
                (t("col.clv_share"), True),
                (t("col.mean_p_alive"), True),
            ],
            [
                [
                    _churn_label(t, r.churn_risk),
                    t.count(r.customers),
                    t.pct(r.share),
                    t.money(r.clv),
                    t.pct(r.clv_share),
                    t.pct(r.mean_p_alive),
                ]
                for r in data.churn_bands.itertuples()
            ],
            classes=["empty" if not r.customers else "" for r in data.churn_bands.itertuples()],
        )
    # persona cards: only when the workspace holds a clusters table (ws.clusters(save=True))
    persona_cards = _persona_cards(t, data.personas)
    if persona_cards:
        sections.append(("personas", t("section.personas")))
    plotly_locale = None
    if locale:
        plotly_locale = {"moduleType": "locale", "name": locale[0], "dictionary": locale[1]}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("segmint.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = env.get_template("report.html.j2").render(
        t=t,
        lang=t.lang,
        font_stack=FONT_STACK,
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        plotly_locale=plotly_locale,
        title=t("title"),
        subtitle=t(
            "subtitle",
            name=data.workspace_name,
            as_of=as_of,
            generated=t.timestamp(data.generated_at),
        ),
        footer=t("footer", version=version),
        sections=sections,
        has_orders=bool(ov.get("orders")),
        has_records=bool(ident.get("records")),
        has_rfm=bool(len(seg) and seg["customers"].sum()),
        cards=cards,
        sources_table=sources_table,
        events_table=events_table,
        monthly_chart=_monthly(charts, data.monthly),
        coverage_chart=_coverage(charts, data.coverage),
        coverage_findings=_coverage_findings(t, data.coverage),
        coverage_table=coverage_table,
        identity_cards=identity_cards,
        sources_per_person_chart=_sources_per_person(charts, data.sources_per_person),
        merges_table=merges_table,
        overlap_chart=_overlap(charts, data.source_overlap),
        rfm_intro=t(
            "rfm.intro",
            bins=data.rfm_bins,
            as_of=as_of,
            customers=t.count(seg["customers"].sum() if len(seg) else 0),
        ),
        treemap_chart=_treemap(charts, seg, info),
        segment_table=segment_table,
        abc_intro=abc_intro,
        abc_chart=_abc_curve(charts, data.abc_curve, abc),
        abc_table=abc_table,
        has_clv=bool(clv),
        clv_intro=t("clv.intro", as_of=t.date(clv["as_of"]) if clv.get("as_of") else as_of),
        clv_cards=clv_cards,
        clv_top_decile=t("clv.top_decile", share=t.pct(clv.get("top_decile_share"))),
        clv_chart=_clv_histogram(charts, data.clv_histogram) if clv else None,
        churn_chart=_churn_bands(charts, data.churn_bands) if clv else None,
        churn_table=churn_table,
        persona_cards=persona_cards,
    )
    return page
