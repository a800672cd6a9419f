"""Segments pages: the library and the workspace's own definitions, the visual builder with a
live count, a segment's history, overlap, diagnostics and the explanation for one customer.

The builder posts its controls (see :mod:`segmint.server.web.segment_builder`) on every change;
the server turns them into definition data and answers with the count and a sample from
``ws.segment_preview`` — the same parse → resolve → compile path as a definition file, so no
user input ever becomes SQL text. Resolve problems come back with JSON pointers and are shown
next to the condition they point into. Saving writes ``<workspace>/segments/<slug>.yaml``
through the spec model (``ws.segment_save``).

Example:
    >>> sorted(r.path for r in router.routes)[:3]
    ['/segments', '/segments/builder/form', '/segments/builder/preview']
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from segmint import segments as seg
from segmint.errors import DefinitionError, DefinitionProblem, SegmintError, ValidationError
from segmint.rules import SegmentSpec, dump_yaml, to_data
from segmint.rules.resolve import KNOWN_EVENTS
from segmint.schema import CONSENT_CHANNELS
from segmint.server.web import segment_builder as sb
from segmint.server.web.cache import (
    DEFINITIONS,
    Section,
    background,
    cached,
    current_version,
    version_of,
)
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
    web_state,
)
from segmint.server.web.i18n import N_

__all__ = ["router"]

router = web_router()

#: Rows of the live sample under the count.
SAMPLE_ROWS = 10
#: Labels of the builder's condition kinds (translated when shown).
KIND_LABELS = {
    "all": N_("All of (and)"),
    "any": N_("Any of (or)"),
    "not": N_("Not"),
    "trait": N_("Customer field"),
    "performed": N_("Did an event"),
    "not_performed": N_("Did not do an event"),
    "ordered": N_("Placed orders"),
    "sequence": N_("Event sequence (A then B / A then not B)"),
    "in_segment": N_("In another segment"),
    "metric": N_("Computed metric (RFM, CLV, …)"),
    "consent": N_("Consent for a channel"),
    "anniversary": N_("Birthday / anniversary"),
    "sample": N_("Random sample"),
    "tag": N_("Has a tag"),
}
OP_LABELS = {
    "eq": N_("is"),
    "ne": N_("is not"),
    "in": N_("is one of"),
    "not_in": N_("is none of"),
    "gt": N_("greater than"),
    "gte": N_("at least"),
    "lt": N_("less than"),
    "lte": N_("at most"),
    "between": N_("between"),
    "contains": N_("contains"),
    "starts_with": N_("starts with"),
    "ends_with": N_("ends with"),
    "exists": N_("is known"),
    "is_null": N_("is unknown"),
    "before": N_("before"),
    "after": N_("after"),
    "within_last": N_("within the last"),
    "within_next": N_("within the next"),
}
MEASURE_LABELS = {
    "count": N_("count"),
    "sum": N_("sum of"),
    "avg": N_("average of"),
    "min": N_("minimum of"),
    "max": N_("maximum of"),
}
ORDER_STATUSES = ("completed", "pending", "cancelled", "refunded", "any")
_SAMPLE_COLUMNS = ("customer_id", "name", "email", "phone", "country", "city")


# -- shared look-ups (cached per data version) -----------------------------------------------------
#: Seconds the builder's field list and event names are kept: live events change the data
#: version all the time, but hardly ever the columns or the names of events.
CATALOG_SECONDS = 300.0


def _ttl(request: Request, key: Hashable, compute: Callable[[Any], Any]) -> Any:
    """``compute(ws)``, kept for :data:`CATALOG_SECONDS` (whatever the data version)."""
    cache = web_state(request).cache
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < CATALOG_SECONDS:
        return hit[1]
    value = compute(reader(request))
    cache[key] = (now, value)
    return value


def _kinds(request: Request) -> sb.FieldKinds:
    return _ttl(
        request,
        ("segments", "kinds", _files_stamp(reader(request))),
        lambda ws: sb.FieldKinds.from_catalog(ws.segment_catalog(as_of=_as_of(request))),
    )


def _event_names(request: Request) -> list[str]:
    def compute(ws) -> list[str]:
        e = ws.table("events")
        seen = e.select("event").distinct().to_pyarrow().column("event").to_pylist()
        return sorted({*KNOWN_EVENTS, *(x for x in seen if x)})

    return _ttl(request, ("segments", "event_names"), compute)


def _as_of(request: Request) -> dt.date | None:
    """The day of the latest completed order (what previews count as of by default), once per
    data version; None without orders (then "now")."""
    from segmint.errors import DataError

    def compute() -> dt.date | None:
        try:
            return reader(request).default_as_of()
        except DataError:
            return None

    return memo(request, ("segments", "as_of"), compute, depends=("orders",))


def _definitions(ws) -> list[dict[str, Any]]:
    """Every definition (library first, then the workspace's own) as plain rows."""
    library = seg.library_dir()
    out = []
    for st in seg.load_definitions(ws.path):
        src = st.source or ""
        own = not src or not src.startswith(str(library))
        for s in st.segments:
            out.append(
                {
                    "slug": s.slug,
                    "title_en": s.title_en,
                    "title_zh_hant": s.title_zh_hant,
                    "description": s.description,
                    "owner": s.owner,
                    "reviewed_on": s.reviewed_on,
                    "own": own,
                    "file": src,
                    "spec": s,
                }
            )
    return out


def _sizes(ws) -> dict[str, tuple[int, Any]]:
    """segment → (members recorded now, last change) from ``segment_membership``."""
    h = ws.table(seg.MEMBERSHIP)
    last = h.entered_at.max()
    rows = (
        h.group_by("segment")
        .aggregate(
            members=h.exited_at.isnull().sum(),
            entered=last,
            exited=h.exited_at.max(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    out = {}
    for r in rows:
        changed = max(x for x in (r["entered"], r["exited"]) if x is not None)
        out[r["segment"]] = (int(r["members"] or 0), changed)
    return out


def _title(row: dict[str, Any] | SegmentSpec, lang: str) -> str:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return get("title_zh_hant") if lang == "zh-Hant" else get("title_en")


def _find(ws, slug: str) -> dict[str, Any]:
    defs = _definitions(ws)
    for d in defs:
        if d["slug"] == slug:
            return d
    from segmint.errors import NotFoundError, close_matches

    raise NotFoundError(
        f"There is no segment '{slug}'.",
        suggestions=close_matches(slug, [d["slug"] for d in defs]),
        hint="see the list of segments.",
    )


# -- the list --------------------------------------------------------------------------------------
@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: CurrentUser) -> Response:
    """The library and the workspace's own definitions with their recorded sizes."""
    ws = reader(request)
    sizes = cached(request, ("segments", "sizes"), _sizes)
    lang = lang_of(request)
    rows = []
    for d in _definitions(ws):
        members, changed = sizes.get(d["slug"], (None, None))
        rows.append({**d, "title": _title(d, lang), "members": members, "changed": changed})
    own = [r for r in rows if r["own"]]
    library = [r for r in rows if not r["own"]]
    return render(
        request,
        "segments.html",
        {"active": "segments", "own": own, "library": library, "ran": bool(sizes)},
    )


@router.post("/segments/run", response_class=HTMLResponse)
def run_segments(request: Request, user: CurrentUser) -> Response:
    """Evaluate every definition now and record membership (``ws.segments_run()``)."""
    reader(request).segments_run()
    return redirect(request, "/segments")


# -- the builder -----------------------------------------------------------------------------------
def _meta_defaults(user: str) -> dict[str, str]:
    return {
        "slug": "",
        "title_en": "",
        "title_zh_hant": "",
        "description": "",
        "owner": user,
        "reviewed_on": dt.date.today().isoformat(),
        "original": "",
    }


def _meta_from_form(form, user: str) -> dict[str, str]:
    out = _meta_defaults(user)
    for key in out:
        value = form.get(f"meta.{key}")
        if isinstance(value, str):
            out[key] = value.strip()
    return out


def _spec_data(meta: dict[str, str], where: dict, *, draft: bool) -> dict[str, Any]:
    """Definition data from the builder; ``draft`` fills empty settings so a count can show
    while they are being typed (saving checks them for real)."""
    data: dict[str, Any] = {
        "slug": meta["slug"],
        "title_en": meta["title_en"],
        "title_zh_hant": meta["title_zh_hant"],
        "owner": meta["owner"],
        "reviewed_on": meta["reviewed_on"],
        "where": where,
    }
    if meta["description"]:
        data["description"] = meta["description"]
    if draft:
        from segmint.rules.spec import is_slug

        data["slug"] = data["slug"] if is_slug(data["slug"]) else "builder_draft"
        for key in ("title_en", "title_zh_hant", "owner"):
            data[key] = data[key] or "draft"
        try:
            dt.date.fromisoformat(data["reviewed_on"])
        except ValueError:
            data["reviewed_on"] = dt.date.today().isoformat()
    return data


#: Live results kept per data version: the builder and the broadcast form ask for the same
#: count again and again (a template edit does not change the audience).
MEMO_SIZE = 64
_MEMO_LOCK = threading.Lock()


#: What live counts read (parts of the data version): not ``segment_membership``, which the
#: service's real-time evaluation writes all the time.
LIVE_READS = (
    "orders", "profiles", "events", "tags", "identities", "rfm", "clv", "clusters", DEFINITIONS,
)  # fmt: skip


def memo(
    request: Request,
    key: Hashable,
    compute: Callable[[], Any],
    depends: tuple[str, ...] = LIVE_READS,
) -> Any:
    """``compute()`` once per (version of ``depends``, ``key``); the last :data:`MEMO_SIZE`
    are kept. Exceptions are not kept."""
    store = web_state(request).cache.setdefault(("marketing", "memo"), OrderedDict())
    k = (version_of(current_version(request), depends), key)
    with _MEMO_LOCK:
        if k in store:
            store.move_to_end(k)
            return store[k]
    value = compute()
    with _MEMO_LOCK:
        store[k] = value
        while len(store) > MEMO_SIZE:
            store.popitem(last=False)
    return value


def _preview(request: Request, meta: dict[str, str], where: dict) -> dict[str, Any]:
    """Count, sample and problems of the definition being built."""
    ws = reader(request)
    out: dict[str, Any] = {"count": None, "sample": [], "problems": [], "error": None}
    data = _spec_data(meta, where, draft=True)
    key = ("preview", json.dumps(data, sort_keys=True, default=str), _files_stamp(ws))
    try:
        day = _as_of(request)
        p = memo(request, key, lambda: ws.segment_preview(data, limit=SAMPLE_ROWS, as_of=day))
    except DefinitionError as exc:
        out["problems"] = [_without_draft_slug(p, meta) for p in exc.problems]
        return out
    except SegmintError as exc:
        out["error"] = exc
        return out
    out["count"] = p.count
    cols = [c for c in _SAMPLE_COLUMNS if c in p.sample.columns]
    out["sample_columns"] = cols
    out["sample"] = [
        {c: (None if v != v else v) for c, v in zip(cols, r, strict=True)}
        for r in p.sample[cols].itertuples(index=False)
    ]
    return out


def _without_draft_slug(p: DefinitionProblem, meta: dict[str, str]) -> DefinitionProblem:
    """A problem of the definition being built without "Segment '<slug>' " in front (the
    builder shows it next to the condition)."""
    if p.file:
        return p
    slug = _spec_data(meta, {}, draft=True)["slug"]
    for prefix in (f"Segment '{slug}': ", f"Segment '{slug}' "):
        if p.message.startswith(prefix):
            rest = p.message[len(prefix) :]
            if prefix.endswith("' "):
                rest = "This segment " + rest
            return DefinitionProblem(p.file, p.pointer, rest[:1].upper() + rest[1:],
                                     p.suggestions, p.hint)  # fmt: skip
    return p


def _builder_context(
    request: Request,
    meta: dict[str, str],
    where: dict,
    *,
    preview: dict[str, Any] | None = None,
    save_problems: list | None = None,
    lazy: bool = False,
) -> dict[str, Any]:
    ws = reader(request)
    kinds = _kinds(request)
    root = sb.form_from_where(where)
    if preview is None and not lazy:
        preview = _preview(request, meta, where)
    problems = preview["problems"] if preview is not None else []
    mine = [p for p in problems if not p.file]
    others = [p for p in problems if p.file]
    placed, rest = sb.problems_by_node(root, mine)
    lang = lang_of(request)
    defs = _definitions(ws)
    metrics = sorted(kinds.metrics)
    return {
        "active": "segments",
        "meta": meta,
        "root": root,
        "all_nodes": sb.nodes(root),
        "placed": placed,
        "general": rest + others + list(save_problems or []),
        "preview": preview,
        "kind_labels": KIND_LABELS,
        "group_kinds": sb.GROUP_KINDS,
        "leaf_kinds": list(sb.LEAF_KINDS),
        "op_labels": OP_LABELS,
        "measure_labels": MEASURE_LABELS,
        "aggregate_ops": sb.AGGREGATE_CHOICES,
        "profile_fields": kinds.fields("profiles"),
        "event_fields": kinds.fields("events"),
        "order_fields": kinds.fields("orders"),
        "metrics": metrics,
        "segment_choices": [(d["slug"], _title(d, lang)) for d in defs],
        "event_names": _event_names(request),
        "order_statuses": ORDER_STATUSES,
        "channels": CONSENT_CHANNELS,
        "ops_for": lambda table, name: sb.ops_for(
            kinds.metrics.get(name) if table == "metrics" else kinds.kind(table, name)
        ),
        "dom_id": _dom_id,
    }


def _dom_id(nid: str) -> str:
    return "c-" + nid.replace(".", "-")


@router.get("/segments/new", response_class=HTMLResponse)
def new_segment(request: Request, user: CurrentUser, start: str = "") -> Response:
    """The builder: an empty definition, or a copy of segment ``start`` (``?start=slug``)."""
    meta = _meta_defaults(user.username)
    where: dict = {"all": [sb.new_condition("trait")]}
    if start:
        d = _find(reader(request), start)
        where = to_data(d["spec"])["where"]
        if "all" not in where and "any" not in where:
            where = {"all": [where]}  # the builder adds conditions to a group
        meta.update(
            slug=f"{start}_copy"[:63] if not d["own"] else start,
            title_en=d["title_en"],
            title_zh_hant=d["title_zh_hant"],
            description=d["description"],
            original=start if d["own"] else "",
        )
        if not d["own"]:
            meta["title_en"] += " (copy)"
            meta["title_zh_hant"] += "（副本）"
    # the count follows in a request of its own (the page answers at once)
    ctx = _builder_context(request, meta, where, lazy=True)
    return render(request, "segments_builder.html", ctx)


def _posted(form, user: str, kinds: sb.FieldKinds) -> tuple[dict[str, str], dict]:
    meta = _meta_from_form(form, user)
    try:
        where = sb.where_from_form(form, kinds)
    except ValueError as exc:
        raise ValidationError(str(exc)[:1].upper() + str(exc)[1:] + ".") from None
    return meta, where


@router.post("/segments/builder/preview", response_class=HTMLResponse)
def builder_preview(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """The live count, sample and problems (problems also go next to their conditions)."""
    meta, where = _posted(form, user.username, _kinds(request))
    ctx = _builder_context(request, meta, where)
    return render(request, "_segments_preview.html", {**ctx, "oob_problems": True})


@router.post("/segments/builder/form", response_class=HTMLResponse)
def builder_form(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """The builder's conditions again after a structural change (add, remove, change kind,
    field or operator), with the new count."""
    kinds = _kinds(request)
    meta, where = _posted(form, user.username, kinds)
    actions = [a for a in form.getlist("action") if isinstance(a, str) and a]
    action = actions[-1] if actions else None
    if action:
        try:
            where = sb.apply_action(where, action, kinds)
        except ValueError as exc:
            raise ValidationError(f"The builder cannot do that: {exc}.") from None
    sb.normalise(where, kinds)
    ctx = _builder_context(request, meta, where)
    return render(request, "_segments_builder_body.html", ctx)


@router.post("/segments/builder/save", response_class=HTMLResponse)
def builder_save(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """Save the definition as ``<workspace>/segments/<slug>.yaml`` (checked first)."""
    kinds = _kinds(request)
    meta, where = _posted(form, user.username, kinds)
    ws = reader(request)
    problems: list = []
    try:
        ws.segment_save(
            _spec_data(meta, where, draft=False),
            replace=bool(meta["original"]) and meta["original"] == meta["slug"],
        )
    except DefinitionError as exc:
        problems = exc.problems
    except ValidationError as exc:
        problems = [DefinitionProblem(None, exc.location or "", exc.message, (), exc.hint)]
    if not problems:
        return redirect(request, f"/segments/{meta['slug']}?saved=1")
    preview = _preview(request, meta, where)
    preview["problems"] = [
        *preview["problems"],
        *(p for p in problems if p.pointer.startswith("/where")),
    ]
    ctx = _builder_context(
        request,
        meta,
        where,
        preview=preview,
        save_problems=[p for p in problems if not p.pointer.startswith("/where")],
    )
    page = "_segments_builder_body.html" if is_htmx(request) else "segments_builder.html"
    return render(request, page, ctx, status_code=422)


# -- one segment -----------------------------------------------------------------------------------
def _history_chart(request: Request, frame) -> Markup | None:
    if frame.empty:
        return None
    fig = go.Figure(
        go.Scatter(
            x=list(frame["at"]),
            y=[int(v) for v in frame["members"]],
            mode="lines+markers",
            line={"shape": "hv", "color": "#0f766e"},
            name=_(request, "Members"),
        )
    )
    fig.update_layout(
        template="plotly_white",
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"rangemode": "tozero", "title": _(request, "Members")},
        showlegend=False,
    )
    html = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
        div_id="chart-history",
        default_height="280px",
    )
    return Markup(html)  # plotly escapes the JSON it embeds


@router.get("/segments/{slug}", response_class=HTMLResponse)
def segment_page(request: Request, slug: str, user: CurrentUser, saved: int = 0) -> Response:
    """One segment: titles, definition, recorded size over time, links to diagnostics."""
    ws = reader(request)
    d = _find(ws, slug)
    frame = seg.history(ws.con, slug)
    latest = frame.iloc[-1].to_dict() if len(frame) else None
    return render(
        request,
        "segments_detail.html",
        {
            "active": "segments",
            "d": d,
            "title": _title(d, lang_of(request)),
            "yaml": dump_yaml(d["spec"]),
            "chart": _history_chart(request, frame),
            "history": frame.tail(12).iloc[::-1].to_dict("records"),
            "latest": latest,
            "saved": bool(saved),
            "plotly": True,
        },
    )


@router.get("/segments/{slug}/count", response_class=HTMLResponse)
def segment_count(request: Request, slug: str, user: CurrentUser) -> Response:
    """Members now (live evaluation) and a sample: a fragment for the segment page."""
    ws = reader(request)
    _find(ws, slug)
    day = _as_of(request)
    key = ("count", slug, _files_stamp(ws))
    p = memo(request, key, lambda: ws.segment_preview(slug, limit=SAMPLE_ROWS, as_of=day))
    cols = [c for c in _SAMPLE_COLUMNS if c in p.sample.columns]
    rows = [
        {c: (None if v != v else v) for c, v in zip(cols, r, strict=True)}
        for r in p.sample[cols].itertuples(index=False)
    ]
    preview = {"count": p.count, "sample": rows, "sample_columns": cols, "problems": [],
               "error": None}  # fmt: skip
    return render(request, "_segments_count.html", {"preview": preview})


#: What the checks read (parts of the data version) and how often they may run again.
CHECKS_READS = LIVE_READS
CHECKS_REFRESH_SECONDS = 15 * 60
#: Overlapping segments listed per segment.
TOP_OVERLAPS = 10


def _diagnostics(ws) -> dict[str, Any]:
    """``ws.segments_check()`` of every definition, condensed per segment as JSON data: the
    largest overlaps (Jaccard), share and lift, and the findings."""
    report = ws.segments_check()
    m = report.overlap
    overlap: dict[str, list] = {}
    for slug in m.index:
        row = m.loc[slug].drop(labels=[slug], errors="ignore")
        row = row[row > 0].sort_values(ascending=False).head(TOP_OVERLAPS)
        overlap[str(slug)] = [[str(k), float(v)] for k, v in row.items()]
    sizes: dict[str, dict] = {}
    if "segment" in report.sizes.columns:
        for r in report.sizes.to_dict("records"):
            sizes[str(r["segment"])] = {
                k: (None if isinstance(v, float) and v != v else v)
                for k, v in r.items()
                if k in ("members", "share", "lift")
            }
    findings: dict[str, list] = {}
    for f in report.findings:
        for slug in f.segments:
            findings.setdefault(slug, []).append(f.to_dict())
    return {"as_of": report.as_of.isoformat(), "overlap": overlap, "sizes": sizes,
            "findings": findings}  # fmt: skip


def _diagnostics_file(ws) -> Any:
    from pathlib import Path

    return None if ws.path is None else Path(ws.path) / ".web" / "segment_diagnostics.json"


@router.get("/segments/{slug}/diagnostics", response_class=HTMLResponse)
def segment_diagnostics(request: Request, slug: str, user: CurrentUser) -> Response:
    """Overlap (Jaccard) with the other segments and the findings of the checks for ``slug``:
    ``ws.segments_check()`` of every definition, computed in the background (minutes at a
    million customers) and kept in ``<workspace>/.web/segment_diagnostics.json``; until it is
    there, a placeholder that polls."""
    ws = reader(request)
    _find(ws, slug)
    found: Section = background(
        request, ("segments", "diagnostics"), _diagnostics, depends=CHECKS_READS,
        store=_diagnostics_file(ws), refresh_seconds=CHECKS_REFRESH_SECONDS,
    )  # fmt: skip
    if found.value is None or (found.state == "computing" and slug not in found.value["sizes"]):
        return render(
            request,
            "_segments_pending.html",
            {"poll_url": f"/segments/{slug}/diagnostics", "error": found.error},
        )
    value = found.value
    overlap = [{"slug": k, "jaccard": v} for k, v in value["overlap"].get(slug, [])]
    return render(
        request,
        "_segments_diagnostics.html",
        {
            "overlap": overlap,
            "findings": value["findings"].get(slug, []),
            "size": value["sizes"].get(slug),
            "slug": slug,
            "checked_as_of": value["as_of"],
            "state": found.state,
        },
    )


def _files_stamp(ws) -> tuple:
    """Definition files and their modification times (a saved definition changes the checks)."""
    return tuple((str(p), p.stat().st_mtime_ns) for p in seg.definition_files(ws.path))


@router.get("/segments/{slug}/explain", response_class=HTMLResponse)
def segment_explain(
    request: Request, slug: str, user: CurrentUser, customer_id: str = ""
) -> Response:
    """Why one customer is (or is not) in the segment, condition by condition."""
    ws = reader(request)
    _find(ws, slug)
    customer_id = customer_id.strip()
    if not customer_id:
        raise ValidationError("Enter a customer id.", hint="e.g. the id shown in the sample.")
    explanation = ws.explain_segment(slug, customer_id, as_of=_as_of(request))
    return render(
        request,
        "_segments_explain.html",
        {"e": explanation, "customer_id": customer_id, "slug": slug},
    )
