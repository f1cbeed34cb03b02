"""Queries and the bulk write path. Never commits: callers own the transaction.

Rules:
- Only changed rows are written, in bulk: `executemany` of one prepared statement on SQLite; COPY into a
  staging table and one INSERT plus one UPDATE on PostgreSQL.
- The bulk path skips SQLAlchemy's per-value processors for speed, so it encodes values itself exactly as
  `types.py` does (money as canonical text on SQLite, UTC timestamps, JSON text).
- A sync never writes the `manual` column: admin decisions are only written by `set_manual`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.db.tables import ai_model, audit_log, model_change, provider_state, sync_lease, sync_run
from modelsync.db.types import encode_utc
from modelsync.records import PRICE_FIELDS, SYNCED_FIELDS, money_text
from modelsync.sync.diff import Change, SnapshotRow, history_changes

_JSON_FIELDS = frozenset({"capabilities", "modalities_in", "modalities_out", "tags", "provenance", "extra"})
# Columns the bulk path writes for each changed model, after (provider, model_id).
_WRITE_COLUMNS = (*SYNCED_FIELDS, "extra", "content_hash", "last_verified", "updated_at")
_CHUNK = 5000


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _sqlite_encoders() -> dict[str, Callable[[Any], Any]]:
    encoders: dict[str, Callable[[Any], Any]] = {name: _dumps for name in _JSON_FIELDS}
    encoders.update({name: money_text for name in PRICE_FIELDS})
    encoders.update(deprecated_at=encode_utc, last_verified=encode_utc, updated_at=encode_utc, created_at=encode_utc)
    encoders["shutdown_date"] = date.isoformat
    return encoders


_ENCODERS = {"sqlite": _sqlite_encoders(), "postgresql": {name: _dumps for name in _JSON_FIELDS}}


def _encoder_for(dialect: str) -> Callable[[Sequence[str], Sequence[Any]], tuple[Any, ...]]:
    encoders = _ENCODERS[dialect]

    def encode(columns: Sequence[str], values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            encoders[name](value) if value is not None and name in encoders else value
            for name, value in zip(columns, values, strict=True)
        )

    return encode


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- reads -------------------------------------------------------------------------------------------------------


def load_snapshot(conn: Connection, provider: str) -> tuple[dict[str, SnapshotRow], dict[str, dict[str, Any]]]:
    """Return the provider's stored models for classification, and the admin decisions by model id."""
    query = sa.select(
        ai_model.c.model_id,
        ai_model.c.id,
        ai_model.c.content_hash,
        ai_model.c.status,
        ai_model.c.deprecated_at,
        ai_model.c.manual,
    ).where(ai_model.c.provider == provider)
    snapshot: dict[str, SnapshotRow] = {}
    manual: dict[str, dict[str, Any]] = {}
    for model_id, pk, content_hash, status, deprecated_at, decisions in conn.execute(query):
        snapshot[model_id] = SnapshotRow(pk, content_hash, status, deprecated_at)
        if decisions:
            manual[model_id] = decisions
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


def _row_values(change: Change, now: datetime) -> list[Any]:
    values = change.values
    return [*(values.get(name) for name in SYNCED_FIELDS), change.extra, change.fingerprint, now, now]


def _write_models_sqlite(conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime) -> None:
    encode = _encoder_for("sqlite")
    if created:
        columns = ("provider", "model_id", *_WRITE_COLUMNS, "created_at")
        sql = f"INSERT INTO ai_model ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(
            sql,
            [encode(columns, (c.provider, c.model_id, *_row_values(c, now), now)) for c in created],
        )
    if updated:
        columns = (*_WRITE_COLUMNS, "id")
        assignments = ", ".join(f"{name} = ?" for name in _WRITE_COLUMNS)
        conn.exec_driver_sql(
            f"UPDATE ai_model SET {assignments} WHERE id = ?",
            [encode(columns, (*_row_values(c, now), c.pk)) for c in updated],
        )


def _copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _write_models_postgres(
    conn: Connection, created: Sequence[Change], updated: Sequence[Change], now: datetime
) -> None:
    encode = _encoder_for("postgresql")
    columns = ("id", "provider", "model_id", *_WRITE_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS _ms_stage AS SELECT {', '.join(columns)} FROM ai_model WITH NO DATA"
    )
    conn.exec_driver_sql("TRUNCATE _ms_stage")
    _copy_rows(
        conn,
        "_ms_stage",
        columns,
        (encode(columns, (c.pk, c.provider, c.model_id, *_row_values(c, now))) for c in (*created, *updated)),
    )
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
    rows = (
        (run_id, pks[(c.provider, c.model_id)], c.provider, c.model_id, c.kind, _dumps(history_changes(c)), actor, now)
        for c in changes
    )
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, "model_change", columns, rows)
    else:
        encode = _encoder_for("sqlite")
        sql = f"INSERT INTO model_change ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, [encode(columns, row) for row in rows])


def write_hash_repairs(conn: Connection, repairs: Sequence[tuple[int, str]]) -> None:
    """Store recomputed fingerprints for rows whose data did not change (no history, no updated_at move)."""
    if repairs:
        conn.execute(
            sa.update(ai_model).where(ai_model.c.id == sa.bindparam("pk")).values(content_hash=sa.bindparam("h")),
            [{"pk": pk, "h": digest} for pk, digest in repairs],
        )


def save_provider_state(
    conn: Connection, provider: str, listing: str, model_count: int, run_id: int | None, now: datetime
) -> None:
    """Record the provider's last good listing (the shrink gate compares against it)."""
    values = {"listing": listing, "model_count": model_count, "last_run_id": run_id, "verified_at": now}
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


def decimal_or_none(value: Any) -> Decimal | None:
    """Read a price kept as JSON text in the manual column."""
    return None if value is None else Decimal(str(value))
