"""Database engines and schema migrations, and what to say when a database cannot be used.

Rules:
- SQLite is the embedded default (a file in the working directory); `postgresql://` URLs are served by psycopg 3.
- A SQLite file modelsync creates is created readable and writable by its owner only (0600): it holds password
  hashes and token digests. SQLite gives the -wal and -shm files the database file's mode; an existing file's
  mode is left alone.
- The schema is brought to the newest revision on first use; on PostgreSQL an advisory lock makes replicas that
  start together migrate one after another. Before anything is written the database is checked: a SQLite file
  that is read-only for this process, a revision newer than this modelsync knows, or a current revision with a
  table missing is refused with a DatabaseError that says what is wrong and what to do.
- Every database failure is reported by `explain` as one line naming the database without its password: not
  SQLite, damaged, read-only, cannot be opened, locked, unreachable, missing a table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from modelsync.db.dialect import begin_sqlite, configure_sqlite, migration_lock
from modelsync.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _known_revisions() -> frozenset[str]:
    # Revisions are numbered files (0001_initial_schema.py, 0002_...), each revising the one before, so the newest
    # is the highest number. Read from the file names so that the common case (schema already current) needs two
    # tiny queries and no Alembic import at start-up; a test checks them against Alembic's own idea of the head.
    return frozenset(
        path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )


KNOWN_REVISIONS = _known_revisions()
SCHEMA_HEAD = max(KNOWN_REVISIONS)


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


def sqlite_file(url: URL) -> tuple[Path | None, bool]:
    """The file a SQLite URL names (None for an in-memory database) and whether the URL opens it read-only."""
    database = url.database or ""
    uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    read_only = uri and (url.query.get("mode") == "ro" or str(url.query.get("immutable", "")) == "1")
    if uri and database.startswith("file:"):
        database = database.removeprefix("file:")
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None, False
    return Path(database), read_only


def _create_private(path: Path) -> None:
    # Create the file before SQLite does, so that it is born 0600 (SQLite would use 0644 less the umask); an
    # existing file is left as it is. A failure is left for the driver to report (a missing directory, say).
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return


def create_db_engine(url: str) -> Engine:
    """Create an engine for the URL, with SQLite tuned for a single local writer."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        path, read_only = sqlite_file(engine.url)
        if path is not None and not read_only:

            def create_file(*_args: Any) -> None:
                _create_private(path)

            sa.event.listen(engine, "do_connect", create_file)
        sa.event.listen(engine, "connect", configure_sqlite)
        sa.event.listen(engine, "begin", begin_sqlite)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


# --- what is wrong with a database, in one line ------------------------------------------------------------------

_REPLACE_OR_RESTORE = "restore it from a backup, or point DATABASE_URL at a new database (modelsync creates the schema)"


