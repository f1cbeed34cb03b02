"""`modelsync db backup` / `db restore`: a backup restores to an identical catalog (SQLite copy and JSON dump, on
SQLite and PostgreSQL, and SQLite to PostgreSQL); a non-empty database, a damaged or truncated dump and a dump from
a newer schema are refused and change nothing; SQLite's online backup is consistent while others write."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

import dbread
from apiserver import make_users
from modelsync.db import feeds
from modelsync.db.engine import SCHEMA_HEAD, create_db_engine, upgrade_schema
from modelsync.db.tables import ai_model, audit_log, catalog_feed, metadata
from modelsync.errors import UsageError
from modelsync.services import catalog
from modelsync.services.backup import backup_sqlite, dump_json, restore_json, restore_sqlite
from modelsync.services.sync import SyncOptions, run_sync
from pgdb import PG_URL, emptied, own_database

FEED_BODY = orjson.dumps(
    {"claude-haiku-4-5": {"litellm_provider": "anthropic", "mode": "chat", "max_output_tokens": 64000}}
)
STORED_AT = datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=UTC)
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]


# --- databases -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_target() -> str:
    """A second migrated PostgreSQL database of this session's own (the restore target), dropped at the end."""
    with own_database("modelsync_restore") as url:
        yield url


def fresh(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """The URL of an empty, migrated database on `backend` other than the test's own."""
    if backend == "sqlite":
        path = tmp_path / f"restored-{uuid.uuid4().hex[:6]}.db"
        engine = create_db_engine(f"sqlite:///{path}")
        upgrade_schema(engine)
        engine.dispose()
        return f"sqlite:///{path}"
    return emptied(request.getfixturevalue("postgres_target"))


@pytest.fixture
def target(request, engine, tmp_path):
    """An empty database on the same backend as `engine`."""
    other = create_db_engine(fresh(request, engine.dialect.name, tmp_path))
    yield other
    other.dispose()


@pytest.fixture
def modelsync(run_cli):
    """Run `modelsync ARGS` in-process on the database DATABASE_URL names (set by the test)."""
    return run_cli


def populate(engine, settings) -> None:
    """A catalog with everything a deployment holds: a sync, users and tokens, a decision, a stored feed copy."""
    run_sync(engine, settings, SyncOptions(providers=["anthropic", "google"], trigger="cli"))
    make_users(engine)
    catalog.decide(engine, settings, "anthropic", "claude-haiku-4-5", {"recommended": False}, actor="ada")
    with engine.begin() as conn:  # a stored LiteLLM feed copy: a zlib-compressed (binary) body
        feeds.save_copy(
            conn, "litellm", url="http://127.0.0.1/feed.json", body=FEED_BODY,
            digest=hashlib.sha256(FEED_BODY).hexdigest(), etag='"x"', last_modified=None,
            data_date=datetime(2026, 11, 1).date(), model_count=1, now=STORED_AT,
        )  # fmt: skip
    run_sync(engine, settings, SyncOptions(providers=["anthropic"], trigger="api", actor="root"))


def snapshot(engine) -> dict:
    """Every table's rows (typed, by primary key) and which JSON cells are SQL NULL."""
    rows = dbread.database_dump(engine)
    rows.pop("sqlite_dump", None)
    nulls = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            json_columns = [column for column in table.columns if isinstance(column.type, sa.JSON)]
            if json_columns:
                query = sa.select(*(column.is_(None) for column in json_columns)).order_by(*table.primary_key.columns)
                nulls[table.name] = [tuple(row) for row in conn.execute(query)]
    return {"rows": rows, "nulls": nulls}


def empty(engine) -> bool:
    return all(not rows for rows in snapshot(engine)["rows"].values())


@pytest.fixture
def populated(engine, offline):
    populate(engine, offline)
    return engine


# --- round trips ----------------------------------------------------------------------------------------------


def test_a_json_dump_restores_to_an_identical_catalog(populated, target, offline, tmp_path):
    file = tmp_path / "catalog.jsonl"
    total = dump_json(populated, file)
    before = snapshot(populated)
    assert total == sum(len(rows) for rows in before["rows"].values()) and total > 100
    assert restore_json(target, file) == total
    after = snapshot(target)
    assert after == before
    with target.connect() as conn:
        assert feeds.load_body(conn, "litellm") == FEED_BODY
    assert dbread.one_row(target, catalog_feed)["stored_at"] == STORED_AT
    prices = [row["input_price"] for row in dbread.models(target) if row["input_price"] is not None]
    assert prices and all(isinstance(price, Decimal) for price in prices)
    # The restored database carries on: new ids follow the restored ones, and a sync finds nothing to change.
    report = run_sync(target, offline, SyncOptions(providers=["anthropic", "google"], trigger="cli"))
    assert report.totals()["created"] == 0 and report.totals()["updated"] == 0
    assert report.run_id == max(run[0] for run in before["rows"]["sync_run"]) + 1


def test_the_dump_keeps_types_readable(populated, tmp_path):
    file = tmp_path / "catalog.jsonl"
    dump_json(populated, file)
    lines = [orjson.loads(line) for line in file.read_bytes().splitlines()]
    header, end = lines[0], lines[-1]
    assert header["format"] == "modelsync-dump" and header["formatVersion"] == 1
    assert header["schemaRevision"] == SCHEMA_HEAD and header["source"] == populated.dialect.name
    assert [table["name"] for table in header["tables"]] == [table.name for table in metadata.sorted_tables]
    assert end["end"] is True and end["rows"]["ai_model"] == dbread.count(populated, ai_model)
    columns = {table["name"]: [column["name"] for column in table["columns"]] for table in header["tables"]}
    feed_line = next(line for line in lines[1:-1] if line.get("table") == "catalog_feed")
    feed = dict(zip(columns["catalog_feed"], feed_line["rows"][0], strict=True))
    assert feed["stored_at"] == "2026-11-02T03:04:05.678901+00:00" and feed["data_date"] == "2026-11-01"
    assert isinstance(feed["body"], str)  # base64
    model_line = next(line for line in lines[1:-1] if line.get("table") == "ai_model")
    model = dict(zip(columns["ai_model"], model_line["rows"][0], strict=True))
    assert isinstance(model["input_price"], str) and Decimal(model["input_price"]) > 0
    assert isinstance(model["capabilities"], dict)


def test_a_dump_is_written_in_chunks(populated, target, tmp_path):
    file = tmp_path / "catalog.jsonl"
    dump_json(populated, file, chunk_rows=7)
    chunks = [orjson.loads(line) for line in file.read_bytes().splitlines()[1:-1]]
    assert max(len(chunk["rows"]) for chunk in chunks) == 7
    assert sum(1 for chunk in chunks if chunk["table"] == "ai_model") > 3
    restore_json(target, file)
    assert snapshot(target) == snapshot(populated)


def test_a_sqlite_backup_file_restores_to_an_identical_catalog(modelsync, offline, tmp_path, monkeypatch):
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source = create_db_engine(source_url)
    upgrade_schema(source)
    populate(source, offline)
    file = tmp_path / "backup.db"
    monkeypatch.setenv("DATABASE_URL", source_url)
    code, out, err = modelsync("db", "backup", str(file))
    assert code == 0, err
    assert "online backup" in err and "backed up to" in out and "(sqlite)" in out
    assert stat.S_IMODE(file.stat().st_mode) == 0o600 and not file.with_name("backup.db.partial").exists()
    assert file.read_bytes()[:16] == b"SQLite format 3\x00"
    other = tmp_path / "other.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{other}")
    code, out, err = modelsync("db", "restore", str(file))
    assert code == 0, err
    restored = create_db_engine(f"sqlite:///{other}")
    assert snapshot(restored) == snapshot(source)
    code, out, err = modelsync("db", "restore", str(file))
    assert code == 4 and "not empty" in err
    restored.dispose()
    source.dispose()


