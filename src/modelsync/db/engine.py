"""Database engines and schema migrations.

Rules: SQLite is the embedded default (a file in the working directory); `postgresql://` URLs are served by
psycopg 3. The schema is brought to the newest revision on first use; on PostgreSQL an advisory lock makes
replicas that start together migrate one after another. Connection errors become a DatabaseError that names
the database without its password.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from modelsync.db.dialect import begin_sqlite, configure_sqlite, migration_lock
from modelsync.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _newest_revision() -> str:
    # Revisions are numbered files (0001_initial_schema.py, 0002_...), each revising the one before, so the newest
    # is the highest number. Read from the file names so that the common case (schema already current) needs one
    # tiny query and no Alembic import at start-up; a test checks it against Alembic's own idea of the head.
    numbers = [path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(numbers)


SCHEMA_HEAD = _newest_revision()


def normalize_url(url: str) -> str:
    """Map the common PostgreSQL spellings onto the psycopg 3 driver; refuse unsupported databases."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"DATABASE_URL is not a database URL ({exc}). Use sqlite:///modelsync.db or "
            "postgresql+psycopg://user:password@host:5432/dbname."
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL uses {parsed.get_backend_name()!r}; modelsync supports SQLite and PostgreSQL. "
            "Use sqlite:///modelsync.db or postgresql+psycopg://user:password@host:5432/dbname."
        )
    return url


def safe_url(url: str) -> str:
    """Render a database URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid url>"


def create_db_engine(url: str) -> Engine:
    """Create an engine for the URL, with SQLite tuned for a single local writer."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", configure_sqlite)
        sa.event.listen(engine, "begin", begin_sqlite)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config() -> Config:
    """Return an Alembic config pointing at modelsync's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision stored in the database, or None for an empty database."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def upgrade_schema(engine: Engine) -> bool:
    """Bring the schema to the newest revision; return True when something was applied."""
    try:
        if current_revision(engine) == SCHEMA_HEAD:
            return False
        from alembic import command

        with engine.begin() as connection:
            migration_lock(connection)
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return True
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot reach the database at {safe_url(str(engine.url))}: {exc.orig}. "
            "Check DATABASE_URL and that the server is running."
        ) from exc


def open_database(url: str) -> Engine:
    """Create the engine and make sure the schema is current: the one call every entry point makes."""
    engine = create_db_engine(url)
    upgrade_schema(engine)
    return engine
