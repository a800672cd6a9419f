"""Malformed definitions give precise errors, all at once; SQL-looking values stay plain values.

The corpus is tests/rules_cases/malformed.yaml. SQL-looking values that are valid (a country,
a tag, an event name, a salt) are executed and must match rows literally, never run as SQL.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import ibis
import pytest
import yaml

from _rules_support import BASE, CASES, duckdb_con, segment_data
from segmint.errors import DefinitionError, DefinitionProblem, ValidationError
from segmint.rules import (
    Catalog,
    Rows,
    Tables,
    compile_segment,
    evaluate,
    load_specs,
    parse_specs,
    resolve,
)

RFM = ibis.schema({"customer_id": "string", "recency": "int64", "segment": "string"})
CATALOG = Catalog.default(metrics={"rfm": RFM})
CORPUS = yaml.safe_load((CASES / "malformed.yaml").read_text(encoding="utf-8"))


def _with_base(definition: dict, bare: bool) -> dict:
    if bare:
        return definition
    if "segments" in definition:
        return {**definition, "segments": [{**BASE, **s} for s in definition["segments"]]}
    return {**BASE, **definition}


def _problems(definition: dict) -> tuple[str, list[DefinitionProblem]]:
    try:
        specs = parse_specs(definition, source="bad.yaml")
    except DefinitionError as exc:
        return "load", exc.problems
    try:
        resolve(specs, CATALOG)
    except DefinitionError as exc:
        return "resolve", exc.problems
    return "none", []


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_malformed(case: dict) -> None:
    stage, problems = _problems(_with_base(case["definition"], case.get("bare", False)))
    rendered = "\n".join(p.render() for p in problems)
    assert stage == case["stage"], f"refused at {stage}, expected {case['stage']}:\n{rendered}"
    assert len(problems) == len(case["problems"]), f"got:\n{rendered}"
    for want in case["problems"]:
        hits = [
            p for p in problems if p.pointer == want["pointer"] and want["message"] in p.message
        ]
        assert hits, f"no problem at {want['pointer']} saying {want['message']!r}; got:\n{rendered}"
        p = hits[0]
        assert p.file == "bad.yaml"
        if "suggestions" in want:
            assert list(p.suggestions) == want["suggestions"], p.render()
        if "hint" in want:
            assert p.hint and want["hint"] in p.hint, p.render()


def test_one_problem_reads_like_any_error() -> None:
    data = segment_data("at_risk", {"all": [{"field": "recncy", "op": "gt", "value": 90}]})
    with pytest.raises(DefinitionError) as info:
        resolve(parse_specs(data, source="segments.yaml"), CATALOG)
    err = info.value
    assert isinstance(err, ValidationError) and isinstance(err, ValueError)
    assert str(err).startswith(
        "Segment 'at_risk' refers to unknown field 'recncy' of profiles. "
        "Did you mean 'rfm.recency'? (segments.yaml, /where/all/0/field) Hint: "
    )
    body = err.to_dict()
    assert body["type"] == "definition_error"
    assert body["problems"][0]["pointer"] == "/where/all/0/field"


def test_load_specs_reports_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("slug: a\nwhere: {tag: [unclosed\n", encoding="utf-8")
    (tmp_path / "b.json").write_text('{"slug": "b", "where": {"tag": "x"},}', encoding="utf-8")
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({"segments": [{**BASE, "slug": "c", "where": {"tag": "x"}, "x": 1}]}),
        encoding="utf-8",
    )
    (tmp_path / "empty.yml").write_text("", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_specs(tmp_path)
    found = {Path(p.file).name: p for p in info.value.problems}
    assert set(found) == {"a.yaml", "b.json", "c.yaml", "empty.yml"}
    assert "not valid YAML" in found["a.yaml"].message and "line" in found["a.yaml"].hint
    assert "not valid JSON" in found["b.json"].message
    assert found["c.yaml"].pointer == "/segments/0/x"
    assert "Got an empty file instead" in found["empty.yml"].message
    assert "4 problems in segment definitions" in str(info.value)


def test_load_specs_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="does not exist"):
        load_specs(tmp_path / "nope.yaml")
    with pytest.raises(DefinitionError, match="No definition files"):
        load_specs(tmp_path)


# -- SQL-looking values are plain values -----------------------------------------------------------
EVIL = "'; DROP TABLE profiles; --"
EVIL_EVENT = "x'); DROP TABLE events; --"


def test_sql_looking_values_are_literals() -> None:
    """Values reach the engine only as quoted literals and match rows literally."""
    con = duckdb_con()
    rows = Rows(
        profiles=[
            {"customer_id": "c1", "country": EVIL, "traits": json.dumps({"band": EVIL})},
            {"customer_id": "c2", "country": "HK", "traits": "{}"},
        ],
        events=[
            {
                "customer_id": "c1",
                "event": EVIL_EVENT,
                "ts": datetime(2025, 2, 1),
                "properties": json.dumps({"note": EVIL}),
            },
        ],
        tags=[{"customer_id": "c1", "tag": EVIL}],
    )
    con.create_table("profiles", Tables.from_rows(rows).profiles, overwrite=True)
    tables = Tables.from_rows(rows)
    tables = Tables(profiles=con.table("profiles"), events=tables.events, tags=tables.tags)
    where = {
        "all": [
            {"field": "country", "op": "eq", "value": EVIL},
            {"field": "country", "op": "in", "value": [EVIL, "x"]},
            {"field": "traits.band", "op": "contains", "value": "DROP TABLE"},
            {
                "performed": EVIL_EVENT,
                "where": [{"field": "properties.note", "op": "starts_with", "value": "';"}],
            },
            {"tag": EVIL},
            {"not": {"sample": 0.001, "salt": EVIL}},
        ]
    }
    resolved = resolve(parse_specs(segment_data("evil", where)), tables.catalog(event_names=None))
    expr = compile_segment(resolved["evil"], tables, datetime(2025, 3, 1))
    sql = ibis.to_sql(expr, dialect="duckdb")
    assert "'''; DROP TABLE profiles; --'" in sql  # a quoted, escaped literal
    assert "DROP TABLE profiles; --'" not in sql.replace("'''; DROP TABLE profiles; --'", "")
    assert set(con.to_pyarrow(expr).column("customer_id").to_pylist()) == {"c1"}
    assert evaluate(resolved["evil"], rows, datetime(2025, 3, 1)) == {"c1"}
    assert con.table("profiles").count().execute() == 2  # still there, untouched
