"""``segmint audience …``: consent-aware exports for a channel, and the export log.

Example:
    $ segmint audience export rfm_champions --channel whatsapp --exclude rfm_at_risk
    $ segmint audience export rfm_champions --channel email --format json -o champions.json
    $ segmint audience log
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

audience_app = typer.Typer(
    name="audience",
    help="Audiences for a channel (only current consent, valid contacts): export and log.",
    no_args_is_help=True,
)
app.add_typer(audience_app, name="audience")

#: How the drop reasons read in the summary.
REASON_LABELS = {
    "excluded": "in an excluded segment",
    "no_consent": "no consent recorded",
    "withdrawn": "consent refused or withdrawn",
    "consent_in_future": "consent time after the as-of date",
    "no_contact": "no valid phone / e-mail",
}


@audience_app.command("export")
def export(
    segments: Annotated[
        list[str],
        typer.Argument(metavar="SEGMENT", help="Segment slug(s); members of any count."),
    ],
    channel: Annotated[
        str, typer.Option("--channel", "-c", help="whatsapp, email or sms.", show_default=False)
    ],
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-x", help="Leave out members of this segment (repeat)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or folder (default: <workspace>/exports/)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM:SS in UTC "
            "(default: the end of the latest order's day).",
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who exports (default: the OS user).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Write the people of SEGMENT(s) who may be messaged on the channel, and log the export."""
    with open_workspace(workspace) as ws:
        result = ws.audience_export(
            segments,
            channel,
            exclude=tuple(exclude or ()),
            format=fmt,
            path=output,
            as_of=as_of,
            by=by,
        )
    who = escape(" + ".join(result.segments))
    if result.empty:
        console.print(
            f"[bold yellow]Warning:[/] nobody in {who} can be reached on {result.channel}; "
            f"wrote {'a header-only CSV' if result.format == 'csv' else 'an empty JSON'} "
            "file and logged the export."
        )
    else:
        console.print(
            f"Exported [bold]{result.rows:,}[/] people of {who} for {result.channel} "
            f"({result.format.upper()})."
        )
    dropped = sum(result.dropped.values())
    if dropped:
        table = Table(title=f"Left out: {dropped:,}")
        table.add_column("reason")
        table.add_column("people", justify="right")
        for reason, n in result.dropped.items():
            if n:
                table.add_row(REASON_LABELS.get(reason, reason), f"{n:,}")
        console.print(table)
    console.print(f"File: {escape(str(result.path))}")
    console.print(
        f"Export id {result.export_id}, sha256 {result.sha256[:16]}…, "
        f"by {escape(result.exported_by)} (see segmint audience log)."
    )


@audience_app.command("log")
def log(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many exports.")] = 20,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Recent audience exports: when, who, what, how many, where."""
    with open_workspace(workspace) as ws:
        frame = ws.audience_log(limit).to_pyarrow().to_pandas()
    if frame.empty:
        console.print("No audience exports yet. Try: segmint audience export SEGMENT --channel …")
        return
    console.print(f"[bold]Audience exports[/] (newest first, {len(frame)} shown)")
    for r in frame.itertuples(index=False):
        segs = " + ".join(json.loads(r.segments))
        excl = json.loads(r.excluded)
        if excl:
            segs += " minus " + ", ".join(excl)
        left_out = sum(json.loads(r.dropped).values())
        console.print(
            f"[bold]{r.export_id}[/]  {r.exported_at:%Y-%m-%d %H:%M:%S} UTC  "
            f"by {escape(str(r.exported_by))}",
            soft_wrap=True,
        )
        console.print(
            f"  {escape(segs)} → {r.channel} ({r.format}): {r.rows:,} people, "
            f"{left_out:,} left out",
            soft_wrap=True,
        )
        console.print(f"  {escape(str(r.path))}", soft_wrap=True)
