"""Read import files into Arrow tables of raw values (layer 2: files in, no queries).

CSV (any delimiter, sniffed; encoding detected), Parquet (pyarrow) and Excel .xlsx (openpyxl,
read-only). CSV and Excel cells are read as *strings* so validation can show the raw value the
user typed; Parquet keeps its column types (they are already typed and validated by the writer),
except nested types, which become JSON text.

Every data row keeps its spreadsheet row number (header = row 1) in :attr:`RawTable.rows`, so a
problem can point at the row a user sees in Excel.

Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
    >>> _ = p.write_text("姓名;電話\\n陳大文;9123 4567\\n", encoding="utf-8-sig")
    >>> raw = read_table(p)
    >>> raw.headers, raw.delimiter, raw.encoding
    (['姓名', '電話'], ';', 'utf-8-sig')
    >>> raw.data.column(1).to_pylist()
    ['9123 4567']
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from segmint.errors import ImportProblem, ImportValidationError, NotFoundError, close_matches

__all__ = [
    "CSV_SUFFIXES",
    "EXCEL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "Progress",
    "RawTable",
    "detect_encoding",
    "read_table",
    "sniff_delimiter",
]

#: ``progress(step, done, total)``; ``total`` is 0 when unknown.
Progress = Callable[[str, int, int], None]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")

_SAMPLE_BYTES = 1 << 20  # encoding and delimiter are decided on the first MiB
_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawTable:
    """The raw content of one import file.

    Attributes:
        file: the file name shown in problems (``orders.csv``).
        headers: the header row as written (duplicates get `` (2)``, `` (3)`` appended).
        data: one column per header, in order; ``null`` for empty cells.
        rows: spreadsheet row number of every data row (the header is row 1).
        encoding, delimiter, sheet: how the file was read (``None`` where it does not apply).
        notes: remarks about reading (e.g. a fallback encoding) for the import result.
    """

    file: str
    headers: list[str]
    data: pa.Table
    rows: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return self.data.num_rows

    def column(self, header: str) -> pa.Array:
        """The values of column ``header`` as one Arrow array."""
        return self.data.column(self.headers.index(header)).combine_chunks()


def _dedupe(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(headers):
        name = (h or "").strip() or f"Column {i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> RawTable:
    """Read a CSV, Parquet or Excel file (chosen by its suffix).

    Raises ``ImportValidationError`` for files that cannot be read at all (unknown format, rows
    with the wrong number of fields, undecodable bytes), naming file and row.
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"The file {p} does not exist.", hint="check the path and try again.")
    suffix = p.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(p, progress)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(p, sheet, progress)
    if suffix == ".xls":
        raise ImportValidationError(
            [ImportProblem(p.name, None, None, "old .xls files cannot be read. Save as .xlsx.")]
        )
    return _read_csv(p, encoding, delimiter, progress)


# -- CSV ------------------------------------------------------------------------------------------
def _cjk_score(text: str, encoding: str) -> float:
    """Share of CJK characters that sit in the *frequent* block of ``encoding``.

    Big5 orders characters by frequency (常用字 0xA440–0xC67E); GB2312 level 1 (0xB0A1–0xD7FE)
    holds the 3,755 common simplified characters. Text decoded with the wrong one of the two
    lands mostly in rare characters, so the right decoding scores clearly higher.
    """
    total = hits = 0
    for ch in text:
        if ord(ch) < 0x2E80:
            continue
        try:
            b = ch.encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(b) != 2:
            total += 1
            continue
        code = (b[0] << 8) | b[1]
        total += 1
        if encoding == "gb18030":
            hits += 0xB0 <= b[0] <= 0xD7 and b[1] >= 0xA1
        else:
            hits += 0xA440 <= code <= 0xC67E
    return hits / total if total else 0.0


def _decodes(data: bytes, encoding: str) -> str | None:
    """Decode ``data`` strictly, allowing a character cut at the end of the sample."""
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return dec.decode(data, final=False)
    except (UnicodeDecodeError, LookupError):
        return None


