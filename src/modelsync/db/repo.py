"""Queries and the bulk write path. Never commits: callers own the transaction.

Rules:
- Only changed rows are written, in bulk: `executemany` of one prepared statement on SQLite; COPY into a
  staging table and one INSERT plus one UPDATE on PostgreSQL.
- The bulk path skips SQLAlchemy's per-value processors for speed: it writes each record's canonical row
  (records.canonical_row), which is exactly how `types.py` stores values on SQLite (money and dates as text,
  naive-UTC timestamps, JSON text) and text PostgreSQL's COPY parses into the typed columns.
- A sync never writes the `manual` column: admin decisions are only written by `set_manual`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.db.tables import ai_model, audit_log, model_change, provider_state, sync_lease, sync_run
from modelsync.db.types import UTCDateTime
from modelsync.records import SYNCED_FIELDS, json_text, utc_text
from modelsync.sync.diff import Change, SnapshotRow

# Columns the bulk path writes for each changed model, after (provider, model_id).
_WRITE_COLUMNS = (*SYNCED_FIELDS, "extra", "content_hash", "last_verified", "updated_at")
_DEPRECATED_AT = SYNCED_FIELDS.index("deprecated_at")
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
    placeholder = "?" if conn.dialect.name == "sqlite" else "%s"
    cursor = conn.exec_driver_sql(
        "SELECT model_id, id, content_hash, status, deprecated_at, manual FROM ai_model "
        f"WHERE provider = {placeholder}",
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
            manual[model_id] = orjson.loads(decisions) if isinstance(decisions, str) else decisions
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


def model_pks(conn: Connection, provider: str) -> dict[str, int]:
    """Return model id -> primary key for one provider."""
    query = sa.select(ai_model.c.model_id, ai_model.c.id).where(ai_model.c.provider == provider)
    return {model_id: pk for model_id, pk in conn.execute(query)}


def load_provider_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return the last good listing of every provider: listing kind, model count, when verified."""
    return {row["provider"]: dict(row) for row in conn.execute(sa.select(provider_state)).mappings()}


# --- the bulk write path -----------------------------------------------------------------------------------------


def write_models(conn: Connection, changes: Sequence[Change], now: datetime) -> dict[tuple[str, str], int]:
    """Insert created and update changed models in bulk; return (provider, model_id) -> pk for every change."""
    created = [change for change in changes if change.pk is None]
    updated = [change for change in changes if change.pk is not None]
    if conn.dialect.name == "postgresql":
        _write_models_postgres(conn, created, updated, now)
    else:
        _write_models_sqlite(conn, created, updated, now)
    pks = {(change.provider, change.model_id): change.pk for change in updated if change.pk is not None}
    for provider in {change.provider for change in created}:
        stored = model_pks(conn, provider)
        for change in created:
            if change.provider == provider:
                pks[(provider, change.model_id)] = stored[change.model_id]
    return pks


def _row_values(change: Change, now: Any) -> tuple[Any, ...]:
    # The canonical row is already in the form SQLite stores (see records.canonical_row).
    return (*change.canonical, _dumps(change.extra), change.fingerprint, now, now)


def _write_models_sqlite(conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime) -> None:
    stamp = utc_text(now)
    if created:
        columns = ("provider", "model_id", *_WRITE_COLUMNS, "created_at")
        sql = f"INSERT INTO ai_model ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, [(c.provider, c.model_id, *_row_values(c, stamp), stamp) for c in created])
    if updated:
        assignments = ", ".join(f"{name} = ?" for name in _WRITE_COLUMNS)
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
    deprecated_at = row[3 + _DEPRECATED_AT]
    if deprecated_at is not None:
        # Canonical timestamps are naive UTC text; PostgreSQL would read that in the session's time zone.
        row[3 + _DEPRECATED_AT] = deprecated_at + "+00:00"
    return row


