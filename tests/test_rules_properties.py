"""Property tests of the segment engine (hypothesis, derandomized so every run is the same).

- The ibis-compiled segment run on DuckDB equals the plain-Python reference evaluator on random
  data and random definitions (every leaf kind, nested combinators, time zones, boundaries).
- spec → YAML → spec gives back an equal spec; spec → JSON → spec resolves to the same tree.
- An exclusive set puts each customer in at most one segment: the first by priority.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _rules_support import duckdb_con, members, segment_data
from segmint.rules import (
    Rows,
    SegmentSpec,
    Tables,
    compile_flags,
    compile_segment,
    compile_set,
    dump_yaml,
    evaluate,
    evaluate_set,
    parse_specs,
    resolve,
)
from segmint.rules.semantics import day_start

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

#: More examples on demand:
#:   SEGMINT_PROPERTY_EXAMPLES=1000 python -m pytest tests/test_rules_properties.py
EXAMPLES = int(os.environ.get("SEGMINT_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

AS_OF = datetime(2025, 3, 1, 12, 0, 0)
TZS = ["UTC", "Asia/Hong_Kong", "America/New_York"]
IDS = ["c0", "c1", "c2", "c'3", "客4", "c5"]
EVENTS = ["Product Viewed", "Checkout Started", "Order Completed"]
STRINGS = ["HK", "TW", "hk", "H", "", "'; DROP TABLE profiles; --", "a%_b", "Kow loon"]
INTS = [0, 1, 2, 10, -3]
NUMS = [0, 1, 2.5, 10, -3, 0.5]
DATES = [
    date(1990, 3, 1),
    date(1992, 2, 29),
    date(2024, 3, 1),
    date(2025, 2, 28),
    date(2025, 3, 1),
    date(2025, 3, 8),
]
_OFFSETS = [
    timedelta(days=-30),
    timedelta(days=-7),
    timedelta(days=-7, seconds=-1),
    timedelta(days=-1),
    timedelta(days=-1, seconds=1),
    timedelta(hours=-1),
    timedelta(0),
    timedelta(seconds=1),
    timedelta(days=1),
    timedelta(days=-400),
]
TIMES = sorted(
    {AS_OF + o for o in _OFFSETS}
    | {day_start(d, tz) + timedelta(seconds=s) for d in DATES[3:] for tz in TZS for s in (-1, 0)}
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


# -- data ------------------------------------------------------------------------------------------
def _traits() -> st.SearchStrategy:
    obj = st.fixed_dictionaries(
        {},
        optional={
            "band": maybe(st.sampled_from(STRINGS)),
            "score": st.one_of(
                st.sampled_from(NUMS), st.sampled_from(["7", "x"]), st.booleans(), st.none()
            ),
            "interests": st.one_of(
                st.lists(st.sampled_from(STRINGS), max_size=3), st.sampled_from(STRINGS)
            ),
            "flag": maybe(st.booleans()),
        },
    )
    return st.one_of(st.none(), st.just("not json {"), obj.map(json.dumps))


@st.composite
def datasets(draw: Any) -> Rows:
    profiles = [
        {
            "customer_id": cid,
            "country": draw(maybe(st.sampled_from(STRINGS))),
            "city": draw(maybe(st.sampled_from(STRINGS))),
            "company_size": draw(maybe(st.sampled_from(INTS))),
            "annual_revenue": draw(maybe(st.sampled_from([float(x) for x in NUMS]))),
            "birth_date": draw(maybe(st.sampled_from(DATES))),
            "created_at": draw(maybe(st.sampled_from(TIMES))),
            "consent_email": draw(maybe(st.booleans())),
            "consent_email_at": draw(maybe(st.sampled_from(TIMES))),
            "traits": draw(_traits()),
        }
        for cid in IDS
    ]
    who = st.sampled_from([*IDS, None, "zz"])
    props = st.fixed_dictionaries(
        {},
        optional={
            "revenue": st.one_of(st.sampled_from(NUMS), st.just("5"), st.none()),
            "category": st.sampled_from(STRINGS),
        },
    ).map(json.dumps)
    events = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "customer_id": who,
                    "event": maybe(st.sampled_from(EVENTS)),
                    "ts": maybe(st.sampled_from(TIMES)),
                    "properties": maybe(props),
                }
            ),
            max_size=14,
        )
    )
    orders = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "customer_id": who,
                    "ts": maybe(st.sampled_from(TIMES)),
                    "amount": maybe(st.sampled_from([float(x) for x in NUMS])),
                    "discount": maybe(st.sampled_from([0.0, 1.0])),
                    "status": maybe(st.sampled_from(["completed", "refunded"])),
                }
            ),
            max_size=8,
        )
    )
    tags = draw(
        st.lists(
            st.fixed_dictionaries(
                {"customer_id": who, "tag": st.sampled_from(["vip", "x'y", "other"])}
            ),
            max_size=6,
        )
    )
    metric_rows = [{"customer_id": "c0", "score": 3, "label": "HK"}]  # fixes the column types
    metric_rows += draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "customer_id": who,
                    "score": maybe(st.sampled_from(INTS)),
                    "label": maybe(st.sampled_from(STRINGS)),
                }
            ),
            max_size=6,
        )
    )
    return Rows(profiles, events, orders, tags, {"m": metric_rows})


# -- conditions ------------------------------------------------------------------------------------
def _pair(values: list) -> st.SearchStrategy:
    key = lambda v: datetime(v.year, v.month, v.day) if type(v) is date else v  # noqa: E731
    return st.lists(st.sampled_from(values), min_size=2, max_size=2).map(
        lambda xs: sorted(xs, key=key)
    )


def _compare(fields: list[str], values: list, ops: list[str], temporal: bool = False) -> Any:
    field = st.sampled_from(fields)
    scalar_ops = [o for o in ops if o in ("eq", "ne", "gt", "gte", "lt", "lte", "before", "after")]
    scalar_ops += [o for o in ops if o in ("contains", "starts_with", "ends_with")]
    parts = [
        st.builds(
            lambda f, o, v: {"field": f, "op": o, "value": v},
            field,
            st.sampled_from(scalar_ops),
            st.sampled_from(values),
        )
    ]
    if "in" in ops:
        parts.append(
            st.builds(
                lambda f, o, v: {"field": f, "op": o, "value": v},
                field,
                st.sampled_from(["in", "not_in"]),
                st.lists(st.sampled_from(values), min_size=1, max_size=3),
            )
        )
    if "between" in ops:
        parts.append(
            st.builds(lambda f, v: {"field": f, "op": "between", "value": v}, field, _pair(values))
        )
    parts.append(
        st.builds(lambda f, o: {"field": f, "op": o}, field, st.sampled_from(["exists", "is_null"]))
    )
    if temporal:
        parts.append(
            st.builds(
                lambda f, o, d: {"field": f, "op": o, **d},
                field,
                st.sampled_from(["within_last", "within_next"]),
                st.sampled_from([{"days": 1}, {"days": 7}, {"days": 400}]),
            )
        )
    return st.one_of(parts)


_CMP = ["eq", "ne", "gt", "gte", "lt", "lte"]
STRING_CMP = _compare(
    ["country", "city", "traits.band"],
    STRINGS,
    [*_CMP, "in", "between", "contains", "starts_with", "ends_with"],
)
LIST_CONTAINS = st.builds(
    lambda v: {"field": "traits.interests", "op": "contains", "value": v}, st.sampled_from(STRINGS)
)
NUMBER_CMP = _compare(
    ["company_size", "annual_revenue", "traits.score"], NUMS, [*_CMP, "in", "between"]
)
BOOL_CMP = _compare(["consent_email", "traits.flag"], [True, False], ["eq", "ne"])
DATE_CMP = _compare(
    ["birth_date"], DATES, [*_CMP, "in", "between", "before", "after"], temporal=True
)
TS_CMP = _compare(
    ["created_at", "consent_email_at"],
    DATES + TIMES[::3],
    [*_CMP, "between", "before", "after"],
    temporal=True,
)
TS_HOURS = st.builds(
    lambda o, h: {"field": "created_at", "op": o, "hours": h},
    st.sampled_from(["within_last", "within_next"]),
    st.sampled_from([1, 24]),
)

EVENT_FILTER = st.one_of(
    _compare(["properties.category"], STRINGS, ["eq", "ne", "in", "contains"]),
    _compare(["properties.revenue"], NUMS, ["gt", "lte", "between"]),
)
ORDER_FILTER = st.one_of(
    _compare(["amount", "discount"], NUMS, ["gt", "lte", "eq"]),
    _compare(["status"], ["completed", "refunded"], ["eq", "ne"]),
)
WINDOW = st.one_of(
    st.just({}),
    st.sampled_from([{"days": 1}, {"days": 7}, {"hours": 1}, {"hours": 24}]).map(
        lambda d: {"within_last": d}
    ),
    _pair(DATES[2:] + TIMES[::4]).map(lambda p: {"from": p[0], "to": p[1]}),
    st.sampled_from(DATES[2:]).map(lambda d: {"from": d}),
    st.sampled_from(DATES[2:]).map(lambda d: {"to": d}),
)
MEASURE = st.one_of(
    st.builds(
        lambda o, v: {"op": o, "value": v},
        st.sampled_from(["gte", "eq", "lt", "ne"]),
        st.sampled_from([0, 1, 2]),
    ),
    st.builds(lambda v: {"op": "between", "value": v}, _pair([0, 1, 2, 3])),
    st.builds(
        lambda m, o, v: {"measure": m, "of": "@", "op": o, "value": v},
        st.sampled_from(["sum", "avg", "min", "max"]),
        st.sampled_from(["gte", "lt", "eq"]),
        st.sampled_from(NUMS),
    ),
)
NAMES = st.one_of(
    st.sampled_from([*EVENTS, "any"]), st.lists(st.sampled_from(EVENTS), min_size=1, max_size=2)
)


def _activity(key: str, names: Any, filters: Any, of: str) -> st.SearchStrategy:
    def build(n: Any, fs: list, w: dict, m: dict) -> dict:
        m = {k: (of if v == "@" else v) for k, v in m.items()}
        out = {key: n, **w, **m}
        if fs:
            out["where"] = fs
        return out

    return st.builds(build, names, st.lists(filters, max_size=2), WINDOW, MEASURE)


PERFORMED = _activity("performed", NAMES, EVENT_FILTER, "properties.revenue")
ORDERED = _activity(
    "ordered",
    st.one_of(st.sampled_from(["completed", "any"]), st.just(["completed", "refunded"])),
    ORDER_FILTER,
    "amount",
)
NOT_PERFORMED = st.builds(
    lambda n, fs, w: {"not_performed": n, **w, **({"where": fs} if fs else {})},
    NAMES,
    st.lists(EVENT_FILTER, max_size=1),
    WINDOW,
)
STEP = st.builds(
    lambda n, fs: {"performed": n, **({"where": fs} if fs else {})},
    NAMES,
    st.lists(EVENT_FILTER, max_size=1),
)
SEQUENCE = st.builds(
    lambda a, b, neg, within, w: {
        "first": a,
        ("then_not" if neg else "then"): b,
        "within": within,
        **w,
    },
    STEP,
    STEP,
    st.booleans(),
    st.sampled_from([{"hours": 1}, {"hours": 24}, {"days": 7}]),
    WINDOW,
)
METRIC = st.one_of(
    st.builds(
        lambda o, v: {"metric": "m.score", "op": o, "value": v},
        st.sampled_from(_CMP),
        st.sampled_from(INTS),
    ),
    st.builds(
        lambda v: {"metric": "m.label", "op": "in", "value": v},
        st.lists(st.sampled_from(STRINGS), min_size=1, max_size=2),
    ),
    st.builds(lambda o: {"metric": "m.score", "op": o}, st.sampled_from(["exists", "is_null"])),
)
OTHER = st.one_of(
    st.builds(
        lambda c, w: {"consent": c, **w},
        st.sampled_from(["email", "sms"]),
        st.sampled_from([{}, {"given_within_last": {"days": 30}}]),
    ),
    st.builds(
        lambda k, d: {"anniversary": k, "within_next_days": d},
        st.sampled_from(["birthday", "signup"]),
        st.sampled_from([0, 1, 30, 365]),
    ),
    st.builds(
        lambda p, s: {"sample": p, **({"salt": s} if s else {})},
        st.sampled_from([10, 50, 100, 33.3]),
        st.sampled_from([None, "s"]),
    ),
    st.builds(lambda t: {"tag": t}, st.sampled_from(["vip", "x'y", "nope"])),
)

LEAF = st.one_of(
    STRING_CMP,
    LIST_CONTAINS,
    NUMBER_CMP,
    BOOL_CMP,
    DATE_CMP,
    TS_CMP,
    TS_HOURS,
    PERFORMED,
    ORDERED,
    NOT_PERFORMED,
    SEQUENCE,
    METRIC,
    OTHER,
)


def conditions(leaf: st.SearchStrategy = LEAF, *, refs: bool = True) -> st.SearchStrategy:
    base = st.one_of(leaf, st.just({"in_segment": "helper"})) if refs else leaf
    return st.recursive(
        base,
        lambda kids: st.one_of(
            st.lists(kids, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(kids, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            kids.map(lambda x: {"not": x}),
        ),
        max_leaves=5,
    )


def _set(where: Any, helper: Any, **extra: Any) -> dict:
    return {"segments": [segment_data("case", where), segment_data("helper", helper)], **extra}


# -- engine == reference ---------------------------------------------------------------------------
#: One strategy per kind of leaf: every example checks every kind, plus random trees.
FAMILIES = {
    "text": STRING_CMP,
    "list": LIST_CONTAINS,
    "number": NUMBER_CMP,
    "boolean": BOOL_CMP,
    "date": DATE_CMP,
    "timestamp": TS_CMP,
    "hours": TS_HOURS,
    "performed": PERFORMED,
    "ordered": ORDERED,
    "not_performed": NOT_PERFORMED,
    "sequence": SEQUENCE,
    "metric": METRIC,
    "other": OTHER,
}


@SETTINGS
@given(
    rows=datasets(),
    leaves=st.fixed_dictionaries(FAMILIES),
    trees=st.lists(conditions(), min_size=3, max_size=3),
    helper=conditions(refs=False),
    tz=st.sampled_from(TZS),
)
def test_engine_equals_reference(
    rows: Rows, leaves: dict, trees: list, helper: Any, tz: str
) -> None:
    segments = [segment_data(f"leaf_{k}", v) for k, v in leaves.items()]
    segments += [segment_data(f"tree_{i}", t) for i, t in enumerate(trees)]
    segments.append(segment_data("helper", helper))
    tables = Tables.from_rows(rows)
    resolved = resolve(parse_specs({"segments": segments}), tables.catalog())
    expected = {seg.slug: evaluate(seg, rows, AS_OF, timezone=tz) for seg in resolved}

    # All segments in one query (leaves shared between segments are computed once) ...
    flags = duckdb_con().to_pyarrow(compile_flags(list(resolved), tables, AS_OF, timezone=tz))
    assert sorted(flags["customer_id"].to_pylist()) == sorted(IDS)
    for slug, want in expected.items():
        got = {
            c
            for c, hit in zip(
                flags["customer_id"].to_pylist(), flags[slug].to_pylist(), strict=True
            )
            if hit
        }
        assert got == want, f"{slug}: engine {sorted(got)} != reference {sorted(want)}"
    # ... and one segment on its own.
    tree = resolved["tree_0"]
    assert members(compile_segment(tree, tables, AS_OF, timezone=tz)) == expected["tree_0"]


# -- exclusive sets --------------------------------------------------------------------------------
@SETTINGS
@given(
    rows=datasets(),
    wheres=st.lists(conditions(refs=False), min_size=2, max_size=4),
    order=st.randoms(use_true_random=False),
    tz=st.sampled_from(TZS),
)
def test_exclusive_sets_partition(rows: Rows, wheres: list, order: Any, tz: str) -> None:
    slugs = [f"s{i}" for i in range(len(wheres))]
    priorities = slugs[:]
    order.shuffle(priorities)
    data = {
        "segments": [segment_data(s, w) for s, w in zip(slugs, wheres, strict=True)],
        "exclusive": True,
        "priorities": priorities,
    }
    tables = Tables.from_rows(rows)
    resolved = resolve(parse_specs(data), tables.catalog())
    rset = resolved.sets[0]
    out = duckdb_con().to_pyarrow(compile_set(rset, tables, AS_OF, timezone=tz))
    pairs = list(zip(out["customer_id"].to_pylist(), out["segment"].to_pylist(), strict=True))
    ids = [cid for cid, _ in pairs]
    assert len(ids) == len(set(ids)), "a customer landed in two segments of an exclusive set"
    assert set(pairs) == evaluate_set(rset, rows, AS_OF, timezone=tz)
    each = {s: evaluate(resolved[s], rows, AS_OF, timezone=tz) for s in slugs}
    assert set(ids) == set().union(*each.values())
    for cid, slug in pairs:  # the first segment by priority that the customer matches
        assert slug == next(s for s in priorities if cid in each[s])


# -- round trips -----------------------------------------------------------------------------------
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def specs(draw: Any) -> SegmentSpec:
    data = {
        "slug": draw(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)),
        "title_en": draw(TEXT),
        "title_zh_hant": draw(st.sampled_from(["購物車放棄", "貴賓", "生日"])),
        "description": draw(st.sampled_from(["", "a: b", "- not a list", "'; DROP TABLE x; --"])),
        "owner": draw(TEXT),
        "reviewed_on": draw(st.dates(date(2020, 1, 1), date(2030, 1, 1))),
        "where": draw(conditions()),
        "tags_add": draw(st.lists(TEXT, max_size=2)),
    }
    return SegmentSpec.model_validate(data)


@SETTINGS
@given(spec=specs())
def test_spec_yaml_round_trip(spec: SegmentSpec) -> None:
    again = parse_specs(__import__("yaml").safe_load(dump_yaml(spec)))
    assert again.segments == (spec,)


@SETTINGS
@given(spec=specs(), helper=conditions(refs=False))
def test_spec_json_round_trip_resolves_the_same(spec: SegmentSpec, helper: Any) -> None:
    """JSON has no dates, so values come back as text; resolution makes them the same again."""
    data = {"segments": [spec.model_dump(by_alias=True), segment_data("helper", helper)]}
    if spec.slug == "helper":
        return
    rows = Rows(profiles=[], metrics={"m": [{"customer_id": "c0", "score": 3, "label": "x"}]})
    catalog = Tables.from_rows(rows).catalog()
    direct = resolve(parse_specs(data), catalog)[spec.slug]
    text = json.dumps(data, default=lambda v: v.isoformat())
    via_json = resolve(parse_specs(json.loads(text)), catalog)[spec.slug]
    assert via_json.where == direct.where
