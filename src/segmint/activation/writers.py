"""Audience files: CSV for spreadsheets and messaging tools, JSON for programs (layer 3, pure).

Both writers take rows already in memory (a pyarrow table or dicts) and the column order, and
write bytes: the writer owns the encoding, so a file, an HTTP response and a test buffer get the
same bytes. :func:`csv_chunks` / :func:`json_chunks` yield them piece by piece (for streamed
downloads); :func:`write_csv` / :func:`write_json` / :func:`write_rows` write them to a binary
file object.

CSV (decided):
    UTF-8 **with a byte-order mark**: Excel on Windows reads a CSV without one in the legacy
    code page and turns 陳大文 into mojibake; with it, Excel, LibreOffice, Google Sheets and
    pandas/``csv`` (``encoding="utf-8-sig"``) all read the names correctly. RFC 4180 layout:
    comma, ``"`` quoting only where needed, CRLF line ends, a header row. Every text cell goes
    through :func:`segmint.activation.cells.neutralise_cell` (CSV injection). ``None`` is an
    empty cell.
JSON (decided):
    UTF-8 without a BOM (RFC 8259), an array of objects with the columns in order, one object
    per line, ``null`` for missing values. Values are written **exactly** — no formula
    neutralising: JSON is read by programs, not opened by spreadsheets, and a changed value
    would be a wrong value (a tool that turns JSON into a sheet must neutralise itself).

Example:
    >>> import io
    >>> out = io.BytesIO()
    >>> write_csv([{"customer_id": "c1", "name": "=1+1"}], ["customer_id", "name"], out)
    1
    >>> out.getvalue()
    b"\\xef\\xbb\\xbfcustomer_id,name\\r\\nc1,'=1+1\\r\\n"
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from segmint.activation.cells import neutralise_cell
from segmint.errors import ValidationError, close_matches

__all__ = [
    "CSV_BOM",
    "EXPORT_FORMATS",
    "check_format",
    "csv_chunks",
    "json_chunks",
    "write_csv",
    "write_json",
    "write_rows",
]

#: File formats of audience exports.
EXPORT_FORMATS = ("csv", "json")
#: UTF-8 byte-order mark at the start of every CSV file (so that Excel reads UTF-8).
CSV_BOM = "\ufeff".encode()

Rows = Any  # a pyarrow.Table or an iterable of mappings
_BATCH = 2_000


def check_format(fmt: str) -> str:
    """``fmt`` lower-cased if it is one of :data:`EXPORT_FORMATS`, else a ValidationError.

    >>> check_format("CSV")
    'csv'
    """
    value = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if value not in EXPORT_FORMATS:
        raise ValidationError(
            f"The export format must be one of {', '.join(EXPORT_FORMATS)}. Got {fmt!r} instead.",
            suggestions=close_matches(str(fmt), EXPORT_FORMATS),
            hint="use --format csv (spreadsheets, messaging tools) or --format json (programs).",
        )
    return value


def _value_rows(rows: Rows, columns: Sequence[str]) -> Iterator[tuple]:
    """Each row's values in ``columns`` order."""
    if hasattr(rows, "to_batches"):  # a pyarrow table: convert a batch at a time
        for batch in rows.select(list(columns)).to_batches(max_chunksize=_BATCH):
            yield from zip(*(col.to_pylist() for col in batch.columns), strict=True)
        return
    for row in rows:
        yield tuple(row.get(c) for c in columns)


def csv_chunks(rows: Rows, columns: Sequence[str]) -> Iterator[bytes]:
    """The CSV file as byte chunks: BOM and header first, then about 2,000 rows per chunk."""
    return _csv_chunks(_value_rows(rows, columns), columns)


def json_chunks(rows: Rows, columns: Sequence[str]) -> Iterator[bytes]:
    """The JSON file as byte chunks: ``[``, one object per line, ``]``."""
    return _json_chunks(_value_rows(rows, columns), columns)


def _csv_chunks(values: Iterable[tuple], columns: Sequence[str]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise_cell(c) for c in columns])
    yield CSV_BOM + buf.getvalue().encode("utf-8")
    buf.seek(0)
    buf.truncate()
    for n, row in enumerate(values, start=1):
        writer.writerow(["" if v is None else neutralise_cell(_text(v)) for v in row])
        if n % _BATCH == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")


def _json_chunks(values: Iterable[tuple], columns: Sequence[str]) -> Iterator[bytes]:
    yield b"["
    first = True
    parts: list[str] = []
    for row in values:
        parts.append(("\n" if first else ",\n") + _json(dict(zip(columns, row, strict=True))))
        first = False
        if len(parts) >= _BATCH:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("\n]\n" if not first else "]\n")
    yield "".join(parts).encode("utf-8")


def write_csv(rows: Rows, columns: Sequence[str], out: BinaryIO) -> int:
    """Write ``rows`` as spreadsheet-safe CSV to ``out``; return the number of data rows."""
    return _write(_csv_chunks, rows, columns, out)


def write_json(rows: Rows, columns: Sequence[str], out: BinaryIO) -> int:
    """Write ``rows`` as a JSON array of objects (values exact) to ``out``; return the count.

    >>> out = io.BytesIO()
    >>> write_json([{"id": "c1", "name": "=1+1"}], ["id", "name"], out)
    1
    >>> json.loads(out.getvalue())
    [{'id': 'c1', 'name': '=1+1'}]
    """
    return _write(_json_chunks, rows, columns, out)


def write_rows(rows: Rows, columns: Sequence[str], out: BinaryIO, fmt: str) -> int:
    """:func:`write_csv` or :func:`write_json` by ``fmt`` (one of :data:`EXPORT_FORMATS`)."""
    writer = write_csv if check_format(fmt) == "csv" else write_json
    return writer(rows, columns, out)


def _write(chunks, rows: Rows, columns: Sequence[str], out: BinaryIO) -> int:
    counted = _Counted(_value_rows(rows, columns))
    for chunk in chunks(counted, columns):
        out.write(chunk)
    return counted.n


class _Counted:
    """Iterable of value rows that counts what went through."""

    def __init__(self, values: Iterable[tuple]) -> None:
        self._values = values
        self.n = 0

    def __iter__(self) -> Iterator[tuple]:
        for r in self._values:
            self.n += 1
            yield r


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=_text)
