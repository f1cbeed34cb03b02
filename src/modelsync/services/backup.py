"""`modelsync db backup` and `db restore`: a SQLite copy made with SQLite's online backup API, or a JSON dump.

Rules:
- Two formats. `sqlite`: a page-by-page copy of a SQLite database through `sqlite3.Connection.backup`, taken in
  one read transaction, so a server that keeps writing (WAL) is copied as of one committed state. `json`: a JSON
  Lines dump of every table (db/dump.py), from SQLite or PostgreSQL (no pg_dump needed), which restores into either:
  the way to move a SQLite catalog to PostgreSQL.
- A backup file is written as FILE.partial (mode 0600: it holds the audit log, password hashes and token digests),
  flushed to disk, checked, then renamed over FILE: a FILE that exists is always a complete backup.
- A dump is one header line (format, format version, schema revision, tables and columns), then one line per
  chunk of at most 1,000 rows of one table, then an end line with each table's row count. Reading and writing go
  chunk by chunk; no table is ever held in memory whole.
- Restore goes only into an EMPTY database at the dump's schema revision, and in one transaction: a dump that is
  not one, was cut short, does not match its own counts, comes from another schema revision or a newer modelsync,
  or a database that already holds rows, is refused with what to do, and nothing is changed. A SQLite backup file
  restores into a SQLite database (then migrates it, if it was made by an older modelsync).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db import dump
from modelsync.db.dialect import read_transaction, write_transaction
from modelsync.db.engine import KNOWN_REVISIONS, SCHEMA_HEAD, current_revision, sqlite_file, upgrade_schema
from modelsync.db.tables import ai_model
from modelsync.errors import UsageError

FORMAT = "modelsync-dump"
FORMAT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
# Progress lines for a table every this many rows (and when it is done).
PROGRESS_EVERY = 50_000

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    return None


def _sqlite_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    path, _ = sqlite_file(engine.url)
    return path


def _refuse_own_files(engine: Engine, target: Path) -> None:
    path = _sqlite_path(engine)
    if path is None:
        return
    resolved = target.resolve()
    own = {path.resolve(), *(path.resolve().with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}
    if resolved in own:
        raise UsageError(f"{target} is the database itself; name another file for the backup.")


@contextmanager
def _atomic_file(target: Path) -> Iterator[Path]:
    """A private FILE.partial to write, renamed over `target` when the block ends without an error."""
    partial = target.with_name(target.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # left by a backup that was killed
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise UsageError(
            f"cannot write {partial}: {exc.strerror}; check that its directory exists and is writable."
        ) from exc
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- backup ------------------------------------------------------------------------------------------------------


def backup_sqlite(engine: Engine, target: Path, progress: Progress = _quiet) -> int:
    """Copy a SQLite database to `target` with the online backup API; return the copy's size in bytes."""
    source_path = _sqlite_path(engine)
    if source_path is None:
        raise UsageError(
            "--format sqlite copies a SQLite database; this database is not one (or is in memory): "
            "use --format json (the default on PostgreSQL)."
        )
    _refuse_own_files(engine, target)
    size = source_path.stat().st_size
    progress(f"copying {source_path} ({size / 1e6:,.1f} MB) with SQLite's online backup")
    with _atomic_file(target) as partial:
        source = sqlite3.connect(source_path)
        destination = sqlite3.connect(partial)
        try:
            # One step (pages=-1): the whole copy is read in one read transaction, so it is one committed state
            # even while other connections write; a stepwise copy would restart each time another writer commits.
            source.backup(destination)
            # A self-contained file: no -wal beside it, whatever the journal mode of the source.
            destination.execute("PRAGMA journal_mode=DELETE")
            problems = destination.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise UsageError(f"the copy failed SQLite's check ({problems[0][0]}); nothing was written.")
        finally:
            destination.close()
            source.close()
        _fsync(partial)
        written = partial.stat().st_size
    progress(f"wrote {target} ({written / 1e6:,.1f} MB)")
    return written


