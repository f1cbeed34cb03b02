"""Diff: stored snapshot vs merged records -> typed changes. Pure.

Rules:
- Classification is by fingerprint first (cheap: only `content_hash` and lifecycle columns are read for every
  stored model); field-by-field differences are computed only for the rows whose fingerprint moved.
- created: not stored yet. updated: some synced field differs. deprecated: was active, now deprecated (the
  provider said so, or it vanished from an authoritative listing). reactivated: was deprecated, now active.
- A vanished model is never deleted: it keeps every value and only gains status=deprecated and deprecated_at.
- Candidates (`verify.py`) are part of the fingerprint but not of the diff: a change to them alone is stored
  (with the hash repair) without a history row, since no value a reader sees has moved.
- `deprecated_at` is set once, when a model first becomes deprecated, unless a source states the date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelsync.changes import Change, ChangeKind, SnapshotRow, field_changes
from modelsync.records import SYNCED_FIELDS, ModelRecord, canonical_row, fingerprint_row

SYNC = "sync"
DISAPPEARED = "disappeared"


@dataclass(slots=True)
class Classified:
    """First pass of the diff: what is new, what may have changed, what vanished."""

    created: list[ModelRecord] = field(default_factory=list)
    candidates: list[tuple[ModelRecord, SnapshotRow]] = field(default_factory=list)
    vanished: list[tuple[str, SnapshotRow]] = field(default_factory=list)
    unchanged: int = 0


def settle_lifecycle(record: ModelRecord, stored: SnapshotRow | None, now: datetime) -> None:
    """Fill `deprecated_at` from the source, the stored row or `now`, then fingerprint the record."""
    values = record.values
    provenance = values["provenance"]
    if values["status"] == "deprecated":
        if values.get("deprecated_at") is None:
            if stored is not None and stored.status == "deprecated" and stored.deprecated_at is not None:
                values["deprecated_at"] = stored.deprecated_at
            else:
                values["deprecated_at"] = now
            provenance["deprecated_at"] = SYNC
    else:
        values["deprecated_at"] = None
        provenance.pop("deprecated_at", None)
    record.canonical = canonical_row(values)
    record.fingerprint = fingerprint_row(record.canonical, record.extra, record.candidates)


def classify(
    records: Iterable[ModelRecord], snapshot: Mapping[str, SnapshotRow], now: datetime, authoritative: bool = True
) -> Classified:
    """Sort merged records against the stored snapshot; with an authoritative listing, absent ids have vanished."""
    result = Classified()
    seen: set[str] = set()
    for record in records:
        stored = snapshot.get(record.model_id)
        seen.add(record.model_id)
        settle_lifecycle(record, stored, now)
        if stored is None:
            result.created.append(record)
        elif stored.content_hash != record.fingerprint:
            result.candidates.append((record, stored))
        else:
            result.unchanged += 1
    if authoritative:
        for model_id, stored in snapshot.items():
            if model_id not in seen and stored.status == "active":
                result.vanished.append((model_id, stored))
    return result


def vanished(snapshot: Mapping[str, SnapshotRow], listed: set[str]) -> list[tuple[str, SnapshotRow]]:
    """Active stored models an authoritative listing no longer lists."""
    return [
        (model_id, stored)
        for model_id, stored in snapshot.items()
        if model_id not in listed and stored.status == "active"
    ]


def describe_created(record: ModelRecord) -> Change:
    """Build the change for a model stored for the first time (its history is read off the canonical row)."""
    return Change("created", record.provider, record.model_id, record.canonical, record.fingerprint, None, None,
                  record.extra, candidates=record.candidates)  # fmt: skip


def describe_update(record: ModelRecord, stored: SnapshotRow, old: Mapping[str, Any]) -> Change | None:
    """Build the change for a stored model whose fingerprint moved; None when no field really differs."""
    changes = field_changes(old, record.values)
    if (old.get("extra") or None) != (record.extra or None):
        changes["extra"] = (old.get("extra"), record.extra)
    if not changes:
        return None
    kind: ChangeKind = "updated"
    if old.get("status") == "active" and record.values["status"] == "deprecated":
        kind = "deprecated"
    elif old.get("status") == "deprecated" and record.values["status"] == "active":
        kind = "reactivated"
    return Change(kind, record.provider, record.model_id, record.canonical, record.fingerprint, changes, stored.pk,
                  record.extra, candidates=record.candidates)  # fmt: skip


def describe_vanished(
    provider: str, model_id: str, stored: SnapshotRow, old: Mapping[str, Any], now: datetime
) -> Change:
    """Build the change for an active model missing from an authoritative listing: deprecated, nothing lost."""
    values = {name: old.get(name) for name in SYNCED_FIELDS}
    provenance = dict(values.get("provenance") or {})
    provenance["status"] = DISAPPEARED
    provenance["deprecated_at"] = SYNC
    values.update(status="deprecated", deprecated_at=now, provenance=provenance)
    changes = field_changes(old, values)
    canonical = canonical_row(values)
    extra, candidates = old.get("extra"), old.get("candidates")
    return Change("deprecated", provider, model_id, canonical, fingerprint_row(canonical, extra, candidates), changes,
                  stored.pk, extra, seen=False, candidates=candidates)  # fmt: skip
