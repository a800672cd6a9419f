"""Helpers of the web app tests: a small workspace with a user, logged-in clients, CSRF tokens."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

with warnings.catch_warnings():  # starlette 1.x asks for httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from segmint.server import create_app

__all__ = ["PASSWORD", "USER", "TestClient", "csrf_token", "login", "make_app", "web_workspace"]

USER = "mei"
PASSWORD = "correct horse battery"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_workspace(path: Path, **settings):
    """The report tests' 40-person workspace (orders, events, identities) plus user ``mei``."""
    from tests.report_workspace import make_workspace

    ws = make_workspace(path, **settings)
    ws.users_create(USER, PASSWORD, language="en")
    return ws


def make_app(ws, **web_settings):
    """``create_app(ws)`` with the web app mounted (``mount_web`` if create_app does not yet)."""
    from segmint.server.web import WebSettings, mount_web

    app = create_app(ws)
    if not hasattr(app.state, "segmint_web") or web_settings:
        if hasattr(app.state, "segmint_web"):
            app.state.segmint_web.settings = WebSettings(**web_settings)
        else:
            mount_web(app, settings=WebSettings(**web_settings))
    return app


def csrf_token(client, path: str = "/login") -> str:
    """The session's CSRF token, read from a page's form."""
    found = _CSRF.search(client.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def login(client, username: str = USER, password: str = PASSWORD):
    """Log ``client`` in through the form; returns the response (a redirect on success)."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
