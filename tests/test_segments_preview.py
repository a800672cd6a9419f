"""Preview evaluates a segment once for its count and first members; parsed definition files
are reused until they change."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from segmint import segments
from segmint.schema import TABLES
from segmint.workspace import Workspace


def put(ws: Workspace, table: str, rows: list[dict]) -> None:
    ws.con.insert(table, pa.Table.from_pylist(rows, schema=TABLES[table].to_pyarrow()))


def spec(where: dict) -> dict:
    return {"slug": "mine", "title_en": "Mine", "title_zh_hant": "我的", "owner": "me",
            "reviewed_on": "2026-01-01", "where": where}  # fmt: skip


@pytest.fixture
def ws(tmp_path):
    w = Workspace.create(tmp_path / "ws", default_region="HK")
    ids = [f"c{i:02d}" for i in range(30)]
    put(w, "profiles", [{"customer_id": c, "country": "HK" if i % 3 else "TW",
                         "name": f"N{c}"} for i, c in enumerate(ids)])  # fmt: skip
    put(w, "orders", [{"order_id": f"o{c}", "customer_id": c, "ts": datetime(2026, 1, 10),
                       "amount": 1.0, "status": "completed"} for c in ids[:12]])  # fmt: skip
    yield w
    w.close()


def test_count_and_sample_come_from_one_evaluation(ws):
    p = ws.segment_preview(spec({"field": "country", "op": "eq", "value": "HK"}), limit=5,
                           as_of="2026-01-15")  # fmt: skip
    assert p.count == 20
    assert list(p.sample.customer_id) == ["c01", "c02", "c04", "c05", "c07"]
    assert list(p.sample.name) == ["Nc01", "Nc02", "Nc04", "Nc05", "Nc07"]


def test_empty_segment_and_zero_limit(ws):
    none = spec({"field": "country", "op": "eq", "value": "JP"})
    p = ws.segment_preview(none, as_of="2026-01-15")
    assert p.count == 0 and p.sample.empty and "customer_id" in p.sample.columns
    p = ws.segment_preview(spec({"ordered": "completed"}), limit=0, as_of="2026-01-15")
    assert p.count == 12 and p.sample.empty


def test_an_edited_definition_file_is_read_again(ws):
    folder = ws.path / "segments"
    folder.mkdir()
    path = folder / "mine.yaml"
    head = ("slug: mine\ntitle_en: Mine\ntitle_zh_hant: 我的\nowner: me\n"
            "reviewed_on: 2026-01-01\nwhere: ")  # fmt: skip
    path.write_text(head + "{field: country, op: eq, value: TW}\n", encoding="utf-8")
    assert ws.segment_preview("mine", as_of="2026-01-15").count == 10
    assert ws.segment_preview("mine", as_of="2026-01-15").count == 10  # parsed once
    path.write_text(head + "{ordered: completed}\n", encoding="utf-8")
    assert ws.segment_preview("mine", as_of="2026-01-15").count == 12
    sets = segments.load_definitions(ws.path)
    assert sets == segments.load_definitions(ws.path)  # the same parsed sets again
