"""``segmint keys …`` (API keys of the service) and ``segmint serve``.

Example:
    $ segmint keys create --scope ingest --name website
    $ segmint keys list
    $ segmint keys revoke key_1a2b3c4d5e6f
    $ segmint serve shop --port 8787
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

keys_app = typer.Typer(
    name="keys",
    help="API keys of the service: create (shown once), list, revoke.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    scope: Annotated[
        str, typer.Option("--scope", help="ingest (send events) or admin (also read and change).")
    ] = "ingest",
    name: Annotated[str | None, typer.Option("--name", help="What the key is for.")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Create a key; its token is printed once and only its hash is stored."""
    with open_workspace(workspace) as ws:
        key = ws.keys_create(scope, name=name)
    console.print(
        f"Created {key.scope} key [bold]{key.key_id}[/]"
        + (f" ({escape(name)})" if name else "")
        + "."
    )
    console.print("Token (shown once; store it now):")
    console.print(key.token, soft_wrap=True, markup=False)
    console.print(
        "Segment libraries: use it as the write key, with host http://HOST:PORT of segmint serve."
    )


@keys_app.command("list")
def list_(workspace: WorkspaceOpt = Path(".")) -> None:
    """List the keys (never the tokens)."""
    with open_workspace(workspace) as ws:
        found = ws.keys_list()
    if not found:
        console.print("No keys yet. Create one with: segmint keys create --scope ingest")
        return
    table = Table("key id", "scope", "name", "created", "last used", "revoked")
    for k in found:
        table.add_row(
            k.key_id,
            k.scope,
            escape(k.name or ""),
            f"{k.created_at:%Y-%m-%d %H:%M}" if k.created_at else "",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (see `segmint keys list`).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Revoke a key: requests with it are refused from the next server start on."""
    with open_workspace(workspace) as ws:
        key = ws.keys_revoke(key_id)
    console.print(f"Revoked {key.key_id} ({key.scope}) at {key.revoked_at:%Y-%m-%d %H:%M} UTC.")


@app.command()
def serve(
    folder: Annotated[
        Path | None, typer.Argument(help="Workspace folder (default: --workspace or here).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    threads: Annotated[
        int | None,
        typer.Option(
            help="DuckDB worker threads (default: one per core). 1 lowers the CPU cost of "
            "small commits (single events) but runs large reads on one core."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Run the service: Segment Tracking API ingestion and the admin API, one process."""
    import uvicorn

    from segmint.errors import WorkspaceError
    from segmint.server import create_app

    ws = open_workspace(folder if folder is not None else workspace)
    active = [k for k in ws.keys_list() if k.active]
    users = [u for u in ws.users_list() if not u.disabled]
    if not active and not users:  # nobody could use the API or log in to the web app
        ws.close()
        where = folder if folder is not None else workspace
        raise WorkspaceError(
            "The workspace has no active API key and no web app user, so nobody could use "
            "the service.",
            hint=f"create a web app user with `segmint users create NAME -w {where}` (the web "
            f"app at /) or an API key with `segmint keys create --scope ingest -w {where}` "
            "(the service holds the database while it runs, so do it first), then serve again.",
        )
    from segmint.server import ServerSettings

    app_ = create_app(ws, settings=ServerSettings(duckdb_threads=threads))
    console.print(
        f"Serving {escape(str(ws.path))} on http://{host}:{port} "
        f"({len(active)} active key(s), {len(users)} web user(s); pid {os.getpid()}). "
        "Ctrl+C stops after committing."
    )
    try:
        uvicorn.run(app_, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        ws.close()
