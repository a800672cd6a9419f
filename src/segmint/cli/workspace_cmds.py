"""``segmint init``: create a workspace folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import app, console


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    region: Annotated[
        str, typer.Option(help="Default phone region for numbers without +country (HK, TW, SG…).")
    ] = "HK",
    currency: Annotated[str, typer.Option(help="Currency of amounts (HKD, TWD, …).")] = "HKD",
    timezone: Annotated[str, typer.Option(help="Time zone for days and display.")] = (
        "Asia/Hong_Kong"
    ),
    language: Annotated[str, typer.Option(help="Report language: en or zh-Hant.")] = "en",
) -> None:
    """Create a workspace: a folder with segmint.yaml and one DuckDB database."""
    from segmint.workspace import Workspace

    ws = Workspace.create(
        folder, default_region=region, currency=currency, timezone=timezone, language=language
    )
    ws.close()
    console.print(f"Created workspace [bold]{folder}[/] (region {region}, currency {currency}).")
    console.print(f"Next: cd {folder} && segmint import customers FILE")
