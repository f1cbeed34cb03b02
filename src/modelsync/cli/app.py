"""The `modelsync` command: the Typer app, and the one place errors become exit codes.

Exit codes: 0 ok, 1 other failure (database unreachable, unpriced cost), 2 a gate refused a provider (or another
sync is running), 3 a provider failed, 4 usage or configuration error.
"""

from __future__ import annotations

import sys

import click
import typer
from rich.markup import escape

from modelsync.cli import db, models
from modelsync.cli.common import err
from modelsync.cli.sync import sync
from modelsync.errors import ModelsyncError

EXIT_USAGE = 4

app = typer.Typer(
    name="modelsync",
    help="Keep your team's table of AI models (ids, prices, limits, capabilities, lifecycle) current.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("sync")(sync)
app.add_typer(models.app, name="models")
app.command("history")(models.history)
app.command("cost")(models.cost)
app.add_typer(db.app, name="db")


def main() -> None:
    """Run the CLI, mapping errors to exit codes and clear messages (never a traceback for expected errors)."""
    try:
        code = app(standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except ModelsyncError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(exc.message)}")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
