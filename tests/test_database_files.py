"""The database file and broken databases, through the real CLI: a SQLite file modelsync creates is private
(0600, and so are its -wal, -shm and sync lock files); a database that is not SQLite, is at a newer schema
revision, is read-only or misses a table is refused in one line that says what to do, with exit 1, nothing
written and no traceback, by every command and by `modelsync serve`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelsync.api.app import create_app
from modelsync.db.engine import SCHEMA_HEAD, create_db_engine, explain
from modelsync.errors import DatabaseError

COMMANDS = [("models", "list"), ("db", "current"), ("db", "upgrade"), ("sync", "--provider", "anthropic")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which SQLite alone would create 0644 files."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# These are about SQLite's own files: the backend parametrization of `db_url` (conftest.py) narrowed to SQLite.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_new_database_its_wal_shm_and_lock_files_are_private(cli, umask_022, clean_env, monkeypatch):
    path = clean_env / "data" / "fresh.db"
    path.parent.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    result = cli("sync", "--provider", "anthropic")
    assert result.code == 0, result.err
    assert mode(path) == 0o600
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:  # a writer keeps the -wal and -shm files open
            conn.execute(sa.text("CREATE TABLE scratch (x INTEGER)"))
            companions = sorted(p.name for p in path.parent.iterdir() if p != path)
            assert {"fresh.db-wal", "fresh.db-shm", "fresh.db.sync-lock"} <= set(companions), companions
            assert {name: mode(path.parent / name) for name in companions} == dict.fromkeys(companions, 0o600)
    finally:
        engine.dispose()


@sqlite_only
def test_an_existing_file_keeps_its_mode(cli, umask_022, clean_env, monkeypatch):
    path = clean_env / "shared.db"
    path.touch()
    path.chmod(0o640)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert cli("models", "list").code == 0
    assert mode(path) == 0o640


def assert_refused(cli, args: tuple[str, ...], *phrases: str) -> str:
    result = cli(*args)
    assert result.code == 1, (args, result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


@sqlite_only
def test_a_file_that_is_not_sqlite(cli, clean_env, monkeypatch):
    path = clean_env / "catalog.db"
    path.write_bytes(b"name,price\ngpt-4o,2.5\n" * 50)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    before = path.read_bytes()
    for args in [*COMMANDS, ("serve", "--port", "9")]:
        line = assert_refused(cli, args, f"{path} is not a SQLite database", "DATABASE_URL")
        assert "move this file away" in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in clean_env.glob("catalog.db*")) == ["catalog.db"]  # no -wal, -shm or lock file


@contextmanager
def changed_schema(engine, statement: str, undo: str) -> Iterator[None]:
    """Change the schema of the test database for one test, and put it back (the PostgreSQL one is shared)."""
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(undo))


def _snapshot(engine) -> object:
    """Every row of every table there is (a table may be missing); SQLite's files change on reads alone (-shm)."""
    with engine.connect() as conn:
        return [
            (name, sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{name}"')))))
            for name in sorted(sa.inspect(conn).get_table_names())
        ]


def test_a_newer_schema_revision(cli, engine):
    assert cli("sync", "--provider", "anthropic").code == 0
    update = "UPDATE alembic_version SET version_num = '{}'"
    with changed_schema(engine, update.format("0099"), update.format(SCHEMA_HEAD)):
        before = _snapshot(engine)
        for args in [*COMMANDS[:1], *COMMANDS[2:], ("serve", "--port", "9")]:
            assert_refused(cli, args, "schema revision 0099", "newer than this modelsync", "pip install -U modelsync")
        assert _snapshot(engine) == before
        assert cli("db", "current").out.strip() == "0099"  # reading the revision still works


def test_a_revision_of_another_application(cli, engine):
    update = "UPDATE alembic_version SET version_num = '{}'"
    with changed_schema(engine, update.format("ae1027a6acf"), update.format(SCHEMA_HEAD)):
        assert_refused(cli, ("models", "list"), "'ae1027a6acf'", "not a modelsync revision")


def test_a_missing_table(cli, engine):
    assert cli("sync", "--provider", "anthropic").code == 0
    rename = "ALTER TABLE {} RENAME TO {}"
    with changed_schema(engine, rename.format("ai_model", "ai_model_away"), rename.format("ai_model_away", "ai_model")):
        before = _snapshot(engine)
        for args in [*COMMANDS, ("serve", "--port", "9")]:
            if args == ("db", "current"):
                continue  # it only reads the revision
            assert_refused(cli, args, f"revision {SCHEMA_HEAD}", "table ai_model is missing", "from a backup")
        assert _snapshot(engine) == before


@sqlite_only
def test_a_read_only_database(cli, db_url, engine, monkeypatch):
    assert cli("sync", "--provider", "anthropic").code == 0
    before = _snapshot(engine)
    path = Path(engine.url.database)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    for args in [*COMMANDS[:1], *COMMANDS[2:], ("serve", "--port", "9")]:
        assert_refused(cli, args, f"{path} is read-only", "make the file and its directory writable")
    assert _snapshot(engine) == before


@sqlite_only
def test_a_missing_directory(cli, clean_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{clean_env / 'nowhere' / 'modelsync.db'}")
    assert_refused(cli, ("models", "list"), "cannot open", "directory exists")
    assert not (clean_env / "nowhere").exists()


def test_the_app_factory_refuses_a_broken_database_with_the_same_message(offline, clean_env):
    path = clean_env / "catalog.db"
    path.write_bytes(b"not a database" * 100)
    settings = offline.model_copy(update={"database_url": f"sqlite:///{path}"})
    with pytest.raises(DatabaseError, match="is not a SQLite database"):
        create_app(settings)


def test_serve_in_its_own_process_refuses_to_start(clean_env):
    path = clean_env / "catalog.db"
    path.write_bytes(b"not a database" * 100)
    exe = shutil.which("modelsync", path=str(Path(sys.executable).parent)) or "modelsync"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    result = subprocess.run([exe, "serve", "--port", "9"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {path} is not a SQLite database (file is not a database): point DATABASE_URL at modelsync's "
        "database, or move this file away to start a new catalog."
    ]


def test_explain_names_the_problem_of_a_driver_error(clean_env):
    garbage = clean_env / "x.db"
    garbage.write_bytes(b"x" * 4096)
    plain = sa.create_engine(f"sqlite:///{garbage}")
    with pytest.raises(sa.exc.DatabaseError) as caught, plain.connect() as conn:
        conn.execute(sa.text("SELECT * FROM sqlite_master"))
    plain.dispose()
    assert "is not a SQLite database" in explain(caught.value, f"sqlite:///{garbage}").message
    password_url = "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"
    message = explain(sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused")), password_url).message
    assert "cannot reach the database" in message and "s3cret" not in message
