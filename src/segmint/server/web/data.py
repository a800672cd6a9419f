"""Data pages: the import wizard, API and write keys, workflows and the webhook dead letters.

Import wizard: upload a file (stored in a private temporary folder, at most
:data:`MAX_UPLOAD_BYTES`) → the column mapping segmint chose, with a select per field to
override it, a few rows and the validation problems per row (``segmint.ingest``: pure, nothing
written) → import through ``ws.import_file`` (all rows or none; its problems shown per row).

Keys: ``ws.keys_create`` (the token is shown once), ``ws.keys_list``, ``ws.keys_revoke``; the
service's key ring is reloaded at once, so a revoked key stops working immediately.

Workflows and dead letters come from the workflows part of the service when it is installed
(``<workspace>/workflows/*.yaml``, tables ``workflow_runs`` and ``webhook_dead_letters``);
until then the page says there are none.

Example:
    >>> "/data" in {r.path for r in router.routes}
    True
"""

from __future__ import annotations

import functools
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import ImportValidationError, NotFoundError, SegmintError, ValidationError
from segmint.ingest import FIELDS, KINDS, prepare, read_table, resolve_mapping
from segmint.keys import SCOPES
from segmint.server.web.core import (
    CurrentUser,
    FormDep,
    _,
    reader,
    redirect,
    render,
    web_router,
    web_state,
)

__all__ = ["MAX_UPLOAD_BYTES", "router"]

router = web_router()

#: Largest file the import wizard accepts (bigger files: `segmint import` on the command line).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: Uploads are forgotten (and their folder removed) after this many seconds.
UPLOAD_TTL = 3600
#: Rows and problems shown by the wizard.
SAMPLE_ROWS = 5
MAX_PROBLEMS = 200
_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq")
_UPLOADS = ("data", "uploads")


# -- the overview ---------------------------------------------------------------------------------
def _table_rows(ws, name: str, order: str, limit: int = 50) -> list[dict[str, Any]] | None:
    """The newest rows of an optional table (None when the table does not exist yet)."""
    if name not in ws.con.list_tables():
        return None
    t = ws.table(name)
    if order in t.columns:
        t = t.order_by(t[order].desc())
    return t.limit(limit).to_pyarrow().to_pylist()


def _workflow_files(ws) -> list[str]:
    folder = Path(ws.path) / "workflows" if ws.path else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, user: CurrentUser, created: str = "") -> Response:
    """Import, keys, workflows and dead letters."""
    ws = reader(request)
    created_key = _pop_created(request, created) if created else None
    recent = _table_rows(ws, "import_log", "imported_at", 10) or []
    return render(
        request,
        "data.html",
        {
            "active": "data",
            "kinds": KINDS,
            "keys": ws.keys_list(),
            "scopes": SCOPES,
            "created": created_key,
            "imports": recent,
            "workflows": _workflow_files(ws),
            "runs": _table_rows(ws, "workflow_runs", "started_at"),
            "dead_letters": _table_rows(ws, "webhook_dead_letters", "parked_at"),
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        },
    )


# -- keys -----------------------------------------------------------------------------------------
def _reload_keys(request: Request) -> None:
    request.app.state.segmint.keys.reload()


def _pop_created(request: Request, ref: str) -> Any:
    """The key created by this session a moment ago (its token is shown once)."""
    return web_state(request).cache.pop(("data", "created_key", ref), None)


