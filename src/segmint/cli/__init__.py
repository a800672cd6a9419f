"""The ``segmint`` command line (layer 5): a thin typer app over the workspace facade.

Every command module registers itself on :data:`app`; :func:`main` is the one place that turns
library errors into ``Error: …`` and exit code 1 (``--debug`` shows the traceback).

Example:
    $ segmint init shop && cd shop
    $ segmint import customers shopify_customers.csv
"""

from __future__ import annotations

import sys

from segmint.cli._app import app, console, state

# Command modules register their commands on `app` when imported.
from segmint.cli import workspace_cmds  # noqa: F401  isort: skip
from segmint.cli import import_cmd  # noqa: F401  isort: skip  (segmint import)
from segmint.cli import generate_cmd  # noqa: F401  isort: skip  (demo data generator)
from segmint.cli import analysis_cmds  # noqa: F401  isort: skip
from segmint.cli import report_cmd  # noqa: F401  isort: skip
from segmint.cli import demo_cmd  # noqa: F401  isort: skip  (segmint demo)
from segmint.cli import segments_cmds  # noqa: F401  isort: skip  (segmint segments; issue 3)
from segmint.cli import audience_cmds  # noqa: F401  isort: skip  (segmint audience; issue 3)
from segmint.cli import clv_cmd  # noqa: F401  isort: skip  (segmint clv; issue 4)
from segmint.cli import personas_cmd  # noqa: F401  isort: skip  (segmint personas; issue 4)
from segmint.cli import keys_cmds  # noqa: F401  isort: skip  (segmint keys, serve; issue 5)
from segmint.cli import campaign_cmds  # noqa: F401  isort: skip  (segmint campaigns; issue 6)
from segmint.cli import users_cmds  # noqa: F401  isort: skip  (segmint users; issue 6)
from segmint.cli import erase_cmd  # noqa: F401  isort: skip  (segmint erase; issue 5)
from segmint.cli import workflows_cmds  # noqa: F401  isort: skip  (segmint workflows; issue 5)

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``segmint`` script."""
    from rich.markup import escape

    from segmint.errors import SegmintError

    try:
        app(args=argv, standalone_mode=False)
    except SegmintError as exc:
        if state.debug:
            console.print_exception()
        console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("Interrupted.")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if state.debug:
            raise
        console.print(f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(str(exc))}")
        console.print("Run again with --debug for the traceback, and please report it.")
        sys.exit(1)
