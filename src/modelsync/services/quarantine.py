"""The quarantine's admin side: list the changes a sync held, approve one (applied, history + audit) or reject it.

Rules:
- Approving writes the held value to the model as the sync would have (tier and tags follow), with a history row
  whose actor is the admin and an audit entry, in one transaction. It is not a decision: the value is the sources'
  own, so the next sync proposes the same value, finds it stored and changes nothing; a later source change is
  judged as usual.
- Rejecting keeps the stored value and audits it; a later sync that proposes the same value holds it silently,
  another value opens a new entry (sync/quarantine.py `settle`).
- Only a pending entry can be decided: an unknown id is NotFoundError (404), a decided one StateConflictError (409),
  and so is approving a change to a field an admin decision pins (the decision would win at the next sync).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.changes import Change, field_changes, history_fields
from modelsync.db import repo
from modelsync.db.dialect import write_transaction
from modelsync.db.tables import ai_model, quarantine
from modelsync.errors import NotFoundError, StateConflictError, UsageError
from modelsync.fieldspec import BY_NAME, PRICE_LIST, json_name
from modelsync.records import SYNCED_FIELDS, canonical_row, fingerprint_row, utc_now
from modelsync.settings import Settings
from modelsync.sync import quarantine as judge
from modelsync.sync.policy import reprice_policy

# `--status` / `?status=`: one status, or every entry.
ALL = "all"
STATUS_CHOICES = (*judge.STATUSES, ALL)


def shown_field(name: str) -> str:
    """A quarantine field as the API names it: a record field's JSON name, a price component's own name."""
    return json_name(name) if name in BY_NAME else name


def entry_view(row: Any) -> dict[str, Any]:
    """One entry in the API's shape."""
    return {
        "id": row["id"],
        "provider": row["provider"],
        "model": row["model_id"],
        "field": shown_field(row["field"]),
        "old": orjson.loads(row["old_value"]),
        "proposed": orjson.loads(row["proposed_value"]),
        "status": row["status"],
        "evidence": row["evidence"],
        "runId": row["run_id"],
        "createdAt": row["created_at"].isoformat(),
        "decidedAt": row["decided_at"].isoformat() if row["decided_at"] else None,
        "decidedBy": row["decided_by"],
    }


def list_entries(
    engine: Engine, status: str = judge.PENDING, provider: str | None = None, model_id: str | None = None
) -> list[dict[str, Any]]:
    """Entries of one status (pending by default) or all, oldest first; of one provider or one model if given."""
    if status not in STATUS_CHOICES:
        raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUS_CHOICES)}.")
    query = sa.select(quarantine).order_by(quarantine.c.id)
    if status != ALL:
        query = query.where(quarantine.c.status == status)
    if provider:
        query = query.where(quarantine.c.provider == provider.lower())
    if model_id is not None:
        query = query.where(quarantine.c.model_id == model_id)
    with engine.connect() as conn:
        return [entry_view(row) for row in conn.execute(query).mappings()]


