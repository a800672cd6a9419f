"""Campaigns pages: every sent broadcast, and per campaign, variant and segment the KPIs
(sent, delivered, read, clicked, converted, revenue, ROI), the A/B tests with their p-values,
intervals and plain-language verdicts in the session language, and the lift over the holdout.

The numbers are ``ws.campaign_kpis`` and ``ws.campaign_ab`` as they are (docs/campaigns.md):
the page only formats them.

Example:
    >>> sorted(r.path for r in router.routes)
    ['/campaigns', '/campaigns/{campaign_id}']
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.activation.broadcast import HOLDOUT
from segmint.errors import ValidationError
from segmint.models.experiments import format_p
from segmint.server.web.core import CurrentUser, lang_of, reader, redirect, render, web_router

__all__ = ["router"]

router = web_router()

#: Columns of the KPI tables, in order.
COLUMNS = ("recipients", "sent", "delivered", "read", "clicked", "converted", "orders", "revenue")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, user: CurrentUser) -> Response:
    """Every campaign with its recipients per status (sent ones first)."""
    ws = reader(request)
    rows = ws.campaigns().to_pyarrow().to_pylist()
    r = ws.table("campaign_recipients")
    counts: dict[str, dict[str, int]] = {}
    per = r.group_by(["campaign_id", "status"]).aggregate(n=r.count())
    for item in per.to_pyarrow().to_pylist():
        counts.setdefault(item["campaign_id"], {})[item["status"]] = int(item["n"])
    for row in rows:
        row["counts"] = counts.get(row["campaign_id"], {})
        row["recipients"] = sum(row["counts"].values())
    sent = [x for x in rows if x["sent_at"] is not None]
    drafts = [x for x in rows if x["sent_at"] is None]
    return render(
        request, "campaigns.html", {"active": "campaigns", "sent": sent, "drafts": drafts}
    )


def _test_row(test, lang: str, kind: str) -> dict[str, Any]:
    row = {
        "kind": kind,
        "a": test.a.name,
        "b": test.b.name,
        "test": test.test,
        "p_value": test.p_value,
        "p_text": format_p(test.p_value),
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "difference": test.difference,
        "significant": test.significant,
        "verdict": test.verdict(lang),
    }
    if kind in ("conversion", "holdout"):
        row.update(
            rate_a=test.a.rate,
            rate_b=test.b.rate,
            z=test.z,
            chi2=test.chi2,
            needed=test.needed_per_group,
        )
    else:
        row.update(mean_a=test.a.revenue_mean, mean_b=test.b.revenue_mean, t=test.t, df=test.df)
    return row


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, user: CurrentUser) -> Response:
    """KPIs per campaign, variant and segment; A/B tests and lift over the holdout."""
    ws = reader(request)
    from segmint.campaigns import get_campaign

    row, spec = get_campaign(ws.con, campaign_id)
    if row["sent_at"] is None:
        return redirect(request, f"/broadcasts/{campaign_id}")
    kpis = ws.campaign_kpis(campaign_id)
    lang = lang_of(request)
    tests: list[dict[str, Any]] = []
    ab_error = None
    try:
        ab = ws.campaign_ab(campaign_id, kpis=kpis)
    except ValidationError as exc:
        ab, ab_error = None, exc
    if ab is not None:
        tests += [_test_row(t, lang, "conversion") for t in ab.conversion.values()]
        tests += [_test_row(t, lang, "revenue") for t in ab.revenue.values()]
        tests += [_test_row(t, lang, "holdout") for t in ab.versus_holdout.values()]
    by_variant = _records(kpis.by_variant)
    for r in by_variant:
        r["lift"] = _clean(kpis.lift.get(r["variant"])) if r["variant"] != HOLDOUT else None
    return render(
        request,
        "campaigns_detail.html",
        {
            "active": "campaigns",
            "c": row,
            "spec": spec,
            "total": {k: _clean(v) for k, v in kpis.total.items()},
            "by_variant": by_variant,
            "by_segment": _records(kpis.by_segment),
            "columns": COLUMNS,
            "tests": tests,
            "ab_error": ab_error,
            "baseline": ab.baseline if ab is not None else None,
            "holdout_name": HOLDOUT,
        },
    )