def detect_encoding(data: bytes) -> tuple[str, str | None]:
    """Return ``(encoding, note)`` for the bytes of a text file.

    Order: a BOM decides (UTF-8 with BOM, UTF-16); else strict UTF-8; else the Chinese legacy
    encodings Big5 (cp950, then Big5-HKSCS for Hong Kong characters) and GB18030, choosing
    between them by which decoding yields frequent characters; else Latin-1 with a note, since
    Latin-1 decodes any bytes and may be wrong.

    >>> detect_encoding("陳大文,黃小明".encode("big5"))
    ('cp950', None)
    >>> detect_encoding("陈大文,黄小明".encode("gb18030"))
    ('gb18030', None)
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if _decodes(data, "utf-8") is not None:
        return "utf-8", None
    candidates: dict[str, str] = {}
    for enc in ("cp950", "big5hkscs", "gb18030"):
        if enc == "big5hkscs" and "cp950" in candidates:
            continue  # Big5-HKSCS only adds Hong Kong characters cp950 lacks
        text = _decodes(data, enc)
        if text is not None:
            candidates[enc] = text
    if candidates:
        sample = {enc: text[:20000] for enc, text in candidates.items()}
        scores = {enc: _cjk_score(text, enc) for enc, text in sample.items()}
        best = max(scores, key=lambda e: (scores[e], e != "gb18030"))
        note = None
        if len(scores) > 1 and abs(scores[best] - min(scores.values())) < 0.15:
            note = (
                f"the encoding looked like both Big5 and GB18030; read as {best}. "
                "If names look garbled, pass encoding='big5' or encoding='gb18030'."
            )
        return best, note
    return "latin-1", (
        "the file is not UTF-8, Big5 or GB18030; read as Latin-1. If characters look wrong, "
        "pass the right encoding (e.g. encoding='cp1252')."
    )


def sniff_delimiter(text: str) -> str:
    """The delimiter (``,`` ``;`` tab ``|``) that splits the first lines most consistently.

    >>> sniff_delimiter("a;b;c\\n1;2,5;3\\n")
    ';'
    """
    lines = text.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1] if not text.endswith(("\n", "\r")) else lines
    best, best_score = ",", (0.0, 0)
    for d in _DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=d) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode <= 1:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = d, score
    return best


class _CountingFile(io.RawIOBase):
    """A read-only file that remembers how many bytes were read (for progress)."""

    def __init__(self, path: Path):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        self.read_bytes += n or 0
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _read_csv(
    p: Path, encoding: str | None, delimiter: str | None, progress: Progress | None
) -> RawTable:

    notes: list[str] = []
    with open(p, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    auto = encoding is None
    if auto:
        enc, note = detect_encoding(sample)
    else:
        enc, note = encoding, None
        try:
            codecs.lookup(enc)
        except LookupError:
            raise ImportValidationError(
                [ImportProblem(p.name, None, None, f"encoding '{enc}' is not known to Python.")]
            ) from None
    text = _decodes(sample, enc)
    if text is None:
        raise ImportValidationError(
            [ImportProblem(p.name, None, None, f"the file cannot be decoded as {enc}.")]
        )
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportValidationError([ImportProblem(p.name, None, None, "the file is empty.")])
    delim = delimiter or sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text), delimiter=delim), [])
    headers = _dedupe(header)
    try:
        table = _arrow_csv(p, enc, delim, len(headers), progress)
    except UnicodeError:
        if not (auto and enc == "utf-8"):
            raise ImportValidationError(
                [ImportProblem(p.name, None, None, f"the file cannot be decoded as {enc}.")]
            ) from None
        # the first MiB was UTF-8 but later bytes are not: decide on the whole file
        enc, note = detect_encoding(p.read_bytes())
        table = _arrow_csv(p, enc, delim, len(headers), progress)
    if note:
        notes.append(note)
    return RawTable(
        file=p.name,
        headers=headers,
        data=_strip_strings(table),
        rows=np.arange(2, table.num_rows + 2, dtype=np.int64),
        encoding=enc,
        delimiter=delim,
        notes=notes,
    )


def _arrow_csv(p: Path, enc: str, delim: str, width: int, progress: Progress | None) -> pa.Table:
    """Read all cells as strings with pyarrow's multi-threaded CSV reader."""
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    bad_rows: list[ImportProblem] = []

    def on_invalid(row) -> str:
        bad_rows.append(
            ImportProblem(
                p.name,
                row.number,
                None,
                f"the row has {row.actual_columns} field(s) but the header has "
                f"{row.expected_columns}. Got {row.text[:80]!r} instead.",
            )
        )
        return "skip"

    arrow_enc = "utf8" if enc in ("utf-8", "utf-8-sig") else enc
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=1, encoding=arrow_enc, block_size=8 << 20
    )
    parse_opts = pacsv.ParseOptions(
        delimiter=delim, newlines_in_values=True, invalid_row_handler=on_invalid
    )
    convert_opts = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    size = p.stat().st_size
    src = _CountingFile(p)
    batches = []
    try:
        reader = pacsv.open_csv(
            pa.PythonFile(src, mode="r"),
            read_options=read_opts,
            parse_options=parse_opts,
            convert_options=convert_opts,
        )
        for batch in reader:
            batches.append(batch)
            if progress:
                progress("read", min(src.read_bytes, size), size)
    except pa.ArrowInvalid as exc:
        msg = str(exc).splitlines()[0]
        if "UTF8" in msg or "utf8" in msg.lower():
            raise UnicodeError(msg) from None
        raise ImportValidationError(
            [ImportProblem(p.name, None, None, f"the file cannot be read as CSV ({enc}): {msg}")]
        ) from None
    finally:
        src.close()
    if bad_rows:
        raise ImportValidationError(_locate_bad_rows(p, enc, delim, width) or bad_rows)
    if progress:
        progress("read", size, size)
    return pa.Table.from_batches(batches, schema=pa.schema([(n, pa.string()) for n in names]))