@pytest.mark.parametrize("to", BACKENDS)
def test_a_sqlite_catalog_moves_through_a_json_dump(request, to, offline, tmp_path, monkeypatch, modelsync):
    """SQLite -> PostgreSQL (and SQLite -> SQLite) with the CLI, the documented migration path."""
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    source = create_db_engine(source_url)
    upgrade_schema(source)
    populate(source, offline.model_copy(update={"database_url": source_url}))
    file = tmp_path / "move.jsonl"
    monkeypatch.setenv("DATABASE_URL", source_url)
    assert modelsync("db", "backup", "--format", "json", str(file))[0] == 0
    target_url = fresh(request, to, tmp_path)
    monkeypatch.setenv("DATABASE_URL", target_url)
    code, out, err = modelsync("db", "restore", str(file))
    assert code == 0, err
    assert "ai_model:" in err and "restored" in out
    moved = create_db_engine(target_url)
    assert snapshot(moved) == snapshot(source)
    code, out, _ = modelsync("models", "list", "--format", "tsv")
    assert code == 0 and out.count("\n") == dbread.count(source, ai_model) + 1
    moved.dispose()
    source.dispose()


def test_the_default_format_follows_the_database_and_sqlite_copies_need_sqlite(cli, engine, tmp_path):
    result = cli("db", "backup", str(tmp_path / "default"))
    assert result.code == 0, result.err
    if engine.dialect.name == "sqlite":
        assert "(sqlite)" in result.out and (tmp_path / "default").read_bytes()[:6] == b"SQLite"
    else:
        assert "(json)" in result.out and orjson.loads((tmp_path / "default").read_bytes().splitlines()[0])["format"]
        refused = cli("db", "backup", "--format", "sqlite", str(tmp_path / "pg.db"))
        assert refused.code == 4 and "--format json" in refused.err and not (tmp_path / "pg.db").exists()
    bad = cli("db", "backup", "--format", "tar", str(tmp_path / "x"))
    assert bad.code == 4 and "sqlite or json" in bad.err and not (tmp_path / "x").exists()


