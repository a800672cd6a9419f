"""``segmint users …``: users of the web app (create, list, passwd, disable).

Example:
    $ segmint users create mei            # asks for the password twice
    $ printf 'a long passphrase' | segmint users create ops --password-stdin
    $ segmint users list
    $ segmint users passwd mei
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace
from segmint.errors import NotFoundError, close_matches

users_app = typer.Typer(
    name="users",
    help="Users of the web app: create, list, change password, disable.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (first line) instead of prompting.",
    ),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="The login name.")],
    password_stdin: PasswordStdin = False,
    language: Annotated[
        str | None,
        typer.Option("--language", help="en or zh-Hant (default: the workspace language)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Create a user of the web app (the password is stored as a scrypt hash)."""
    with open_workspace(workspace) as ws:
        password = _password(password_stdin)
        user = ws.users_create(username, password, language=language)
    console.print(f"Created user [bold]{escape(user.username)}[/] ({user.language}).")
    console.print("Log in at http://HOST:PORT/login of `segmint serve`.")


@users_app.command("list")
def list_(workspace: WorkspaceOpt = Path(".")) -> None:
    """List the users."""
    with open_workspace(workspace) as ws:
        found = ws.users_list()
    if not found:
        console.print("No users yet. Create one with: segmint users create NAME")
        return
    table = Table("user", "language", "created", "status")
    for u in found:
        table.add_row(
            escape(u.username),
            u.language,
            f"{u.created_at:%Y-%m-%d %H:%M}" if u.created_at else "",
            "disabled" if u.disabled else "active",
        )
    console.print(table)


@users_app.command("passwd")
def passwd(
    username: Annotated[str, typer.Argument(help="The login name.")],
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Change a user's password (their open sessions end)."""
    with open_workspace(workspace) as ws:
        names = [u.username for u in ws.users_list()]
        if username not in names:  # before asking for a password
            raise NotFoundError(
                f"There is no user '{username}'.",
                suggestions=close_matches(username, names),
                hint="list the users with `segmint users list`.",
            )
        password = _password(password_stdin)
        user = ws.users_passwd(username, password)
    console.print(f"Changed the password of [bold]{escape(user.username)}[/].")


@users_app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The login name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Disable a user (or enable again with --enable); disabled users cannot log in."""
    with open_workspace(workspace) as ws:
        user = ws.users_disable(username, not enable)
    state = "disabled" if user.disabled else "enabled"
    console.print(f"User [bold]{escape(user.username)}[/] is {state}.")