def dump_json(engine: Engine, target: Path, progress: Progress = _quiet, chunk_rows: int = dump.CHUNK_ROWS) -> int:
    """Write every table of the database to `target` as a JSON Lines dump; return the number of rows."""
    _refuse_own_files(engine, target)
    counts: dict[str, int] = {}
    with _atomic_file(target) as partial, read_transaction(engine) as conn, partial.open("wb") as out:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        header = {
            "format": FORMAT,
            "formatVersion": FORMAT_VERSION,
            "schemaRevision": revision,
            "createdAt": datetime.now(UTC).isoformat(),
            "source": engine.dialect.name,
            "tables": dump.describe_tables(),
        }
        out.write(orjson.dumps(header) + b"\n")
        for table in dump.tables():
            count = 0
            for rows in dump.read_chunks(conn, table, chunk_rows):
                out.write(orjson.dumps({"table": table.name, "rows": rows}) + b"\n")
                before, count = count, count + len(rows)
                if count // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    progress(f"{table.name}: {count:,} rows")
            counts[str(table.name)] = count
            progress(f"{table.name}: {count:,} rows")
        out.write(orjson.dumps({"end": True, "rows": counts}) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    total = sum(counts.values())
    progress(f"wrote {target} ({total:,} rows)")
    return total


# --- restore -----------------------------------------------------------------------------------------------------


def file_format(path: Path) -> str:
    """`sqlite` or `json`, by the file's first bytes."""
    try:
        with path.open("rb") as handle:
            start = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}.") from exc
    return "sqlite" if start == SQLITE_MAGIC else "json"


def _refuse_non_empty(conn: sa.Connection, where: str) -> None:
    filled = {name: count for name, count in dump.row_counts(conn).items() if count}
    if filled:
        held = ", ".join(f"{name} ({count:,} rows)" for name, count in filled.items())
        raise UsageError(
            f"{where} is not empty: {held}. A restore goes only into an empty database (nothing was changed): point "
            "DATABASE_URL at a new database, which modelsync creates and migrates."
        )


def _check_revision(revision: object, target: str | None, path: Path) -> None:
    if revision == target:
        return
    if isinstance(revision, str) and revision.isdigit() and revision not in KNOWN_REVISIONS and revision > SCHEMA_HEAD:
        raise UsageError(
            f"{path} was made at schema revision {revision}, newer than this modelsync knows (up to {SCHEMA_HEAD}): "
            "restore it with the modelsync version that made it (pip install -U modelsync); nothing was changed."
        )
    raise UsageError(
        f"{path} was made at schema revision {revision}, and this database is at {target}: restore it with the "
        "modelsync version that made it into an empty database, then run this version, which migrates it; "
        "nothing was changed."
    )