def held_in_run(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The entries a run opened that are still pending, in the API's shape (the webhooks' `quarantined` events)."""
    query = (
        sa.select(quarantine)
        .where(quarantine.c.run_id == run_id, quarantine.c.status == judge.PENDING)
        .order_by(quarantine.c.id)
    )
    return [entry_view(row) for row in conn.execute(query).mappings()]


def count_pending(engine: Engine) -> int:
    """How many entries await an admin's decision (the web UI's nav count)."""
    query = sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.status == judge.PENDING)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _pending_entry(conn: Connection, entry_id: int) -> dict[str, Any]:
    query = sa.select(quarantine).where(quarantine.c.id == entry_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(f"no quarantine entry {entry_id}; `modelsync quarantine --status all` lists them.")
    if row["status"] != judge.PENDING:
        decided = f" by {row['decided_by']}" if row["decided_by"] else ""
        raise StateConflictError(
            f"quarantine entry {entry_id} is {row['status']}{decided}, not pending: only a pending entry can be "
            "approved or rejected."
        )
    return dict(row)


def _close(conn: Connection, entry_id: int, status: str, actor: str | None, now: Any) -> None:
    conn.execute(
        sa.update(quarantine)
        .where(quarantine.c.id == entry_id)
        .values(status=status, decided_at=now, decided_by=actor or "unknown")
    )


def _pinned_by(field_name: str, manual: dict[str, Any]) -> str | None:
    """The admin decision that pins what an entry would change, if any (a decision always wins over a sync)."""
    if field_name == judge.CONTEXT:
        return judge.CONTEXT if judge.CONTEXT in manual else None
    names = [PRICE_LIST] if field_name == PRICE_LIST else [field_name, PRICE_LIST]
    return next((name for name in names if name in manual), None)


def _apply(conn: Connection, settings: Settings, entry: dict[str, Any], actor: str | None, now: Any) -> dict[str, Any]:
    """Write an entry's proposal to its model (history row by `actor`); return the {field: [old, new]} it changed."""
    query = sa.select(ai_model).where(
        ai_model.c.provider == entry["provider"], ai_model.c.model_id == entry["model_id"]
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.execute(query).mappings().first()
    if found is None:
        raise NotFoundError(f"the model {entry['provider']}/{entry['model_id']} of entry {entry['id']} is not stored.")
    row = dict(found)
    pinned = _pinned_by(entry["field"], row["manual"] or {})
    if pinned is not None:
        raise StateConflictError(
            f"{json_name(pinned)} of {entry['provider']}/{entry['model_id']} is pinned by an admin decision, which "
            "every sync keeps: clear that decision first, or reject this entry."
        )
    values = {name: row[name] for name in SYNCED_FIELDS}
    values["provenance"] = dict(values["provenance"] or {})
    evidence = entry["evidence"] or {}
    judge.apply(values, entry["field"], evidence.get("proposal"), evidence.get("source"), evidence.get("pricesSource"))
    reprice_policy(row["model_id"], values, settings.policy, "latest" in (row["tags"] or []))
    changes = field_changes(row, values)
    if not changes:
        return {}
    canonical, extra = canonical_row(values), row["extra"]
    digest = fingerprint_row(canonical, extra, row["candidates"])
    change = Change("updated", row["provider"], row["model_id"], canonical, digest, changes, row["id"], extra,
                    seen=False, candidates=row["candidates"])  # fmt: skip
    repo.write_models(conn, [change], run_id=None, actor=actor, now=now)
    return history_fields(change)


def decide(
    engine: Engine,
    settings: Settings,
    entry_id: int,
    approve: bool,
    actor: str | None,
    source_ip: str | None = None,
    user_id: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Approve (apply) or reject a pending entry, audited; return the entry as it now is, with what changed."""
    now = utc_now()
    status = judge.APPROVED if approve else judge.REJECTED
    with write_transaction(engine, settings.write_wait) as conn:
        entry = _pending_entry(conn, entry_id)
        history = _apply(conn, settings, entry, actor, now) if approve else {}
        _close(conn, entry_id, status, actor, now)
        details: dict[str, Any] = {
            "id": entry_id,
            "field": shown_field(entry["field"]),
            "old": orjson.loads(entry["old_value"]),
            "proposed": orjson.loads(entry["proposed_value"]),
            "rule": (entry["evidence"] or {}).get("rule"),
            "changes": {json_name(name): diff for name, diff in history.items()},
        }
        if reason:
            details["reason"] = reason
        repo.append_audit(
            conn,
            action=f"quarantine.{'approve' if approve else 'reject'}",
            outcome="ok",
            now=now,
            actor=actor,
            user_id=user_id,
            source_ip=source_ip,
            target=f"{entry['provider']}/{entry['model_id']}",
            details=details,
        )
        row = conn.execute(sa.select(quarantine).where(quarantine.c.id == entry_id)).mappings().one()
        return {**entry_view(row), "changes": details["changes"]}
