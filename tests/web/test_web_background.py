"""Slow sections off the request (background jobs), the 360 page without a stored RFM table,
the data version each section depends on, the HTML 404 page and the serve start rule."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from tests.web._web_support import TestClient, csrf_token, login, make_app

from segmint.server.web.cache import data_version, version_of
from segmint.server.web.overview import WARNINGS_READS, warnings_file

WAIT = 120  # seconds a background job may take on a busy machine (not a timing assertion)


def _state(html: str, element_id: str | None = None) -> str:
    """data-state of the section (the first one, or the element with ``element_id``)."""
    pattern = r'data-state="(\w+)"'
    if element_id:
        pattern = rf'id="{element_id}" data-state="(\w+)"'
    found = re.search(pattern, html)
    assert found, html[:500]
    return found.group(1)


def _forget_version(web_app) -> None:
    """Drop the data version kept for a second, so the next request reads it again."""
    web_app.state.segmint_web.cache.pop(("__data_version__",), None)


# -- the 360 page ----------------------------------------------------------------------------------
def test_360_without_stored_rfm_shows_the_customers_own_values(client, web_reader):
    assert "rfm" not in web_reader.con.list_tables()
    expected = web_reader.rfm().filter(lambda t: t.customer_id == "c20").to_pyarrow().to_pylist()
    assert len(expected) == 1  # the full RFM (every customer) as the reference
    row = expected[0]
    html = client.get("/customers/c20").text
    assert "RFM scores and segments appear after an RFM run." in html
    assert f"Orders</dt><dd>{row['frequency']}</dd>" in html
    assert f"Spent</dt><dd>HKD {row['monetary']:,.2f}</dd>" in html
    assert f"({row['recency_days']} days ago)" in html
    assert 'action="/customers/c20/rfm-run"' in html


def test_360_button_starts_an_rfm_run_and_then_shows_the_scores(client, web_app, web_reader):
    token = csrf_token(client, "/customers/c20")
    r = client.post("/customers/c20/rfm-run", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/customers/c20"
    runs = web_reader.table("model_runs").to_pyarrow().to_pylist()
    assert [(x["model"], x["requested_by"]) for x in runs] == [("rfm", "web:mei")]
    web_app.state.segmint.runner.stop()  # waits for the run to finish
    t = web_reader.table("model_runs")
    assert t.status.to_pyarrow().to_pylist() == ["succeeded"]
    html = client.get("/customers/c20").text
    assert re.search(r"RFM score</dt><dd>\d{3} ", html)
    assert "appear after an RFM run" not in html


def test_rfm_run_button_needs_the_csrf_token(client):
    assert client.post("/customers/c20/rfm-run", data={}).status_code == 403


# -- background sections ---------------------------------------------------------------------------
def test_warnings_are_computing_first_then_the_stored_results(client, web_app, web_ws):
    first = client.get("/overview/warnings")
    assert first.status_code == 200
    assert _state(first.text) == "computing"
    assert 'hx-get="/overview/warnings" hx-trigger="every 2s"' in first.text
    assert "Computing in the background" in first.text
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    done = client.get("/overview/warnings").text
    assert _state(done, "overview-warnings") == "fresh"
    assert "hx-trigger" not in done  # polling stops
    assert "Only shopify provides" in done and "Segment quality" in done
    kept = json.loads(warnings_file(web_ws).read_text(encoding="utf-8"))
    assert kept["value"]["findings"] and kept["value"]["as_of"]
    assert kept["version"] and kept["computed_at"]


def test_stored_warnings_survive_a_restart(web_ws):
    with TestClient(make_app(web_ws)) as c:
        assert login(c).status_code == 303
        c.get("/overview/warnings")
        assert c.app.state.segmint_web.jobs.wait(WAIT)
    with TestClient(make_app(web_ws)) as c:  # a new app: empty memory, the file is read
        assert login(c).status_code == 303
        html = c.get("/overview/warnings").text
        assert _state(html, "overview-warnings") == "fresh"
        assert not c.app.state.segmint_web.jobs.busy()


def test_changed_data_shows_the_last_results_with_their_age_while_updating(
    client, web_app, monkeypatch
):
    from segmint.server.web import overview

    monkeypatch.setattr(overview, "WARNINGS_REFRESH_SECONDS", 0)  # no pause between two runs
    client.get("/overview/warnings")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    web_app.state.segmint.reader().tags_add("vip", ["c01"], source="test")
    _forget_version(web_app)
    html = client.get("/overview/warnings").text
    assert _state(html, "overview-warnings") == "computing"
    assert "Results of 0 minutes ago; the data has changed since." in html
    assert "Segment quality" in html  # the last results meanwhile
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    assert _state(client.get("/overview/warnings").text, "overview-warnings") == "fresh"


def test_changed_data_waits_a_pause_before_the_next_run(client, web_app, monkeypatch):
    from segmint.server.web import cache

    monkeypatch.setattr(cache, "PAUSE_FACTOR", 1e9)  # as if the last run had taken very long
    client.get("/overview/warnings")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    web_app.state.segmint.reader().tags_add("vip", ["c01"], source="test")
    _forget_version(web_app)
    html = client.get("/overview/warnings").text
    assert _state(html, "overview-warnings") == "stale"
    assert "They are checked again at the next visit after a pause." in html
    assert "hx-trigger" not in html and not web_app.state.segmint_web.jobs.busy()


def test_membership_changes_keep_the_warnings_fresh(client, web_app):
    """The real-time sweep writes segment_membership: the checks never read it (the cause of
    the recomputed warnings between two warm requests at 1M customers)."""
    client.get("/overview/warnings")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    at = dt.datetime(2026, 1, 1)

    def enter(ws):
        ws.con.con.execute(
            "INSERT INTO segment_membership (segment, customer_id, entered_at) VALUES "
            "('vip', 'c01', $1)",
            [at],
        )

    web_app.state.segmint.writer.call(enter).result()
    _forget_version(web_app)
    assert _state(client.get("/overview/warnings").text, "overview-warnings") == "fresh"
    assert not web_app.state.segmint_web.jobs.busy()


def test_each_section_depends_only_on_what_it_reads(web_reader):
    version = data_version(web_reader)
    names = [part[0] for part in version]
    assert "segment_membership" in names and "definitions" in names
    kept = [part[0] for part in version_of(version, WARNINGS_READS)]
    assert "segment_membership" not in kept and "definitions" in kept and "orders" in kept
    assert version_of(version, None) == version


def test_charts_are_computed_in_the_background(client, web_app):
    first = client.get("/overview/charts").text
    assert _state(first) == "computing" and 'hx-get="/overview/charts"' in first
    assert 'id="overview-charts"' not in first  # the browser test waits for the real one
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    ready = client.get("/overview/charts").text
    assert _state(ready, "overview-charts") == "fresh" and 'id="chart-rfm-treemap"' in ready


def test_a_failing_section_says_why_and_stops_polling(client, web_app, monkeypatch):
    from segmint.server.web import overview

    def broken(ws):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(overview, "_chart_data", broken)
    client.get("/overview/charts")
    assert web_app.state.segmint_web.jobs.wait(WAIT)
    html = client.get("/overview/charts").text
    assert "This section could not be computed: RuntimeError: disk on fire" in html
    assert "hx-trigger" not in html


# -- the HTML 404 page -----------------------------------------------------------------------------
def test_unknown_web_path_is_an_html_404_in_the_session_language(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page /no-such-page." in r.text
    assert 'href="/customers"' in r.text  # the navigation of the logged-in user
    token = csrf_token(client, "/customers")
    client.post("/lang", data={"lang": "zh-Hant", "next": "/", "csrf_token": token})
    zh = client.get("/no-such-page")
    assert zh.status_code == 404 and "找不到頁面 /no-such-page。" in zh.text


def test_unknown_web_path_before_login_is_an_html_404_too(anon):
    r = anon.get("/nope", headers={"Accept-Language": "zh-TW"})
    assert r.status_code == 404 and "找不到頁面 /nope。" in r.text


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/v1/nope", {}), ("/v1", {}), ("/nope", {"Accept": "application/json"})],
)
def test_api_paths_keep_the_json_404(anon, path, headers):
    r = anon.get(path, headers=headers)
    assert r.status_code == 404
    assert r.json()["type"] == "not_found"
    assert r.json()["message"] == f"There is no route {path}."


# -- serve starts with a key or a web user ---------------------------------------------------------
def _serve(tmp_path, monkeypatch, *, user: bool, key: bool):
    import uvicorn

    from segmint.cli import main
    from segmint.workspace import Workspace

    ws = Workspace.create(tmp_path / "shop")
    if user:
        ws.users_create("mei", "correct horse battery")
    if key:
        ws.keys_create("ingest")
    ws.close()
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw["port"]))
    try:
        main(["serve", str(tmp_path / "shop"), "--port", "8799"])
    except SystemExit as exit_:
        if exit_.code:
            raise
    return started


def test_serve_starts_with_only_a_web_user(tmp_path, monkeypatch, capsys):
    assert _serve(tmp_path, monkeypatch, user=True, key=False) == [8799]
    assert "0 active key(s), 1 web user(s)" in " ".join(capsys.readouterr().out.split())


def test_serve_starts_with_only_an_api_key(tmp_path, monkeypatch):
    assert _serve(tmp_path, monkeypatch, user=False, key=True) == [8799]


def test_serve_refuses_without_a_key_or_a_user(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_:
        _serve(tmp_path, monkeypatch, user=False, key=False)
    assert exit_.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "no active API key and no web app user" in out
    assert "segmint users create NAME -w" in out and "segmint keys create --scope ingest -w" in out
