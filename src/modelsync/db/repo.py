"""Queries and the bulk write path. Never commits: callers own the transaction.

Rules:
- Only changed rows are written, in bulk: `executemany` of one prepared statement on SQLite; COPY into a
  staging table and one INSERT plus one UPDATE on PostgreSQL.
- The bulk path skips SQLAlchemy's per-value processors for speed: it writes each record's canonical row
  (records.canonical_row), which is exactly how `types.py` stores values on SQLite (money and dates as text,
  naive-UTC timestamps, JSON text) and text PostgreSQL's COPY parses into the typed columns.
- `write_models` is the only function that writes a model's data, and it appends one history row for every
  change it writes, in the same transaction: history is what the caches watch (services/versions.py), so a
  model write that skipped it would go unseen. A sync's changes never touch the `manual` column; an admin
  decision's change carries the new decisions and is written row by row.
- `last_verified` moves only for models the listing showed (`Change.seen`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.changes import Change, SnapshotRow, history_json
from modelsync.db.dialect import placeholder
from modelsync.db.tables import ai_model, audit_log, model_change, provider_state, sync_lease, sync_run
from modelsync.db.types import UTCDateTime
from modelsync.records import SYNCED_FIELDS, decode_canonical, json_text, utc_text

# Columns the bulk path writes for each changed model, after (provider, model_id).
_WRITE_COLUMNS = (*SYNCED_FIELDS, "extra", "candidates", "content_hash", "last_verified", "updated_at")
_TIMESTAMPS = tuple(index for index, name in enumerate(SYNCED_FIELDS) if name in ("deprecated_at",))
_CHUNK = 5000


def _dumps(value: Any) -> str | None:
    return None if value is None else json_text(value)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- reads -------------------------------------------------------------------------------------------------------


def load_snapshot(conn: Connection, provider: str) -> tuple[dict[str, SnapshotRow], dict[str, dict[str, Any]]]:
    """Return the provider's stored models for classification, and the admin decisions by model id."""
    # Raw driver rows: this reads every stored model on every sync, and the two columns that need decoding are
    # almost always NULL, so SQLAlchemy's per-value result processing would be most of the cost.
    cursor = conn.exec_driver_sql(
        "SELECT model_id, id, content_hash, status, deprecated_at, manual FROM ai_model "
        f"WHERE provider = {placeholder(conn)}",
        (provider,),
    )
    read_time = UTCDateTime().process_result_value
    snapshot: dict[str, SnapshotRow] = {}
    manual: dict[str, dict[str, Any]] = {}
    for model_id, pk, content_hash, status, deprecated_at, decisions in cursor:
        if deprecated_at is not None:
            deprecated_at = read_time(deprecated_at, conn.dialect)
        snapshot[model_id] = SnapshotRow(pk, content_hash, status, deprecated_at)
        if decisions:
            loaded = orjson.loads(decisions) if isinstance(decisions, str) else decisions
            # Clearing a model's last decision stores JSON null (SQLite keeps it as the text 'null'): no decisions.
            if loaded:
                manual[model_id] = loaded
    return snapshot, manual


def load_rows(conn: Connection, pks: Sequence[int], lock: bool = False) -> dict[int, dict[str, Any]]:
    """Return full stored rows by primary key (locked FOR UPDATE on PostgreSQL when asked)."""
    rows: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(list(pks)):
        query = sa.select(ai_model).where(ai_model.c.id.in_(chunk))
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in conn.execute(query).mappings():
            rows[row["id"]] = dict(row)
    return rows


