"""Fixtures of the web app tests (TestClient ones here; the browser ones further down)."""

from __future__ import annotations

import pytest
from tests.web._web_support import TestClient, login, make_app, web_workspace


@pytest.fixture
def web_ws(tmp_path):
    """A 40-person workspace with user ``mei`` (password ``PASSWORD``)."""
    ws = web_workspace(tmp_path / "shop", default_region="HK", currency="HKD")
    yield ws
    ws.close()


@pytest.fixture
def web_app(web_ws):
    return make_app(web_ws)


@pytest.fixture
def anon(web_app):
    """A client that is not logged in."""
    with TestClient(web_app) as c:
        yield c


@pytest.fixture
def client(web_app):
    """A client logged in as ``mei``."""
    with TestClient(web_app) as c:
        assert login(c).status_code == 303
        yield c


@pytest.fixture
def web_reader(web_app, client):
    """A workspace on a cursor of its own (the writer thread owns the workspace while serving)."""
    return web_app.state.segmint.reader()


# -- browser tests: a live server on 127.0.0.1 and Debian's Chromium driven by Playwright ---------
import shutil  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
#: ../shared/TECH-NOTES.md: no browser download, no background network
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_SCREENSHOTS: list[Path] = []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """``segmint``'s app served by uvicorn on 127.0.0.1 (a free port) for the whole session,
    on the 40-person workspace with user ``mei``; yields the base URL."""
    import uvicorn

    ws = web_workspace(tmp_path_factory.mktemp("live") / "shop", default_region="HK")
    app = make_app(ws)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-live", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    ws.close()


@pytest.fixture(scope="session")
def live_workspace(live_server):
    """The live server's workspace folder (open it read-only through the app, not directly)."""
    return live_server


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's /usr/bin/chromium; Playwright downloads nothing)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed: run scripts/setup-test-env (apt chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Folder for screenshots (its path is printed at the end of the test run)."""
    return tmp_path_factory.mktemp("web-artifacts")


@pytest.fixture
def shot(artifacts, request):
    """``shot(page, "name")`` saves a full-page screenshot as an artifact and returns its path."""

    def save(page, name: str) -> Path:
        path = artifacts / f"{request.node.name}-{len(_SCREENSHOTS):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        _SCREENSHOTS.append(path)
        return path

    return save


@pytest.fixture
def logged_in_page(browser, live_server):
    """A Playwright page logged in as ``mei`` on the live server (English to start with)."""
    from tests.web._web_support import PASSWORD, USER

    context = browser.new_context(base_url=live_server, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(live_server + "/")
    yield page
    context.close()


def pytest_terminal_summary(terminalreporter):
    if _SCREENSHOTS:
        terminalreporter.section("web screenshots")
        for path in _SCREENSHOTS:
            terminalreporter.write_line(str(path))
