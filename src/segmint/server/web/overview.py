"""Overview (``/``): headline figures, RFM treemap, CLV distribution, segment sizes over
time, data-coverage and segment-quality warnings.

The page itself answers with the number of customers and the order figures (orders, revenue,
active share), which are computed in the background once per version of the orders and kept in
``<workspace>/.web/overview_headline.json`` (``/overview/headline`` while they are computed).
The slower sections load right after the page with htmx (``/overview/charts``,
``/overview/segments``, ``/overview/warnings``), each cached per version of the data it reads
(:mod:`segmint.server.web.cache`). The charts (RFM of every customer) and the warnings (the
whole ``segments check``) are computed in the background, never inside a request: until they
are ready the section is a placeholder that polls; when the data changed, the last results are
shown with their age while they are brought up to date. The warnings are kept in
``<workspace>/.web/segment_checks.json`` across restarts.
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
from segmint.server.web.cache import DEFINITIONS, LOGS, Section, background, cached
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
#: The same for the order figures of the headline: none (a second or two at a million
#: customers; the orders change with imports, not with every live event).
HEADLINE_REFRESH_SECONDS = 0
#: How often a section being computed asks again (htmx ``every``).
POLL = "2s"

#: What each section reads (parts of the data version, segmint.server.web.cache).
HEADLINE_READS = ("orders", LOGS)  # kept across restarts: re-imported orders change the logs
CHARTS_READS = ("orders", "rfm", "clv")
WARNINGS_READS = (
    "orders", "profiles", "events", "tags", "identities", "rfm", "clv", "clusters", DEFINITIONS,
)  # fmt: skip

#: Segment history: months shown and segments drawn (the largest now).
HISTORY_MONTHS = 12
HISTORY_SEGMENTS = 8


def headline_file(ws: Workspace) -> Path | None:
    """Where the order figures are kept: ``<workspace>/.web/overview_headline.json``."""
    return None if ws.path is None else Path(ws.path) / ".web" / "overview_headline.json"


def _headline(ws: Workspace) -> dict[str, Any]:
    """Counted orders, revenue, the latest order and the customers who bought within
    :data:`ACTIVE_DAYS` before it (JSON data: kept in :func:`headline_file`).

    Two passes over the orders: totals, then the distinct buyers of the last year only (its
    time filter skips older storage blocks); the latest order is looked up among recent orders
    first (:meth:`~segmint.workspace.Workspace.latest_order_time`).
    """
    orders = counted_orders(ws.table("orders"), as_of=None)
    row = (
        orders.aggregate(orders=orders.count(), revenue=orders.amount.sum())
        .to_pyarrow()
        .to_pylist()[0]
    )
    last = ws.latest_order_time()
    buyers = None
    if last is not None:
        recent = orders.filter(orders.ts > ibis.literal(last - dt.timedelta(days=ACTIVE_DAYS)))
        buyers = int(recent.customer_id.nunique().execute())
    return {
        "orders": int(row["orders"] or 0),
        "revenue": float(row["revenue"] or 0.0),
        "active_buyers": buyers,
        "last_order": None if last is None else last.isoformat(),
    }


def _customers(ws: Workspace) -> int:
    return int(ws.table("profiles").count().execute())


def _headline_context(request: Request) -> dict[str, Any]:
    """Template values of the headline: the customers (counted now, cheap) and the order
    figures (computed in the background once per version of the orders: a pass over every
    order; the last ones with their age while they are brought up to date)."""
    ws = reader(request)
    customers = cached(request, ("overview", "customers"), _customers, depends=("profiles",))
    found = background(
        request, ("overview", "headline"), _headline, depends=HEADLINE_READS,
        store=headline_file(ws), refresh_seconds=HEADLINE_REFRESH_SECONDS,
    )  # fmt: skip
    head = None
    if found.value is not None:
        value = found.value
        buyers = value["active_buyers"]
        head = {
            **value,
            "last_order": value["last_order"] and dt.datetime.fromisoformat(value["last_order"]),
            "active_share": buyers / customers if buyers is not None and customers else None,
        }
    return {
        "customers": customers,
        "head": head,
        "active_days": ACTIVE_DAYS,
        "t": fragments.translator(lang_of(request), ws.config.currency),
        **_pending(found, "/overview/headline"),
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: CurrentUser) -> Response:
    """The overview page (headline figures; the rest loads lazily)."""
    context = {"active": "overview", "plotly": True, **_headline_context(request)}
    return render(request, "overview.html", context)


@router.get("/overview/headline", response_class=HTMLResponse)
def overview_headline(request: Request, user: CurrentUser) -> Response:
    """The order figures of the headline (orders, revenue, active share): what the page
    polls while they are computed in the background."""
    return render(request, "_overview_headline.html", _headline_context(request))


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