def load_source_candidates(
    conn: Connection, provider: str, source: str
) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Per active model of `provider`: its extras and what `source` itself said of its prices and limits."""
    query = sa.select(ai_model.c.model_id, ai_model.c.extra, ai_model.c.candidates).where(
        ai_model.c.provider == provider, ai_model.c.status == "active", ai_model.c.candidates.is_not(None)
    )
    found: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
    for model_id, extra, candidates in conn.execute(query):
        own = {name: values[source] for name, values in (candidates or {}).items() if source in (values or {})}
        if own:
            found[model_id] = (extra, own)
    return found


def load_provider_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return the last good listing of every provider: listing kind, model count, when verified."""
    return {row["provider"]: dict(row) for row in conn.execute(sa.select(provider_state)).mappings()}


# --- the one write path of model data ----------------------------------------------------------------------------


def write_models(
    conn: Connection, changes: Sequence[Change], *, run_id: int | None, actor: str | None, now: datetime
) -> dict[tuple[str, str], int]:
    """Write changed models (created, updated, decided) and one history row each; return their primary keys."""
    if not changes:
        return {}
    manual = [change for change in changes if change.kind == "manual"]
    synced = [change for change in changes if change.kind != "manual"]
    created = [change for change in synced if change.pk is None]
    updated = [change for change in synced if change.pk is not None]
    if conn.dialect.name == "postgresql":
        _write_models_postgres(conn, created, updated, now)
    else:
        _write_models_sqlite(conn, created, updated, now)
    for change in manual:
        _write_decision(conn, change, now)
    _write_history(conn, changes, run_id, actor, now)
    return {(change.provider, change.model_id): change.pk for change in changes if change.pk is not None}


def _row_values(change: Change, now: Any) -> tuple[Any, ...]:
    # The canonical row is already in the form SQLite stores (see records.canonical_row).
    return (*change.canonical, _dumps(change.extra), _dumps(change.candidates), change.fingerprint,
            now if change.seen else None, now)  # fmt: skip


def _write_models_sqlite(conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime) -> None:
    stamp = utc_text(now)
    if created:
        # Ids are handed out here rather than read back afterwards: every catalog write holds SQLite's write lock
        # (BEGIN IMMEDIATE), so nobody else can insert between reading the highest id and using the next ones.
        next_id = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM ai_model").scalar_one()) + 1
        for offset, change in enumerate(created):
            change.pk = next_id + offset
        columns = ("id", "provider", "model_id", *_WRITE_COLUMNS, "created_at")
        sql = f"INSERT INTO ai_model ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, [(c.pk, c.provider, c.model_id, *_row_values(c, stamp), stamp) for c in created])
    if updated:
        assignments = ", ".join(
            f"{name} = COALESCE(?, {name})" if name == "last_verified" else f"{name} = ?" for name in _WRITE_COLUMNS
        )
        conn.exec_driver_sql(
            f"UPDATE ai_model SET {assignments} WHERE id = ?", [(*_row_values(c, stamp), c.pk) for c in updated]
        )


def _copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _postgres_row(change: Change, now: datetime) -> list[Any]:
    row = [change.pk, change.provider, change.model_id, *_row_values(change, now)]
    for index in _TIMESTAMPS:
        value = row[3 + index]
        if value is not None:
            # Canonical timestamps are naive UTC text; PostgreSQL would read that in the session's time zone.
            row[3 + index] = value + "+00:00"
    return row


def _write_models_postgres(
    conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime
) -> None:
    if not created and not updated:
        return
    columns = ("id", "provider", "model_id", *_WRITE_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS _ms_stage AS SELECT {', '.join(columns)} FROM ai_model WITH NO DATA"
    )
    conn.exec_driver_sql("TRUNCATE _ms_stage")
    _copy_rows(conn, "_ms_stage", columns, (_postgres_row(c, now) for c in (*created, *updated)))
    insert_columns = ", ".join(columns[1:])
    if created:
        inserted = conn.exec_driver_sql(
            f"INSERT INTO ai_model ({insert_columns}, created_at) "
            f"SELECT {insert_columns}, updated_at FROM _ms_stage WHERE id IS NULL RETURNING provider, model_id, id"
        )
        pks = {(provider, model_id): pk for provider, model_id, pk in inserted}
        for change in created:
            change.pk = pks[(change.provider, change.model_id)]
    if updated:
        assignments = ", ".join(
            f"{name} = COALESCE(s.{name}, m.{name})" if name == "last_verified" else f"{name} = s.{name}"
            for name in _WRITE_COLUMNS
        )
        conn.exec_driver_sql(f"UPDATE ai_model AS m SET {assignments} FROM _ms_stage AS s WHERE m.id = s.id")


