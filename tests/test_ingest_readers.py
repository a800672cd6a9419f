"""Readers: CSV delimiters and encodings (UTF-8 BOM, Big5, GB18030), Excel, Parquet."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmint.errors import ImportValidationError, NotFoundError
from segmint.ingest import detect_encoding, prepare, read_table, sniff_delimiter

NAMES_TW = ["陳大文", "黃小明", "林美玲", "張志強", "李淑芬"]
NAMES_CN = ["陈大文", "黄小明", "林美玲", "张志强", "李淑芬"]


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    return "\n".join(delimiter.join(r) for r in rows) + "\n"


def test_big5_csv_with_chinese_names(tmp_path):
    rows = [["姓名", "電話", "城市"]] + [
        [n, f"9123 456{i}", "香港"] for i, n in enumerate(NAMES_TW)
    ]
    p = tmp_path / "members.csv"
    p.write_bytes(_csv(rows).encode("big5"))
    raw = read_table(p)
    assert raw.encoding in ("cp950", "big5hkscs")
    assert raw.headers == ["姓名", "電話", "城市"]
    assert raw.column("姓名").to_pylist() == NAMES_TW
    prep = prepare("customers", raw)
    assert prep.problems == []
    assert prep.records.column("name").to_pylist() == NAMES_TW


def test_utf8_bom_csv_with_chinese_names(tmp_path):
    rows = [["姓名", "電郵"]] + [[n, f"u{i}@x.hk"] for i, n in enumerate(NAMES_TW)]
    p = tmp_path / "bom.csv"
    p.write_text(_csv(rows), encoding="utf-8-sig")
    raw = read_table(p)
    assert raw.encoding == "utf-8-sig"
    assert raw.headers[0] == "姓名"  # no BOM left in the first header
    assert raw.column("姓名").to_pylist() == NAMES_TW


def test_gb18030_csv_is_not_mistaken_for_big5(tmp_path):
    rows = [["姓名", "电话"]] + [[n, f"1380013800{i}"] for i, n in enumerate(NAMES_CN)]
    p = tmp_path / "cn.csv"
    p.write_bytes(_csv(rows).encode("gb18030"))
    raw = read_table(p)
    assert raw.encoding == "gb18030"
    assert raw.column("姓名").to_pylist() == NAMES_CN


def test_big5_after_the_sampled_prefix_is_still_detected(tmp_path):
    # the first MiB is plain ASCII; the Big5 bytes come later
    body = "name,city\n" + "amy,hk\n" * 200_000 + "陳大文,香港\n"
    p = tmp_path / "late.csv"
    p.write_bytes(body.encode("big5"))
    raw = read_table(p)
    assert raw.encoding == "cp950"
    assert raw.column("name").to_pylist()[-1] == "陳大文"


def test_explicit_encoding_wins(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("name\ncafé\n".encode("cp1252"))
    assert read_table(p, encoding="cp1252").column("name").to_pylist() == ["café"]
    with pytest.raises(ImportValidationError, match="not known"):
        read_table(p, encoding="klingon")


def test_latin1_fallback_is_announced(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("name\ncafé Zoë\n".encode("latin-1"))
    raw = read_table(p)
    assert raw.encoding == "latin-1"
    assert raw.notes and "Latin-1" in raw.notes[0]


def test_detect_encoding_orders():
    assert detect_encoding("abc".encode("utf-8-sig"))[0] == "utf-8-sig"
    assert detect_encoding("陳大文".encode())[0] == "utf-8"
    assert detect_encoding("陳大文,黃小明".encode("big5"))[0] == "cp950"
    assert detect_encoding("陈大文,黄小明".encode("gb18030"))[0] == "gb18030"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    rows = [["Email", "Total", "Note"], ["a@x.hk", "1,234.50", "x"], ["b@x.hk", "2", "y"]]
    text = "\n".join(
        delimiter.join(f'"{v}"' if delimiter == "," and "," in v else v for v in r) for r in rows
    )
    p = tmp_path / "d.csv"
    p.write_text(text + "\n", encoding="utf-8")
    raw = read_table(p)
    assert raw.delimiter == delimiter
    assert raw.headers == ["Email", "Total", "Note"]
    assert raw.column("Total").to_pylist() == ["1,234.50", "2"]


def test_sniff_prefers_consistent_split():
    assert sniff_delimiter("a;b;c\n1;2,5;3\n4;5;6\n") == ";"
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"


def test_quoted_newlines_and_blank_cells(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('name,note,city\nAmy,"line one\nline two",\n  Bob  , ,HK\n', encoding="utf-8")
    raw = read_table(p)
    assert raw.column("note").to_pylist() == ["line one\nline two", None]
    assert raw.column("name").to_pylist() == ["Amy", "Bob"]  # trimmed
    assert raw.column("city").to_pylist() == [None, "HK"]
    assert raw.rows.tolist() == [2, 3]


def test_row_with_wrong_field_count_is_located(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text('a,b,c\n1,"x\ny",3\n4,5\n6,7,8\n', encoding="utf-8")
    with pytest.raises(ImportValidationError) as exc:
        read_table(p)
    (problem,) = exc.value.problems
    assert (problem.file, problem.row) == ("bad.csv", 3)
    assert "2 field(s) but the header has 3" in problem.message


def test_duplicate_headers_are_kept_apart(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("Phone,Phone,Email\n1,2,a@x.hk\n", encoding="utf-8")
    assert read_table(p).headers == ["Phone", "Phone (2)", "Email"]


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(ImportValidationError, match="empty"):
        read_table(p)


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError):
        read_table(tmp_path / "nope.csv")


# -- Excel -------------------------------------------------------------------------------------
def _xlsx(path, sheets: dict[str, list[list]]):
    import openpyxl

    wb = openpyxl.Workbook()
    first = True
    for title, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        first = False
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_xlsx_cells_become_text_with_row_numbers(tmp_path):
    p = _xlsx(
        tmp_path / "pos.xlsx",
        {
            "訂單": [
                ["訂單編號", "會員編號", "電話", "金額", "日期"],
                ["P-1", "M001", 91234567, 1200.5, dt.datetime(2026, 6, 30, 14, 3)],
                [None, None, None, None, None],  # a blank row keeps numbering
                ["P-2", 1002, "6123 4567", 80, dt.date(2026, 7, 1)],
            ]
        },
    )
    raw = read_table(p)
    assert raw.sheet == "訂單"
    assert raw.rows.tolist() == [2, 4]
    assert raw.column("電話").to_pylist() == ["91234567", "6123 4567"]
    assert raw.column("會員編號").to_pylist() == ["M001", "1002"]  # no "1002.0"
    assert raw.column("金額").to_pylist() == ["1200.5", "80"]
    assert raw.column("日期").to_pylist() == ["2026-06-30 14:03:00", "2026-07-01"]
    prep = prepare("orders", raw, timezone="Asia/Hong_Kong")
    assert prep.problems == []
    ts = prep.orders.column("ts").to_pylist()
    assert ts[0] == dt.datetime(2026, 6, 30, 6, 3)  # Excel datetimes are local → UTC


def test_xlsx_sheet_by_name_and_unknown_sheet(tmp_path):
    p = _xlsx(tmp_path / "b.xlsx", {"Notes": [["x"], [1]], "Orders": [["Order ID"], ["A1"]]})
    assert read_table(p).headers == ["x"]  # first sheet by default
    assert read_table(p, sheet="Orders").column("Order ID").to_pylist() == ["A1"]
    with pytest.raises(NotFoundError) as exc:
        read_table(p, sheet="Order")
    assert "Orders" in exc.value.suggestions


def test_not_a_workbook(tmp_path):
    p = tmp_path / "fake.xlsx"
    p.write_text("not a zip", encoding="utf-8")
    with pytest.raises(ImportValidationError, match=r"not a readable \.xlsx"):
        read_table(p)


# -- Parquet -----------------------------------------------------------------------------------
def test_parquet_keeps_types(tmp_path):
    table = pa.table(
        {
            "order_id": ["A1", "A2"],
            "email": ["a@x.hk", "b@x.hk"],
            "amount": [10.5, 20.0],
            "ts": pa.array(
                [dt.datetime(2026, 6, 30, 6, 0), dt.datetime(2026, 7, 1, 0, 0)],
                pa.timestamp("us", tz="UTC"),
            ),
            "tags": [["a", "b"], None],
        }
    )
    p = tmp_path / "orders.parquet"
    pq.write_table(table, p)
    calls = []
    raw = read_table(p, progress=lambda step, done, total: calls.append((step, done, total)))
    assert raw.data.column(2).type == pa.float64()
    assert raw.column("tags").to_pylist() == ['["a", "b"]', None]
    assert calls[-1] == ("read", 2, 2)
    prep = prepare("orders", raw)
    assert prep.problems == []
    assert prep.orders.column("ts").to_pylist()[0] == dt.datetime(2026, 6, 30, 6, 0)
    assert prep.orders.column("amount").to_pylist() == [10.5, 20.0]


def test_csv_progress_reports_bytes(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("email\n" + "a@x.hk\n" * 1000, encoding="utf-8")
    calls = []
    read_table(p, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("read", p.stat().st_size, p.stat().st_size)