@pytest.mark.parametrize("to", BACKENDS)
def test_a_sqlite_backup_file_restores_only_into_sqlite(request, to, offline, tmp_path):
    source = create_db_engine(f"sqlite:///{tmp_path / 'source.db'}")
    upgrade_schema(source)
    run_sync(source, offline, SyncOptions(providers=["anthropic"]))
    backup_sqlite(source, tmp_path / "backup.db")
    target = create_db_engine(fresh(request, to, tmp_path))
    if to == "sqlite":
        assert restore_sqlite(target, tmp_path / "backup.db") == dbread.count(source, ai_model)
        assert snapshot(target) == snapshot(source)
    else:
        with pytest.raises(UsageError, match=r"restores only into a SQLite database.*--format json"):
            restore_sqlite(target, tmp_path / "backup.db")
        assert empty(target)
    source.dispose()
    target.dispose()


def test_the_backup_file_is_never_the_database_itself(modelsync, tmp_path, monkeypatch):
    own = tmp_path / "own.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{own}")
    assert modelsync("db", "upgrade")[0] == 0
    engine = create_db_engine(f"sqlite:///{own}")
    before = snapshot(engine)
    for name in ("own.db", "own.db-wal"):
        code, _, err = modelsync("db", "backup", "--format", "json", str(tmp_path / name))
        assert code == 4 and "the database itself" in err
    assert own.read_bytes()[:16] == b"SQLite format 3\x00" and snapshot(engine) == before
    assert not list(tmp_path.glob("*.partial"))
    engine.dispose()


# --- refusals --------------------------------------------------------------------------------------------------


def test_a_restore_into_a_database_with_rows_is_refused_and_changes_nothing(populated, offline, request, tmp_path):
    file = tmp_path / "catalog.jsonl"
    dump_json(populated, file)
    other = create_db_engine(fresh(request, populated.dialect.name, tmp_path))
    run_sync(other, offline, SyncOptions(providers=["google"], trigger="cli"))
    before = snapshot(other)
    with pytest.raises(UsageError, match=r"is not empty: ai_model \(\d+ rows\)"):
        restore_json(other, file)
    assert snapshot(other) == before
    other.dispose()


