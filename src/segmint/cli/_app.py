"""The typer app, the shared console and the workspace option used by every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["WorkspaceOpt", "app", "console", "open_workspace", "state"]

app = typer.Typer(
    name="segmint",
    help="Customer segmentation engine: unify, segment, predict, act, measure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


state = _State()

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: the current folder).",
        envvar="SEGMINT_WORKSPACE",
    ),
]


def open_workspace(path: Path):
    """Open the workspace at ``path`` (errors become ``Error: …`` in :func:`segmint.cli.main`)."""
    from segmint.workspace import Workspace

    return Workspace.open(path)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    state.debug = debug
