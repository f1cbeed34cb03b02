"""The `modelsync` command: the Typer app, and the one place errors become exit codes.

Exit codes: 0 ok, 1 other failure (database unreachable or unusable, unpriced cost), 2 a gate refused a provider
(or another sync is running), 3 a provider failed, 4 usage or configuration error. A database failure that reaches
this far (a file that turned read-only, a table dropped while in use) is reported in one line, like every
expected error, never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from modelsync.cli import conflicts, db, models, quarantine, tokens, users, webhooks
from modelsync.cli.catalogs import catalogs
from modelsync.cli.common import err, printable_message
from modelsync.cli.exports import export, import_overrides
from modelsync.cli.serve import serve
from modelsync.cli.sync import sync, sync_runs
from modelsync.errors import ModelsyncError

try:  # Typer 0.2x vendors its own copy of Click; older releases use Click itself.
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import ClickException  # type: ignore[assignment]  # the same class, where Typer has none

EXIT_USAGE = 4

app = typer.Typer(
    name="modelsync",
    help="Keep your team's table of AI models (ids, prices, limits, capabilities, lifecycle) current.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("sync")(sync)
app.command("sync-runs")(sync_runs)
app.add_typer(models.app, name="models")
app.command("history")(models.history)
app.command("cost")(models.cost)
app.command("catalogs")(catalogs)
app.add_typer(conflicts.app, name="conflicts")
app.add_typer(quarantine.app, name="quarantine")
app.command("export")(export)
app.command("import-overrides")(import_overrides)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(webhooks.app, name="webhooks")
app.command("serve")(serve)


def main() -> None:
    """Run the CLI, mapping errors to exit codes and clear messages (never a traceback for expected errors)."""
    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        exc.show()
        # Click exits 2 on usage errors; modelsync keeps 2 for "refused by a gate".
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except ModelsyncError as exc:
        err.print(f"[bold red]error:[/bold red] {printable_message(exc.message)}")
        sys.exit(exc.exit_code)
    except Exception as exc:
        problem = _database_problem(exc)
        if problem is None:
            raise
        err.print(f"[bold red]error:[/bold red] {printable_message(problem.message)}")
        sys.exit(problem.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _database_problem(exc: Exception) -> ModelsyncError | None:
    """The one-line explanation of a database error, or None for any other exception."""
    sqlalchemy = sys.modules.get("sqlalchemy")
    if sqlalchemy is None or not isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return None
    from modelsync.cli.common import settings
    from modelsync.db.engine import explain

    try:
        url = settings().database_url
    except ModelsyncError:
        url = "the database"
    return explain(exc, url)
