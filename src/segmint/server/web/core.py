"""The web app's foundation: routers, login, sessions, CSRF, rendering, languages, navigation.

Every page module builds its router with :func:`web_router` and its pages with three things:

- ``user: CurrentUser`` — a dependency that sends anyone not logged in to ``/login?next=…``
  (HTMX requests get a 401 with ``HX-Redirect``);
- :func:`render` — a Jinja2 template (``templates/``) with the base context (user, language,
  CSRF token, navigation, translation function ``_``);
- :func:`reader` — the workspace for reading, on the request thread's own DuckDB cursor.

Unsafe methods (POST, PUT, PATCH, DELETE) of every :func:`web_router` route must carry the
session's CSRF token, as form field ``csrf_token`` or header ``X-CSRF-Token`` (the base
template sets ``hx-headers`` so every HTMX request sends it); otherwise 403.

Example:
    >>> router = web_router()
    >>> @router.get("/hello")
    ... def hello(request: Request, user: CurrentUser) -> HTMLResponse:
    ...     return render(request, "message.html", {"title": _(request, "Hello")})
    >>> safe_next("//evil.example/x"), safe_next("/customers?q=mei")
    ('/', '/customers?q=mei')
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from markupsafe import Markup
from starlette.datastructures import FormData

import segmint
from segmint import users as users_mod
from segmint.errors import SegmintError
from segmint.server.handlers import status_of
from segmint.server.web.i18n import LANGUAGE_NAMES, LANGUAGES, N_, pick_language, translations
from segmint.server.web.jobs import Jobs
from segmint.server.web.session import (
    COOKIE_NAME,
    Session,
    SessionSigner,
    WebSettings,
    password_fingerprint,
)
from segmint.workspace import Workspace

__all__ = [
    "NAV",
    "PUBLIC_PATHS",
    "CsrfError",
    "CurrentUser",
    "FormDep",
    "LoginRequired",
    "NavItem",
    "WebRoute",
    "WebState",
    "WebUser",
    "_",
    "check_csrf",
    "get_form",
    "is_htmx",
    "json_attr",
    "lang_of",
    "not_found_page",
    "reader",
    "redirect",
    "render",
    "require_user",
    "safe_next",
    "session_of",
    "wants_html_404",
    "web_router",
    "web_state",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

#: GET paths of the web router that need no login (everything else does; a test checks).
PUBLIC_PATHS = frozenset({"/login"})

#: Largest urlencoded form body read (file uploads use multipart and their own limits).
MAX_FORM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class NavItem:
    """An entry of the main navigation: ``key`` is what pages pass as ``active``."""

    key: str
    path: str
    label: str  # English msgid, translated when shown


#: The main navigation, in order (pages of later issues add theirs at their place here).
NAV: list[NavItem] = [
    NavItem("overview", "/", N_("Overview")),
    NavItem("customers", "/customers", N_("Customers")),
    NavItem("segments", "/segments", N_("Segments")),
    NavItem("personas", "/personas", N_("Personas")),
    NavItem("broadcasts", "/broadcasts", N_("Broadcasts")),
    NavItem("campaigns", "/campaigns", N_("Campaigns")),
    NavItem("data", "/data", N_("Data")),
]


class LoginRequired(Exception):
    """Raised by :func:`require_user`; :class:`WebRoute` turns it into the login redirect."""


class CsrfError(SegmintError, PermissionError):
    """An unsafe request without the session's CSRF token (HTTP 403)."""

    type_name = "csrf_error"
    status_code = 403


@dataclass(frozen=True)
class WebUser:
    """The logged-in user of a request."""

    username: str
    language: str


class WebState:
    """What the web app keeps while it runs (``app.state.segmint_web``)."""

    def __init__(self, settings: WebSettings, secret: bytes) -> None:
        self.settings = settings
        self.signer = SessionSigner(secret)
        self.env = _environment()
        self._users: dict[str, tuple[float, users_mod.User | None]] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        #: per-workspace caches of slow page sections (key → (data version, value))
        self.cache: dict[Any, Any] = {}
        #: the thread that computes slow sections off the request (segmint.server.web.cache)
        self.jobs = Jobs()

    def user(self, ws: Workspace, username: str, ttl: float = 5.0) -> users_mod.User | None:
        """The stored user (cached for ``ttl`` seconds: every page asks)."""
        now = time.monotonic()
        hit = self._users.get(username)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        found = users_mod.get_user(ws.con, username)
        with self._lock:
            self._users[username] = (now, found)
        return found

    def forget_user(self, username: str) -> None:
        with self._lock:
            self._users.pop(username, None)

    def note_failure(self, client: str) -> int:
        """Record a failed login from ``client``; return the failures of the last 15 minutes."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < 900] + [now]
            self._failures[client] = recent
            return len(recent)

    def failures(self, client: str) -> int:
        now = time.monotonic()
        return sum(1 for t in self._failures.get(client, []) if now - t < 900)


def web_state(request: Request) -> WebState:
    return request.app.state.segmint_web


def session_of(request: Request) -> Session:
    """The request's session (anonymous before login); change it and set ``.dirty = True``."""
    return request.state.session


