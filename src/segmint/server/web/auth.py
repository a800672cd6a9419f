"""Log in, log out and switch the language (``/login``, ``/logout``, ``/lang``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint import users as users_mod
from segmint.server.web.core import (
    FormDep,
    _,
    is_htmx,
    reader,
    redirect,
    render,
    safe_next,
    session_of,
    web_router,
    web_state,
)
from segmint.server.web.i18n import LANGUAGES
from segmint.server.web.session import password_fingerprint

__all__ = ["router"]

router = web_router(tags=["web"])


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", expired: int = 0) -> Response:
    """The login form (already logged in: straight to ``next``)."""
    session = session_of(request)
    target = safe_next(next)
    if session.username and web_state(request).user(reader(request), session.username):
        return redirect(request, target)
    expired = expired or getattr(request.state, "session_expired", False)
    session.dirty = True  # the anonymous session carries the form's CSRF token
    return render(
        request,
        "login.html",
        {"next": target,
         "error": _(request, "Your session ended; log in again.") if expired else None,
         "username": ""},
    )  # fmt: skip


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: FormDep) -> Response:
    """Check the user name and password; on success a new session (new CSRF token)."""
    web = web_state(request)
    client = _client(request)
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    if web.failures(client) >= web.settings.max_login_failures:
        message = _(request, "Too many failed logins. Wait 15 minutes and try again.")
        return render(
            request,
            "login.html",
            {"next": target, "error": message, "username": username},
            status_code=429,
        )
    user = users_mod.authenticate(reader(request).con, username, password)
    if user is None:
        web.note_failure(client)
        message = _(request, "Wrong user name or password.")
        return render(
            request,
            "login.html",
            {"next": target, "error": message, "username": username},
            status_code=400,
        )
    session = session_of(request)
    session.login(user.username, password_fingerprint(user.password_hash), user.language)
    return redirect(request, target)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    session_of(request).logout()
    return redirect(request, "/login")


@router.post("/lang")
def switch_language(request: Request, form: FormDep) -> Response:
    """Switch the language (``lang``) and go back to ``next``; remembered for the user."""
    lang = str(form.get("lang", ""))
    target = safe_next(str(form.get("next", "/")))
    if lang not in LANGUAGES:
        from segmint.server.web.i18n import check_language

        check_language(lang)  # a 400 page that names the languages
    session = session_of(request)
    session.lang = lang
    session.dirty = True
    if session.username:
        ws = reader(request)
        stored = web_state(request).user(ws, session.username)
        if stored is not None and stored.language != lang:
            users_mod.set_language(ws.con, session.username, lang)
            web_state(request).forget_user(session.username)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return redirect(request, target)