@router.post("/data/keys", response_class=HTMLResponse)
def create_key(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """Create an API key; the page shows its token once."""
    scope = str(form.get("scope") or "ingest")
    name = str(form.get("name") or "").strip() or None
    key = reader(request).keys_create(scope, name=name)
    _reload_keys(request)
    ref = secrets.token_urlsafe(12)
    web_state(request).cache[("data", "created_key", ref)] = key
    return redirect(request, f"/data?created={ref}#keys")


@router.post("/data/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, key_id: str, user: CurrentUser) -> Response:
    """Revoke a key; requests with it are refused from now on."""
    reader(request).keys_revoke(key_id)
    _reload_keys(request)
    return redirect(request, "/data#keys")


# -- the import wizard ----------------------------------------------------------------------------
def _uploads(request: Request) -> dict[str, dict[str, Any]]:
    cache = web_state(request).cache
    uploads = cache.setdefault(_UPLOADS, {})
    now = time.monotonic()
    for token in [t for t, u in uploads.items() if now - u["at"] > UPLOAD_TTL]:
        shutil.rmtree(uploads.pop(token)["folder"], ignore_errors=True)
    return uploads


def _upload(request: Request, token: str, user: str) -> dict[str, Any]:
    found = _uploads(request).get(token)
    if found is None or found["user"] != user:
        raise NotFoundError(
            "This upload is not there any more (uploads are kept for an hour).",
            hint="upload the file again.",
        )
    return found


@router.post("/data/import", response_class=HTMLResponse)
async def upload(request: Request, user: CurrentUser, form: FormDep) -> Response:
    """Store the uploaded file in a private temporary folder and show the mapping."""
    kind = str(form.get("kind") or "")
    if kind not in KINDS:
        from segmint.errors import close_matches

        raise ValidationError(
            f"The import kind must be one of {', '.join(KINDS)}. Got '{kind}' instead.",
            suggestions=close_matches(kind, KINDS),
        )
    file = form.get("file")
    name = Path(getattr(file, "filename", "") or "").name
    if file is None or isinstance(file, str) or not name:
        raise ValidationError("Choose a file to import.", hint="CSV, Excel (.xlsx) or Parquet.")
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValidationError(
            f"The file must be CSV, Excel (.xlsx) or Parquet. Got '{name}'.",
            hint="save the sheet as .xlsx or .csv.",
        )
    folder = Path(tempfile.mkdtemp(prefix="segmint-upload-"))
    target = folder / name
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ValidationError(
                        f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
                        hint="import large files with `segmint import` on the command line.",
                    )
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    token = secrets.token_urlsafe(16)
    _uploads(request)[token] = {
        "folder": folder, "path": target, "kind": kind, "name": name, "size": size,
        "user": user.username, "at": time.monotonic(),
    }  # fmt: skip
    return redirect(request, f"/data/import/{token}")


def _overrides(params) -> dict[str, str]:
    """``map.<field>=<column>`` parameters (an empty column means "automatic")."""
    out = {}
    for key, value in params.items():
        if key.startswith("map.") and isinstance(value, str) and value:
            out[key[4:]] = value
    return out


def _check(ws, up: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Mapping, sample rows and validation problems of an upload (nothing is written)."""
    from segmint.identity import junk_mask

    raw = read_table(up["path"])
    cm = resolve_mapping(up["kind"], raw.headers, mapping, file=up["name"])
    cfg = ws.config
    prep = prepare(
        up["kind"], raw, mapping=mapping,
        default_region=cfg.default_region, timezone=cfg.timezone, currency=cfg.currency,
        junk=functools.partial(junk_mask, junk=cfg.junk),
    )  # fmt: skip
    sample = raw.data.slice(0, SAMPLE_ROWS).to_pylist()
    return {
        "headers": raw.headers,
        "rows": raw.num_rows,
        "sample": [list(r.values()) for r in sample],  # columns in header order
        "mapping": cm,
        "problems": prep.problems[:MAX_PROBLEMS],
        "n_problems": len(prep.problems),
        "warnings": prep.warnings,
        "encoding": raw.encoding,
        "delimiter": raw.delimiter,
    }


@router.get("/data/import/{token}", response_class=HTMLResponse)
def mapping_page(request: Request, token: str, user: CurrentUser) -> Response:
    """The automatic mapping (override it per field), sample rows and problems per row."""
    up = _upload(request, token, user.username)
    mapping = _overrides(request.query_params)
    ws = reader(request)
    try:
        checked = _check(ws, up, mapping)
        error = None
    except SegmintError as exc:
        checked, error = None, exc
    return render(
        request,
        "data_import.html",
        {
            "active": "data",
            "token": token,
            "up": up,
            "fields": FIELDS[up["kind"]],
            "overrides": mapping,
            "checked": checked,
            "error": error,
        },
    )


@router.post("/data/import/{token}", response_class=HTMLResponse)
def run_import(request: Request, token: str, user: CurrentUser, form: FormDep) -> Response:
    """Import the upload with the chosen mapping: all rows or none."""
    up = _upload(request, token, user.username)
    mapping = _overrides(form)
    ws = reader(request)
    try:
        result = ws.import_file(up["kind"], up["path"], mapping=mapping or None)
    except ImportValidationError as exc:
        return render(
            request,
            "data_import_result.html",
            {"active": "data", "up": up, "result": None, "problems": exc.problems[:MAX_PROBLEMS],
             "n_problems": len(exc.problems), "token": token, "overrides": mapping},
            status_code=422,
        )  # fmt: skip
    shutil.rmtree(up["folder"], ignore_errors=True)
    _uploads(request).pop(token, None)
    return render(
        request,
        "data_import_result.html",
        {"active": "data", "up": up, "result": result, "problems": [], "n_problems": 0,
         "token": None, "overrides": mapping, "message": _(request, "Imported.")},
    )  # fmt: skip
