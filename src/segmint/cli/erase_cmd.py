"""``segmint erase CUSTOMER_ID``: remove a person from every table (issue 5, docs/server.md).

Example:
    $ segmint erase c_1a2b3c4d5e6f7a8b --by dpo@shop.hk
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace


@app.command("erase")
def erase(
    customer_id: Annotated[str, typer.Argument(help="The person's customer id.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who asks, for the audit log (default: OS user).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Erase a person from every table, suppress re-creation from their identifiers and write
    an audit-log row (the service must be stopped: it holds the database)."""
    with open_workspace(workspace) as ws:
        done = ws.erase(customer_id, by=by)
    console.print(
        f"Erased {customer_id}: {done.rows:,} row(s) in {len(done.removed)} table(s); "
        f"{done.suppressed} identifier(s) suppressed. Erasure id [bold]{done.erasure_id}[/] "
        "(in the audit log)."
    )
    for table, n in sorted(done.removed.items()):
        console.print(f"  {table}: {n:,}")
    if done.redacted:
        console.print(
            "Mentions in other people's rows replaced by [erased]: "
            + ", ".join(f"{t} {n:,}" for t, n in sorted(done.redacted.items()))
        )
