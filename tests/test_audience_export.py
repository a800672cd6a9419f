"""Consent-aware audience exports: who is kept, who is dropped why, safe files, the export log."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import datetime

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmint import audiences
from segmint.activation.audience import DROP_REASONS, E164_PATTERN
from segmint.activation.cells import FORMULA_PREFIXES, is_formula_like, neutralise_cell
from segmint.cli import app, main
from segmint.errors import NotFoundError, ValidationError
from segmint.schema import TABLES
from segmint.workspace import Workspace

AS_OF = "2026-01-31"  # the end of that day: 2026-02-01 00:00 UTC
END = datetime(2026, 2, 1)

SEGMENTS = """\
segments:
  - slug: everyone
    title_en: Everyone
    title_zh_hant: 所有人
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: customer_id, op: exists}
  - slug: vips
    title_en: VIPs
    title_zh_hant: 貴賓
    owner: crm
    reviewed_on: 2026-01-01
    where: {tag: vip}
  - slug: taiwan
    title_en: Taiwan
    title_zh_hant: 台灣
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: country, op: eq, value: TW}
  - slug: nobody
    title_en: Nobody
    title_zh_hant: 無人
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: country, op: eq, value: ZZ}
"""

#: An exclusive set whose second segment matches the same people as the first: it gets nobody.
TIERS = """\
exclusive: true
segments:
  - slug: tier_first
    title_en: First
    title_zh_hant: 第一
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: customer_id, op: exists}
  - slug: tier_second
    title_en: Second
    title_zh_hant: 第二
    owner: crm
    reviewed_on: 2026-01-01
    where: {field: customer_id, op: exists}
