"""Broadcasts pages: compose a personalised broadcast, see who it reaches, preview one
recipient's message, then export it (download) or send it to the configured webhook.

The form becomes a :class:`~segmint.activation.broadcast.BroadcastSpec` dict and goes through
``ws.campaign_reach`` (live: recipients and who is left out why), ``ws.campaign_create``
(templates compiled in the sandbox — a template reaching into Python internals is refused
here, before anything is stored), ``ws.campaign_preview`` and ``ws.campaign_export`` /
``ws.campaign_send``. A template that fails for one recipient refuses the whole send and lists
who and why (docs/campaigns.md).

Example:
    >>> sorted(r.path for r in router.routes)[:2]
    ['/broadcasts', '/broadcasts']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from segmint import segments as seg
from segmint.activation.audience import AUDIENCE_CHANNELS
from segmint.activation.broadcast import CAMPAIGN_DROP_REASONS, HOLDOUT
from segmint.activation.templates import FIELDS
from segmint.errors import NotFoundError, SegmintError, ValidationError
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
from segmint.server.web.i18n import N_
from segmint.server.web.segments import _as_of, _files_stamp, memo

__all__ = ["router", "spec_from_form"]

router = web_router()

#: At most this many message variants in the form.
MAX_VARIANTS = 4
#: Recipients listed for the per-recipient preview.
PREVIEW_RECIPIENTS = 20
REASON_LABELS = {
    "excluded": N_("in an excluded segment"),
    "no_consent": N_("no consent recorded for the channel"),
    "withdrawn": N_("consent refused or withdrawn"),
    "consent_in_future": N_("consent dated in the future"),
    "no_contact": N_("no valid phone / e-mail"),
    "frequency_cap": N_("frequency cap reached"),
}
_DEFAULT_TEMPLATES = {
    "en": 'Hi {{ first_name | default("friend") }}, something new is waiting for you.',
    "zh-Hant": "{{ first_name | default('你') }}好！新品已到，等你來選。",
}


# -- the form --------------------------------------------------------------------------------------
def _text(form, key: str, default: str = "") -> str:
    v = form.get(key, default)
    return v.strip() if isinstance(v, str) else default


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{what} must be a number. Got {text!r} instead.") from None


def _fallbacks(text: str) -> dict[str, str]:
    """``first_name: friend`` lines → {field: value}."""
    out = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValidationError(
                f"Fallback line {n} must be 'field: value'. Got {line.strip()!r} instead.",
                hint="e.g. first_name: friend",
            )
        out[key.strip()] = value.strip()
    return out


def variants_from_form(form) -> list[dict[str, Any]]:
    """The variant blocks of the form (``v0.name``, ``v0.share``, ``v0.en``, ``v0.zh``)."""
    out = []
    for i in range(MAX_VARIANTS):
        if f"v{i}.name" not in form:
            break
        templates = {}
        for lang, key in (("en", "en"), ("zh-Hant", "zh")):
            text = form.get(f"v{i}.{key}", "")
            if isinstance(text, str) and text.strip():
                templates[lang] = text
        out.append(
            {
                "name": _text(form, f"v{i}.name") or chr(ord("A") + i),
                "share": _text(form, f"v{i}.share"),
                "templates": templates,
            }
        )
    return out


def spec_from_form(form) -> dict[str, Any]:
    """A broadcast spec (plain data, see docs/campaigns.md) from the form's fields.

    >>> from starlette.datastructures import FormData
    >>> spec_from_form(FormData([("name", "Spring"), ("segments", "vip"), ("channel", "sms"),
    ...     ("v0.name", "A"), ("v0.share", "100"), ("v0.en", "Hi")]))["variants"]
    [{'name': 'A', 'share': 100.0, 'templates': {'en': 'Hi'}}]
    """
    variants = variants_from_form(form)
    for v in variants:
        v["share"] = _number(v["share"], f"The share of variant {v['name']}") or 0.0
    spec: dict[str, Any] = {
        "name": _text(form, "name"),
        "segments": [s for s in form.getlist("segments") if isinstance(s, str) and s],
        "exclude": [s for s in form.getlist("exclude") if isinstance(s, str) and s],
        "channel": _text(form, "channel", "whatsapp"),
        "variants": variants,
        "holdout": _number(_text(form, "holdout"), "The holdout") or 0.0,
        "fallbacks": _fallbacks(_text(form, "fallbacks")),
        "offer_codes": form.get("offer_codes") in ("on", "true", "1"),
        "attribution_days": int(_number(_text(form, "attribution_days"), "Attribution") or 7),
    }
    cap_max = _number(_text(form, "cap_max"), "The frequency cap")
    cap_days = _number(_text(form, "cap_days"), "The frequency cap period")
    if cap_max or cap_days:
        spec["frequency_cap"] = {
            "max_messages": int(cap_max or 0),
            "period_days": int(cap_days or 0),
        }
    cost = _number(_text(form, "cost"), "The cost")
    if cost is not None:
        spec["cost"] = cost
    return spec


def _form_values(form=None) -> dict[str, Any]:
    """What the form shows: posted values, or the defaults of a new broadcast."""
    if form is None:
        return {
            "name": "",
            "segments": [],
            "exclude": [],
            "channel": "whatsapp",
            "cap_max": "",
            "cap_days": "",
            "holdout": "10",
            "fallbacks": "first_name: friend",
            "offer_codes": False,
            "attribution_days": "7",
            "cost": "",
            "variants": [
                {"name": "A", "share": "45", "templates": dict(_DEFAULT_TEMPLATES)},
                {"name": "B", "share": "45", "templates": dict(_DEFAULT_TEMPLATES)},
            ],
        }
    return {
        "name": _text(form, "name"),
        "segments": [s for s in form.getlist("segments") if isinstance(s, str)],
        "exclude": [s for s in form.getlist("exclude") if isinstance(s, str)],
        "channel": _text(form, "channel", "whatsapp"),
        "cap_max": _text(form, "cap_max"),
        "cap_days": _text(form, "cap_days"),
        "holdout": _text(form, "holdout"),
        "fallbacks": _text(form, "fallbacks"),
        "offer_codes": form.get("offer_codes") in ("on", "true", "1"),
        "attribution_days": _text(form, "attribution_days", "7"),
        "cost": _text(form, "cost"),
        "variants": variants_from_form(form),
    }


def _segment_choices(request: Request) -> list[tuple[str, str]]:
    lang = lang_of(request)
    out = []
    for st in seg.load_definitions(reader(request).path):
        for s in st.segments:
            out.append((s.slug, s.title_zh_hant if lang == "zh-Hant" else s.title_en))
    return out


def _reach(request: Request, spec: dict[str, Any]) -> dict[str, Any]:
    """Recipients now and who is left out why; template and settings problems."""
    out: dict[str, Any] = {"recipients": None, "dropped": {}, "groups": [], "errors": []}
    ws = reader(request)
    if spec["segments"]:
        audience_only = {
            k: spec[k] for k in ("segments", "exclude", "channel", "frequency_cap") if k in spec
        }
        spec_only = {"name": "reach", **audience_only, "templates": {"en": "-"}}
        key = ("reach", json.dumps(spec_only, sort_keys=True), _files_stamp(ws))
        try:
            day = _as_of(request)
            n, dropped = memo(request, key, lambda: ws.campaign_reach(spec_only, as_of=day))
            out["recipients"], out["dropped"] = n, dict(dropped)
        except SegmintError as exc:
            out["errors"].append(exc)
    try:
        from segmint.activation.broadcast import parse_broadcast

        parsed = parse_broadcast(spec)
    except SegmintError as exc:
        out["errors"].append(exc)
        return out
    if out["recipients"] is not None:
        out["groups"] = [
            {"name": g, "share": share, "expected": round(out["recipients"] * share)}
            for g, share in parsed.shares()
        ]
    return out


def _form_context(request: Request, values: dict[str, Any], reach: dict[str, Any]) -> dict:
    return {
        "active": "broadcasts",
        "v": values,
        "reach": reach,
        "segment_choices": _segment_choices(request),
        "channels": AUDIENCE_CHANNELS,
        "fields": FIELDS,
        "reasons": CAMPAIGN_DROP_REASONS,
        "reason_labels": REASON_LABELS,
        "max_variants": MAX_VARIANTS,
        "holdout_name": HOLDOUT,
    }


# -- pages ----------------------------------------------------------------------------------------
def _campaign_rows(ws) -> list[dict[str, Any]]:
    return ws.campaigns().to_pyarrow().to_pylist()


@router.get("/broadcasts", response_class=HTMLResponse)
def broadcasts_page(request: Request, user: CurrentUser) -> Response:
    """Drafts (created, not sent) and recently sent broadcasts."""
    rows = _campaign_rows(reader(request))
    drafts = [r for r in rows if r["sent_at"] is None]
    sent = [r for r in rows if r["sent_at"] is not None][:10]
    return render(
        request, "broadcasts.html", {"active": "broadcasts", "drafts": drafts, "sent": sent}
    )


@router.get("/broadcasts/new", response_class=HTMLResponse)
def new_broadcast(request: Request, user: CurrentUser, segment: str = "") -> Response:
    """The broadcast form (``?segment=slug`` preselects a segment)."""
    values = _form_values()
    if segment:
        values["segments"] = [segment]
    # with a segment chosen, the reach follows in a request of its own (``lazy``)
    reach = {"recipients": None, "dropped": {}, "groups": [], "errors": [], "lazy": bool(segment)}
    return render(request, "broadcasts_new.html", _form_context(request, values, reach))


def _as_form(values: dict[str, Any]):
    from starlette.datastructures import FormData

    items: list[tuple[str, str]] = []
    for k in ("name", "channel", "cap_max", "cap_days", "holdout", "fallbacks", "cost",
              "attribution_days"):  # fmt: skip
        items.append((k, str(values[k])))
    items += [("segments", s) for s in values["segments"]]
    items += [("exclude", s) for s in values["exclude"]]
    if values["offer_codes"]:
        items.append(("offer_codes", "on"))
    for i, var in enumerate(values["variants"]):
        items += [(f"v{i}.name", var["name"]), (f"v{i}.share", str(var["share"]))]
        items += [(f"v{i}.en", var["templates"].get("en", ""))]
        items += [(f"v{i}.zh", var["templates"].get("zh-Hant", ""))]
    return FormData(items)


@router.post("/broadcasts/reach", response_class=HTMLResponse)
def broadcast_reach(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """Who the broadcast reaches now (consenting recipients, left out per reason) and any
    problem with its settings or templates: the live panel of the form."""
    try:
        spec = spec_from_form(form)
    except ValidationError as exc:
        reach = {"recipients": None, "dropped": {}, "groups": [], "errors": [exc]}
    else:
        reach = _reach(request, spec)
    ctx = _form_context(request, _form_values(form), reach)
    return render(request, "_broadcasts_reach.html", ctx)


@router.post("/broadcasts/variants", response_class=HTMLResponse)
def broadcast_variants(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """The variant blocks again with one added (``action=add``) or removed (``remove:<i>``)."""
    values = _form_values(form)
    action = _text(form, "action")
    variants = values["variants"]
    if action == "add" and len(variants) < MAX_VARIANTS:
        variants.append(
            {
                "name": chr(ord("A") + len(variants)),
                "share": "",
                "templates": dict(_DEFAULT_TEMPLATES),
            }
        )
    elif action.startswith("remove:") and len(variants) > 1:
        i = int(action.split(":", 1)[1]) if action.split(":", 1)[1].isdigit() else -1
        if 0 <= i < len(variants):
            del variants[i]
    ctx = _form_context(request, values, {"recipients": None, "dropped": {}, "groups": [],
                                          "errors": []})  # fmt: skip
    return render(request, "_broadcasts_variants.html", ctx)


@router.post("/broadcasts", response_class=HTMLResponse)
def create_broadcast(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """Store the broadcast (nothing is sent yet) and open it for preview and export."""
    values = _form_values(form)
    try:
        spec = spec_from_form(form)
        row = reader(request).campaign_create(spec, by=user.username)
    except SegmintError as exc:
        reach = _reach_safe(request, form)
        reach["errors"] = [exc, *(e for e in reach["errors"] if str(e) != str(exc))]
        ctx = _form_context(request, values, reach)
        return render(request, "broadcasts_new.html", ctx, status_code=422)
    return redirect(request, f"/broadcasts/{row['campaign_id']}")


def _reach_safe(request: Request, form) -> dict[str, Any]:
    try:
        return _reach(request, spec_from_form(form))
    except SegmintError as exc:
        return {"recipients": None, "dropped": {}, "groups": [], "errors": [exc]}


def _campaign(ws, campaign_id: str) -> dict[str, Any]:
    from segmint.campaigns import get_campaign

    row, spec = get_campaign(ws.con, campaign_id)
    return {**row, "spec": spec}


@router.get("/broadcasts/{campaign_id}", response_class=HTMLResponse)
def broadcast_page(request: Request, campaign_id: str, user: CurrentUser) -> Response:
    """A stored broadcast: its settings, recipients to preview, export and send."""
    ws = reader(request)
    c = _campaign(ws, campaign_id)
    return render(
        request,
        "broadcasts_detail.html",
        {
            "active": "broadcasts",
            "c": c,
            "spec": c["spec"],
            "reason_labels": REASON_LABELS,
            "webhook": bool(ws.config.campaigns.webhook_url),
        },
    )


def _first_recipients(request: Request, campaign_id: str):
    """``ws.campaign_preview`` of the first recipients, once per data version (the list and
    every message picked from it come from one evaluation of the audience)."""
    ws = reader(request)
    key = ("recipients", campaign_id, _files_stamp(ws))
    day = _as_of(request)
    return memo(
        request,
        key,
        lambda: ws.campaign_preview(campaign_id, limit=PREVIEW_RECIPIENTS, as_of=day),
    )


@router.get("/broadcasts/{campaign_id}/recipients", response_class=HTMLResponse)
def broadcast_recipients(request: Request, campaign_id: str, user: CurrentUser) -> Response:
    """The first recipients to preview, who is left out why, and rendering failures among them
    (a fragment of the broadcast page, loaded after it)."""
    prepared = _first_recipients(request, campaign_id)
    return render(
        request,
        "_broadcasts_recipients.html",
        {"prepared": prepared, "c_id": campaign_id, "reason_labels": REASON_LABELS},
    )


@router.get("/broadcasts/{campaign_id}/preview", response_class=HTMLResponse)
def broadcast_preview(
    request: Request, campaign_id: str, user: CurrentUser, customer_id: str = ""
) -> Response:
    """The message one recipient would get, in their language, with variant and offer code."""
    customer_id = customer_id.strip()
    if not customer_id:
        raise ValidationError("Choose a recipient.", hint="pick one from the list or type an id.")
    listed = {r["customer_id"]: r for r in _first_recipients(request, campaign_id).recipients}
    r = listed.get(customer_id)
    if r is None:  # anyone else: evaluate the audience for that one person
        ws = reader(request)
        p = ws.campaign_preview(campaign_id, customer_ids=[customer_id], as_of=_as_of(request))
        r = p.recipients[0]
    return render(request, "_broadcasts_message.html", {"r": r, "holdout_name": HOLDOUT})


@router.post("/broadcasts/{campaign_id}/export")
def export_broadcast(
    request: Request, campaign_id: str, user: CurrentUser, form: FormDep
) -> Response:
    """Render every message, record the send and download the file (CSV or JSON)."""
    fmt = _text(form, "format", "csv")
    result = reader(request).campaign_export(campaign_id, format=fmt)
    return _download(result.path, fmt)


def _download(path: Path | None, fmt: str) -> Response:
    if path is None or not Path(path).is_file():
        raise NotFoundError("The export file is no longer there.", hint="export again.")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return FileResponse(path, media_type=media, filename=Path(path).name)


@router.get("/broadcasts/{campaign_id}/download")
def download_broadcast(request: Request, campaign_id: str, user: CurrentUser) -> Response:
    """The file of an exported broadcast again."""
    ws = reader(request)
    c = _campaign(ws, campaign_id)
    if c["delivery"] != "export" or not c["export_path"]:
        raise NotFoundError(f"Campaign '{campaign_id}' was not exported to a file.")
    path = Path(c["export_path"])
    folder = (Path(ws.path) / "exports").resolve() if ws.path else None
    if folder is None or folder not in path.resolve().parents:
        raise NotFoundError("The export file is outside the workspace's exports folder.")
    return _download(path, path.suffix.lstrip(".") or "csv")


@router.post("/broadcasts/{campaign_id}/send", response_class=HTMLResponse)
def send_broadcast(request: Request, campaign_id: str, user: CurrentUser) -> Response:
    """POST every message, signed, to the configured webhook (``campaigns.webhook_url``)."""
    result = reader(request).campaign_send(campaign_id)
    if is_htmx(request):
        return render(request, "_broadcasts_sent.html", {"result": result, "c_id": campaign_id})
    return redirect(request, f"/campaigns/{campaign_id}")


def reason_text(request: Request, reason: str) -> str:
    """A drop reason in words, in the request's language."""
    return _(request, REASON_LABELS.get(reason, reason))
