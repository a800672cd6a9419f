"""``segments check``: each diagnostic fires when it should and stays quiet when it should not,
on a small hand-built workspace; thresholds from arguments, segmint.yaml and the CLI; JSON
output; and the whole library on the demo workspace, checked against independent pandas sums."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from _segments_support import build_demo_workspace
from segmint import segments
from segmint.cli import app
from segmint.config import CONFIG_FILE
from segmint.errors import ValidationError
from segmint.models.diagnostics import CHECKS, template_fields
from segmint.schema import TABLES
from segmint.workspace import Workspace

AS_OF = "2026-06-30"
TODAY = date(2026, 6, 30)
N = 100


def _put(ws: Workspace, table: str, rows: list[dict]) -> None:
    ws.con.insert(table, pa.Table.from_pylist(rows, schema=TABLES[table].to_pyarrow()))


def _cid(i: int) -> str:
    return f"c{i:02d}"


def _profile(i: int) -> dict:
    traits = None
    if i < 10:
        traits = json.dumps({"income_band": "60k+"})
    elif i < 15:
        traits = json.dumps({"shoe_size": "38"})
    return {
        "customer_id": _cid(i),
        "country": "HK" if i < 60 else "TW",
        "gender": "female" if i < 30 else "male" if i < 50 else None,
        "birth_date": date(1990, 1, 1) + timedelta(days=i) if i < 90 else None,
        "region": "Kowloon" if i < 20 else None,
        "city": "Mong Kok" if i < 5 else None,
        "language": "en" if i < 20 or 60 <= i < 90 else "zh-Hant",
        "traits": traits,
    }


def _source_records() -> list[dict]:
    """Customers c00–c09 appear in Shopify and POS; the POS country disagrees for c00–c02 and
    differs only in case and spaces for c03."""
    rows = []
    for i in range(10):
        pos_country = "TW" if i < 3 else " hk" if i == 3 else "HK"
        for source, country in (("shopify", "HK"), ("pos", pos_country)):
            rows.append(
                {
                    "record_id": f"{source}:{i}",
                    "source": source,
                    "customer_id": _cid(i),
                    "country": country,
                    "gender": "female",
                }
            )
    return rows


def _orders() -> list[dict]:
    """c00–c39 bought 10 days before the as-of date; c40–c59 only 400 days before."""
    end = datetime(2026, 6, 30, 12)
    return [
        {
            "order_id": f"o{i}",
            "customer_id": _cid(i),
            "amount": 100.0,
            "status": "completed",
            "ts": end - timedelta(days=10 if i < 40 else 400),
            "discount": 0.0,
        }
        for i in range(60)
    ]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check") / "shop"
    with Workspace.create(folder, default_region="HK") as ws:
        _put(ws, "profiles", [_profile(i) for i in range(N)])
        _put(ws, "source_profiles", _source_records())
        _put(ws, "orders", _orders())
    return folder


@pytest.fixture
def ws(shop):
    with Workspace.open(shop) as w:
        yield w


def seg(slug: str, where: dict, reviewed_on: str = "2026-06-01") -> dict:
    return {
        "slug": slug,
        "title_en": slug,
        "title_zh_hant": "區隔",
        "owner": "crm",
        "reviewed_on": reviewed_on,
        "where": where,
    }


HK = seg("hk", {"field": "country", "op": "eq", "value": "HK"})
ENGLISH = seg("english", {"field": "language", "op": "eq", "value": "en"})
WOMEN = seg("women", {"field": "gender", "op": "eq", "value": "female"})
BORN = seg("born", {"field": "birth_date", "op": "exists"})


def run(ws, *segs: dict, exclusive: bool = False, **kw):
    return ws.segments_check(
        [{"segments": list(segs), "exclusive": exclusive}], as_of=AS_OF, today=TODAY, **kw
    )


def slugs_of(report, code: str) -> set:
    return {s for f in report.by_code(code) for s in f.segments}


def fields_of(report, code: str) -> set:
    return {x for f in report.by_code(code) for x in f.fields}


# -- each check, both directions -------------------------------------------------------------------
def test_too_small_fires_below_min_size_and_not_above(ws):
    tiny = seg("tiny", {"field": "city", "op": "eq", "value": "Mong Kok"})  # 5 members
    r = run(ws, HK, tiny)
    sizes = r.sizes.set_index("segment")["members"].to_dict()
    assert sizes == {"hk": 60, "tiny": 5}
    assert slugs_of(r, "too_small") == {"tiny"}
    (f,) = r.by_code("too_small")
    assert f.severity == "warning" and f.numbers["members"] == 5
    assert f.message == (
        "Segment 'tiny' has 5 members (5.0% of profiles), below the minimum of 50 members or 0.5%."
    )
    assert slugs_of(run(ws, HK, tiny, min_size=5), "too_small") == set()
    # the share rule on its own: 60 members are 60 % of profiles, below a 70 % minimum share
    assert slugs_of(run(ws, HK, min_size=0, min_share=0.7), "too_small") == {"hk"}


def test_too_coarse_fires_for_a_large_segment_that_buys_like_everyone(ws):
    # english: c00–c19 and c60–c89, 50 % of profiles; 20 of 50 bought in 90 days = 40 %, the
    # population's rate (40 of 100): lift 1.0. hk: 60 %, 40 of 60 bought: lift 1.67.
    r = run(ws, HK, ENGLISH)
    assert r.purchase_rate == pytest.approx(0.4)
    lift = r.sizes.set_index("segment")["lift"]
    assert lift["english"] == pytest.approx(1.0) and lift["hk"] == pytest.approx(40 / 60 / 0.4)
    assert slugs_of(r, "too_coarse") == {"english"}
    (f,) = r.by_code("too_coarse")
    assert f.numbers["lift"] == pytest.approx(1.0) and f.numbers["share"] == pytest.approx(0.5)
    assert slugs_of(run(ws, HK, ENGLISH, coarse_share=0.6), "too_coarse") == set()
    assert slugs_of(run(ws, HK, ENGLISH, coarse_lift=(0.5, 2.0)), "too_coarse") == {
        "english",
        "hk",
    }


def test_overlap_fires_in_a_non_exclusive_set_only(ws):
    # hk = c00–c59, born = c00–c89: Jaccard 60 / 90
    r = run(ws, HK, BORN)
    assert r.overlap.loc["hk", "born"] == pytest.approx(60 / 90)
    assert r.overlap.loc["hk", "hk"] == 1.0
    (f,) = r.by_code("overlap")
    assert set(f.segments) == {"hk", "born"} and f.numbers["in_both"] == 60
    assert "every member of 'hk' is also in 'born'" in f.message
    assert run(ws, HK, BORN, max_jaccard=0.7).by_code("overlap") == []
    exclusive = run(ws, HK, BORN, exclusive=True)
    assert exclusive.by_code("overlap") == []
    assert exclusive.overlap.loc["hk", "born"] == 0.0  # each customer in one segment only
    # built on the other on purpose: no finding
    hk_born = seg("hk_born", {"all": [{"in_segment": "born"}, {"field": "gender", "op": "exists"}]})
    assert run(ws, BORN, hk_born).by_code("overlap") == []


def test_demographic_only_fires_for_gender_and_age_and_through_references(ws):
    buyers = seg(
        "women_buyers",
        {"all": [{"in_segment": "women"}, {"ordered": "completed", "within_last": {"days": 90}}]},
    )
    women_born = seg("women_born", {"all": [{"in_segment": "women"}, BORN["where"]]})
    r = run(ws, WOMEN, buyers, women_born, HK)
    assert slugs_of(r, "demographic_only") == {"women", "women_born"}
    f = next(f for f in r.by_code("demographic_only") if f.segments == ("women_born",))
    assert f.fields == ("birth_date", "gender")
    # geographic fields are not demographic unless listed
    assert slugs_of(r, "demographic_only").isdisjoint({"hk"})
    listed = run(ws, HK, demographic_fields=["gender", "country"])
    assert slugs_of(listed, "demographic_only") == {"hk"}


def test_missing_data_fires_for_badly_filled_fields_and_is_an_error_for_empty_ones(ws):
    company = seg("companies", {"field": "company", "op": "exists"})
    r = run(ws, WOMEN, BORN, company)
    cov = r.coverage.set_index("field")
    assert cov.loc["gender", "missing_rate"] == pytest.approx(0.5)
    assert cov.loc["birth_date", "missing_rate"] == pytest.approx(0.1)
    assert cov.loc["company", "filled"] == 0
    by_field = {f.fields[0]: f for f in r.by_code("missing_data")}
    assert set(by_field) == {"gender", "company"}
    assert by_field["gender"].severity == "warning" and by_field["gender"].segments == ("women",)
    assert by_field["company"].severity == "error"
    assert r.findings[0].code == "missing_data"  # errors come first
    assert fields_of(run(ws, WOMEN, BORN, max_missing=0.6), "missing_data") == set()


def test_missing_data_counts_traits_keys(ws):
    rich = seg("rich", {"field": "traits.income_band", "op": "eq", "value": "60k+"})
    r = run(ws, rich, max_missing=0.95)
    cov = r.coverage.set_index("field")
    assert cov.loc["traits.income_band", "filled"] == 10
    assert r.by_code("missing_data") == []
    assert fields_of(run(ws, rich), "missing_data") == {"traits.income_band"}


def test_sources_disagree_fires_when_sources_hold_different_values(ws):
    r = run(ws, HK, WOMEN)
    cov = r.coverage.set_index("field")
    # c00–c09 have two records; c00–c02 disagree, c03 only in case and spaces
    assert (cov.loc["country", "multi_source"], cov.loc["country", "disagreeing"]) == (10, 3)
    assert (cov.loc["gender", "multi_source"], cov.loc["gender", "disagreeing"]) == (10, 0)
    (f,) = r.by_code("sources_disagree")
    assert f.fields == ("country",) and f.numbers["disagreement_rate"] == pytest.approx(0.3)
    assert run(ws, HK, max_disagreement=0.31).by_code("sources_disagree") == []


def test_review_overdue_fires_after_365_days(ws):
    old = seg("old", HK["where"], reviewed_on="2025-06-30")  # 365 days before TODAY
    recent = seg("recent", HK["where"], reviewed_on="2025-07-01")  # 364 days
    r = run(ws, old, recent)
    (f,) = r.by_code("review_overdue")
    assert f.segments == ("old",) and f.numbers["days"] == 365
    assert f.message == "Segment 'old' was last reviewed on 2025-06-30, 365 days ago (owner: crm)."
    assert slugs_of(run(ws, old, recent, review_days=364), "review_overdue") == {"old", "recent"}


def test_unused_fields_are_proposed_for_minimisation_unless_something_uses_them(ws, shop):
    r = run(ws, HK)
    unused = fields_of(r, "unused_field")
    assert unused == {"region", "traits.shoe_size"}
    assert all(f.severity == "info" for f in r.by_code("unused_field"))
    # used by the checked segment (country), a model feature (language), or never filled
    # (first_name); used by the library (city, birth_date, gender, traits.income_band): the
    # workspace's own definitions count even when others are checked
    # a message template uses region and a traits key
    templates = shop / "templates"
    templates.mkdir()
    (templates / "welcome.txt").write_text(
        "Hi from {{ customer.region }}! {% if traits.shoe_size %}size{% endif %}", encoding="utf-8"
    )
    try:
        again = fields_of(run(ws, HK), "unused_field")
    finally:
        (templates / "welcome.txt").unlink()
        templates.rmdir()
    assert again == set()


def test_template_fields_reads_names_inside_tags_only():
    found = template_fields(
        ["Dear {{ first_name }}, region: {{ 'region' }} city", "{% for x in items %}{{ x }}"]
    )
    assert found == {"first_name"}


def test_an_empty_workspace_gives_no_size_or_coverage_findings(tmp_path):
    with Workspace.create(tmp_path / "empty") as w:
        r = w.segments_check(today=TODAY)
    assert r.population == 0 and r.purchase_rate is None
    assert {f.code for f in r.findings} == {"demographic_only"}
    assert r.coverage["missing_rate"].isna().all()
    assert json.loads(json.dumps(r.to_dict()))["purchase_rate"] is None


# -- thresholds, report shape, CLI -----------------------------------------------------------------
def test_unknown_or_invalid_threshold_is_refused_with_a_suggestion(ws):
    with pytest.raises(ValidationError) as err:
        run(ws, HK, min_sise=3)
    assert str(err.value).startswith(
        "There is no threshold 'min_sise'. Did you mean 'min_size', 'min_share'? Hint: thresholds "
        "are min_size, min_share, coarse_share,"
    )
    with pytest.raises(ValidationError) as err:
        run(ws, HK, min_share=2)
    assert str(err.value) == (
        "The 'min_share' threshold must be less than or equal to 1. Got 2 instead. "
        "Hint: see docs/segments-check.md for each threshold"
    )
    with pytest.raises(ValidationError) as err:
        run(ws, HK, coarse_lift=(1.2, 1.0))
    assert str(err.value).startswith(
        "The 'coarse_lift' threshold must be [low, high] with 0 ≤ low ≤ high. "
        "Got [1.2, 1.0] instead."
    )


def test_thresholds_come_from_segmint_yaml(shop, tmp_path):
    cfg_file = shop / CONFIG_FILE
    original = cfg_file.read_text(encoding="utf-8")
    data = yaml.safe_load(original)
    assert data["segment_checks"]["min_size"] == 50  # new workspaces write the defaults
    data["segment_checks"]["min_size"] = 61
    cfg_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        with Workspace.open(shop) as w:
            assert slugs_of(run(w, HK), "too_small") == {"hk"}
            assert slugs_of(run(w, HK, min_size=60), "too_small") == set()  # argument wins
    finally:
        cfg_file.write_text(original, encoding="utf-8")


def test_report_frame_and_dict(ws):
    r = run(ws, HK, WOMEN, BORN)
    frame = r.to_frame()
    assert list(frame.columns) == [
        "severity",
        "code",
        "title",
        "segments",
        "fields",
        "message",
        "hint",
        "numbers",
    ]
    assert len(frame) == len(r.findings) and set(frame["code"]) <= set(CHECKS)
    severities = frame["severity"].map({"error": 0, "warning": 1, "info": 2}).tolist()
    assert severities == sorted(severities)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["population"] == N and data["counts"] == r.counts()
    assert {x["segment"] for x in data["sizes"]} == {"hk", "women", "born"}
    assert data["findings"][0]["title_zh_hant"] == CHECKS[data["findings"][0]["code"]][1]
    assert data["thresholds"]["min_size"] == 50


def invoke(*args: str):
    return CliRunner().invoke(app, ["segments", "check", *args])


def test_cli_table_json_thresholds_and_strict(shop):
    r = invoke("-w", str(shop), "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert "Segment check as of 2026-07-01 00:00 UTC: 100 profiles" in r.output
    assert "Warnings (" in r.output and "demographic_only" in r.output

    r = invoke("-w", str(shop), "--as-of", AS_OF, "--json", "--min-size", "1", "--min-share", "0%")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["thresholds"]["min_size"] == 1 and data["thresholds"]["min_share"] == 0
    assert data["population"] == N
    small = {s for f in data["findings"] if f["code"] == "too_small" for s in f["segments"]}
    sizes = {x["segment"]: x["members"] for x in data["sizes"]}
    assert small == {s for s, n in sizes.items() if n < 1}

    r = invoke("-w", str(shop), "--as-of", AS_OF, "--min-share", "0.5%", "--json")
    assert json.loads(r.output)["thresholds"]["min_share"] == pytest.approx(0.005)

    r = invoke("-w", str(shop), "--as-of", AS_OF, "--strict")
    assert r.exit_code == 1  # the library on this tiny shop has warnings

    r = invoke("-w", str(shop), "--min-share", "5")
    assert r.exit_code == 1
    assert "--min-share must be a share between 0 and 1 or a percent. Got '5' instead." in str(
        r.exception
    )


# -- the whole library on the demo workspace -------------------------------------------------------
DEMOGRAPHIC_LIBRARY = {
    "age_18_24",
    "age_25_34",
    "age_35_44",
    "age_45_plus",
    "gender_female",
    "gender_male",
    "income_high",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws, _ = build_demo_workspace(tmp_path_factory.mktemp("check-demo"))
    report = ws.segments_check(today=date(2026, 11, 22))
    yield ws, report
    ws.close()


def _filled(v) -> bool:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return False
    if isinstance(v, str):
        return v.strip() not in ("", "{}", "[]", "null", '""')
    return True


def _trait(text, key):
    if not isinstance(text, str):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) or v is None else json.dumps(v)


def _value(frame: pd.DataFrame, name: str) -> pd.Series:
    col, _, key = name.partition(".")
    return frame[col].map(lambda t: _trait(t, key)) if key else frame[col]


def test_demo_checks_the_whole_library(demo):
    ws, report = demo
    library = {x.slug for st in segments.load_definitions() for x in st.segments}
    assert len(library) >= 71 and set(report.sizes["segment"]) == library
    at = ws._segment_as_of(None)
    tables = ws._segment_tables(at)
    resolved = segments.resolve_all(segments.load_definitions(), tables)
    now = segments.current_members(resolved, tables, at, timezone=ws.config.timezone).to_pandas()
    expected = now["segment"].value_counts()
    got = report.sizes.set_index("segment")["members"]
    assert all(got[s] == expected.get(s, 0) for s in library)
    assert report.population == ws.table("profiles").count().execute()


def test_demo_flags_the_demographic_only_library_segments(demo):
    _, report = demo
    assert slugs_of(report, "demographic_only") == DEMOGRAPHIC_LIBRARY
    # the library was reviewed on 2026-11-01: not overdue on 2026-11-22
    assert report.by_code("review_overdue") == []


def test_demo_review_check_fires_a_year_later(demo):
    ws, _ = demo
    reviewed = {x.slug: x.reviewed_on for st in segments.load_definitions() for x in st.segments}
    later = ws.segments_check(today=max(reviewed.values()) + timedelta(days=365))
    days = {f.segments[0]: f.numbers["days"] for f in later.by_code("review_overdue")}
    assert set(days) == set(reviewed) and min(days.values()) == 365
    assert all(days[s] == 365 + (max(reviewed.values()) - d).days for s, d in reviewed.items())


def test_demo_coverage_equals_pandas(demo):
    ws, report = demo
    profiles = ws.table("profiles").to_pandas()
    cov = report.coverage.set_index("field")
    assert {"birth_date", "gender", "country", "traits.income_band", "created_at"} <= set(cov.index)
    for name, row in cov.iterrows():
        filled = int(_value(profiles, name).map(_filled).sum())
        assert row["filled"] == filled, name
        assert row["missing_rate"] == pytest.approx(1 - filled / len(profiles)), name
        flagged = name in fields_of(report, "missing_data")
        assert flagged == (1 - filled / len(profiles) >= 0.5), name


def test_demo_source_disagreement_equals_pandas(demo):
    ws, report = demo
    sp = ws.table("source_profiles").to_pandas()
    sp = sp[sp["customer_id"].notna()]
    cov = report.coverage.set_index("field")
    checked = cov[cov["multi_source"].notna()]
    assert {"country", "city", "gender"} <= set(checked.index)
    for name, row in checked.iterrows():
        v = _value(sp, name)
        ok = v.map(_filled)
        norm = v[ok].map(lambda x: str(x).strip().lower())
        per = pd.DataFrame({"c": sp.loc[ok, "customer_id"], "v": norm}).groupby("c")["v"]
        n, k = per.size(), per.nunique()
        assert row["multi_source"] == int((n >= 2).sum()), name
        assert row["disagreeing"] == int(((n >= 2) & (k >= 2)).sum()), name
    assert cov.loc["country", "multi_source"] > 100  # shops and contact lists overlap


def test_demo_lift_and_jaccard_equal_pandas(demo):
    ws, report = demo
    at = report.as_of
    orders = ws.table("orders").to_pandas()
    ids = set(ws.table("profiles").to_pandas()["customer_id"])
    recent = orders[
        (orders["status"].isna() | (orders["status"] == "completed"))
        & (orders["ts"] >= at - timedelta(days=90))
        & (orders["ts"] < at)
    ]
    buyers = set(recent["customer_id"]) & ids
    assert report.purchase_rate == pytest.approx(len(buyers) / len(ids))
    at_ = ws._segment_as_of(None)
    tables = ws._segment_tables(at_)
    resolved = segments.resolve_all(segments.load_definitions(), tables)
    now = segments.current_members(resolved, tables, at_, timezone=ws.config.timezone).to_pandas()
    sets = now.groupby("segment")["customer_id"].apply(set)
    for a, b in [("repeat_buyers", "loyal_buyers"), ("geo_hong_kong", "gender_female")]:
        j = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
        assert report.overlap.loc[a, b] == pytest.approx(j)
    lift = report.sizes.set_index("segment")["lift"]
    for s in ("loyal_buyers", "gender_female", "rfm_lost"):
        rate = len(sets[s] & buyers) / len(sets[s])
        assert lift[s] == pytest.approx(rate / (len(buyers) / len(ids)))
    # loyal buyers lie inside repeat buyers: the planted purchase set overlaps by construction
    assert {"repeat_buyers", "loyal_buyers"} in [set(f.segments) for f in report.by_code("overlap")]


def _yaml_fields(node) -> set[str]:
    """Every ``field`` named anywhere in a definition file, plus consent and anniversary fields."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("field"), str):
            name = node["field"]
            found.add(".".join(name.split(".")[:2]))
        if "consent" in node:
            found |= {f"consent_{node['consent']}", f"consent_{node['consent']}_at"}
        if "anniversary" in node:
            found.add("birth_date" if node["anniversary"] == "birthday" else "created_at")
        for v in node.values():
            found |= _yaml_fields(v)
    elif isinstance(node, list):
        for v in node:
            found |= _yaml_fields(v)
    return found


def test_demo_minimisation_names_collected_fields_nothing_uses(demo):
    ws, report = demo
    profiles = ws.table("profiles").to_pandas()
    columns = [
        c for c in TABLES["profiles"].names if c not in ("customer_id", "traits", "updated_at")
    ]
    collected = {c for c in columns if profiles[c].map(_filled).any()}
    for text in profiles["traits"].dropna():
        collected |= {f"traits.{k}" for k, v in json.loads(text).items() if _filled(v)}
    used = set().union(
        *(_yaml_fields(yaml.safe_load(f.read_text("utf-8"))) for f in segments.library_files())
    )
    used |= {"gender", "country", "language"}  # customer_features' default profile columns
    expected = collected - used - set(ws.config.segment_checks.keep_fields)
    assert fields_of(report, "unused_field") == expected
    assert {"region", "company", "traits.total_spent"} <= expected


@pytest.mark.parametrize(
    "name",
    [
        "segmint.models.diagnostics.checks",
        "segmint.models.diagnostics.findings",
        "segmint.models.diagnostics.queries",
        "segmint.models.diagnostics.usage",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
