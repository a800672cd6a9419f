"""``segmint workflows …``: list, validate, runs, dead letters, replay (docs/workflows.md).

The service runs the workflows (``segmint serve``); these commands read the workspace, so run
them while the service is stopped (it holds the database), or use the admin API
(``/v1/workflows/…``) while it runs.

Example:
    $ segmint workflows validate
    $ segmint workflows dead-letters
    $ segmint workflows replay dl_3f2a9c1e5b7d8a60
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

workflows_app = typer.Typer(
    name="workflows",
    help="Workflows (trigger → condition → actions): list, validate, runs, dead letters, replay.",
    no_args_is_help=True,
)
app.add_typer(workflows_app, name="workflows")


def _stamp(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else ""


@workflows_app.command("list")
def list_(workspace: WorkspaceOpt = Path(".")) -> None:
    """The workflows of <workspace>/workflows/ (checked against the workspace)."""
    with open_workspace(workspace) as ws:
        found = ws.workflows()
    if not found:
        console.print("No workflows yet. Write one in workflows/*.yaml (see docs/workflows.md).")
        return
    table = Table("slug", "trigger", "if", "actions", "enabled", "file")
    for wf in found:
        actions = ", ".join(next(iter(a.model_dump(by_alias=True))) for a in wf.actions)
        table.add_row(
            wf.slug,
            escape(_trigger_text(wf)),
            "yes" if wf.if_ is not None else "",
            actions,
            "yes" if wf.enabled else "no",
            escape(Path(wf.source).name if wf.source else ""),
        )
    console.print(table)


def _trigger_text(wf) -> str:
    data = wf.trigger.model_dump(by_alias=True, exclude_defaults=True)
    key = wf.trigger_kind
    value = data.pop(key)
    rest = f" {json.dumps(data, ensure_ascii=False, default=str)}" if data else ""
    return f"{key}: {value}{rest}"


@workflows_app.command("validate")
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Workflow files (default: <workspace>/workflows/*.yaml)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Check workflow files: shape, segments and fields they name, conditions, secrets."""
    with open_workspace(workspace) as ws:
        found = ws.workflows(files or None)
    console.print(f"{len(found)} workflow(s) valid.")


@workflows_app.command("runs")
def runs(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """The latest workflow runs, newest first."""
    with open_workspace(workspace) as ws:
        found = ws.workflow_runs(workflow, limit=limit)
    if not found:
        console.print("No workflow runs yet.")
        return
    table = Table("started", "workflow", "trigger", "customer", "status", "error")
    for r in found:
        table.add_row(
            _stamp(r["started_at"]),
            r["workflow"],
            escape(r["trigger"] or ""),
            r["customer_id"] or "",
            r["status"],
            escape((r["error"] or "")[:80]),
        )
    console.print(table)


@workflows_app.command("dead-letters")
def dead_letters(
    all_: Annotated[bool, typer.Option("--all", help="Also those a replay delivered.")] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Webhooks that failed every try (replay one with `segmint workflows replay ID`)."""
    with open_workspace(workspace) as ws:
        found = ws.webhook_dead_letters(include_replayed=all_)
    if not found:
        console.print("No dead letters.")
        return
    table = Table("id", "parked", "workflow", "customer", "url", "tries", "last error", "replay")
    for r in found:
        table.add_row(
            r["letter_id"],
            _stamp(r["parked_at"]),
            r["workflow"],
            r["customer_id"] or "",
            escape(r["url"]),
            str(r["tries"]),
            escape(r["last_error"] or ""),
            r["replay_status"] or "",
        )
    console.print(table)


@workflows_app.command("replay")
def replay(
    letter_id: Annotated[str, typer.Argument(help="The dead letter id (see dead-letters).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Send a dead letter again, signed anew (one try); the outcome is stored on the letter."""
    with open_workspace(workspace) as ws:
        result = ws.webhook_replay(letter_id)
    if result.ok:
        console.print(f"Delivered {letter_id} (HTTP {result.status}).")
        return
    from segmint.errors import DataError

    raise DataError(
        f"The replay of {letter_id} failed: {result.error}.",
        hint="check the receiver, then replay again.",
    )