def _rewrite(file: Path, edit) -> Path:
    lines = file.read_bytes().splitlines(keepends=True)
    out = file.with_name("edited-" + file.name)
    out.write_bytes(b"".join(edit(lines)))
    return out


def _set(line: bytes, **values) -> bytes:
    return orjson.dumps({**orjson.loads(line), **values}) + b"\n"


def _bad_timestamp(lines: list[bytes]) -> list[bytes]:
    index = next(i for i, line in enumerate(lines) if b'"table":"audit_log"' in line)
    chunk = orjson.loads(lines[index])
    chunk["rows"][0][1] = "yesterday"  # created_at
    return [*lines[:index], orjson.dumps(chunk) + b"\n", *lines[index + 1 :]]


DAMAGE = {
    "cut in the middle of a line": (lambda lines: [*lines[:3], lines[3][: len(lines[3]) // 2]], "damaged at line 4"),
    "cut at a line end": (lambda lines: lines[:-2], "cut short"),
    "a garbage line": (lambda lines: [*lines[:2], b"{not json\n", *lines[2:]], "damaged at line 3"),
    "not a dump": (lambda lines: [b"hello, world\n"], "damaged at line 1"),
    "no header": (lambda lines: lines[1:], "not a modelsync dump"),
    "counts that do not match": (lambda lines: [*lines[:-1], _set(lines[-1], rows={"ai_model": 1})], "end line"),
    "an unknown table": (lambda lines: [*lines[:-1], b'{"table":"nope","rows":[]}\n', lines[-1]], "not a chunk"),
    "a value of the wrong type": (_bad_timestamp, "damaged at line"),
    "a row of the wrong width": (
        lambda lines: [*lines[:-1], b'{"table":"sync_lease","rows":[[1]]}\n', lines[-1]], "columns"),
    "an empty file": (lambda lines: [], "not a modelsync dump"),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_or_truncated_dump_is_refused_and_changes_nothing(populated, target, tmp_path, damage):
    file = tmp_path / "catalog.jsonl"
    dump_json(populated, file)
    edit, message = DAMAGE[damage]
    broken = _rewrite(file, edit)
    with pytest.raises(UsageError, match=message) as raised:
        restore_json(target, broken)
    assert "nothing was changed" in raised.value.message or "not a chunk" in raised.value.message
    assert empty(target)
    restore_json(target, file)  # the intact dump still restores: the refused one left nothing behind
    assert snapshot(target) == snapshot(populated)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"schemaRevision": "9999"}, "revision 9999, newer than this modelsync knows"),
        ({"schemaRevision": "0001"}, "revision 0001, and this database is at"),
        ({"formatVersion": 2}, "dump format 2, newer than this modelsync reads"),
    ],
)
def test_a_dump_from_another_schema_or_a_newer_format_is_refused(populated, target, tmp_path, header, message):
    file = tmp_path / "catalog.jsonl"
    dump_json(populated, file)
    newer = _rewrite(file, lambda lines: [_set(lines[0], **header), *lines[1:]])
    with pytest.raises(UsageError, match=message):
        restore_json(target, newer)
    assert empty(target)


def test_a_sqlite_backup_from_a_newer_schema_is_refused(tmp_path, offline):
    source = create_db_engine(f"sqlite:///{tmp_path / 'source.db'}")
    upgrade_schema(source)
    file = tmp_path / "backup.db"
    backup_sqlite(source, file)
    with sqlite3.connect(file) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    target = create_db_engine(f"sqlite:///{tmp_path / 'target.db'}")
    upgrade_schema(target)
    with pytest.raises(UsageError, match="newer than this modelsync knows"):
        restore_sqlite(target, file)
    assert empty(target)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(UsageError, match=r"not a modelsync SQLite backup|damaged"):
        restore_sqlite(target, garbage)
    assert empty(target)
    source.dispose()
    target.dispose()