"""

#: Names a spreadsheet would run as formulas: one per prefix, and after leading whitespace.
FORMULAS = {
    "x_eq": "=1+1",
    "x_plus": "+SUM(A1:A2)",
    "x_minus": "-2+3",
    "x_at": "@SUM(A1)",
    "x_tab": "\t=1+1",
    "x_cr": "\r=1+1",
    "x_space": "  =cmd|' /C calc'!A0",
    "x_newline": '\n=HYPERLINK("http://evil.example")',
}


def _consented(cid: str, **extra) -> dict:
    return {
        "customer_id": cid,
        "name": cid.upper(),
        "first_name": cid,
        "phone": "+85291234567",
        "email": f"{cid}@example.com",
        "language": "en",
        "country": "HK",
        "consent_whatsapp": True,
        "consent_whatsapp_at": datetime(2026, 1, 1),
        "consent_email": True,
        "consent_email_at": datetime(2026, 1, 1),
        **extra,
    }


PROFILES = [
    _consented("a", name="Ann Chan", email=" Ann.Chan@Example.COM "),
    _consented(
        "b",
        name="陳大文",
        first_name="大文",
        phone="+886912345678",
        country="TW",
        language="zh-Hant",
        consent_whatsapp_at=None,  # a true flag without a time counts as current
    ),
    _consented("c", consent_whatsapp=False, consent_whatsapp_at=datetime(2026, 1, 5)),
    _consented("d", consent_whatsapp=None, consent_whatsapp_at=None, consent_email=None),
    _consented("e", consent_whatsapp_at=datetime(2026, 2, 1, 0, 0, 1)),  # 1 s after as_of
    _consented("f", phone="9123 4567", email="not-an-email"),  # not E.164
    _consented("g", phone=None, email=None),
    _consented("h"),  # tagged vip
    _consented("i", consent_whatsapp_at=END),  # given exactly at as_of: current
    _consented("n", name="-12.5", first_name="+85291234567"),  # numbers stay as they are
    *(_consented(cid, name=name) for cid, name in FORMULAS.items()),
]
KEPT_WHATSAPP = sorted({"a", "b", "h", "i", "n", *FORMULAS})


def put(ws: Workspace, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    full = [{c: r.get(c) for c in schema.names} for r in rows]
    ws.con.insert(table, pa.Table.from_pylist(full, schema=schema))


@pytest.fixture
def ws(tmp_path):
    with Workspace.create(tmp_path / "shop", default_region="HK") as w:
        put(w, "profiles", PROFILES)
        put(
            w,
            "orders",
            [
                {
                    "order_id": "o1",
                    "customer_id": "a",
                    "ts": datetime(2026, 1, 20, 9),
                    "amount": 100.0,
                    "status": "completed",
                    "discount": 0.0,
                }
            ],
        )
        (w.path / "segments").mkdir()
        (w.path / "segments" / "mine.yaml").write_text(SEGMENTS, encoding="utf-8")
        (w.path / "segments" / "tiers.yaml").write_text(TIERS, encoding="utf-8")
        w.tags_add("vip", ["h"])
        yield w


def ids(table) -> list[str]:
    return sorted(table.execute()["customer_id"])


# -- who is kept, who is dropped ------------------------------------------------------------------
def test_current_consent_and_a_valid_phone_are_needed_for_whatsapp(ws):
    assert ids(ws.audience("everyone", "whatsapp", as_of=AS_OF)) == KEPT_WHATSAPP


def test_every_dropped_member_has_one_reason(ws, tmp_path):
    r = ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=tmp_path / "a.csv")
    assert r.dropped == {
        "excluded": 0,
        "no_consent": 1,  # d
        "withdrawn": 1,  # c
        "consent_in_future": 1,  # e
        "no_contact": 2,  # f (not E.164), g (no phone)
    }
    assert list(r.dropped) == list(DROP_REASONS)
    assert r.rows + sum(r.dropped.values()) == len(PROFILES)


def test_consent_given_exactly_at_as_of_counts_and_one_second_later_does_not(ws):
    kept = ids(ws.audience("everyone", "whatsapp", as_of=AS_OF))
    assert "i" in kept and "e" not in kept
    # a day later e's consent is in the past: e is kept
    assert "e" in ids(ws.audience("everyone", "whatsapp", as_of="2026-02-01"))


def test_phones_in_the_audience_are_e164(ws):
    frame = ws.audience("everyone", "sms", as_of=AS_OF).execute()
    # sms consent is missing for everyone here
    assert frame.empty
    frame = ws.audience("everyone", "whatsapp", as_of=AS_OF).execute()
    assert all(re.fullmatch(E164_PATTERN, p) for p in frame["phone"])
    assert "+886912345678" in set(frame["phone"])


def test_email_channel_uses_normalised_addresses_and_email_consent(ws):
    frame = ws.audience("everyone", "email", as_of=AS_OF).execute()
    assert "phone" not in frame.columns
    by_id = dict(zip(frame["customer_id"], frame["email"], strict=True))
    assert by_id["a"] == "ann.chan@example.com"
    # c withdrew WhatsApp only; e's future time is for WhatsApp only; f's address is invalid
    assert {"c", "e"} <= set(by_id) and "f" not in by_id and "d" not in by_id


def test_excluded_segments_win_over_every_other_reason(ws, tmp_path):
    ws.tags_add("vip", ["d"])  # d has no consent, but is excluded first
    r = ws.audience_export(
        "everyone", "whatsapp", exclude=["vips"], as_of=AS_OF, path=tmp_path / "x.csv"
    )
    assert r.dropped["excluded"] == 2 and r.dropped["no_consent"] == 0
    assert "h" not in set(r.frame["customer_id"])


def test_several_segments_give_their_union(ws):
    kept = ids(ws.audience(["taiwan", "vips"], "whatsapp", as_of=AS_OF))
    assert kept == ["b", "h"]


def test_a_segment_of_an_exclusive_set_keeps_only_what_its_priority_gives_it(ws):
    assert ids(ws.audience("tier_first", "whatsapp", as_of=AS_OF)) == KEPT_WHATSAPP
    assert ids(ws.audience("tier_second", "whatsapp", as_of=AS_OF)) == []


# -- errors ---------------------------------------------------------------------------------------
def test_unknown_segment_suggests_close_names(ws):
    with pytest.raises(NotFoundError) as err:
        ws.audience("everyon", "whatsapp", as_of=AS_OF)
    assert str(err.value) == "There is no segment 'everyon'. Did you mean 'everyone'?"
    with pytest.raises(NotFoundError, match="Did you mean 'vips'"):
        ws.audience("everyone", "whatsapp", exclude=["vip"], as_of=AS_OF)


def test_unknown_channel_lists_the_valid_ones(ws):
    with pytest.raises(ValidationError) as err:
        ws.audience_export("everyone", "whatsap")
    assert str(err.value) == (
        "The channel must be one of whatsapp, email, sms. Got 'whatsap' instead. "
        "Did you mean 'whatsapp'? Hint: e.g. --channel whatsapp"
    )


def test_unknown_format_is_refused_before_anything_is_written(ws):
    with pytest.raises(ValidationError, match=r"format must be one of csv, json. Got 'xlsx'"):
        ws.audience_export("everyone", "whatsapp", format="xlsx")
    assert not (ws.path / "exports").exists()


# -- spreadsheet-safe cells -----------------------------------------------------------------------
@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
@pytest.mark.parametrize("lead", ["", " ", "  \u3000"])
def test_every_formula_prefix_is_neutralised_also_after_whitespace(prefix, lead):
    text = f"{lead}{prefix}cmd|' /C calc'!A0"
    assert is_formula_like(text)
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["+85291234567", "-12.5", "+3", "1e3", "-.5", "陳大文", "a=b", "", "Ann-Marie", "x@y"]
)
def test_numbers_phones_and_plain_text_are_left_as_they_are(text):
    assert neutralise_cell(text) == text


def test_non_text_values_pass_through():
    assert neutralise_cell(-3) == -3 and neutralise_cell(None) is None


# -- files ----------------------------------------------------------------------------------------
def expected_rows(ws, channel="whatsapp") -> list[dict]:
    frame = ws.audience("everyone", channel, as_of=AS_OF).to_pyarrow()
    return frame.to_pylist()


def test_csv_reads_back_as_the_audience_with_formulas_neutralised(ws, tmp_path):
    r = ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=tmp_path / "out.csv")
    raw = r.path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads 陳大文 correctly
    with open(r.path, encoding="utf-8-sig", newline="") as fh:
        got = list(csv.DictReader(fh))
    want = [
        {k: "" if v is None else neutralise_cell(v) for k, v in row.items()}
        for row in expected_rows(ws)
    ]
    assert got == want
    names = {row["customer_id"]: row["name"] for row in got}
    for cid, name in FORMULAS.items():
        assert names[cid] == "'" + name
    assert names["b"] == "陳大文" and names["n"] == "-12.5"
    assert {row["first_name"] for row in got if row["customer_id"] == "n"} == {"+85291234567"}
    assert all(not is_formula_like(v) for row in got for v in row.values())


def test_json_keeps_every_value_exact(ws, tmp_path):
    r = ws.audience_export(
        "everyone", "whatsapp", as_of=AS_OF, format="json", path=tmp_path / "out.json"
    )
    raw = r.path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    got = json.loads(raw.decode("utf-8"))
    assert got == expected_rows(ws)
    assert {g["customer_id"]: g["name"] for g in got}["x_eq"] == "=1+1"


def test_the_result_carries_rows_frame_and_table(ws, tmp_path):
    r = ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=tmp_path / "r.csv")
    assert r.rows == len(KEPT_WHATSAPP) == len(r.frame)
    assert list(r.frame["customer_id"]) == KEPT_WHATSAPP
    assert ids(r.table) == KEPT_WHATSAPP
    assert " ".join(r.frame.columns) == (
        "customer_id name first_name phone language country rfm_segment"
    )
    assert r.frame.set_index("customer_id").loc["a", "rfm_segment"] is not None


def test_a_folder_as_path_gets_the_default_file_name(ws, tmp_path):
    r = ws.audience_export("everyone", "email", as_of=AS_OF, path=tmp_path)
    assert r.path.parent == tmp_path.resolve()
    assert re.fullmatch(r"everyone_email_\d{8}-\d{6}\.csv", r.path.name)


def test_without_a_path_the_file_goes_to_the_exports_folder(ws):
    r = ws.audience_export("everyone", "whatsapp", as_of=AS_OF)
    assert r.path.parent == (ws.path / "exports").resolve() and r.path.is_file()


def test_an_empty_audience_still_writes_a_valid_file_and_is_logged(ws, tmp_path):
    r = ws.audience_export("nobody", "whatsapp", as_of=AS_OF, path=tmp_path / "e.csv")
    assert r.empty and r.rows == 0
    with open(r.path, encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [list(r.frame.columns)]
    j = ws.audience_export("nobody", "sms", as_of=AS_OF, format="json", path=tmp_path / "e.json")
    assert json.loads(j.path.read_text(encoding="utf-8")) == []
    assert ws.table("audience_exports").count().execute() == 2
    assert ws.table("audience_export_recipients").count().execute() == 0


# -- the export log -------------------------------------------------------------------------------
def test_the_log_records_who_when_what_and_the_recipients(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(audiences.getpass, "getuser", lambda: "tester")
    r = ws.audience_export(
        "everyone", "whatsapp", exclude=["vips"], as_of=AS_OF, path=tmp_path / "l.csv"
    )
    log = ws.audience_log().to_pyarrow().to_pylist()
    assert len(log) == 1
    row = log[0]
    assert row["export_id"] == r.export_id and r.export_id.startswith("exp_")
    assert json.loads(row["segments"]) == ["everyone"]
    assert json.loads(row["excluded"]) == ["vips"]
    assert (row["channel"], row["format"], row["rows"]) == ("whatsapp", "csv", r.rows)
    assert row["path"] == str(r.path)
    assert row["sha256"] == hashlib.sha256(r.path.read_bytes()).hexdigest()
    assert json.loads(row["dropped"]) == r.dropped and r.dropped["excluded"] == 1
    assert row["exported_by"] == "tester"
    assert row["as_of"] == END and row["exported_at"] == r.exported_at
    rec = ws.table("audience_export_recipients").to_pyarrow().to_pylist()
    assert {x["export_id"] for x in rec} == {r.export_id}
    assert sorted(x["customer_id"] for x in rec) == sorted(set(KEPT_WHATSAPP) - {"h"})


def test_exported_by_can_be_given_and_the_log_is_newest_first(ws, tmp_path):
    first = ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=tmp_path / "1.csv")
    second = ws.audience_export(
        "taiwan", "email", as_of=AS_OF, path=tmp_path / "2.json", format="json", by="alice"
    )
    log = ws.audience_log().to_pyarrow().to_pylist()
    assert [x["export_id"] for x in log] == [second.export_id, first.export_id]
    assert log[0]["exported_by"] == "alice" and log[0]["format"] == "json"
    assert ws.audience_log(limit=1).count().execute() == 1


# -- all or nothing -------------------------------------------------------------------------------
def _nothing_left(ws, folder) -> None:
    assert list(folder.iterdir()) == []
    assert ws.table("audience_exports").count().execute() == 0
    assert ws.table("audience_export_recipients").count().execute() == 0


def test_a_missing_target_folder_is_refused_before_the_query(ws, tmp_path):
    target = tmp_path / "missing" / "out.csv"
    with pytest.raises(ValidationError) as err:
        ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=target)
    assert str(err.value) == (
        f"Cannot write the export to {target}: the folder {target.parent} does not exist. "
        "Hint: create the folder first, or choose another file with -o FILE."
    )
    assert not (tmp_path / "missing").exists()
    assert ws.table("audience_exports").count().execute() == 0


@pytest.mark.parametrize("where", ["_insert_recipients", "os.replace"])
def test_a_failure_while_logging_or_renaming_leaves_no_file_and_no_log_row(
    ws, tmp_path, monkeypatch, where
):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    if where == "os.replace":
        monkeypatch.setattr(audiences.os, "replace", boom)
    else:
        monkeypatch.setattr(audiences, where, boom)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="disk on fire"):
        ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=out / "a.csv")
    _nothing_left(ws, out)


def test_a_failed_commit_after_the_rename_removes_the_file(ws, tmp_path, monkeypatch):
    import contextlib

    @contextlib.contextmanager
    def failing_commit(con):
        yield
        raise RuntimeError("commit failed")

    monkeypatch.setattr(audiences.storage, "transaction", failing_commit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="commit failed"):
        ws.audience_export("everyone", "whatsapp", as_of=AS_OF, path=out / "a.csv")
    assert list(out.iterdir()) == []


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_errors_say_what_was_wrong(ws, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["audience", "export", "everyone", "--channel", "fax", "-w", str(ws.path)])
    assert exit_.value.code == 1
    assert "Error: The channel must be one of whatsapp, email, sms. Got 'fax'" in (
        capsys.readouterr().out
    )
    with pytest.raises(SystemExit) as exit_:
        main(["audience", "export", "everyon", "--channel", "sms", "-w", str(ws.path)])
    assert exit_.value.code == 1
    assert "Did you mean 'everyone'?" in capsys.readouterr().out


def test_cli_warns_about_an_empty_audience(ws, tmp_path):
    r = CliRunner().invoke(
        app,
        ["audience", "export", "nobody", "-c", "sms", "-o", str(tmp_path), "-w", str(ws.path)],
    )
    assert r.exit_code == 0, r.output
    assert "Warning: nobody in nobody can be reached on sms" in r.output


# -- end to end on the demo workspace -------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from _segments_support import build_demo_workspace

    root = tmp_path_factory.mktemp("audience-demo")
    ws, _ = build_demo_workspace(root)
    folder = ws.path
    ws.close()  # the CLI opens the workspace itself
    return folder


def test_cli_exports_a_whatsapp_audience_of_champions_and_logs_it(demo, tmp_path):
    out = tmp_path / "champions.csv"
    args = ["audience", "export", "rfm_champions", "--channel", "whatsapp", "-o", str(out)]
    r = CliRunner().invoke(app, [*args, "--by", "crm-team", "-w", str(demo)])
    assert r.exit_code == 0, r.output
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 0
    assert f"Exported {len(rows):,} people of rfm_champions for whatsapp" in r.output
    assert all(re.fullmatch(E164_PATTERN, row["phone"]) for row in rows)
    assert {row["rfm_segment"] for row in rows} == {"champions"}
    with Workspace.open(demo) as ws:
        members = ws.segment_preview("rfm_champions", limit=0)
        p = ws.table("profiles").to_pyarrow().to_pandas().set_index("customer_id")
        as_of = ws._segment_as_of(None)
        log = ws.audience_log().to_pyarrow().to_pylist()
    chosen = p.loc[[row["customer_id"] for row in rows]]
    assert chosen["consent_whatsapp"].eq(True).all()
    at = chosen["consent_whatsapp_at"]
    assert (at.isna() | (at <= as_of)).all()
    assert len(rows) <= members.count
    assert log[0]["rows"] == len(rows) and log[0]["exported_by"] == "crm-team"
    dropped = json.loads(log[0]["dropped"])
    assert len(rows) + sum(dropped.values()) == members.count

    shown = CliRunner().invoke(app, ["audience", "log", "-w", str(demo)])
    assert shown.exit_code == 0, shown.output
    assert log[0]["export_id"] in shown.output and "rfm_champions" in shown.output
