"""``segmint report``: write the self-contained HTML report of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace


def _size(n: int) -> str:
    for unit, step in (("MB", 1e6), ("kB", 1e3)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} bytes"


@app.command()
def report(
    workspace: WorkspaceOpt = Path("."),
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Report language: en or zh-Hant (default: the workspace's)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: WORKSPACE/report.html)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Reference date of RFM and ABC, YYYY-MM-DD (default: latest order)."
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML report (opens offline): data overview, coverage per source,
    identity merges, RFM segments and the ABC curve."""
    from segmint.report import check_lang, parse_as_of

    if lang is not None:
        check_lang(lang)  # refuse a bad language before any work
    as_of_date = parse_as_of(as_of)
    ws = open_workspace(workspace)
    try:
        with console.status("Building the report…"):
            path = ws.report(output, lang=lang, as_of=as_of_date)
    finally:
        ws.close()
    size = _size(path.stat().st_size)
    console.print(f"Wrote the report to {path} ({size}).", markup=False, soft_wrap=True)
