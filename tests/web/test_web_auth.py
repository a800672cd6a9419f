"""Login, sessions, CSRF and languages of the web app."""

from __future__ import annotations

import importlib
import importlib.util
import re

import pytest
from tests.web._web_support import PASSWORD, USER, TestClient, csrf_token, login, make_app

from segmint.server.web import PAGE_MODULES
from segmint.server.web.core import PUBLIC_PATHS
from segmint.server.web.session import COOKIE_NAME


def _get_routes() -> list[str]:
    paths = []
    for name in PAGE_MODULES:
        module = f"segmint.server.web.{name}"
        if importlib.util.find_spec(module) is None:
            continue
        for route in importlib.import_module(module).router.routes:
            if "GET" in getattr(route, "methods", ()) and route.path not in PUBLIC_PATHS:
                paths.append(re.sub(r"\{[^}]+\}", "x", route.path))
    return paths


GET_ROUTES = _get_routes()


def test_the_pages_of_this_issue_are_registered():
    assert {"/", "/customers", "/customers/x", "/personas", "/overview/warnings"} <= set(GET_ROUTES)


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_get_page_needs_login(anon, path):
    r = anon.get(path, follow_redirects=False)
    assert r.status_code == 303, path
    assert r.headers["location"].startswith("/login?next=")
    r = anon.get(path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


def test_login_redirects_back_to_the_page_asked_for(anon):
    r = anon.get("/customers?q=mei", follow_redirects=False)
    assert r.headers["location"] == "/login?next=%2Fcustomers%3Fq%3Dmei"
    token = csrf_token(anon, r.headers["location"])
    form = {"username": USER, "password": PASSWORD, "csrf_token": token, "next": "/customers?q=mei"}
    r = anon.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/customers?q=mei"
    assert anon.get("/customers", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil", "x"])
def test_login_never_redirects_off_site(anon, target):
    token = csrf_token(anon)
    form = {"username": USER, "password": PASSWORD, "csrf_token": token, "next": target}
    r = anon.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_wrong_password_is_refused(anon):
    r = login(anon, password="not the password")
    assert r.status_code == 400
    assert "Wrong user name or password." in r.text
    assert anon.get("/", follow_redirects=False).status_code == 303


def test_unknown_and_disabled_users_cannot_log_in(anon, web_ws):
    assert login(anon, username="nobody").status_code == 400
    web_ws.users_disable(USER)
    assert login(anon).status_code == 400


def test_session_cookie_flags(anon):
    r = login(anon)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; Secure behind https


def test_secure_cookie_setting(web_ws):
    with TestClient(make_app(web_ws, secure_cookie=True)) as c:
        assert "Secure" in login(c).headers["set-cookie"]


def test_tampered_cookie_is_ignored(client):
    value = client.cookies.get(COOKIE_NAME)
    client.cookies.set(COOKIE_NAME, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(client):
    token = csrf_token(client, "/")
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_password_change_ends_open_sessions(client, web_app):
    assert client.get("/", follow_redirects=False).status_code == 200
    web_app.state.segmint.reader().users_passwd(USER, "another long password")
    web_app.state.segmint_web.forget_user(USER)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_idle_session_expires(web_ws, monkeypatch):
    import time as time_mod

    with TestClient(make_app(web_ws, idle_minutes=5)) as c:
        login(c)
        assert c.get("/", follow_redirects=False).status_code == 200
        later = time_mod.time() + 6 * 60
        monkeypatch.setattr(time_mod, "time", lambda: later)
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 303
        assert "Your session ended" in c.get(r.headers["location"]).text


def test_too_many_failed_logins_are_slowed_down(web_ws):
    with TestClient(make_app(web_ws, max_login_failures=3)) as c:
        for _ in range(3):
            assert login(c, password="wrong wrong").status_code == 400
        assert login(c).status_code == 429


# -- CSRF ---------------------------------------------------------------------------------------
def test_login_without_csrf_token_is_refused(anon):
    anon.get("/login")
    r = anon.post("/login", data={"username": USER, "password": PASSWORD})
    assert r.status_code == 403
    assert "CSRF" in r.text


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_unsafe_requests_need_the_csrf_token(client, token):
    data = {"tag": "vip"} | ({"csrf_token": token} if token else {})
    r = client.post("/customers/c05/tags", data=data)
    assert r.status_code == 403
    r = client.post(
        "/customers/c05/tags",
        data={"tag": "vip"},
        headers={"X-CSRF-Token": token or "", "Accept": "application/json"},
    )
    assert r.status_code == 403 and r.json()["type"] == "csrf_error"


def test_csrf_token_of_another_session_is_refused(client, web_app):
    with TestClient(web_app) as other:
        login(other)
        foreign = csrf_token(other, "/")
    r = client.post("/customers/c05/tags", data={"tag": "vip", "csrf_token": foreign})
    assert r.status_code == 403


def test_csrf_header_is_accepted_and_rendered_for_htmx(client):
    page = client.get("/customers/c05").text
    token = csrf_token(client, "/customers/c05")
    assert (
        f"&#34;X-CSRF-Token&#34;: &#34;{token}&#34;" in page or f'"X-CSRF-Token": "{token}"' in page
    )
    r = client.post(
        "/customers/c05/tags",
        data={"tag": "vip"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert r.status_code == 200 and "vip" in r.text


# -- languages ----------------------------------------------------------------------------------
def _switch(c, lang: str, page: str = "/"):
    token = csrf_token(c, page)
    return c.post(
        "/lang", data={"lang": lang, "next": page, "csrf_token": token}, follow_redirects=False
    )


def test_language_switch_persists_for_the_user(web_app):
    with TestClient(web_app) as c:
        login(c)
        assert ">Customers<" in c.get("/").text
        r = _switch(c, "zh-Hant", "/customers")
        assert r.status_code == 303 and r.headers["location"] == "/customers"
        page = c.get("/customers").text
        assert '<html lang="zh-Hant">' in page and ">客戶<" in page
    assert web_app.state.segmint.reader().users_list()[0].language == "zh-Hant"
    with TestClient(web_app) as fresh:  # a new session picks the user's language at login
        fresh.headers["accept-language"] = "en"
        login(fresh)
        assert ">總覽<" in fresh.get("/").text


def test_language_switch_on_the_login_page(anon):
    assert _switch(anon, "zh-Hant", "/login").status_code == 303
    assert "使用者名稱" in anon.get("/login").text


def test_accept_language_picks_the_first_language(anon):
    anon.headers["accept-language"] = "zh-TW,zh;q=0.9"
    assert "密碼" in anon.get("/login").text


def test_unknown_language_is_refused(client):
    r = _switch(client, "fr")
    assert r.status_code == 400
    assert "The language must be one of en, zh-Hant. Got &#39;fr&#39; instead." in r.text
