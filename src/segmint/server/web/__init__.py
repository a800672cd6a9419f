"""The marketer web app (issue 6): server-rendered pages mounted at ``/`` by ``create_app``.

Jinja2 templates (``templates/``), light interactivity with htmx (vendored in ``static/``),
plotly.js from the plotly wheel (``/static/vendor/plotly.min.js``): nothing is fetched from a
CDN, so it works offline. The foundation — login, sessions, CSRF, languages, layout — is in
:mod:`segmint.server.web.core`; each page group is a module with its own router, listed in
:data:`PAGE_MODULES`. See docs/web.md.

Example:
    >>> import tempfile
    >>> from fastapi import FastAPI
    >>> from segmint.server.state import ServerState
    >>> from segmint.workspace import Workspace
    >>> app = FastAPI()
    >>> app.state.segmint = ServerState(Workspace.create(tempfile.mkdtemp() + "/shop"))
    >>> mount_web(app)
    >>> app.state.segmint_web.settings.idle_minutes
    120
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from segmint.server.web.core import STATIC_DIR, WebState, not_found_page, wants_html_404
from segmint.server.web.session import WebSettings, load_secret

__all__ = ["PAGE_MODULES", "WebSettings", "mount_web", "plotly_js_path"]

#: Modules of ``segmint.server.web`` with a ``router`` of pages, in mounting order; a module
#: not present yet is skipped (pages are added by separate pieces of work).
PAGE_MODULES = (
    "auth",
    "overview",
    "customers",
    "personas",
    "segments",
    "broadcasts",
    "campaigns",
    "data",
)


def plotly_js_path() -> Path:
    """plotly.min.js inside the installed plotly wheel (the version the figures are made for)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount_web(app: FastAPI, *, settings: WebSettings | None = None) -> None:
    """Add the web app to ``app`` (whose ``app.state.segmint`` is the ``ServerState``): the
    page routers, ``/static`` (public) and plotly.js."""
    state = app.state.segmint
    app.state.segmint_web = WebState(settings or WebSettings(), load_secret(state.workspace.path))

    plotly_js = plotly_js_path()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_min_js() -> FileResponse:
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _html_not_found(app)
    for name in PAGE_MODULES:
        module_name = f"segmint.server.web.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        app.include_router(importlib.import_module(module_name).router)


def _html_not_found(app: FastAPI) -> None:
    """Unknown web paths get the HTML 404 page in the session's language; the API's paths
    (``/v1``, …) keep the service's JSON 404 (``segmint.server.handlers``)."""
    previous = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and wants_html_404(request):
            return not_found_page(request)
        if previous is None:
            return Response(str(exc.detail), status_code=exc.status_code)
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, http_error)
