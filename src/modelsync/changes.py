"""Changes to stored models: what the sync core plans and storage writes, with their history. Pure.

Rules:
- A `Change` carries the whole row to store (its canonical form, see records.canonical_row) and, for an update,
  the old and new value of every field that moved. A created model's history is read off its canonical row, so
  planning a large first sync builds no second copy of every value.
- `kind` is what happened: created, updated, deprecated, reactivated (by a sync) or manual (an admin decision).
  Every stored change becomes exactly one history row (`history_json`), keyed by internal field names.
- `seen` says the model was in the listing this change comes from, which is what `last_verified` records; a model
  deprecated because it vanished, or changed by an admin, keeps its last sighting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import orjson

from modelsync import fieldspec
from modelsync.records import SYNCED_FIELDS, json_text, money_text

ChangeKind = Literal["created", "updated", "deprecated", "reactivated", "manual"]
CHANGE_KINDS: Final[tuple[str, ...]] = ("created", "updated", "deprecated", "reactivated", "manual")

_PROVENANCE = SYNCED_FIELDS.index("provenance")
_JSON_INDEXES: Final = frozenset(index for index, field in enumerate(fieldspec.FIELDS) if field.is_json)
_EMPTY_JSON: Final = frozenset({"[]", "{}"})
_TIMESTAMP_INDEXES: Final = frozenset(
    index for index, field in enumerate(fieldspec.FIELDS) if field.type is fieldspec.FieldType.TIMESTAMP
)


def _iso_timestamp(canonical: str) -> str:
    # Canonical timestamps are naive UTC text (what SQLite stores); history shows ISO 8601 with the offset.
    return datetime.fromisoformat(canonical).replace(tzinfo=UTC).isoformat()


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """The part of a stored model that classification needs."""

    pk: int
    content_hash: str
    status: str
    deprecated_at: datetime | None


@dataclass(slots=True)
class Change:
    """One model to write: its canonical row, its fingerprint and, for an update, the fields that moved."""

    kind: ChangeKind
    provider: str
    model_id: str
    canonical: tuple[Any, ...]
    fingerprint: str
    # {field: (old, new)} for updates; None for a created model (read off `canonical`).
    changes: dict[str, tuple[Any, Any]] | None = None
    pk: int | None = None
    extra: dict[str, Any] | None = None
    seen: bool = True
    # The admin decisions to store with a manual change (None = leave the stored decisions as they are).
    manual: dict[str, Any] | None = None
    # Every source's value of the prices and limits (bookkeeping; not in history).
    candidates: dict[str, Any] | None = None

    def fields(self) -> dict[str, tuple[Any, Any]]:
        """{field: (old, new)} of every field this change sets (JSON values for a created model)."""
        if self.changes is not None:
            return self.changes
        found: dict[str, tuple[Any, Any]] = {}
        for index, (name, value) in enumerate(zip(SYNCED_FIELDS, self.canonical, strict=True)):
            if value is None or index == _PROVENANCE or (index in _JSON_INDEXES and value in _EMPTY_JSON):
                continue
            if index in _JSON_INDEXES:
                value = orjson.loads(value)
            elif index in _TIMESTAMP_INDEXES:
                value = _iso_timestamp(value)
            found[name] = (None, value)
        return found


def _normal(value: Any) -> Any:
    # An empty list/dict and None both mean "nothing known" for JSON columns.
    if value in ([], {}, ()):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Return {field: (old, new)} for every synced field whose value differs."""
    return {
        name: (old.get(name), new.get(name))
        for name in SYNCED_FIELDS
        if _normal(old.get(name)) != _normal(new.get(name))
    }


def jsonable(value: Any) -> Any:
    """Render a field value for JSON (history rows, summaries): exact money as text, ISO dates."""
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def history_fields(change: Change) -> dict[str, list[Any]]:
    """A change's field diffs as {field: [old, new]} in JSON values, as history stores them."""
    return {name: [jsonable(old), jsonable(new)] for name, (old, new) in change.fields().items()}


# (name, is JSON text, is a timestamp) per canonical position: how a created model's history reads its row.
_HISTORY_PLAN: Final = tuple(
    (name, index in _JSON_INDEXES, index in _TIMESTAMP_INDEXES) for index, name in enumerate(SYNCED_FIELDS)
)


def history_json(change: Change) -> str:
    """The history row's JSON text for a change; a created model's is assembled from its canonical row."""
    if change.changes is not None:
        return json_text(history_fields(change))
    # JSON columns are already canonical JSON text: embedded as they are (orjson.Fragment), never parsed again.
    found: dict[str, tuple[None, Any]] = {}
    for (name, is_json, is_timestamp), value in zip(_HISTORY_PLAN, change.canonical, strict=True):
        if value is None or name == "provenance":
            continue
        if is_json:
            if value in _EMPTY_JSON:
                continue
            found[name] = (None, orjson.Fragment(value))
        elif is_timestamp:
            found[name] = (None, _iso_timestamp(value))
        else:
            found[name] = (None, value)
    return orjson.dumps(found).decode()
