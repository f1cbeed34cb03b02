"""Database engines and schema migrations.

Rules: SQLite is the embedded default (a file in the working directory); `postgresql://` URLs are served by
psycopg 3. The schema is brought to the newest revision on first use; on PostgreSQL an advisory lock makes
replicas that start together migrate one after another. Connection errors become a DatabaseError that names
the database without its password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from modelsync.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration. Kept here so that the common case (schema already current) needs one tiny query and no
# Alembic import at start-up; a test checks it against Alembic's own idea of the head.
SCHEMA_HEAD = "0001"
# Arbitrary constants that name modelsync's locks among PostgreSQL advisory locks.
_MIGRATION_LOCK_KEY = 0x6D6F64656C73
_CATALOG_WRITE_LOCK_KEY = 0x6D6F64656C74


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


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    # The driver's own implicit BEGIN starts transactions only at the first write, so reads before it would see
    # another state; modelsync issues BEGIN itself (see _sqlite_begin), as SQLAlchemy's documentation advises.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets the API read while a sync writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes SQLite's write lock up front, so what it read cannot change before it writes.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("catalog_write") else "BEGIN")


def create_db_engine(url: str) -> Engine:
    """Create an engine for the URL, with SQLite tuned for a single local writer."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
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
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return True
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot reach the database at {safe_url(str(engine.url))}: {exc.orig}. "
            "Check DATABASE_URL and that the server is running."
        ) from exc


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a transaction that holds the catalog write lock: syncs and admin decisions never interleave."""
    with engine.connect().execution_options(catalog_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CATALOG_WRITE_LOCK_KEY})
        yield conn


def open_database(url: str) -> Engine:
    """Create the engine and make sure the schema is current: the one call every entry point makes."""
    engine = create_db_engine(url)
    upgrade_schema(engine)
    return engine
