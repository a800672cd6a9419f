"""Fixtures of the service tests: a workspace with keys, an in-process client, a pinned clock."""

from __future__ import annotations

import pytest
from tests.server._server_support import NOW, TestClient

from segmint.server import ServerSettings, create_app
from segmint.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "shop", default_region="HK")
    yield workspace
    workspace.close()


@pytest.fixture
def keys(ws):
    """Tokens: ``ingest`` and ``admin``."""
    return {
        scope: ws.keys_create(scope, name=f"test {scope}").token for scope in ("ingest", "admin")
    }


@pytest.fixture
def app(ws, keys):
    return create_app(ws, settings=ServerSettings(clock=lambda: NOW))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def reader(app, client):
    """A workspace on a cursor of its own (the writer thread owns ``ws.con`` while serving)."""
    return app.state.segmint.reader()
