"""Customers: search (``/customers``) and the 360 page (``/customers/{customer_id}``) with
identities, timeline, tags (add/remove), segments, RFM, CLV, P(alive), persona and consent.

The page answers with what is read from small tables or one stored row (profile, identities,
tags, consent, stored model outputs, the customer's own R/F/M); the two sections that look the
customer up in the big tables load right after it with htmx: ``/customers/{id}/timeline``
(orders and events) and ``/customers/{id}/segments`` (membership history). Those lookups filter
by the id only and sort the customer's few rows afterwards: a plain equality filter can use an
index on ``customer_id`` where one exists, an ``ORDER BY … LIMIT`` in the query cannot (DuckDB
plans it as a top-N over the whole table).

Every value typed in the search box reaches the engine as an ibis literal, never as SQL text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any
from urllib.parse import quote

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import DataError, NotFoundError, ValidationError
from segmint.features.purchases import purchase_summary
from segmint.features.rfm import RFM_SEGMENTS
from segmint.report import fragments
from segmint.schema import CONSENT_CHANNELS
from segmint.server.web.cache import cached
from segmint.server.web.core import (
    CurrentUser,
    FormDep,
    _,
    is_htmx,
    lang_of,
    reader,
    redirect,
    render,
    web_router,
)
from segmint.workspace import Workspace

__all__ = ["PAGE_SIZE", "router", "search_customers"]

router = web_router(tags=["web"])

PAGE_SIZE = 25
TIMELINE_ROWS = 60
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^[+(]?[\d][\d\s().-]{5,}$")
_LIST_COLUMNS = ("customer_id", "name", "email", "phone", "city", "country", "created_at")


def _rows(expr: ibis.Table) -> list[dict[str, Any]]:
    return expr.to_pyarrow().to_pylist()


def _phone_candidates(q: str, region: str) -> list[str]:
    """How ``q`` may be stored: its E.164 form, else ``+digits`` (with the region's country
    code for a national number) — stored numbers are not always valid by phone metadata."""
    import phonenumbers

    from segmint.ingest.values import normalise_phones

    e164 = normalise_phones(pa.array([q]), region)[0][0].as_py()
    if e164:
        return [e164]
    digits = re.sub(r"\D", "", q)
    if q.lstrip().startswith("+"):
        return [f"+{digits}"]
    if q.lstrip().startswith("00"):
        return [f"+{digits[2:]}"]
    code = phonenumbers.country_code_for_region(region)
    return [f"+{code}{digits.lstrip('0')}"] if code else []


def search_customers(
    ws: Workspace, q: str, *, page: int = 1, size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int, str]:
    """Profiles matching ``q`` (rows, total, how it matched) — by e-mail, phone (E.164 in the
    workspace region), customer id or any identifier exactly, else by a part of the name.

    >>> import tempfile
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop")
    >>> search_customers(ws, "mei")
    ([], 0, 'name')
    """
    p = ws.table("profiles")
    q = q.strip()
    if not q:
        cond, how = None, "all"
    elif _EMAIL.match(q):
        lit = ibis.literal(q.lower())
        ids = ws.table("identities")
        by_id = ids.filter((ids.id_type == "email") & (ids.id_value == lit)).customer_id
        cond, how = (p.email.lower() == lit) | p.customer_id.isin(by_id), "email"
    elif _PHONE.match(q) and (numbers := _phone_candidates(q, ws.config.default_region)):
        ids = ws.table("identities")
        by_id = ids.filter(ids.id_type.isin(["phone", "whatsapp"]) & ids.id_value.isin(numbers))
        exact = (p.customer_id == ibis.literal(q)) | p.customer_id.isin(
            ids.filter(ids.id_value == ibis.literal(q)).customer_id
        )  # a numeric id (POS, Shopify) looks like a phone number too
        cond = p.phone.isin(numbers) | p.customer_id.isin(by_id.customer_id) | exact
        how = "phone"
    else:
        lit = ibis.literal(q)
        ids = ws.table("identities")
        exact = (p.customer_id == lit) | p.customer_id.isin(
            ids.filter(ids.id_value == lit).customer_id
        )
        found = int(p.filter(exact).count().execute())
        if found:
            cond, how = exact, "id"
        else:
            needle = ibis.literal(q.lower())
            cond = p.name.lower().contains(needle) | (
                (p.first_name.fill_null("") + " " + p.last_name.fill_null("")).lower()
            ).contains(needle)
            how = "name"
    hits = p if cond is None else p.filter(cond)
    total = int(hits.count().execute())
    page = max(1, page)
    rows = _rows(
        hits.select(*_LIST_COLUMNS).order_by("customer_id").limit(size, offset=(page - 1) * size)
    )
    return rows, total, how


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, user: CurrentUser, q: str = "", page: int = 1) -> Response:
    """Search customers by name, e-mail, phone or id (paginated)."""
    if len(q) > 200:
        raise ValidationError(f"A search may be at most 200 characters. Got {len(q)} instead.")
    rows, total, how = search_customers(reader(request), q, page=page)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    context = {
        "active": "customers", "q": q, "rows": rows, "total": total, "how": how,
        "page": min(max(1, page), pages), "pages": pages,
    }  # fmt: skip
    template = "_customers_results.html" if is_htmx(request) else "customers.html"
    return render(request, template, context)


# -- the 360 page ---------------------------------------------------------------------------------
def _profile(ws: Workspace, customer_id: str) -> dict[str, Any]:
    p = ws.table("profiles")
    rows = _rows(p.filter(p.customer_id == ibis.literal(customer_id)))
    if rows:
        return rows[0]
    log = ws.table("merge_log")
    merged = _rows(
        log.filter(log.absorbed_customer_id == ibis.literal(customer_id))
        .select("customer_id")
        .limit(1)
    )
    hint = (
        f"this person was merged into {merged[0]['customer_id']}."
        if merged
        else "search for them by name, e-mail or phone on the Customers page."
    )
    raise NotFoundError(f"There is no customer '{customer_id}'.", hint=hint)


def _identities(ws: Workspace, customer_id: str) -> list[dict[str, Any]]:
    i = ws.table("identities")
    mine = i.filter(i.customer_id == ibis.literal(customer_id))
    return _rows(
        mine.group_by("id_type", "id_value")
        .aggregate(sources=mine.source.collect().unique(), first_seen=mine.first_seen.min())
        .order_by("id_type", "id_value")
    )


def _short(properties: str | None) -> str:
    if not properties:
        return ""
    try:
        data = json.loads(properties)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    keys = ("product_name", "name", "category", "revenue", "total", "score", "campaign_id")
    parts = [f"{k}: {data[k]}" for k in keys if k in data and data[k] not in (None, "")]
    return ", ".join(parts[:3])


def _latest(rows: pa.Table, n: int) -> list[dict[str, Any]]:
    """The ``n`` latest rows of ``rows`` (column ``ts``, newest first; rows without a time
    last), sorted after the fetch."""
    if rows.num_rows > 1:
        order = pc.sort_indices(rows, [("ts", "descending", "at_end")])
        rows = rows.take(order[:n])
    return rows.slice(0, n).to_pylist()


def _mine(ws: Workspace, table: str, customer_id: str, columns: tuple[str, ...]) -> ibis.Table:
    """The rows of ``table`` of one customer: a filter on the id and nothing else (no sort, no
    limit in the query: see the module docstring)."""
    t = ws.table(table)
    return t.filter(t.customer_id == ibis.literal(customer_id)).select(*columns)


def _timeline(ws: Workspace, customer_id: str) -> list[dict[str, Any]]:
    """The customer's latest orders and events (messages are events), newest first.

    >>> import tempfile
    >>> _timeline(Workspace.create(tempfile.mkdtemp() + "/shop"), "c1")
    []
    """
    order_cols = ("order_id", "ts", "amount", "currency", "channel", "status")
    orders = _latest(_mine(ws, "orders", customer_id, order_cols).to_pyarrow(), TIMELINE_ROWS)
    event_cols = ("ts", "type", "event", "channel", "properties")
    events = _latest(_mine(ws, "events", customer_id, event_cols).to_pyarrow(), TIMELINE_ROWS)
    items = [
        {"ts": r["ts"], "kind": "order", "title": r["order_id"], "channel": r["channel"],
         "amount": r["amount"], "currency": r["currency"], "status": r["status"], "detail": ""}
        for r in orders
    ]  # fmt: skip
    for r in events:
        name = r["event"] or r["type"] or ""
        if name == "Order Completed" and orders:
            continue  # the order itself is listed
        kind = "message" if name.startswith("Message ") else "event"
        items.append(
            {"ts": r["ts"], "kind": kind, "title": name, "channel": r["channel"],
             "amount": None, "currency": None, "status": None, "detail": _short(r["properties"])}
        )  # fmt: skip
    items.sort(key=lambda x: x["ts"] or dt.datetime.min, reverse=True)
    return items[:TIMELINE_ROWS]


def _tags(ws: Workspace, customer_id: str) -> list[dict[str, Any]]:
    t = ws.table("tags")
    return _rows(t.filter(t.customer_id == ibis.literal(customer_id)).order_by("tag"))


def _segments(ws: Workspace, customer_id: str, lang: str) -> list[dict[str, Any]]:
    from segmint import segments

    columns = ("segment", "customer_id", "entered_at", "exited_at")
    rows = _mine(ws, "segment_membership", customer_id, columns).to_pyarrow().to_pylist()
    if not rows:
        return rows
    # current memberships first, then by entry, newest first
    rows.sort(key=lambda r: r["entered_at"] or dt.datetime.min, reverse=True)
    rows.sort(key=lambda r: r["exited_at"] is not None)
    try:
        sets = segments.load_definitions(ws.path)
    except Exception:  # a broken definition file must not break the page
        sets = ()
    key = "title_zh_hant" if lang == "zh-Hant" else "title_en"
    titles = {s.slug: getattr(s, key) for st in sets for s in st.segments}
    for r in rows:
        r["title"] = titles.get(r["segment"], r["segment"])
    return rows


def _stored(ws: Workspace, table: str, customer_id: str) -> dict[str, Any] | None:
    if table not in ws.con.list_tables():
        return None
    t = ws.table(table)
    found = _rows(t.filter(t.customer_id == ibis.literal(customer_id)).limit(1))
    return found[0] if found else None


def _own_rfm(ws: Workspace, customer_id: str, as_of: dt.date | None) -> dict[str, Any] | None:
    """Recency, frequency and monetary of one customer from their own orders only (filtered
    first: no other customer is read), without scores — scores rank everyone, which only an
    RFM run does. None without a counted order."""
    if as_of is None:
        return None
    o = ws.table("orders")
    mine = o.filter(o.customer_id == ibis.literal(customer_id))
    found = _rows(purchase_summary(mine, as_of=as_of))
    if not found:
        return None
    row = found[0]
    return {
        "frequency": row["order_count"],
        "monetary": row["revenue"],
        "last_order_date": row["last_order_date"],
        "recency_days": (as_of - row["last_order_date"]).days,
        "as_of": as_of,
        "scored": False,
    }


def _rfm(ws: Workspace, customer_id: str, as_of: dt.date | None) -> dict[str, Any] | None:
    """The stored ``rfm`` table's row (``ws.rfm(save=True)``, ``segmint rfm --save`` or a
    model run), else the customer's own values (:func:`_own_rfm`)."""
    if "rfm" in ws.con.list_tables():
        row = _stored(ws, "rfm", customer_id)
        if row is not None:
            row["scored"] = True
        return row
    return _own_rfm(ws, customer_id, as_of)


