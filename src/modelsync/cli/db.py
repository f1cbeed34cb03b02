"""`modelsync db upgrade|current|backup|restore`: the schema migrations, backups and restores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelsync.cli.common import database, err, out, printable, settings
from modelsync.errors import UsageError

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply pending schema migrations (sync and serve also do this on first use)."""
    from modelsync.db.engine import create_db_engine, current_revision, safe_url, upgrade_schema

    url = settings().database_url
    engine = create_db_engine(url)
    applied = upgrade_schema(engine)
    state = "upgraded to" if applied else "already at"
    out.print(f"{printable(safe_url(str(engine.url)))}: {state} revision {printable(current_revision(engine))}")


@app.command()
def current() -> None:
    """Print the schema revision of the database."""
    from modelsync.db.engine import create_db_engine, current_revision

    engine = create_db_engine(settings().database_url)
    out.print(printable(current_revision(engine) or "empty (run `modelsync db upgrade`)"))


def _progress(line: str) -> None:
    err.print(printable(line))


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (replaced if it exists).", dir_okay=False)],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="sqlite (a copy of a SQLite database) or json (any database); default: "
            "sqlite on SQLite, json on PostgreSQL.",
        ),
    ] = None,
) -> None:
    """Back up the database to FILE (mode 0600: it holds the audit log and password and token hashes)."""
    from modelsync.services.backup import backup_sqlite, dump_json

    if format not in (None, "sqlite", "json"):
        raise UsageError(f"--format must be sqlite or json, not {format!r}.")
    engine = database()
    chosen = format or ("sqlite" if engine.dialect.name == "sqlite" else "json")
    if chosen == "sqlite":
        backup_sqlite(engine, file, _progress)
    else:
        dump_json(engine, file, _progress)
    out.print(f"backed up to {printable(file)} ({chosen})")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file made by `modelsync db backup`.", exists=True, dir_okay=False)],
) -> None:
    """Restore FILE into the database, which must be empty (a new DATABASE_URL; modelsync creates its schema)."""
    from modelsync.services.backup import file_format, restore_json, restore_sqlite

    engine = database()
    if file_format(file) == "sqlite":
        restore_sqlite(engine, file, _progress)
    else:
        restore_json(engine, file, _progress, wait=settings().write_wait)
    out.print(f"restored {printable(file)}")
