"""How SQLite and PostgreSQL serialize modelsync's writers: the one place that knows the dialect's locks.

Rules:
- Catalog writes (a sync's apply, an admin decision) run in `write_transaction`: on SQLite it begins IMMEDIATE
  (the database's write lock, taken up front, so what the transaction read cannot change before it writes); on
  PostgreSQL it takes a transaction-scoped advisory lock, so syncs and decisions never interleave on any replica.
  A writer waits for the other one up to a limit (MODELSYNC_WRITE_WAIT, 60 s by default), then gets a
  DatabaseBusyError that says so (HTTP 503 with Retry-After, a one-line CLI message), never "database is locked".
- Reads that must see one state (a dry run's plan) run in `read_transaction`.
- Schema migrations take their own advisory lock on PostgreSQL (`migration_lock`), so replicas that start together
  migrate one after another.
- One sync at a time: `SyncLock` is held by the process running a sync for the whole sync and dies with it. On
  PostgreSQL it is a session advisory lock on a connection of its own, which the server releases when the process
  or its connection dies; on SQLite it is an OS lock (flock) on a file next to the database, which the kernel
  releases when the process dies. A crashed sync therefore never blocks the next one.
- `short_wait` lets best-effort writes (a token's last use) give up quickly instead of waiting behind a sync.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.errors import DatabaseBusyError

# Arbitrary constants that name modelsync's locks among PostgreSQL advisory locks.
_MIGRATION_LOCK_KEY = 0x6D6F64656C73
_CATALOG_WRITE_LOCK_KEY = 0x6D6F64656C74
_SYNC_LOCK_KEY = 0x6D6F64656C75

# How long a SQLite writer waits for the write lock before giving up (PRAGMA busy_timeout), milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a catalog write (an admin decision, a sync's apply) waits for another one to finish, seconds.
DEFAULT_WRITE_WAIT = 60.0


def configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    """Set up a new SQLite connection: explicit transactions, WAL, foreign keys, the busy timeout."""
    # The driver's own implicit BEGIN starts transactions only at the first write, so reads before it would see
    # another state; modelsync issues BEGIN itself (see begin_sqlite), as SQLAlchemy's documentation advises.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a sync writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def begin_sqlite(conn: Connection) -> None:
    """Begin a SQLite transaction; a catalog write takes the write lock up front (BEGIN IMMEDIATE)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("catalog_write") else "BEGIN")


def _busy(wait: float) -> DatabaseBusyError:
    return DatabaseBusyError(
        f"the catalog is busy with another write (a sync applying its changes) for more than {wait:g} s; nothing "
        "was changed. Try again shortly (MODELSYNC_WRITE_WAIT sets how long a write waits).",
        retry_after=max(1, min(60, int(wait) or 1)),
    )


def _lock_timed_out(exc: sa.exc.OperationalError) -> bool:
    text = str(exc.orig).lower()
    # SQLite: "database is locked"; PostgreSQL: lock_timeout expired (SQLSTATE 55P03, lock_not_available).
    return "database is locked" in text or getattr(exc.orig, "sqlstate", None) == "55P03"


@contextmanager
def write_transaction(engine: Engine, wait: float = DEFAULT_WRITE_WAIT) -> Iterator[Connection]:
    """Open a transaction that holds the catalog write lock: syncs and admin decisions never interleave.

    Waits up to `wait` seconds for another writer to finish, then raises DatabaseBusyError.
    """
    with engine.connect().execution_options(catalog_write=True) as conn:
        try:
            if conn.dialect.name == "sqlite":
                with short_wait(conn, int(wait * 1000)):
                    transaction = conn.begin()  # BEGIN IMMEDIATE: waits for the write lock
            else:
                transaction = conn.begin()
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CATALOG_WRITE_LOCK_KEY})
                conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
        except sa.exc.OperationalError as exc:
            if _lock_timed_out(exc):
                raise _busy(wait) from None
            raise
        raw = conn.connection.driver_connection
        try:
            with transaction:
                yield conn
        except BaseException as exc:
            interrupt = exc if _is_interrupt(exc) else exc.__context__ if _is_interrupt(exc.__context__) else None
            if interrupt is None:
                raise
            # On an interrupt (Ctrl-C, SIGTERM) SQLAlchemy invalidates the connection without rolling it back, and
            # the interrupt's traceback keeps it alive, write lock and all, until the process ends: the run could
            # not even be marked cancelled. Closing the driver connection rolls back and frees it.
            with contextlib.suppress(Exception):
                raw.close()  # type: ignore[union-attr]  # a DBAPI connection: sqlite3 or psycopg
            raise interrupt from None


def _is_interrupt(error: BaseException | None) -> bool:
    return isinstance(error, KeyboardInterrupt | SystemExit)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a transaction that reads one consistent state and writes nothing (rolled back at the end)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def migration_lock(conn: Connection) -> None:
    """Serialize schema migrations across replicas (PostgreSQL; SQLite's write lock already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


def placeholder(conn: Connection) -> str:
    """The driver's parameter marker for raw SQL."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


@contextmanager
def short_wait(conn: Connection, milliseconds: int) -> Iterator[Connection]:
    """Cut how long SQLite waits for the write lock on this connection, for best-effort writes."""
    if conn.dialect.name != "sqlite":
        yield conn
        return
    raw: Any = conn.connection.driver_connection
    raw.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    try:
        yield conn
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


# --- one sync at a time ----------------------------------------------------------------------------------------

# In-memory SQLite databases live in one process only: a process-wide lock per URL is all they need.
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


class SyncLock:
    """The one-sync-at-a-time lock, held by this process until `release` (or until the process dies)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._memory: threading.Lock | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._conn is not None or self._fd is not None or self._memory is not None

    def try_acquire(self) -> bool:
        """Take the lock without waiting; False when another sync holds it."""
        if self.held:
            raise RuntimeError("SyncLock is not reentrant")
        if self._engine.dialect.name == "postgresql":
            return self._acquire_postgres()
        path = _sqlite_file(self._engine)
        if path is None:
            return self._acquire_memory()
        return self._acquire_file(path.with_name(path.name + ".sync-lock"))

    def _acquire_postgres(self) -> bool:
        conn = self._engine.connect()
        try:
            taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _SYNC_LOCK_KEY}).scalar_one()
            conn.commit()  # end the implicit transaction; the session lock stays with the connection
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._conn = conn
        return True

    def _acquire_file(self, path: Path) -> bool:
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _acquire_memory(self) -> bool:
        with _MEMORY_LOCKS_GUARD:
            lock = _MEMORY_LOCKS.setdefault(str(self._engine.url), threading.Lock())
        if not lock.acquire(blocking=False):
            return False
        self._memory = lock
        return True

    def release(self) -> None:
        """Give the lock back (a no-op when not held)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _SYNC_LOCK_KEY})
                conn.commit()
            except sa.exc.SQLAlchemyError:
                conn.invalidate()  # a dead connection: the server has dropped the lock with it
            finally:
                conn.close()
        if self._fd is not None:
            import fcntl

            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if self._memory is not None:
            lock, self._memory = self._memory, None
            lock.release()

    def __enter__(self) -> SyncLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