def _write_models_postgres(
    conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime
) -> None:
    columns = ("id", "provider", "model_id", *_WRITE_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS _ms_stage AS SELECT {', '.join(columns)} FROM ai_model WITH NO DATA"
    )
    conn.exec_driver_sql("TRUNCATE _ms_stage")
    _copy_rows(conn, "_ms_stage", columns, (_postgres_row(c, now) for c in (*created, *updated)))
    insert_columns = ", ".join(columns[1:])
    if created:
        conn.exec_driver_sql(
            f"INSERT INTO ai_model ({insert_columns}, created_at) "
            f"SELECT {insert_columns}, updated_at FROM _ms_stage WHERE id IS NULL"
        )
    if updated:
        assignments = ", ".join(f"{name} = s.{name}" for name in _WRITE_COLUMNS)
        conn.exec_driver_sql(f"UPDATE ai_model AS m SET {assignments} FROM _ms_stage AS s WHERE m.id = s.id")


def write_history(
    conn: Connection,
    changes: Sequence[Change],
    pks: Mapping[tuple[str, str], int],
    run_id: int | None,
    actor: str | None,
    now: datetime,
) -> None:
    """Append one history row per change, holding the old and new value of each changed field."""
    if not changes:
        return
    columns = ("run_id", "model_pk", "provider", "model_id", "kind", "changes", "actor", "created_at")
    stamp: Any = now if conn.dialect.name == "postgresql" else utc_text(now)
    rows = [
        (run_id, pks[(c.provider, c.model_id)], c.provider, c.model_id, c.kind, _dumps(c.changes), actor, stamp)
        for c in changes
    ]
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, "model_change", columns, rows)
    else:
        sql = f"INSERT INTO model_change ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, rows)


def write_hash_repairs(conn: Connection, repairs: Sequence[tuple[int, str]]) -> None:
    """Store recomputed fingerprints for rows whose data did not change (no history, no updated_at move)."""
    if repairs:
        conn.execute(
            sa.update(ai_model).where(ai_model.c.id == sa.bindparam("pk")).values(content_hash=sa.bindparam("h")),
            [{"pk": pk, "h": digest} for pk, digest in repairs],
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
    """Close a sync run with its outcome and summary."""
    conn.execute(
        sa.update(sync_run).where(sync_run.c.id == run_id).values(status=status, summary=summary, finished_at=now)
    )


def take_lease(conn: Connection, run_id: int, holder: str, now: datetime, expires_at: datetime) -> bool:
    """Take the sync lease for a run unless a live one exists; return whether it was taken."""
    conn.execute(sa.delete(sync_lease).where(sync_lease.c.name == "sync", sync_lease.c.expires_at < now))
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(sync_lease)
        .values(name="sync", run_id=run_id, holder=holder, acquired_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(sync_lease.c.run_id)
    )
    # RETURNING, not rowcount: drivers report -1 for an INSERT .. ON CONFLICT DO NOTHING that inserted a row.
    return conn.execute(statement).scalar_one_or_none() is not None


def lease_holder(conn: Connection) -> int | None:
    """Return the run id holding the sync lease, if any."""
    return conn.execute(sa.select(sync_lease.c.run_id).where(sync_lease.c.name == "sync")).scalar_one_or_none()


def live_lease_holder(conn: Connection, now: datetime) -> int | None:
    """Return the run id holding an unexpired sync lease, if any (a plain read: never waits for a writer)."""
    query = sa.select(sync_lease.c.run_id).where(sync_lease.c.name == "sync", sync_lease.c.expires_at >= now)
    return conn.execute(query).scalar_one_or_none()


def release_lease(conn: Connection, run_id: int) -> None:
    """Release the sync lease held by a run."""
    conn.execute(sa.delete(sync_lease).where(sync_lease.c.name == "sync", sync_lease.c.run_id == run_id))


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


def set_manual(
    conn: Connection, pk: int, manual: dict[str, Any], values: Mapping[str, Any], content_hash: str, now: datetime
) -> None:
    """Store an admin decision: the pinned values, the fields they change and the new fingerprint."""
    conn.execute(
        sa.update(ai_model)
        .where(ai_model.c.id == pk)
        .values(manual=manual or None, content_hash=content_hash, updated_at=now, **values)
    )


def insert_manual_change(
    conn: Connection,
    pk: int,
    provider: str,
    model_id: str,
    changes: dict[str, list[Any]],
    actor: str | None,
    now: datetime,
) -> None:
    """Append the history row of an admin decision."""
    conn.execute(
        sa.insert(model_change).values(
            run_id=None,
            model_pk=pk,
            provider=provider,
            model_id=model_id,
            kind="manual",
            changes=changes,
            actor=actor,
            created_at=now,
        )
    )