def latest_order_day(ws: Workspace) -> dt.date | None:
    """:meth:`Workspace.default_as_of`, or None without a counted order."""
    try:
        return ws.default_as_of()
    except DataError:
        return None


def _rfm_run(ws: Workspace) -> dict[str, Any] | None:
    """The RFM model run queued or under way, if any (``model_runs``)."""
    if "model_runs" not in ws.con.list_tables():
        return None
    t = ws.table("model_runs")
    open_runs = t.filter((t.model == "rfm") & t.status.isin(["queued", "running"]))
    found = _rows(open_runs.order_by(ibis.desc("created_at")).limit(1))
    return found[0] if found else None


def customer_360(
    ws: Workspace, customer_id: str, lang: str, *, as_of: dt.date | None = None
) -> dict[str, Any]:
    """What the 360 page itself shows about one customer: only rows of this customer are read
    (profile, identities, tags, stored model tables, their own orders when no ``rfm`` table is
    stored); the timeline and the segments come after the page (:func:`_timeline`,
    :func:`_segments`). ``as_of``: the day the customer's own recency counts to when no
    ``rfm`` table is stored (default: the day of the latest order, :func:`latest_order_day`)."""
    profile = _profile(ws, customer_id)
    if as_of is None and "rfm" not in ws.con.list_tables():
        as_of = latest_order_day(ws)
    rfm = _rfm(ws, customer_id, as_of)
    if rfm is not None and rfm.get("segment") in RFM_SEGMENTS:
        seg = RFM_SEGMENTS[rfm["segment"]]
        rfm["title"] = seg.title_zh if lang == "zh-Hant" else seg.title_en
        rfm["action"] = seg.action_zh if lang == "zh-Hant" else seg.action_en
    cluster = _stored(ws, "clusters", customer_id)
    persona = None
    if cluster is not None:
        persona = cluster.get("persona_zh_hant") if lang == "zh-Hant" else None
        persona = persona or cluster.get("persona")
    traits: dict[str, Any] = {}
    if profile.get("traits"):
        try:
            traits = json.loads(profile["traits"]) or {}
        except ValueError:
            traits = {}
    consent = [
        {"channel": c, "given": profile.get(f"consent_{c}"), "at": profile.get(f"consent_{c}_at")}
        for c in CONSENT_CHANNELS
    ]
    return {
        "profile": profile,
        "traits": traits if isinstance(traits, dict) else {},
        "identities": _identities(ws, customer_id),
        "tags": _tags(ws, customer_id),
        "rfm": rfm,
        "clv": _stored(ws, "clv", customer_id),
        "persona": persona,
        "consent": consent,
        "rfm_run": None if rfm is None or rfm["scored"] else _rfm_run(ws),
    }


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: CurrentUser, customer_id: str) -> Response:
    """The 360 page of one customer."""
    ws = reader(request)
    lang = lang_of(request)
    # the latest order day (a pass over every order's time) once per version of the orders
    day = cached(request, ("customers", "as_of"), latest_order_day, depends=("orders",))
    info = customer_360(ws, customer_id, lang, as_of=day)
    t = fragments.translator(lang, ws.config.currency)
    return render(
        request, "customer.html", {"active": "customers", "c": info, "cid": customer_id, "t": t}
    )


