"""Overview (``/``): headline figures, RFM treemap, CLV distribution, segment sizes over
time, data-coverage and segment-quality warnings.

The page itself answers with the headline figures; the slower sections load right after it
with htmx (``/overview/charts``, ``/overview/segments``, ``/overview/warnings``), each cached
per version of the data it reads (:mod:`segmint.server.web.cache`). The charts (RFM of every
customer) and the warnings (the whole ``segments check``) are computed in the background, never
inside a request: until they are ready the section is a placeholder that polls; when the data
changed, the last results are shown with their age while they are brought up to date. The
warnings are kept in ``<workspace>/.web/segment_checks.json`` across restarts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.features.purchases import counted_orders
from segmint.report import fragments
from segmint.server.web.cache import DEFINITIONS, Section, background, cached
from segmint.server.web.core import CurrentUser, _, lang_of, reader, render, web_router
from segmint.workspace import Workspace

__all__ = ["router"]

router = web_router(tags=["web"])

#: "Active" customers bought within this many days before the latest order.
ACTIVE_DAYS = 365

#: Seconds between two background runs of the segment checks while the data keeps changing
#: (live events): at a million customers one run takes minutes of both cores.
WARNINGS_REFRESH_SECONDS = 15 * 60
#: The same for the charts (RFM of every customer: about half a minute at a million).
CHARTS_REFRESH_SECONDS = 60
#: How often a section being computed asks again (htmx ``every``).
POLL = "2s"

#: What each section reads (parts of the data version, segmint.server.web.cache).
HEADLINE_READS = ("orders", "profiles")
CHARTS_READS = ("orders", "rfm", "clv")
WARNINGS_READS = (
    "orders", "profiles", "events", "tags", "identities", "rfm", "clv", "clusters", DEFINITIONS,
)  # fmt: skip

#: Segment history: months shown and segments drawn (the largest now).
HISTORY_MONTHS = 12
HISTORY_SEGMENTS = 8


def _headline(ws: Workspace) -> dict[str, Any]:
    orders = counted_orders(ws.table("orders"), as_of=None)
    row = (
        orders.aggregate(orders=orders.count(), revenue=orders.amount.sum(), last=orders.ts.max())
        .to_pyarrow()
        .to_pylist()[0]
    )
    customers = int(ws.table("profiles").count().execute())
    active = None
    if row["last"] is not None:
        since = row["last"] - dt.timedelta(days=ACTIVE_DAYS)
        recent = orders.filter(orders.ts > ibis.literal(since))
        n_active = int(recent.customer_id.nunique().execute())
        active = n_active / customers if customers else None
    return {
        "customers": customers,
        "orders": int(row["orders"] or 0),
        "revenue": float(row["revenue"] or 0.0),
        "active_share": active,
        "last_order": row["last"],
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: CurrentUser) -> Response:
    """The overview page (headline figures; the rest loads lazily)."""
    head = cached(request, ("overview", "headline"), _headline, depends=HEADLINE_READS)
    t = fragments.translator(lang_of(request), request.app.state.segmint.workspace.config.currency)
    return render(
        request,
        "overview.html",
        {"active": "overview", "head": head, "t": t, "plotly": True,
         "active_days": ACTIVE_DAYS},
    )  # fmt: skip


def _chart_data(ws: Workspace):
    return fragments.gather_sections(ws, ("rfm", "clv"))


@router.get("/overview/charts", response_class=HTMLResponse)
def overview_charts(request: Request, user: CurrentUser) -> Response:
    """RFM treemap, CLV distribution and churn bands (the report's charts); a placeholder that
    polls while they are computed in the background."""
    found = background(
        request, ("overview", "charts"), _chart_data,
        depends=CHARTS_READS, refresh_seconds=CHARTS_REFRESH_SECONDS,
    )  # fmt: skip
    if found.value is None:
        context = {**_pending(found, "/overview/charts"), "card": True}
        return render(request, "_overview_pending.html", context)
    figures = fragments.charts(found.value, lang_of(request))
    return render(request, "_overview_charts.html", {"figures": figures, **_pending(found, None)})


def _pending(found: Section, url: str | None) -> dict[str, Any]:
    """Template values of a background section: its state, age, and the URL to poll."""
    return {
        "state": found.state,
        "age": found.age_minutes(),
        "poll_url": url if found.state == "computing" else None,
        "poll": POLL,
        "section_error": found.error,
    }


def _membership_history(ws: Workspace, today: dt.datetime) -> pd.DataFrame:
    """month, segment, members at each month end (the last point: now) of the largest
    segments, from the recorded entries and exits."""
    h = ws.table("segment_membership")
    entered = (
        h.group_by(segment=h.segment, month=h.entered_at.truncate("M"))
        .aggregate(n=h.count())
        .to_pandas()
    )
    if entered.empty:
        return pd.DataFrame(columns=["month", "segment", "members"])
    gone = h.filter(h.exited_at.notnull())
    exited = (
        gone.group_by(segment=gone.segment, month=gone.exited_at.truncate("M"))
        .aggregate(n=gone.count())
        .to_pandas()
    )
    last = max(pd.Timestamp(today).to_period("M").to_timestamp(), entered["month"].max())
    months = pd.date_range(end=last, periods=HISTORY_MONTHS, freq="MS")
    first = min(entered["month"].min(), months[0])
    grid = pd.date_range(first, last, freq="MS")

    def monthly(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(0, index=grid, columns=[])
        wide = frame.pivot_table(index="month", columns="segment", values="n", aggfunc="sum")
        wide.index = pd.to_datetime(wide.index)
        return wide.reindex(grid, fill_value=0).fillna(0)

    ins, outs = monthly(entered), monthly(exited)
    outs = outs.reindex(columns=ins.columns, fill_value=0)
    members = (ins.cumsum() - outs.cumsum()).loc[months]  # at the end of each month
    top = members.iloc[-1].sort_values(ascending=False).index[:HISTORY_SEGMENTS]
    long = (
        members[top]
        .rename_axis("month")
        .reset_index()
        .melt(id_vars="month", var_name="segment", value_name="members")
    )
    long["members"] = long["members"].astype("int64")
    return long


def _segment_titles(ws: Workspace, lang: str) -> dict[str, str]:
    from segmint import segments

    try:
        sets = segments.load_definitions(ws.path)
    except Exception:  # a broken definition file must not break the overview
        return {}
    key = "title_zh_hant" if lang == "zh-Hant" else "title_en"
    return {s.slug: getattr(s, key) for st in sets for s in st.segments}


@router.get("/overview/segments", response_class=HTMLResponse)
def overview_segments(request: Request, user: CurrentUser) -> Response:
    """Segment sizes over the last 12 months (recorded membership history)."""
    lang = lang_of(request)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    sizes = cached(
        request, ("overview", "history"), lambda ws: _membership_history(ws, now),
        depends=("segment_membership",),
    )  # fmt: skip
    titles = cached(
        request, ("overview", "titles", lang), lambda ws: _segment_titles(ws, lang),
        depends=(DEFINITIONS,),
    )  # fmt: skip
    chart = fragments.segment_sizes_chart(
        sizes, lang, titles=titles, title=_(request, "Segment sizes over time")
    )
    return render(request, "_overview_segments.html", {"chart": chart})


def warnings_file(ws: Workspace) -> Path | None:
    """Where the last segment checks are kept: ``<workspace>/.web/segment_checks.json``."""
    return None if ws.path is None else Path(ws.path) / ".web" / "segment_checks.json"


def _warnings(ws: Workspace) -> dict[str, Any]:
    """Coverage warnings in every language and the segment checks' findings, as JSON data
    (kept in :func:`warnings_file`)."""
    data = fragments.gather_sections(ws, ("coverage",))
    out: dict[str, Any] = {"coverage": {}, "findings": [], "as_of": None, "error": None}
    for lang in ("en", "zh-Hant"):
        out["coverage"][lang] = fragments.coverage_findings(data, lang)
    try:
        report = ws.segments_check()
    except Exception as exc:  # show why instead of failing the page
        out["error"] = str(exc)
    else:
        out["as_of"] = report.as_of.isoformat() if report.as_of is not None else None
        out["findings"] = [f.to_dict() for f in report.findings if f.severity != "info"]
    return out


@router.get("/overview/warnings", response_class=HTMLResponse)
def overview_warnings(request: Request, user: CurrentUser) -> Response:
    """Data-coverage warnings and segment-quality findings (``ws.segments_check``), computed
    in the background: the last results with their age, or a placeholder that polls."""
    ws = reader(request)
    found = background(
        request, ("overview", "warnings"), _warnings, depends=WARNINGS_READS,
        store=warnings_file(ws), refresh_seconds=WARNINGS_REFRESH_SECONDS,
    )  # fmt: skip
    if found.value is None:
        return render(request, "_overview_pending.html", _pending(found, "/overview/warnings"))
    lang = lang_of(request)
    value = found.value
    return render(
        request,
        "_overview_warnings.html",
        {
            "coverage": value["coverage"].get(lang, value["coverage"]["en"]),
            "findings": value["findings"],
            "error": value["error"],
            "checked_as_of": value.get("as_of"),
            **_pending(found, "/overview/warnings"),
        },
    )
