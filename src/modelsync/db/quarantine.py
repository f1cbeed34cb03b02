"""Reads and writes of the quarantine table for the sync (the admin's side is services/quarantine.py).

Rules: values are stored as canonical JSON text (`records.json_text`), so `null` (no value) is a value and two
equal proposals compare equal as text; callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.db.tables import quarantine
from modelsync.records import json_text
from modelsync.sync.quarantine import PENDING, REJECTED, Open

# {model_id: {field: entry}}
Entries = dict[str, dict[str, Open]]


def load_open(conn: Connection, provider: str) -> tuple[Entries, Entries]:
    """A provider's pending entries and, per model and field, the latest rejected one."""
    query = (
        sa.select(quarantine.c.id, quarantine.c.model_id, quarantine.c.field, quarantine.c.proposed_value,
                  quarantine.c.status, quarantine.c.evidence)
        .where(quarantine.c.provider == provider, quarantine.c.status.in_((PENDING, REJECTED)))
        .order_by(quarantine.c.id)
    )  # fmt: skip
    pending: Entries = {}
    rejected: Entries = {}
    for pk, model_id, field, proposed, status, evidence in conn.execute(query):
        target = pending if status == PENDING else rejected
        rule = str((evidence or {}).get("rule") or "")
        target.setdefault(model_id, {})[field] = Open(pk, field, orjson.loads(proposed), status, rule)
    return pending, rejected


def insert_entries(
    conn: Connection, provider: str, entries: Sequence[Mapping[str, Any]], run_id: int | None, now: datetime
) -> None:
    """Store new entries: each a mapping of model_id, field, old, new, evidence and status."""
    if not entries:
        return
    rows = [
        {
            "provider": provider,
            "model_id": entry["model_id"],
            "field": entry["field"],
            "old_value": json_text(entry["old"]),
            "proposed_value": json_text(entry["new"]),
            "evidence": orjson.loads(json_text(entry["evidence"])),
            "status": entry["status"],
            "run_id": run_id,
            "created_at": now,
            "decided_at": None if entry["status"] == PENDING else now,
            "decided_by": entry.get("decided_by"),
        }
        for entry in entries
    ]
    conn.execute(sa.insert(quarantine), rows)


def close_entries(conn: Connection, closed: Sequence[tuple[int, str]], actor: str, now: datetime) -> None:
    """Close open entries with their new status (superseded, withdrawn, confirmed), decided by `actor`."""
    if closed:
        conn.execute(
            sa.update(quarantine)
            .where(quarantine.c.id == sa.bindparam("pk"), quarantine.c.status == PENDING)
            .values(status=sa.bindparam("s"), decided_at=now, decided_by=actor),
            [{"pk": pk, "s": status} for pk, status in closed],
        )
