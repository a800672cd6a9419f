"""The shareable HTML report of a workspace (layer 4).

One self-contained file: data overview, coverage per field and per source, identity-merge
summary, RFM segments and the ABC curve, in English or Traditional Chinese. plotly.js is inlined
from the plotly wheel, so the page opens offline.

Two halves that meet in :class:`ReportData`: :func:`gather` runs the queries (workspace → small
pandas frames) and :func:`render` writes the page (frames → HTML, no database needed).

Example:
    >>> from segmint.workspace import Workspace
    >>> html = build_report(Workspace(), lang="zh-Hant")
    >>> html.startswith("<!DOCTYPE html>") and "資料概覽" in html
    True
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

from segmint.errors import ValidationError
from segmint.report.data import ReportData, gather, parse_as_of
from segmint.report.i18n import LANGS, Translator, check_lang
from segmint.report.page import render

__all__ = [
    "DEFAULT_FILE",
    "LANGS",
    "ReportData",
    "Translator",
    "build_report",
    "check_lang",
    "gather",
    "parse_as_of",
    "render",
    "write_report",
]

#: File name of the report inside the workspace folder when no path is given.
DEFAULT_FILE = "report.html"


def build_report(
    ws: Any, *, lang: str = "en", as_of: dt.date | dt.datetime | str | None = None
) -> str:
    """Return the HTML report of workspace ``ws`` in ``lang`` (``"en"`` or ``"zh-Hant"``).

    ``as_of`` is the reference date of the RFM and ABC sections (default: the workspace's
    latest order, as :meth:`Workspace.rfm` decides).
    """
    check_lang(lang)
    return render(gather(ws, as_of=as_of), lang)


def write_report(
    ws: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    lang: str | None = None,
    as_of: dt.date | dt.datetime | str | None = None,
) -> Path:
    """Write the report to ``path`` and return its absolute path.

    ``path`` defaults to ``report.html`` in the workspace folder; an existing folder gets a
    ``report.html`` inside it. ``lang`` defaults to the workspace's ``language`` setting. The file
    is written to a temporary name first, so a failed run never leaves half a report behind.
    """
    lang = check_lang(lang if lang is not None else getattr(ws.config, "language", "en"))
    as_of = parse_as_of(as_of)
    if path is None:
        if getattr(ws, "path", None) is None:
            raise ValidationError(
                "The report path must be given for a workspace without a folder. Got None instead.",
                hint="pass a file name, e.g. ws.report('report.html').",
            )
        target = Path(ws.path) / DEFAULT_FILE
    else:
        target = Path(path)
        if target.is_dir():
            target = target / DEFAULT_FILE
    target = target.expanduser().resolve()
    if not target.parent.is_dir():
        raise ValidationError(
            f"The report's folder must exist. Got {target.parent} instead.",
            hint="create the folder first or choose another output path (-o).",
        )
    page = build_report(ws, lang=lang, as_of=as_of)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
