"""``segmint import KIND FILE``: import customers, orders, order items or events.

Example:
    $ segmint import customers shopify_customers.csv
    $ segmint import orders orders.xlsx --map amount=Total --map ts="Created at"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace
from segmint.errors import ValidationError

_STEPS = {"read": "Reading", "validate": "Validating", "write": "Writing"}


def _parse_maps(maps: list[str]) -> dict[str, str]:
    """``["amount=Total", "ts=Created at"]`` → ``{"amount": "Total", "ts": "Created at"}``."""
    out: dict[str, str] = {}
    for item in maps:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise ValidationError(
                f"--map must be FIELD=COLUMN. Got {item!r} instead.",
                hint='quote columns with spaces: --map ts="Created at"',
            )
        out[field.strip()] = column.strip()
    return out


@app.command("import")
def import_(
    kind: Annotated[
        str, typer.Argument(help="What the file holds: customers, orders, order_items or events.")
    ],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel (.xlsx) file.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="FIELD=COLUMN, e.g. --map amount=Total; wins over automatic mapping. Repeatable.",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Name of the system the file comes from (default: from the file)."),
    ] = None,
    refunds: Annotated[
        bool, typer.Option("--refunds", help="Negative amounts in this file are refunds.")
    ] = False,
    sheet: Annotated[
        str | None, typer.Option(help="Excel sheet to read (default: the first).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding (default: detected), e.g. big5.")
    ] = None,
    date_order: Annotated[
        str | None,
        typer.Option("--date-order", help="DMY or MDY for dates like 03/04/2026."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import a file; every row lands or none does, and re-importing changes nothing."""
    mapping = _parse_maps(map_ or [])
    ws = open_workspace(workspace)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(_STEPS.get(step, step.title()), total=total or None)
                bar.update(tasks[step], completed=done, total=total or None)

            # an ImportValidationError reaches segmint.cli.main, which prints the first 20
            # problems with file, row and column, the count of the rest, and exits 1
            result = ws.import_file(
                kind,
                file,
                mapping=mapping or None,
                source=source,
                refunds=refunds,
                sheet=sheet,
                encoding=encoding,
                date_order=date_order,
                progress=progress,
            )
    finally:
        ws.close()
    _print_result(result)


def _print_result(result) -> None:
    table = Table(title=f"Imported {result.kind} from {result.file}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("source", result.source + (f" ({result.preset})" if result.preset else ""))
    for name, value in result.summary().items():
        if name in ("warnings", "seconds"):
            continue
        if name == "line items written" and not value:
            continue
        table.add_row(name, f"{value:,}")
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table)
    if not result.changed:
        console.print("Nothing changed: every row was already in the workspace.")
    if result.kept_columns:
        where = "traits" if result.kind == "customers" else "properties"
        console.print(
            f"Kept in {where} (no matching field): {escape(', '.join(result.kept_columns))}"
        )
    if result.warnings:
        console.print(f"[yellow]{len(result.warnings):,} warning(s):[/]")
        for w in result.warnings[:10]:
            console.print(f"  • {escape(w)}", highlight=False)
        if len(result.warnings) > 10:
            console.print(f"  … and {len(result.warnings) - 10:,} more.")