def _lines(handle: IO[bytes], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(handle, start=1):
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UsageError(
                f"{path} is damaged at line {number} ({exc}); nothing was changed. Restore from another backup."
            ) from None
        if not isinstance(item, dict):
            raise UsageError(f"{path} is damaged at line {number} (not a JSON object); nothing was changed.")
        yield number, item


def _header(lines: Iterator[tuple[int, dict[str, Any]]], path: Path) -> dict[str, Any]:
    first = next(lines, None)
    if first is None or first[1].get("format") != FORMAT:
        raise UsageError(
            f"{path} is not a modelsync dump (its first line is not a modelsync-dump header); nothing was changed. "
            "Restore a file made by `modelsync db backup`."
        )
    header = first[1]
    version = header.get("formatVersion")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UsageError(
            f"{path} is in dump format {version}, newer than this modelsync reads ({FORMAT_VERSION}): restore it with "
            "a newer modelsync; nothing was changed."
        )
    if not isinstance(header.get("tables"), list):
        raise UsageError(f"{path} has a damaged header (no table list); nothing was changed.")
    return header


def restore_json(engine: Engine, path: Path, progress: Progress = _quiet, wait: float = 60.0) -> int:
    """Load a JSON Lines dump into the empty database in one transaction; return the number of rows."""
    where = str(path)
    with path.open("rb") as handle:
        lines = _lines(handle, path)
        header = _header(lines, path)
        _check_revision(header.get("schemaRevision"), current_revision(engine), path)
        known = {table.name: table for table in dump.tables()}
        writers: dict[str, dump.ChunkWriter] = {}
        for entry in header["tables"]:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name not in known:
                raise UsageError(f"{path} holds a table {name!r} that this schema does not have; nothing was changed.")
            try:
                writers[name] = dump.ChunkWriter(known[name], [column["name"] for column in entry["columns"]])
            except (ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{path} does not match this schema ({exc}); nothing was changed.") from exc
        counts = dict.fromkeys(writers, 0)
        ended: dict[str, Any] | None = None
        with write_transaction(engine, wait) as conn:
            _refuse_non_empty(conn, "this database")
            for number, item in lines:
                if ended is not None:
                    raise UsageError(f"{path} has data after its end line (line {number}); nothing was changed.")
                if item.get("end") is True:
                    ended = item
                    continue
                name, rows = item.get("table"), item.get("rows")
                if name not in writers or not isinstance(rows, list):
                    raise UsageError(f"{path} is damaged at line {number} (not a chunk of a known table).")
                try:
                    written = writers[name].write(conn, rows)
                except (ValueError, TypeError, sa.exc.StatementError) as exc:
                    raise UsageError(
                        f"{path} is damaged at line {number} ({_first_line(exc)}); nothing was changed."
                    ) from None
                before = counts[name]
                counts[name] = before + written
                if counts[name] // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    progress(f"{name}: {counts[name]:,} rows")
            if ended is None:
                raise UsageError(
                    f"{path} is cut short (no end line after {sum(counts.values()):,} rows): the backup did not "
                    "finish or the file was truncated; nothing was changed. Restore from another backup."
                )
            expected = ended.get("rows")
            if expected != counts:
                raise UsageError(
                    f"{path} does not hold the rows its end line counts ({expected} != {counts}); nothing was changed."
                )
            dump.reset_sequences(conn)
    for name, count in counts.items():
        progress(f"{name}: {count:,} rows")
    progress(f"restored {where} ({sum(counts.values()):,} rows)")
    return sum(counts.values())


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_revision(path: Path) -> str:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            problems = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} is not a modelsync SQLite backup ({exc}); nothing was changed.") from None
    if problems != [("ok",)]:
        raise UsageError(f"{path} is damaged ({problems[0][0]}); nothing was changed. Restore from another backup.")
    if row is None:
        raise UsageError(f"{path} holds no schema revision; it is not a modelsync backup. Nothing was changed.")
    return str(row[0])


def restore_sqlite(engine: Engine, path: Path, progress: Progress = _quiet) -> int:
    """Copy a SQLite backup file into the empty SQLite database, then migrate it; return its model count."""
    target = _sqlite_path(engine)
    if target is None:
        raise UsageError(
            f"{path} is a SQLite backup, which restores only into a SQLite database. To move a SQLite catalog to "
            "PostgreSQL, make a JSON dump of it (DATABASE_URL=sqlite:///... modelsync db backup --format json FILE) "
            "and restore that; nothing was changed."
        )
    _refuse_own_files(engine, path)
    revision = _sqlite_revision(path)
    if revision not in KNOWN_REVISIONS:
        _check_revision(revision, SCHEMA_HEAD, path)
    with engine.connect() as conn:
        _refuse_non_empty(conn, str(target))
    engine.dispose()  # no pooled connection of ours may hold the file while it is replaced
    progress(f"copying {path} into {target} with SQLite's online backup")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    destination = sqlite3.connect(target, timeout=60)
    try:
        # The backup API locks the destination for the copy and replaces its pages: a reader elsewhere sees the
        # empty catalog or the restored one, never half of it.
        source.backup(destination)
        destination.execute("PRAGMA journal_mode=WAL")
    finally:
        destination.close()
        source.close()
    upgrade_schema(engine)  # a backup made by an older modelsync is migrated like any database
    with engine.connect() as conn:
        models = int(conn.execute(sa.select(sa.func.count()).select_from(ai_model)).scalar_one())
    progress(f"restored {path} ({models:,} models)")
    return models
