"""Spec models: Python construction, JSON Schema export, YAML output, frozen objects."""

from __future__ import annotations

import json
from datetime import date, datetime

import pydantic
import pytest
import yaml

from _rules_support import ROOT
from segmint.rules import (
    AllOf,
    Compare,
    Duration,
    EventSequence,
    Not,
    Performed,
    SegmentSet,
    SegmentSpec,
    Step,
    dump_yaml,
    json_schema,
    load_specs,
    parse_specs,
    resolve,
)
from segmint.rules.spec import CONDITION_KEYS, CONDITION_TAGS, is_slug


def _spec(**where: object) -> SegmentSpec:
    return SegmentSpec(
        slug="s",
        title_en="S",
        title_zh_hant="測試",
        owner="o",
        reviewed_on=date(2025, 1, 15),
        where=where["where"],
    )


def test_python_objects_equal_parsed_yaml() -> None:
    built = _spec(
        where=AllOf(
            all=[
                Compare(field="country", op="in", value=["HK", "TW"]),
                Not(not_=Performed(performed="Order Completed", within_last=Duration(days=30))),
                EventSequence(
                    first=Step(performed=["Checkout Started"]),
                    then_not=Step(performed="Order Completed"),
                    within=Duration(hours=24),
                ),
            ]
        )
    )
    text = """
    slug: s
    title_en: S
    title_zh_hant: 測試
    owner: o
    reviewed_on: 2025-01-15
    where:
      all:
        - {field: country, op: in, value: [HK, TW]}
        - not: {performed: Order Completed, within_last: {days: 30}}
        - first: {performed: [Checkout Started]}
          then_not: {performed: Order Completed}
          within: {hours: 24}
    """
    assert parse_specs(yaml.safe_load(text)).segments == (built,)


def test_specs_are_frozen_and_hashable() -> None:
    spec = _spec(where=Compare(field="country", op="eq", value="HK"))
    with pytest.raises(pydantic.ValidationError):
        spec.slug = "other"  # type: ignore[misc]
    assert hash(spec) == hash(_spec(where=Compare(field="country", op="eq", value="HK")))


def test_defaults_of_a_performed_leaf() -> None:
    leaf = Performed(performed="Order Completed")
    assert (leaf.measure, leaf.op, leaf.value) == ("count", "gte", 1)


def test_json_schema_covers_every_condition() -> None:
    schema = json_schema()
    json.dumps(schema)  # serialisable
    assert set(schema["$defs"]) >= CONDITION_TAGS
    assert {d["$ref"].rsplit("/", 1)[1] for d in schema["anyOf"]} == {"SegmentSet", "SegmentSpec"}
    compare = schema["$defs"]["Compare"]
    assert compare["additionalProperties"] is False
    assert "within_last" in compare["properties"]["op"]["enum"]
    assert "from" in schema["$defs"]["Performed"]["properties"]  # aliases, as written in files
    assert "not" in schema["$defs"]["Not"]["properties"]
    # Model-level export works too, as editors expect.
    assert "where" in SegmentSpec.model_json_schema()["properties"]


def test_json_schema_accepts_the_examples() -> None:
    """The examples validate against the exported schema (checked with pydantic's own rules)."""
    schema = json_schema()
    for path in sorted((ROOT / "examples" / "segments").iterdir()):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        top = "segments" if "segments" in data else "slug"
        assert top in {"segments", "slug"}
        required = schema["$defs"]["SegmentSet" if top == "segments" else "SegmentSpec"]["required"]
        assert set(required) <= set(data)


def test_dump_yaml_puts_the_kind_key_first_and_round_trips() -> None:
    sets = load_specs(ROOT / "examples" / "segments")
    for st in sets:
        text = dump_yaml(st)
        again = parse_specs(yaml.safe_load(text))
        assert again == st
    first = yaml.safe_load(dump_yaml(sets[0]))["segments"][0]["where"]
    assert next(iter(first)) in CONDITION_KEYS


def test_single_segment_file_is_a_set_of_one(tmp_path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        dump_yaml(_spec(where=Compare(field="country", op="eq", value="HK"))), encoding="utf-8"
    )
    (st,) = load_specs(path)
    assert isinstance(st, SegmentSet) and [s.slug for s in st.segments] == ["s"]
    assert st.source == str(path)


def test_slugs() -> None:
    assert is_slug("abandoned_cart_7d")
    assert not is_slug("Abandoned cart")
    assert not is_slug("1st")


def test_resolve_accepts_specs_sets_data_and_lists() -> None:
    spec = _spec(where=Compare(field="country", op="eq", value="HK"))
    other = {
        "slug": "t",
        "title_en": "T",
        "title_zh_hant": "T",
        "owner": "o",
        "reviewed_on": "2025-01-15",
        "where": {"in_segment": "s"},
    }
    resolved = resolve([spec, other])
    assert [s.slug for s in resolved] == ["s", "t"]
    assert resolved["t"].depends_on == ("s",)
    assert resolved["t"].where.segment is resolved["s"]
    with pytest.raises(KeyError, match="Did you mean 's'"):
        resolved["ss"]


def test_values_keep_their_types() -> None:
    leaf = Compare(field="created_at", op="between", value=[date(2025, 1, 1), datetime(2025, 2, 1)])
    assert leaf.value == (date(2025, 1, 1), datetime(2025, 2, 1))
    assert Compare(field="company_size", op="eq", value=True).value is True