def describe(url: str | URL) -> str:
    """How messages name a database: a SQLite file by its path, any other by its URL without the password."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except sa.exc.ArgumentError:
        return "the database"
    if parsed.get_backend_name() == "sqlite":
        path, _ = sqlite_file(parsed)
        return str(path) if path is not None else "the in-memory SQLite database"
    return parsed.render_as_string(hide_password=True)


def _sqlite_problem(name: str, where: str, reason: str) -> str | None:
    # Python's sqlite3 names the SQLite result code of every error (SQLITE_NOTADB, SQLITE_READONLY_DIRECTORY, ...).
    if name.startswith("SQLITE_NOTADB"):
        return (
            f"{where} is not a SQLite database ({reason}): point DATABASE_URL at modelsync's database, or move this "
            "file away to start a new catalog."
        )
    if name.startswith("SQLITE_CORRUPT"):
        return f"{where} is damaged ({reason}): {_REPLACE_OR_RESTORE}."
    if name.startswith("SQLITE_READONLY"):
        return (
            f"{where} is read-only for this user ({reason}): make the file and its directory writable, or point "
            "DATABASE_URL at a writable copy."
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return (
            f"cannot open {where} ({reason}): make sure its directory exists and this user may read and write the "
            "file and the directory."
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return f"{where} is locked by another writer ({reason}); try again when it has finished."
    if name.startswith("SQLITE_FULL"):
        return f"cannot write to {where}: the disk is full ({reason}). Free some space and run again."
    if name.startswith("SQLITE_IOERR"):
        return f"cannot read or write {where} ({reason}): check the disk and the file system."
    return None


def explain(exc: BaseException, url: str | URL) -> DatabaseError:
    """One line saying what is wrong with the database and what to do, for a driver or SQLAlchemy error."""
    where = describe(url)
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    name = str(getattr(orig, "sqlite_errorname", "") or "")
    message = _sqlite_problem(name, where, reason)
    if message is None and ("no such table" in reason or type(orig).__name__ == "UndefinedTable"):
        message = (
            f"{where} lacks a table modelsync needs ({reason}): the schema was changed by hand or only partly "
            f"restored; {_REPLACE_OR_RESTORE}."
        )
    if message is None and type(orig).__name__ == "ReadOnlySqlTransaction":
        message = f"{where} accepts no writes ({reason}): point DATABASE_URL at the primary server."
    if message is None and type(orig).__name__ == "InsufficientPrivilege":
        message = f"the database user may not do this at {where} ({reason}): grant it the rights modelsync needs."
    if message is None and isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        message = f"cannot reach the database at {where}: {reason}. Check DATABASE_URL and that the server is running."
    if message is None:
        message = f"the database at {where} refused the request ({reason}); check DATABASE_URL and the server log."
    return DatabaseError(message)


@contextmanager
def _explained(engine: Engine) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise explain(exc, engine.url) from exc


def alembic_config() -> Config:
    """Return an Alembic config pointing at modelsync's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _schema_state(connection: Connection) -> tuple[set[str], str | None]:
    tables = set(sa.inspect(connection).get_table_names())
    if "alembic_version" not in tables:
        return tables, None
    revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return tables, revision


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision stored in the database, or None for an empty database."""
    with _explained(engine), engine.connect() as connection:
        return _schema_state(connection)[1]


def _refuse_read_only(engine: Engine) -> None:
    # A read-only SQLite file opens and reads fine and fails only at the first write, half way through a command;
    # say so before anything starts. `access` honours read-only mounts even for root.
    path, read_only = sqlite_file(engine.url) if engine.dialect.name == "sqlite" else (None, False)
    if path is None:
        return
    where = describe(engine.url)
    directory = path.parent if str(path.parent) else Path(".")
    what = None
    if read_only:
        what = "the URL opens it read-only"
    elif path.exists() and not os.access(path, os.W_OK):
        what = "no write permission on the file"
    elif directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
        what = f"no write permission on its directory {directory}, where SQLite keeps its -wal and -shm files"
    if what:
        raise DatabaseError(
            f"{where} is read-only for this user ({what}): modelsync writes to its database on every command "
            "(migrations, audit log, syncs); make the file and its directory writable, or point DATABASE_URL at a "
            "writable copy."
        )


def upgrade_schema(engine: Engine) -> bool:
    """Bring the schema to the newest revision; return True when something was applied."""
    _refuse_read_only(engine)
    where = describe(engine.url)
    with _explained(engine):
        with engine.connect() as connection:
            tables, revision = _schema_state(connection)
        if revision == SCHEMA_HEAD:
            missing = sorted(set(_expected_tables()) - tables)
            if missing:
                raise DatabaseError(
                    f"{where} says its schema is at revision {revision}, but table {', '.join(missing)} is missing: "
                    f"the schema was changed by hand or only partly restored; {_REPLACE_OR_RESTORE}."
                )
            return False
        if revision is not None and revision not in KNOWN_REVISIONS:
            if revision.isdigit() and revision > SCHEMA_HEAD:
                raise DatabaseError(
                    f"{where} is at schema revision {revision}, newer than this modelsync knows (up to {SCHEMA_HEAD}): "
                    "a newer modelsync has upgraded it. Install that version (pip install -U modelsync), or point "
                    "DATABASE_URL at another database; nothing was changed."
                )
            raise DatabaseError(
                f"{where} is at schema revision {revision!r}, which is not a modelsync revision (this modelsync knows "
                f"0001 to {SCHEMA_HEAD}): point DATABASE_URL at modelsync's database; nothing was changed."
            )
        from alembic import command

        with engine.begin() as connection:
            migration_lock(connection)
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return True


def _expected_tables() -> list[str]:
    from modelsync.db.tables import metadata

    return list(metadata.tables)


def open_database(url: str) -> Engine:
    """Create the engine and make sure the schema is current: the one call every entry point makes."""
    engine = create_db_engine(url)
    try:
        upgrade_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