def lang_of(request: Request) -> str:
    """The language of this request: the session's (the user's after login)."""
    lang = getattr(getattr(request.state, "session", None), "lang", None)
    return lang if lang in LANGUAGES else LANGUAGES[0]


def _(request: Request, message: str, **values: Any) -> str:
    """``message`` translated into the request's language, then ``%(name)s``-formatted.

    Use it in Python code (flash messages, chart titles); templates call ``_()`` directly.
    """
    text = translations(lang_of(request)).gettext(message)
    return text % values if values else text


def reader(request: Request) -> Workspace:
    """The workspace for reading, on this thread's own DuckDB cursor.

    Call it inside the endpoint (sync endpoints run in a worker thread; a dependency may run
    on another thread than the endpoint, so do not pass it in as a dependency).
    """
    return request.app.state.segmint.reader()


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/…``), else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 32 or ch == "\\" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def redirect(request: Request, url: str, status_code: int = 303) -> Response:
    """Go to ``url`` after a form post (HTMX: a 204 with ``HX-Redirect`` for a full reload)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=status_code)


# -- CSRF and forms -------------------------------------------------------------------------------
async def _parse_form(request: Request) -> FormData:
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()  # needs python-multipart (file uploads)
    elif ctype in ("application/x-www-form-urlencoded", ""):
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            from segmint.errors import ValidationError

            raise ValidationError(
                f"The form is {len(body):,} bytes; it may be at most {MAX_FORM_BYTES:,}."
            )
        form = FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        form = FormData()
    request.state.form = form
    return form


async def check_csrf(request: Request) -> None:
    """Refuse unsafe methods without the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session_of(request).csrf
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        sent = (await _parse_form(request)).get(CSRF_FIELD)
    if not sent or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfError(
            "This form has expired or did not come from this site (missing or wrong CSRF token).",
            hint="reload the page and try again.",
        )


async def get_form(request: Request) -> FormData:
    """The submitted form (urlencoded; multipart when python-multipart is installed)."""
    return await _parse_form(request)


FormDep = Annotated[FormData, Depends(get_form)]


# -- the logged-in user ---------------------------------------------------------------------------
def require_user(request: Request) -> WebUser:
    """The logged-in user; anyone else is sent to the login page."""
    session = session_of(request)
    if not session.username:
        raise LoginRequired()
    stored = web_state(request).user(reader(request), session.username)
    if (
        stored is None
        or stored.disabled
        or password_fingerprint(stored.password_hash) != session.fingerprint
    ):
        session.logout()
        raise LoginRequired()
    user = WebUser(stored.username, session.lang)
    request.state.user = user
    return user


CurrentUser = Annotated[WebUser, Depends(require_user)]