def _write_decision(conn: Connection, change: Change, now: datetime) -> None:
    # One row at a time (decisions are made one model at a time), through SQLAlchemy's typed columns.
    values = dict(zip(SYNCED_FIELDS, decode_canonical(change.canonical), strict=True))
    conn.execute(
        sa.update(ai_model)
        .where(ai_model.c.id == change.pk)
        .values(**values, manual=change.manual or None, content_hash=change.fingerprint, updated_at=now)
    )


def _write_history(
    conn: Connection, changes: Sequence[Change], run_id: int | None, actor: str | None, now: datetime
) -> None:
    columns = ("run_id", "model_pk", "provider", "model_id", "kind", "changes", "actor", "created_at")
    stamp: Any = now if conn.dialect.name == "postgresql" else utc_text(now)
    rows = [(run_id, c.pk, c.provider, c.model_id, c.kind, history_json(c), actor, stamp) for c in changes]
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, "model_change", columns, rows)
    else:
        sql = f"INSERT INTO model_change ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, rows)


def write_hash_repairs(conn: Connection, repairs: Sequence[tuple[int, str, dict[str, Any] | None]]) -> None:
    """Store recomputed fingerprints and candidates for rows whose data did not change (no history, no updated_at)."""
    if repairs:
        conn.execute(
            sa.update(ai_model)
            .where(ai_model.c.id == sa.bindparam("pk"))
            .values(content_hash=sa.bindparam("h"), candidates=sa.bindparam("c")),
            [{"pk": pk, "h": digest, "c": candidates} for pk, digest, candidates in repairs],
        )


def change_mark(conn: Connection, provider: str) -> int:
    """Return the newest history id of a provider (0 when it has none): any write to its models moves it."""
    query = sa.select(sa.func.max(model_change.c.id)).where(model_change.c.provider == provider)
    return int(conn.execute(query).scalar_one() or 0)


def save_provider_state(
    conn: Connection,
    provider: str,
    listing: str,
    model_count: int,
    run_id: int | None,
    now: datetime,
    input_digest: str | None = None,
) -> None:
    """Record the provider's last good listing (the shrink gate compares against it) and what it was made from."""
    values = {
        "listing": listing,
        "model_count": model_count,
        "last_run_id": run_id,
        "verified_at": now,
        "input_digest": input_digest,
        "change_mark": change_mark(conn, provider),
    }
    updated = conn.execute(sa.update(provider_state).where(provider_state.c.provider == provider).values(**values))
    if updated.rowcount == 0:
        conn.execute(sa.insert(provider_state).values(provider=provider, **values))


# --- runs, lease and audit ---------------------------------------------------------------------------------------


def insert_run(conn: Connection, trigger: str, actor: str | None, providers: list[str], now: datetime) -> int:
    """Create a sync run in state running and return its id."""
    result = conn.execute(
        sa.insert(sync_run)
        .values(trigger=trigger, actor=actor, providers=providers, dry_run=False, status="running", started_at=now)
        .returning(sync_run.c.id)
    )
    return int(result.scalar_one())


def finish_run(conn: Connection, run_id: int, status: str, summary: dict[str, Any], now: datetime) -> None:
    """Close a running sync run with its outcome and summary (a run already closed keeps its outcome)."""
    conn.execute(
        sa.update(sync_run)
        .where(sync_run.c.id == run_id, sync_run.c.status == "running")
        .values(status=status, summary=summary, finished_at=now)
    )


