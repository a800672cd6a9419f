"""Audience exports with a log: evaluate, write the file, record who got it (layer 4).

:func:`export_audience` runs an :class:`~segmint.activation.audience.Audience` (one query),
writes its rows as CSV or JSON (:mod:`segmint.activation.writers`) and records the export in
``audience_exports`` (one row: segments, channel, file, sha256, rows, dropped counts, who,
when) and ``audience_export_recipients`` (one row per person in the file, so that erasing a
person can also remove them from export logs).

All or nothing: the file is written under a temporary name in the target folder, the log rows
are inserted in one ``storage.transaction`` and the file is renamed into place as the last step
of that transaction. On any failure the temporary file is removed and the transaction rolls
back: no file and no log row remain. Export files are created readable by their owner only
(mode 0600 on POSIX): they hold personal data.

An audience with nobody in it still gives a valid file (a CSV header, an empty JSON array) and
a log row: a scheduled export must not fail because nobody qualifies today, and the log shows
that nobody was sent. :attr:`ExportResult.empty` says so; the CLI prints a warning.

The workspace facade (``ws.audience_export(...)``) supplies the connection and the audience.

Example (what ``ws.audience_export`` does)::

    audience = build_audience(resolved, "rfm_champions", "whatsapp", tables, as_of)
    result = export_audience(ws.con, audience, fmt="csv", path="champions.csv", by="crm")
    result.rows, result.dropped, result.export_id
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from segmint import storage
from segmint.activation.audience import Audience, split_classified
from segmint.activation.writers import check_format, write_rows
from segmint.errors import ValidationError
from segmint.schema import TABLES

__all__ = [
    "EXPORTS_FOLDER",
    "EXPORT_LOG",
    "EXPORT_RECIPIENTS",
    "ExportResult",
    "default_exported_by",
    "export_audience",
    "output_path",
    "recent_exports",
]

EXPORT_LOG = "audience_exports"
EXPORT_RECIPIENTS = "audience_export_recipients"
#: Folder of a workspace where exports go when no path is given.
EXPORTS_FOLDER = "exports"


@dataclass(frozen=True)
class ExportResult:
    """One export that was written and logged.

    ``table`` is the audience as an ibis expression (re-evaluates when executed); ``frame`` the
    rows written, as pandas. ``dropped`` counts members left out per reason
    (:data:`~segmint.activation.audience.DROP_REASONS`).
    """

    export_id: str
    path: Path
    rows: int
    dropped: dict[str, int]
    channel: str
    format: str
    segments: tuple[str, ...]
    exclude: tuple[str, ...]
    as_of: datetime
    exported_by: str
    exported_at: datetime
    sha256: str
    table: ir.Table = field(repr=False)
    frame: pd.DataFrame = field(repr=False)

    @property
    def empty(self) -> bool:
        """True when nobody qualified (the file holds only a header / an empty array)."""
        return self.rows == 0


def default_exported_by() -> str:
    """The OS user name (``getpass.getuser()``), or ``"unknown"`` where there is none."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


def output_path(
    path: str | Path | None,
    folder: str | Path | None,
    audience: Audience,
    fmt: str,
    now: datetime,
) -> Path:
    """Where the export goes, checked before any query runs.

    ``path`` may be a file or an existing folder (the default file name goes inside); without
    it the file goes to ``<workspace>/exports/<segments>_<channel>_<YYYYmmdd-HHMMSS>.<fmt>``.
    """
    name = f"{'+'.join(audience.segments)}_{audience.channel}_{now:%Y%m%d-%H%M%S}.{fmt}"
    if path is None:
        if folder is None:
            raise ValidationError(
                "An export from a workspace without a folder needs a file path.",
                hint="pass path='audience.csv' (or -o FILE on the command line).",
            )
        exports = Path(folder) / EXPORTS_FOLDER
        exports.mkdir(parents=True, exist_ok=True)
        target = exports / name
    else:
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / name
    parent = target.parent
    if not parent.is_dir():
        raise ValidationError(
            f"Cannot write the export to {target}: the folder {parent} does not exist.",
            hint="create the folder first, or choose another file with -o FILE.",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValidationError(
            f"Cannot write the export to {target}: the folder {parent} is not writable.",
            hint="choose a folder you can write to with -o FILE.",
        )
    return target.resolve()


def export_audience(
    con,
    audience: Audience,
    *,
    fmt: str = "csv",
    path: str | Path | None = None,
    folder: str | Path | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Evaluate ``audience``, write it to ``path`` as ``fmt`` and log it (all or nothing).

    ``folder`` is the workspace folder (for the default path); ``by`` defaults to the OS user;
    ``now`` (naive UTC) to the current time.
    """
    fmt = check_format(fmt)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    target = output_path(path, folder, audience, fmt, now)
    who = (by or "").strip() or default_exported_by()

    data = audience.classified.to_pyarrow()
    rows, dropped = split_classified(data, audience.columns)
    export_id = f"exp_{now:%Y%m%d%H%M%S}_{uuid.uuid4().hex[:8]}"

    tmp: Path | None = None
    renamed = False
    try:
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".part", dir=target.parent
            )
            tmp = Path(name)
            with os.fdopen(fd, "wb") as out:
                write_rows(rows, audience.columns, out, fmt)
        except OSError as exc:
            raise ValidationError(
                f"Cannot write the export to {target}: {exc.strerror or exc}.",
                hint="check the free space and permissions of that folder, or use -o FILE.",
            ) from exc
        digest = _sha256(tmp)
        log = {
            "export_id": export_id,
            "segments": json.dumps(list(audience.segments)),
            "excluded": json.dumps(list(audience.exclude)),
            "channel": audience.channel,
            "format": fmt,
            "path": str(target),
            "sha256": digest,
            "rows": rows.num_rows,
            "dropped": json.dumps(dropped),
            "as_of": audience.as_of,
            "exported_by": who,
            "exported_at": now,
        }
        with storage.transaction(con):
            _insert_log(con, log)
            _insert_recipients(con, export_id, rows.column("customer_id"))
            os.replace(tmp, target)
            renamed = True
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if renamed:  # the commit failed after the rename
            target.unlink(missing_ok=True)
        raise
    return ExportResult(
        export_id=export_id,
        path=target,
        rows=rows.num_rows,
        dropped=dropped,
        channel=audience.channel,
        format=fmt,
        segments=audience.segments,
        exclude=audience.exclude,
        as_of=audience.as_of,
        exported_by=who,
        exported_at=now,
        sha256=digest,
        table=audience.table,
        frame=rows.to_pandas(),
    )


def recent_exports(con, limit: int | None = 20) -> ir.Table:
    """The export log, newest first (``limit`` rows; all with ``None``)."""
    t = con.table(EXPORT_LOG)
    ordered = t.order_by([t.exported_at.desc(), t.export_id.desc()])
    return ordered if limit is None else ordered.limit(limit)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _insert_log(con, row: dict) -> None:
    schema = TABLES[EXPORT_LOG].to_pyarrow()
    con.insert(EXPORT_LOG, pa.Table.from_pylist([row], schema=schema))


def _insert_recipients(con, export_id: str, customer_ids: pa.ChunkedArray) -> None:
    if len(customer_ids) == 0:
        return
    schema = TABLES[EXPORT_RECIPIENTS].to_pyarrow()
    data = pa.table(
        {
            "export_id": pa.repeat(pa.scalar(export_id), len(customer_ids)),
            "customer_id": customer_ids.combine_chunks(),
        },
        schema=schema,
    )
    con.insert(EXPORT_RECIPIENTS, data)