# -- rendering ------------------------------------------------------------------------------------
def _fmt_num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _fmt_pct(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _fmt_date(value: Any) -> str:
    if value is None or value != value:  # None or NaT
        return "–"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@jinja2.pass_context
def _gettext(ctx: jinja2.runtime.Context, message: str) -> str:
    return translations(ctx.get("lang") or LANGUAGES[0]).gettext(message)


@jinja2.pass_context
def _ngettext(ctx: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return translations(ctx.get("lang") or LANGUAGES[0]).ngettext(singular, plural, n)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(num=_fmt_num, pct=_fmt_pct, date=_fmt_date, json_attr=json_attr)
    env.globals.update(
        nav=NAV,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        version=getattr(segmint, "__version__", ""),
        csrf_field=CSRF_FIELD,
    )
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``templates/<template>`` with the base context plus ``context``.

    Base context: ``request``, ``user`` (``WebUser`` or None), ``lang``, ``csrf_token``,
    ``active`` (nav key; default None), ``current_url`` (path and query, for the language
    switch), ``htmx`` (an HTMX request), and the globals ``nav``, ``languages``, ``version``.
    """
    session = getattr(request.state, "session", None)
    base = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "lang": lang_of(request),
        "csrf_token": session.csrf if session else "",
        "active": None,
        "current_url": _current_url(request),
        "htmx": is_htmx(request),
    }
    base.update(context or {})
    html = web_state(request).env.get_template(template).render(base)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def _current_url(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def _error_response(request: Request, exc: SegmintError, status: int) -> Response:
    if _wants_json(request):
        return JSONResponse(exc.to_dict(), status_code=status)
    template = "_error_fragment.html" if is_htmx(request) else "error.html"
    return render(request, template, {"error": exc, "status": status}, status_code=status)


def _login_redirect(request: Request) -> Response:
    if is_htmx(request):
        page = request.headers.get("HX-Current-URL", "")
        parts = urlsplit(page)
        here = parts.path + (f"?{parts.query}" if parts.query else "")
        target = "/login?next=" + quote(safe_next(here), safe="")
        return Response(status_code=401, headers={"HX-Redirect": target})
    if _wants_json(request):
        body = {
            "type": "unauthorized",
            "message": "Log in first.",
            "location": request.url.path,
            "suggestions": [],
            "hint": "open /login in a browser.",
        }
        return JSONResponse(body, status_code=401)
    target = "/login?next=" + quote(safe_next(_current_url(request)), safe="")
    if getattr(request.state, "session_expired", False):
        target += "&expired=1"
    return RedirectResponse(target, status_code=303)


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    ),
}


class WebRoute(APIRoute):
    """Route class of the web app: loads and saves the session cookie, turns
    :class:`LoginRequired` into the login redirect and segmint errors into HTML error pages
    (JSON for ``Accept: application/json``), and adds security headers."""

    def get_route_handler(self) -> Callable:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            web = web_state(request)
            session = _load_session(request, web)
            request.state.session = session
            try:
                response = await original(request)
            except LoginRequired:
                response = _login_redirect(request)
            except SegmintError as exc:
                response = _error_response(request, exc, status_of(exc))
            if session.dirty:
                _save_session(request, response, web, session)
            for name, value in _SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handler


def _load_session(request: Request, web: WebState) -> Session:
    session = web.signer.loads(request.cookies.get(COOKIE_NAME))
    now = int(time.time())
    cfg = web.settings
    if session is not None and session.username:
        idle = now - session.seen > cfg.idle_minutes * 60
        old = now - session.issued > cfg.max_hours * 3600
        if idle or old:
            request.state.session_expired = True
            session.logout()
        elif now - session.seen >= 60:  # sliding idle window, written at most once a minute
            session.seen = now
            session.dirty = True
    if session is None or session.lang not in LANGUAGES:
        session = Session.new(lang=pick_language(request.headers.get("accept-language")))
    return session


def _save_session(request: Request, response: Response, web: WebState, session: Session) -> None:
    secure = web.settings.secure_cookie
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE_NAME,
        web.signer.dumps(session),
        max_age=web.settings.max_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


#: Paths of the service's API (JSON errors); every other unknown path gets the HTML 404 page.
API_PREFIXES = ("/v1", "/webhooks", "/health", "/docs", "/redoc", "/openapi.json", "/static")


def wants_html_404(request: Request) -> bool:
    """Whether an unknown path should get the web app's HTML 404 page: a path outside the
    API's (:data:`API_PREFIXES`) asked for by something that does not want JSON only."""
    path = request.url.path
    if any(path == p or path.startswith(p + "/") for p in API_PREFIXES):
        return False
    return request.method in ("GET", "HEAD") and not _wants_json(request)


def not_found_page(request: Request) -> HTMLResponse:
    """The HTML 404 page of an unknown web path, in the session's language (the language
    switch, and the navigation for a logged-in session, work on it)."""
    web = web_state(request)
    session = _load_session(request, web)
    request.state.session = session
    if session.username:
        with contextlib.suppress(LoginRequired):
            require_user(request)  # the navigation of a logged-in session
    error = SegmintError(
        _(request, "There is no page %(path)s.", path=request.url.path),
        hint=_(request, "check the address, or start again from the overview."),
    )
    response = _error_response(request, error, 404)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def web_router(**kwargs: Any) -> APIRouter:
    """An APIRouter for web pages: :class:`WebRoute`, CSRF checks on unsafe methods, kept out
    of the OpenAPI document. Add ``user: CurrentUser`` to every page that needs login."""
    deps = [Depends(check_csrf), *kwargs.pop("dependencies", [])]
    return APIRouter(route_class=WebRoute, dependencies=deps, include_in_schema=False, **kwargs)


def json_attr(value: Any) -> Markup:
    """``value`` as JSON safe inside a single-quoted HTML attribute (e.g. ``hx-vals``)."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
    return Markup(text.replace(">", "&gt;"))