def _locate_bad_rows(p: Path, enc: str, delim: str, width: int) -> list[ImportProblem]:
    """Row numbers of rows with the wrong number of fields (slow path, only on failure)."""
    problems = []
    with open(p, encoding=enc, newline="") as f:
        for rownum, row in enumerate(csv.reader(f, delimiter=delim), start=1):
            if rownum == 1 or not row or len(row) == width:
                continue
            text = delim.join(row)
            problems.append(
                ImportProblem(
                    p.name,
                    rownum,
                    None,
                    f"the row has {len(row)} field(s) but the header has {width}. "
                    f"Got {text[:80]!r} instead.",
                )
            )
    return problems


def _strip_strings(table: pa.Table) -> pa.Table:
    """Trim whitespace of string cells; blank cells become null."""
    import pyarrow.compute as pc

    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


# -- Parquet --------------------------------------------------------------------------------------
def _read_parquet(p: Path, progress: Progress | None) -> RawTable:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportValidationError(
            [ImportProblem(p.name, None, None, f"the file is not a readable Parquet file: {exc}")]
        ) from None
    total = pf.metadata.num_rows
    batches = []
    done = 0
    for batch in pf.iter_batches(batch_size=256_000):
        batches.append(batch)
        done += batch.num_rows
        if progress:
            progress("read", done, total)
    table = pa.Table.from_batches(batches, schema=pf.schema_arrow)
    headers = _dedupe(table.column_names)
    cols = []
    for col in table.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = t.value_type
        if pa.types.is_large_string(t):
            col = col.cast(pa.string())
        elif pa.types.is_nested(t):
            col = pa.array(
                [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()],
                pa.string(),
            )
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            col = col.cast(pa.string())
        cols.append(col)
    table = _strip_strings(pa.table(cols, names=[f"c{i}" for i in range(len(cols))]))
    return RawTable(
        file=p.name,
        headers=headers,
        data=table,
        rows=np.arange(2, table.num_rows + 2, dtype=np.int64),
    )


# -- Excel ----------------------------------------------------------------------------------------
def _cell_text(v: object) -> str | None:
    """An Excel cell as the text a user sees: integers without ``.0``, dates in ISO form."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, _dt.datetime):  # Excel has no date-only cells: midnight reads as a date
        return v.date().isoformat() if v.time() == _dt.time() else v.isoformat(sep=" ")
    if isinstance(v, _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, _dt.timedelta):
        return str(v)
    return str(v)


def _read_excel(p: Path, sheet: str | None, progress: Progress | None) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException, KeyError …
        raise ImportValidationError(
            [ImportProblem(p.name, None, None, f"the file is not a readable .xlsx workbook: {exc}")]
        ) from None
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise NotFoundError(
                f"The workbook {p.name} has no sheet '{sheet}'. "
                f"Sheets: {', '.join(wb.sheetnames)}.",
                suggestions=close_matches(sheet, wb.sheetnames),
            )
        total = ws.max_row or 0
        it = ws.iter_rows(min_row=1, values_only=True)
        header_row = next(it, None)
        if header_row is None:
            raise ImportValidationError(
                [ImportProblem(p.name, None, None, f"the sheet '{ws.title}' is empty.")]
            )
        header = [_cell_text(v) or "" for v in header_row]
        while header and not header[-1]:
            header.pop()
        width = len(header)
        columns: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        extra: list[ImportProblem] = []
        for rownum, values in enumerate(it, start=2):
            cells = [_cell_text(v) for v in values]
            if not any(c is not None and str(c).strip() for c in cells):
                continue  # blank (perhaps only formatted) rows
            if len(cells) > width and any(c is not None for c in cells[width:]):
                extra.append(
                    ImportProblem(
                        p.name, rownum, None, "the row has values in columns without a header."
                    )
                )
            for i in range(width):
                columns[i].append(cells[i] if i < len(cells) else None)
            rows.append(rownum)
            if progress and rownum % 20_000 == 0:
                progress("read", rownum, total)
        if extra:
            raise ImportValidationError(extra)
    finally:
        wb.close()
    names = [f"c{i}" for i in range(width)]
    table = pa.table([pa.array(c, pa.string()) for c in columns], names=names)
    if progress:
        progress("read", total, total)
    return RawTable(
        file=p.name,
        headers=_dedupe(header),
        data=_strip_strings(table),
        rows=np.asarray(rows, dtype=np.int64),
        sheet=ws.title,
    )