def claim_lease(conn: Connection, run_id: int, holder: str, now: datetime) -> int | None:
    """Record `run_id` as the running sync (the caller holds the SyncLock); return the run a dead holder left."""
    # The lease row only says *which* run holds the sync lock (for "another sync is running (run N)" messages);
    # the lock itself is db.dialect.SyncLock. A row that is still here when the lock is free was left by a
    # process that died mid-sync.
    left = lease_holder(conn)
    conn.execute(sa.delete(sync_lease).where(sync_lease.c.name == "sync"))
    conn.execute(
        sa.insert(sync_lease).values(name="sync", run_id=run_id, holder=holder, acquired_at=now, expires_at=now)
    )
    return left


def lease_holder(conn: Connection) -> int | None:
    """Return the run id recorded as holding the sync lease, if any."""
    return conn.execute(sa.select(sync_lease.c.run_id).where(sync_lease.c.name == "sync")).scalar_one_or_none()


def release_lease(conn: Connection, run_id: int) -> None:
    """Clear the lease row of a run."""
    conn.execute(sa.delete(sync_lease).where(sync_lease.c.name == "sync", sync_lease.c.run_id == run_id))


def abandon_runs(conn: Connection, now: datetime, reason: str, keep: int | None = None) -> list[int]:
    """Mark every run still `running` (but `keep`) as abandoned, with when and why; return their ids."""
    query = sa.select(sync_run.c.id).where(sync_run.c.status == "running")
    if keep is not None:
        query = query.where(sync_run.c.id != keep)
    ids = [run_id for (run_id,) in conn.execute(query)]
    if ids:
        conn.execute(
            sa.update(sync_run)
            .where(sync_run.c.id.in_(ids))
            .values(status="abandoned", finished_at=now, summary={"format": 2, "status": "abandoned", "reason": reason})
        )
    return ids


def append_audit(
    conn: Connection,
    *,
    action: str,
    outcome: str,
    now: datetime,
    actor: str | None = None,
    user_id: int | None = None,
    source_ip: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry (append-only: nothing in modelsync updates or deletes them)."""
    conn.execute(
        sa.insert(audit_log).values(
            created_at=now,
            actor=actor,
            user_id=user_id,
            source_ip=source_ip,
            action=action,
            target=target,
            outcome=outcome,
            details=details,
        )
    )


def write_events(
    conn: Connection, run_id: int | None, events: Sequence[tuple[str, str | None, str | None, str]], now: datetime
) -> None:
    """Append change events (kind, provider, model id, payload as JSON text), in order: COPY on PostgreSQL."""
    columns = ("run_id", "kind", "provider", "model_id", "payload", "created_at")
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, "webhook_event", columns, [(run_id, *event, now) for event in events])
    else:
        stamp = utc_text(now)
        sql = f"INSERT INTO webhook_event ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, [(run_id, *event, stamp) for event in events])


def run_history(conn: Connection, run_id: int, size: int) -> Iterator[list[tuple[int, str, str, str, Any]]]:
    """A run's history rows in pages of `size`, oldest first: (id, kind, provider, model id, changes decoded)."""
    # One query read as it goes (a server-side cursor on PostgreSQL), never the whole history of a large first sync
    # in memory; raw driver rows with the JSON as text, decoded by orjson (as load_snapshot reads the manual column).
    changes = "changes::text" if conn.dialect.name == "postgresql" else "changes"
    result = conn.exec_driver_sql(
        f"SELECT id, kind, provider, model_id, {changes} FROM model_change WHERE run_id = {placeholder(conn)} "
        "ORDER BY id",
        (run_id,),
        execution_options={"stream_results": True, "max_row_buffer": size},
    )
    for rows in result.partitions(size):
        yield [(pk, kind, provider, model_id, orjson.loads(text)) for pk, kind, provider, model_id, text in rows]