@router.get("/customers/{customer_id}/timeline", response_class=HTMLResponse)
def customer_timeline(request: Request, user: CurrentUser, customer_id: str) -> Response:
    """The 360 page's timeline (latest orders, events and messages), loaded after the page."""
    items = _timeline(reader(request), customer_id)
    t = fragments.translator(lang_of(request), reader(request).config.currency)
    return render(request, "_customer_timeline.html", {"timeline": items, "t": t})


@router.get("/customers/{customer_id}/segments", response_class=HTMLResponse)
def customer_segments(request: Request, user: CurrentUser, customer_id: str) -> Response:
    """The 360 page's segments with their entry and exit dates, loaded after the page."""
    rows = _segments(reader(request), customer_id, lang_of(request))
    return render(request, "_customer_segments.html", {"segments": rows})


def _tags_fragment(request: Request, ws: Workspace, customer_id: str, message: str | None):
    return render(
        request,
        "_customer_tags.html",
        {"cid": customer_id, "tags": _tags(ws, customer_id), "message": message},
    )


@router.post("/customers/{customer_id}/tags", response_class=HTMLResponse)
def add_tag(request: Request, user: CurrentUser, customer_id: str, form: FormDep) -> Response:
    """Give the customer a tag (``tag`` form field); HTMX gets the tag list back."""
    ws = reader(request)
    tag = str(form.get("tag", "")).strip()
    _profile(ws, customer_id)  # 404 for an unknown customer
    added = ws.tags_add(tag, [customer_id], source=f"web:{user.username}")
    if not is_htmx(request):
        return redirect(request, "/customers/" + quote(customer_id, safe=""))
    text = (
        _(request, "Added tag %(tag)s.", tag=tag)
        if added
        else _(request, "Already tagged %(tag)s.", tag=tag)
    )
    return _tags_fragment(request, ws, customer_id, text)


@router.post("/customers/{customer_id}/tags/remove", response_class=HTMLResponse)
def remove_tag(request: Request, user: CurrentUser, customer_id: str, form: FormDep) -> Response:
    """Take a tag (``tag`` form field) from the customer."""
    ws = reader(request)
    tag = str(form.get("tag", "")).strip()
    _profile(ws, customer_id)
    ws.tags_remove(tag, [customer_id])
    if not is_htmx(request):
        return redirect(request, "/customers/" + quote(customer_id, safe=""))
    return _tags_fragment(request, ws, customer_id, _(request, "Removed tag %(tag)s.", tag=tag))


@router.post("/customers/{customer_id}/rfm-run", response_class=HTMLResponse)
def start_rfm_run(request: Request, user: CurrentUser, customer_id: str) -> Response:
    """Start an RFM model run (``segmint.server.runs``: one background thread, results written
    through the writer), unless one is queued or under way; back to the 360 page."""
    from segmint.server.runs import queue_run

    ws = reader(request)
    _profile(ws, customer_id)
    if _rfm_run(ws) is None:
        queue_run(request.app.state.segmint, "rfm", requested_by=f"web:{user.username}")
    return redirect(request, "/customers/" + quote(customer_id, safe=""))
