"""Overview and Personas pages, and the catalog compiler."""

from __future__ import annotations

import gettext
import io

from tests.web._web_support import csrf_token

from segmint.server.web.cache import expire_version
from segmint.server.web.i18n import compile_po, translations


def test_overview_headline_figures(client):
    html = client.get("/").text
    assert 'Customers</div><div class="value">40</div>' in html
    assert 'hx-get="/overview/charts"' in html and "/static/vendor/plotly.min.js" in html


def test_overview_charts_and_warnings(client, web_app):
    # both are computed in the background (tests/web/test_web_background.py): wait for them
    client.get("/overview/charts"), client.get("/overview/warnings")
    assert web_app.state.segmint_web.jobs.wait(120)
    charts = client.get("/overview/charts").text
    assert 'id="chart-rfm-treemap"' in charts
    assert "No CLV yet" in charts  # no clv table in this workspace
    warnings = client.get("/overview/warnings").text
    assert "Only shopify provides" in warnings  # data coverage
    assert "Segment quality" in warnings  # segments check findings


def test_overview_segment_history(client, web_app):
    assert "No membership history yet" in client.get("/overview/segments").text
    web_app.state.segmint.reader().segments_run()
    expire_version(web_app.state.segmint_web)
    assert 'id="chart-segment-sizes"' in client.get("/overview/segments").text


def test_personas_page_in_both_languages(client, web_app):
    assert "No personas yet" in client.get("/personas").text
    web_app.state.segmint.reader().personas(
        save=True, random_state=0, min_clusters=2, max_clusters=3
    )
    # the data version is remembered for a second; forget it, the personas were just stored
    expire_version(web_app.state.segmint_web)
    en = client.get("/personas").text
    assert "Not yet customers" in en
    token = csrf_token(client, "/personas")
    client.post("/lang", data={"lang": "zh-Hant", "next": "/personas", "csrf_token": token})
    zh = client.get("/personas").text
    assert "尚未購買" in zh or "未購買" in zh or "尚未成為客戶" in zh, zh[:2000]


def test_static_files_are_public_and_plotly_comes_from_the_wheel(anon):
    from segmint.server.web import plotly_js_path

    assert anon.get("/static/htmx.min.js").status_code == 200
    assert anon.get("/static/app.css").status_code == 200
    r = anon.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200 and r.content == plotly_js_path().read_bytes()


def test_compile_po_matches_gnu_gettext():
    po = (
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Hi"\nmsgstr "你好"\n'
    )
    assert gettext.GNUTranslations(io.BytesIO(compile_po(po))).gettext("Hi") == "你好"


def test_every_catalog_string_is_translated_once():
    zh = translations("zh-Hant")
    assert zh.gettext("Customers") == "客戶"
    assert zh.gettext("Log in") == "登入"