# --- SQLite's online backup while others write -----------------------------------------------------------------


def _audit_pair(conn, number: int) -> None:
    for half in ("a", "b"):
        conn.execute(
            audit_log.insert().values(
                created_at=datetime.now(UTC), action="test.pair", target=f"{number}{half}", outcome="ok"
            )
        )


def _pairs_in(path: Path) -> list[str]:
    copy = create_db_engine(f"sqlite:///{path}")
    try:
        return [row["target"] for row in dbread.rows(copy, audit_log, action="test.pair")]
    finally:
        copy.dispose()


def test_an_online_backup_skips_a_write_transaction_that_has_not_committed(tmp_path, offline):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live = create_db_engine(url)
    upgrade_schema(live)
    run_sync(live, offline.model_copy(update={"database_url": url}), SyncOptions(providers=["anthropic"]))
    with live.connect().execution_options(catalog_write=True) as writer:
        transaction = writer.begin()  # BEGIN IMMEDIATE: holds SQLite's write lock
        _audit_pair(writer, 1)
        backup_sqlite(live, tmp_path / "during.db")
        dump_json(live, tmp_path / "during.jsonl")
        transaction.commit()
    backup_sqlite(live, tmp_path / "after.db")
    with sqlite3.connect(tmp_path / "during.db") as conn:  # one self-contained file, checked before modelsync opens it
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert _pairs_in(tmp_path / "during.db") == []
    assert b"test.pair" not in (tmp_path / "during.jsonl").read_bytes()
    assert _pairs_in(tmp_path / "after.db") == ["1a", "1b"]
    live.dispose()


def test_online_backups_taken_while_another_connection_commits_are_each_consistent(tmp_path, offline):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live = create_db_engine(url)
    upgrade_schema(live)
    run_sync(live, offline.model_copy(update={"database_url": url}), SyncOptions(providers=["anthropic", "google"]))
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            with live.connect().execution_options(catalog_write=True) as conn, conn.begin():
                _audit_pair(conn, number)  # two rows per transaction: a consistent copy never holds one alone
            written.append(number)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        copies = []
        for index in range(6):
            while len(written) < (index + 1) * 3:  # let the writer commit between copies
                stop.wait(0.001)
            path = tmp_path / f"copy-{index}.db"
            backup_sqlite(live, path)
            copies.append(_pairs_in(path))
            dump_json(live, tmp_path / f"copy-{index}.jsonl")
    finally:
        stop.set()
        thread.join()
    for pairs in copies:
        assert len(pairs) % 2 == 0
        expected = [f"{n}{half}" for n in range(1, len(pairs) // 2 + 1) for half in ("a", "b")]
        assert pairs == expected
    assert len(copies[-1]) > len(copies[0]) > 0
    for index in range(6):
        restored = create_db_engine(f"sqlite:///{tmp_path / f'restored-{index}.db'}")
        upgrade_schema(restored)
        restore_json(restored, tmp_path / f"copy-{index}.jsonl")
        pairs = [row["target"] for row in dbread.rows(restored, audit_log, action="test.pair")]
        assert len(pairs) % 2 == 0 and pairs == [f"{n}{h}" for n in range(1, len(pairs) // 2 + 1) for h in "ab"]
        restored.dispose()
    live.dispose()


def test_a_sqlite_backup_made_at_an_older_schema_is_restored_and_migrated(tmp_path):
    from alembic import command

    from modelsync.db.engine import alembic_config, current_revision

    older = create_db_engine(f"sqlite:///{tmp_path / 'older.db'}")
    config = alembic_config()
    with older.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
    assert current_revision(older) == "0007"
    backup_sqlite(older, tmp_path / "older-backup.db")
    target = create_db_engine(f"sqlite:///{tmp_path / 'target.db'}")
    upgrade_schema(target)
    assert restore_sqlite(target, tmp_path / "older-backup.db") == 0
    assert current_revision(target) == SCHEMA_HEAD
    assert set(sa.inspect(target).get_table_names()) >= set(metadata.tables)
    older.dispose()
    target.dispose()
