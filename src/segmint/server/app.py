"""The service's app factory: ``create_app(workspace, *, settings=None)``.

One process owns the workspace: a writer thread commits accepted messages in groups
(:mod:`segmint.server.writer`); requests that read use cursors of their own. The routers:

- :mod:`segmint.server.tracking` — the Segment HTTP Tracking API (ingest keys);
- :mod:`segmint.server.profiles` — profiles: search, 360 view, erasure, consent (admin keys);
- :mod:`segmint.server.segments`, :mod:`~segmint.server.tags`,
  :mod:`~segmint.server.audiences`, :mod:`~segmint.server.runs` — the rest of the admin API;
- :mod:`segmint.server.webhooks` — channel webhooks (signed by the channels), when present.

``app.state.segmint`` is the :class:`~segmint.server.state.ServerState`;
``app.state.submit_messages(messages, source=None)`` validates Segment-spec message dicts and
returns once they are committed (what the channel webhooks call).

Example:
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> from segmint.workspace import Workspace
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop")
    >>> key = ws.keys_create("ingest").token
    >>> with TestClient(create_app(ws)) as client:
    ...     client.post("/v1/track", auth=(key, ""),
    ...                 json={"userId": "u1", "event": "Signed Up"}).json()
    {'success': True}
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import segmint
from segmint.server import audiences, profiles, runs, segments, tags, tracking, workflows_api
from segmint.server.handlers import install_error_handlers
from segmint.server.settings import ServerSettings
from segmint.server.state import ServerState
from segmint.workspace import Workspace

__all__ = ["create_app"]


def create_app(
    workspace: Workspace | str | Path, *, settings: ServerSettings | None = None
) -> FastAPI:
    """The FastAPI app serving ``workspace`` (an open DuckDB workspace, or its folder).

    The writer starts with the app (its lifespan) and commits everything queued when the app
    stops; a folder given here is opened now and closed then.
    """
    owned = not isinstance(workspace, Workspace)
    ws = Workspace.open(workspace) if owned else workspace
    state = ServerState(ws, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()
        try:
            yield
        finally:
            runner = getattr(state, "runner", None)  # model runs (segmint.server.runs)
            if runner is not None:
                runner.stop()
            state.stop()
            if owned:
                ws.close()

    app = FastAPI(
        title="segmint",
        version=getattr(segmint, "__version__", "0"),
        summary="Customer segmentation engine: event ingestion and admin API.",
        lifespan=lifespan,
    )
    app.state.segmint = state
    app.state.submit_messages = state.submit_messages
    install_error_handlers(app)

    @app.get("/health", operation_id="health", tags=["service"])
    async def health() -> dict:
        """Liveness: the writer runs; ``pending`` messages wait to be committed (no key needed)."""
        return {
            "status": "ok" if state.writer.running else "stopped",
            "pending": state.writer.pending,
        }

    app.include_router(tracking.router)
    app.include_router(profiles.router)
    # the admin API (admin keys): segments, tags, audiences, model runs
    for module in (segments, tags, audiences, runs):
        app.include_router(module.router)
    app.include_router(workflows_api.router)  # workflows: list, validate, runs, dead letters
    _include_webhooks(app, state)
    # -- the marketer web app at / (issue 6; segmint.server.web, docs/web.md) ------------------
    from segmint.server.web import mount_web

    mount_web(app)
    # -- end of the web app ------------------------------------------------------------------
    _document_bodies(app)
    return app


def _include_webhooks(app: FastAPI, state: ServerState) -> None:
    """Channel webhooks (segmint.server.webhooks), when that module is installed."""
    if importlib.util.find_spec("segmint.server.webhooks") is None:
        return
    from segmint.server import webhooks

    # secrets (and the phone region) come from segmint.yaml's `webhooks:`; messages are
    # committed through the writer like /v1/batch, with source `webhook:<provider>`
    secrets = webhooks.secrets_from_config(state.workspace.config)
    app.include_router(webhooks.webhook_router(state.submit_messages, secrets))


def _document_bodies(app: FastAPI) -> None:
    """Put the request body schemas (read by hand for gzip and size limits) in the document."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(
                tracking.request_schemas()
            )
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
