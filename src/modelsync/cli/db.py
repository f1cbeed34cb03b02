"""`modelsync db upgrade|current`: the schema migrations."""

from __future__ import annotations

import typer

from modelsync.cli.common import out, printable, settings

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
