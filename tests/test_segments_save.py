"""ws.segment_save (what the web builder saves with), segments.history and ws.campaign_reach."""

from __future__ import annotations

import pytest
from tests.report_workspace import make_workspace

from segmint import segments
from segmint.errors import DefinitionError, ValidationError
from segmint.rules import load_specs

SPEC = {
    "slug": "hk_people",
    "title_en": "People in Hong Kong",
    "title_zh_hant": "香港的人",
    "owner": "crm",
    "reviewed_on": "2026-06-30",
    "where": {"all": [{"field": "country", "op": "eq", "value": "HK"}, {"consent": "email"}]},
}


@pytest.fixture
def ws(tmp_path):
    w = make_workspace(tmp_path / "shop")
    yield w
    w.close()


def test_save_writes_a_definition_that_loads_back_equal(ws):
    path = ws.segment_save(SPEC)
    assert path == ws.path / "segments" / "hk_people.yaml"
    (st,) = load_specs(path)
    assert st.segments[0].title_zh_hant == "香港的人"
    assert ws.segment_preview("hk_people").count == ws.segment_preview(SPEC).count > 0
    assert not list((ws.path / "segments").glob(".*.tmp"))  # no temporary file left


def test_save_refuses_existing_files_library_slugs_and_bad_definitions(ws):
    ws.segment_save(SPEC)
    with pytest.raises(ValidationError, match=r"A definition hk_people.yaml already exists"):
        ws.segment_save(SPEC)
    ws.segment_save({**SPEC, "title_en": "HK"}, replace=True)
    assert load_specs(ws.path / "segments" / "hk_people.yaml")[0].segments[0].title_en == "HK"
    with pytest.raises(ValidationError, match=r"'rfm_champions' is already defined in the built"):
        ws.segment_save({**SPEC, "slug": "rfm_champions"})
    bad = {**SPEC, "slug": "typo", "where": {"field": "countyr", "op": "eq", "value": "HK"}}
    with pytest.raises(DefinitionError) as err:
        ws.segment_save(bad)
    assert err.value.problems[0].pointer == "/where/field"
    assert err.value.problems[0].suggestions == ("country",)
    assert not (ws.path / "segments" / "typo.yaml").exists()


def test_history_counts_members_after_every_run(ws):
    ws.segment_save(SPEC)
    first = ws.segments_run(as_of="2026-06-01")
    second = ws.segments_run(as_of="2026-06-30")
    h = segments.history(ws.con, "hk_people")
    assert h["members"].iloc[0] == first.members["hk_people"] > 0
    assert h["members"].iloc[-1] == second.members["hk_people"]
    assert list(h["at"]) == sorted(h["at"])
    assert (h["entered"].sum() - h["exited"].sum()) == second.members["hk_people"]
    assert segments.history(ws.con, "nothing_recorded").empty


def test_campaign_reach_counts_recipients_and_reasons(ws):
    ws.segment_save(SPEC)
    n, dropped = ws.campaign_reach(
        {"name": "x", "segments": ["hk_people"], "channel": "email", "templates": {"en": "Hi"}}
    )
    audience = ws.audience("hk_people", "email").count().execute()
    assert n == audience and sum(dropped.values()) == 0  # the segment requires e-mail consent
    n_wa, dropped_wa = ws.campaign_reach(
        {"name": "x", "segments": ["hk_people"], "channel": "whatsapp", "templates": {"en": "Hi"},
         "frequency_cap": {"max_messages": 1, "period_days": 7}}
    )  # fmt: skip
    members = ws.segment_preview("hk_people").count
    assert n_wa + sum(dropped_wa.values()) == members
    assert dropped_wa["frequency_cap"] == 0 and dropped_wa["no_consent"] > 0
