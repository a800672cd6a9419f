"""Segments pages: list, builder with live count and problems at their condition, save, detail,
history, diagnostics, explain (TestClient on the 40-person workspace)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml
from tests.web._web_support import csrf_token
from typer.testing import CliRunner

from segmint.cli import app as cli_app
from segmint.rules import SegmentSpec
from segmint.server.web import segment_builder as sb

ROOT = {"n.kind": "all", "n.was": "all"}


def _post(client, url: str, data: dict, **kw):
    token = csrf_token(client, "/segments")
    return client.post(url, data=data, headers={"X-CSRF-Token": token, "HX-Request": "true"}, **kw)


def _count(html: str) -> int | None:
    found = re.search(r'id="member-count" data-count="(\d*)"', html)
    assert found, html[:2000]
    return int(found.group(1)) if found.group(1) else None


def _three_conditions() -> dict:
    """Country is HK, at least one completed order, e-mail consent: as the builder posts it."""
    return {
        **ROOT,
        "n.0.kind": "trait", "n.0.was": "trait",
        "n.0.field": "country", "n.0.op": "eq", "n.0.value": "HK",
        "n.1.kind": "ordered", "n.1.was": "ordered", "n.1.name": "completed",
        "n.1.measure": "count", "n.1.aop": "gte", "n.1.avalue": "1", "n.1.win": "ever",
        "n.2.kind": "consent", "n.2.was": "consent", "n.2.channel": "email",
    }  # fmt: skip


SPEC_OF_THREE = {
    "all": [
        {"field": "country", "op": "eq", "value": "HK"},
        {"ordered": "completed", "measure": "count", "op": "gte", "value": 1},
        {"consent": "email"},
    ]
}


def _spec(where: dict, slug: str = "builder_test") -> dict:
    return {
        "slug": slug, "title_en": "Test", "title_zh_hant": "測試", "owner": "mei",
        "reviewed_on": "2026-06-30", "where": where,
    }  # fmt: skip


def test_pages_need_login(anon):
    for path in ("/segments", "/segments/new", "/segments/rfm_champions"):
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_every_post_needs_the_csrf_token(client):
    for url in (
        "/segments/builder/preview",
        "/segments/builder/form",
        "/segments/builder/save",
        "/segments/run",
    ):
        r = client.post(url, data=_three_conditions())
        assert r.status_code == 403, url
        assert "CSRF" in r.text
        r = client.post(url, data=_three_conditions(), headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403, url


def test_list_shows_library_and_own_segments(client):
    r = client.get("/segments")
    assert r.status_code == 200
    assert "rfm_champions" in r.text
    assert "Build a segment" in r.text


def test_builder_count_equals_segment_preview(client, web_reader):
    r = _post(client, "/segments/builder/preview", _three_conditions())
    assert r.status_code == 200
    expected = web_reader.segment_preview(_spec(SPEC_OF_THREE)).count
    assert _count(r.text) == expected
    assert 0 < expected < 40


def test_count_changes_as_conditions_are_added(client, web_reader):
    one = {k: v for k, v in _three_conditions().items() if not k.startswith(("n.1", "n.2"))}
    first = _count(_post(client, "/segments/builder/preview", one).text)
    three = _count(_post(client, "/segments/builder/preview", _three_conditions()).text)
    assert first == web_reader.segment_preview(_spec({"all": [SPEC_OF_THREE["all"][0]]})).count
    assert three < first


def test_a_bad_condition_shows_the_resolve_problem_next_to_it(client):
    data = {**_three_conditions(), "n.0.field": "countyr"}
    r = _post(client, "/segments/builder/preview", data)
    assert _count(r.text) is None
    # the problem is swapped into the slot of condition n.0, with the did-you-mean
    slot = re.search(
        r'<div id="c-n-0-problems"[^>]*hx-swap-oob="true"[^>]*>(.*?)</div>', r.text, re.S
    )
    assert slot, r.text
    assert "unknown field &#39;countyr&#39;" in slot.group(1)
    assert "country" in slot.group(1)
    assert 'data-pointer="/where/all/0/field"' in slot.group(1)
    other = re.search(r'<div id="c-n-1-problems"[^>]*>(.*?)</div>', r.text, re.S)
    assert other and "alert" not in other.group(1)


def test_a_value_of_the_wrong_type_points_at_the_value(client):
    data = {
        **ROOT, "n.0.kind": "trait", "n.0.was": "trait",
        "n.0.field": "company_size", "n.0.op": "gt", "n.0.value": "many",
    }  # fmt: skip
    r = _post(client, "/segments/builder/preview", data)
    assert 'data-pointer="/where/all/0/value"' in r.text
    assert "holds a number" in r.text


def test_structural_actions_add_change_and_remove_conditions(client):
    r = _post(client, "/segments/builder/form", {**_three_conditions(), "action": "add:n:sequence"})
    assert r.status_code == 200
    assert 'name="n.3.kind"' in r.text and 'name="n.3.then_name"' in r.text
    # the oob preview comes along with the new count
    assert 'id="preview"' in r.text and 'hx-swap-oob="true"' in r.text
    r = _post(client, "/segments/builder/form", {**_three_conditions(), "action": "remove:n.1"})
    assert 'name="n.2.kind"' not in r.text and 'name="n.1.channel"' in r.text
    changed = {**_three_conditions(), "n.2.kind": "anniversary"}  # the kind select changed
    r = _post(client, "/segments/builder/form", changed)
    assert 'name="n.2.which"' in r.text and 'name="n.2.channel"' not in r.text


@pytest.mark.parametrize("kind", [*sb.LEAF_KINDS, "all", "any", "not"])
def test_every_kind_of_condition_can_be_added_and_counted(client, kind):
    r = _post(client, "/segments/builder/form", {**ROOT, "action": f"add:n:{kind}"})
    assert r.status_code == 200
    assert f'<option value="{kind}" selected>' in r.text
    if kind not in ("all", "any"):  # an empty group is a problem until it gets a condition
        assert re.search(r'id="member-count" data-count="\d+"', r.text), kind


def test_save_writes_yaml_that_segments_run_accepts(client, web_reader):
    data = {
        **_three_conditions(),
        "meta.slug": "hk_buyers_email", "meta.title_en": "HK buyers (e-mail)",
        "meta.title_zh_hant": "香港買家（電郵）", "meta.owner": "mei",
        "meta.reviewed_on": "2026-06-30", "meta.description": "", "meta.original": "",
    }  # fmt: skip
    r = _post(client, "/segments/builder/save", data)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/segments/hk_buyers_email?saved=1"
    path = web_reader.path / "segments" / "hk_buyers_email.yaml"
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert SegmentSpec.model_validate(saved).title_zh_hant == "香港買家（電郵）"
    assert (
        SegmentSpec.model_validate(saved).where
        == SegmentSpec.model_validate(_spec(SPEC_OF_THREE)).where
    )
    # the service may already have recorded membership today (real-time evaluation): run as of
    # the end of today, as a run after it would
    today = dt.date.today().isoformat()
    result = CliRunner().invoke(
        cli_app, ["segments", "run", "--as-of", today, "--workspace", str(web_reader.path)]
    )
    assert result.exit_code == 0, result.output
    assert "hk_buyers_email" in result.output
    # a second save under the same slug is refused unless it edits that segment
    again = _post(client, "/segments/builder/save", data)
    assert again.status_code == 422 and "already exists" in again.text
    r = _post(client, "/segments/builder/save", {**data, "meta.original": "hk_buyers_email"})
    assert r.status_code == 204


def test_save_refuses_a_library_slug_and_missing_titles(client, web_reader):
    data = {**_three_conditions(), "meta.slug": "rfm_champions", "meta.title_en": "x",
            "meta.title_zh_hant": "x", "meta.owner": "mei",
            "meta.reviewed_on": "2026-06-30"}  # fmt: skip
    r = _post(client, "/segments/builder/save", data)
    assert r.status_code == 422 and "already defined in the built-in library" in r.text
    r = _post(client, "/segments/builder/save", {**data, "meta.slug": "fine", "meta.title_en": ""})
    assert r.status_code == 422 and "title_en" in r.text
    assert not (web_reader.path / "segments" / "fine.yaml").exists()


def test_detail_history_diagnostics_and_explain(client, web_reader, web_app):
    web_reader.segments_run(as_of=dt.date.today())
    r = client.get("/segments/rfm_champions")
    assert r.status_code == 200 and "chart-history" in r.text
    live = client.get("/segments/rfm_champions/count")
    assert f'data-count="{web_reader.segment_preview("rfm_champions").count}"' in live.text
    first = client.get("/segments/rfm_champions/diagnostics")
    assert first.status_code == 200
    if "Jaccard" not in first.text:  # computed in the background: a placeholder that polls
        assert 'hx-trigger="every 2s"' in first.text
        assert web_app.state.segmint_web.jobs.wait(120)
    diag = client.get("/segments/rfm_champions/diagnostics")
    assert diag.status_code == 200 and "Jaccard" in diag.text
    report = web_reader.segments_check()
    mine = [f for f in report.findings if "rfm_champions" in f.segments]
    assert all(f.message.replace("'", "&#39;") in diag.text for f in mine)
    assert (web_reader.path / ".web" / "segment_diagnostics.json").exists()
    e = client.get("/segments/rfm_champions/explain", params={"customer_id": "c01"})
    expected = web_reader.explain_segment("rfm_champions", "c01")
    word = "is in this segment" if expected.result else "is not in this segment"
    assert e.status_code == 200 and word in e.text and expected.label in e.text
    missing = client.get("/segments/rfm_champions/explain", params={"customer_id": "nobody"})
    assert missing.status_code == 404


def test_unknown_segment_says_did_you_mean(client):
    r = client.get("/segments/rfm_champion")
    assert r.status_code == 404 and "rfm_champions" in r.text


def test_builder_round_trips_every_library_definition():
    """Every built-in definition renders into builder controls that post back the same data."""
    from segmint import segments as seg
    from segmint.rules import to_data
    from segmint.rules.resolve import Catalog

    kinds = sb.FieldKinds.from_catalog(Catalog.default())
    for st in seg.load_definitions(None):
        for s in st.segments:
            where = to_data(s)["where"]
            form = _flatten(sb.form_from_where(where))
            back = SegmentSpec.model_validate(
                {**to_data(s), "where": sb.where_from_form(form, kinds)}
            )
            assert back.where == s.where, s.slug


def _flatten(node: sb.Node) -> dict:
    form = {f"{node.id}.kind": node.kind, f"{node.id}.was": node.kind}
    form.update({f"{node.id}.{k}": v for k, v in node.values.items()})
    for key, rows in node.filters.items():
        for j, row in enumerate(rows):
            form.update({f"{node.id}.{key}{j}.{k}": v for k, v in row.items()})
    for child in node.children:
        form.update(_flatten(child))
    return form
