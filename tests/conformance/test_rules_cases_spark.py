"""The given/expect cases of tests/rules_cases/ on PySpark: Spark must find the expected members.

Each case file's rows become Spark tables once; the cases of a file that share an as-of instant
and a time zone are evaluated in one query (:func:`segmint.rules.compile_flags`). Cases Spark
cannot get right are listed in ``SPARK_GAPS`` with the reason (strict xfail: a fixed gap fails
until it is taken off the list); docs/segments.md "Known gaps" says the same in words.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pyarrow.parquet as pq
import pytest
import yaml

from _rules_support import CASES, rows_from_given, segment_data
from segmint.rules import Tables, compile_flags, parse_specs, resolve

pytestmark = pytest.mark.spark

CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if p.name != "malformed.yaml")
_NUMBER_TEXT = (
    "GET_JSON_OBJECT cannot tell a JSON number from a number written as text, so Spark also "
    'matches \'"score": "7"\''
)
#: (file stem, case name) → why Spark selects other members
SPARK_GAPS: dict[tuple[str, str], str] = {
    ("trait", "traits number ignores numbers written as text"): _NUMBER_TEXT,
    ("trait", "traits number eq"): _NUMBER_TEXT,
}


def _docs() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in CASE_FILES}


DOCS = _docs()


def _params() -> list:
    out = []
    for stem, doc in DOCS.items():
        for i, case in enumerate(doc["cases"]):
            marks = []
            if (stem, case["name"]) in SPARK_GAPS:
                marks = [pytest.mark.xfail(strict=True, reason=SPARK_GAPS[(stem, case["name"])])]
            out.append(pytest.param(stem, i, marks=marks, id=f"{stem}: {case['name']}"))
    return out


def _default_salt(node):
    """Cases run here as case_<i>: a sample without a salt keeps the salt of the slug 'case'."""
    if isinstance(node, dict):
        out = {k: _default_salt(v) for k, v in node.items()}
        if "sample" in out and "salt" not in out:
            out["salt"] = "case"
        return out
    if isinstance(node, list):
        return [_default_salt(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spark_con(spark_session):
    import ibis

    return ibis.pyspark.connect(spark_session)


@pytest.fixture(scope="module")
def results(spark_con, tmp_path_factory) -> dict[tuple[str, int], set[str]]:
    """(file stem, case index) → members Spark finds."""
    folder = tmp_path_factory.mktemp("rules-cases-parquet")
    out: dict[tuple[str, int], set[str]] = {}
    for stem, doc in DOCS.items():
        rows = rows_from_given(doc["given"])
        local = Tables.from_rows(rows)

        def spark(name: str, t, stem: str = stem):
            # Parquet keeps nulls null (a detour through pandas would turn missing ints into NaN)
            path = folder / f"{stem}_{name}.parquet"
            pq.write_table(t.to_pyarrow(), path)
            return spark_con.read_parquet(path, table_name=f"case_{stem}_{name}")

        tables = Tables(
            profiles=spark("profiles", local.profiles),
            events=spark("events", local.events),
            orders=spark("orders", local.orders),
            tags=spark("tags", local.tags),
            metrics={k: spark(f"metric_{k}", t) for k, t in local.metrics.items()},
        )
        specs = [
            segment_data(f"case_{i}", _default_salt(c["where"])) for i, c in enumerate(doc["cases"])
        ]
        helpers = [segment_data(h["slug"], h["where"]) for h in doc.get("segments", [])]
        resolved = resolve(
            parse_specs({"segments": specs + helpers}), local.catalog(event_names=None)
        )
        groups: dict[tuple[datetime, str], list[int]] = defaultdict(list)
        for i, case in enumerate(doc["cases"]):
            key = (
                case.get("as_of", doc["as_of"]),
                case.get("timezone", doc.get("timezone", "UTC")),
            )
            groups[key].append(i)
        for (as_of, tz), idx in groups.items():
            segs = [resolved[f"case_{i}"] for i in idx]
            flags = compile_flags(segs, tables, as_of, timezone=tz).to_pandas()
            for i in idx:
                hit = flags[f"case_{i}"].fillna(False).astype(bool)
                out[(stem, i)] = {str(c) for c in flags.customer_id[hit]}
    return out


@pytest.mark.parametrize(("stem", "index"), _params())
def test_case_on_spark(stem, index, results):
    case = DOCS[stem]["cases"][index]
    expect = {str(x) for x in case["expect"]}
    got = results[(stem, index)]
    assert got == expect, f"Spark: {sorted(got)} != expected {sorted(expect)}"
