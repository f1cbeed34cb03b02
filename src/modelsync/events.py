"""Change events: what a sync stored, turned into the events webhooks deliver, and how a batch is signed. Pure.

Rules:
- An event is derived from what a sync committed (its history rows, the scheduled prices it first saw, the
  conflicts and shutdown dates in the stored catalog, the outcome of each provider), never from what it planned.
- One history row gives at most: created | deprecated | reactivated | updated (fields other than provenance
  moved), plus price_changed when a flat price or a price component's amount moved (old and new of each).
- shutdown_soon fires once per model and threshold, ever (the caller remembers the keys it has sent): a model
  inside several thresholds at once gets one event, for the nearest, and the others count as sent.
- A conflict fires when it appears (its key was not open after the previous sync); a resolved conflict closes its
  key, so one that reappears fires again.
- A subscription's filters: its kinds (empty = all), its providers and models (empty = all); an event that names
  no provider or model (a whole run that failed) passes those filters, since it concerns every provider.
- The signature is hex HMAC-SHA256 over `f"{timestamp}.{body}"` with the subscription's secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, Final

from modelsync.fieldspec import PRICE_GROUP, PRICE_LIST, json_name

CREATED: Final = "created"
UPDATED: Final = "updated"
PRICE_CHANGED: Final = "price_changed"
PRICE_SCHEDULED: Final = "price_scheduled"
DEPRECATED: Final = "deprecated"
REACTIVATED: Final = "reactivated"
SHUTDOWN_SOON: Final = "shutdown_soon"
CONFLICT: Final = "conflict"
QUARANTINED: Final = "quarantined"
SYNC_FAILED: Final = "sync_failed"
EVENT_KINDS: Final[tuple[str, ...]] = (
    CREATED, UPDATED, PRICE_CHANGED, PRICE_SCHEDULED, DEPRECATED, REACTIVATED, SHUTDOWN_SOON, CONFLICT,
    QUARANTINED, SYNC_FAILED,
)  # fmt: skip

SIGNATURE_SCHEME: Final = "sha256"
# Fields whose change alone is bookkeeping, not news.
_QUIET_FIELDS: Final = frozenset({"provenance"})
_LIFECYCLE: Final = {CREATED: CREATED, "deprecated": DEPRECATED, "reactivated": REACTIVATED}


@dataclass(frozen=True, slots=True)
class Event:
    """One event to store: its kind, the provider and model it is about (None for a whole run), its data."""

    kind: str
    provider: str | None
    model_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)


# Field names are few and history rows many: the JSON name of each is looked up once.
_json = cache(json_name)


def _renamed(changes: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    return {
        _json(name): {"old": diff[0], "new": diff[1]} for name, diff in changes.items() if name not in _QUIET_FIELDS
    }


def _component_key(item: Mapping[str, Any]) -> tuple[str, bool, int]:
    return str(item.get("unit")), bool(item.get("batch")), int(item.get("above") or 0)


def component_changes(old: Sequence[Mapping[str, Any]] | None, new: Sequence[Mapping[str, Any]] | None) -> list[dict]:
    """Each price component whose amount moved (or appeared, or went): unit, batch, above, old and new USD."""
    before = {_component_key(item): item.get("usd") for item in old or ()}
    after = {_component_key(item): item.get("usd") for item in new or ()}
    found = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            unit, batch, above = key
            found.append({"unit": unit, "batch": batch, "above": above or None,
                          "old": before.get(key), "new": after.get(key)})  # fmt: skip
    return found


def price_changes(changes: Mapping[str, Sequence[Any]]) -> dict[str, Any] | None:
    """The price part of a history row's changes (flat fields and components, old and new), or None if none."""
    flat = {
        _json(name): {"old": diff[0], "new": diff[1]}
        for name, diff in changes.items()
        if name in PRICE_GROUP and name != PRICE_LIST and diff[0] != diff[1]
    }
    listed = changes.get(PRICE_LIST)
    components = component_changes(listed[0], listed[1]) if listed is not None else []
    if not flat and not components:
        return None
    return {"prices": flat, "components": components}


def history_events(rows: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Events of a run's history rows (`kind`, `provider`, `model_id`, `changes` as history stores them)."""
    events: list[Event] = []
    for row in rows:
        kind, provider, model_id = row["kind"], row["provider"], row["model_id"]
        changes: Mapping[str, Sequence[Any]] = row["changes"] or {}
        if kind in _LIFECYCLE:
            events.append(Event(_LIFECYCLE[kind], provider, model_id, {"changes": _renamed(changes)}))
        elif kind == "updated":
            moved = _renamed(changes)
            if moved:
                events.append(Event(UPDATED, provider, model_id, {"changes": moved}))
        if kind != CREATED:
            prices = price_changes(changes)
            if prices is not None:
                events.append(Event(PRICE_CHANGED, provider, model_id, prices))
    return events


def shutdown_key(provider: str, model_id: str, days: int) -> str:
    """The once-ever key of a model's shutdown_soon at one threshold."""
    return f"{days}:{provider}/{model_id}"


def shutdown_events(
    models: Iterable[tuple[str, str, date]], today: date, thresholds: Sequence[int], sent: set[str]
) -> tuple[list[Event], list[str]]:
    """shutdown_soon events for models whose shutdown date is within a threshold not yet sent, and the keys to mark."""
    events: list[Event] = []
    marks: list[str] = []
    for provider, model_id, shutdown in models:
        left = (shutdown - today).days
        if left < 0:
            continue
        crossed = [days for days in thresholds if left <= days]
        fresh = [days for days in crossed if shutdown_key(provider, model_id, days) not in sent]
        if not fresh:
            continue
        nearest = min(crossed)
        marks += [shutdown_key(provider, model_id, days) for days in fresh]
        if nearest in fresh:
            events.append(
                Event(SHUTDOWN_SOON, provider, model_id,
                      {"shutdownDate": shutdown.isoformat(), "daysLeft": left, "thresholdDays": nearest})
            )  # fmt: skip
    return events, marks


def conflict_key(conflict: Mapping[str, Any]) -> str:
    """The key of an open conflict: provider, model and field."""
    return f"{conflict['provider']}/{conflict['model']}#{conflict['field']}"


def conflict_events(conflicts: Iterable[Mapping[str, Any]], open_keys: set[str]) -> list[Event]:
    """Events for the conflicts (as services/conflicts.list_conflicts lists them) whose key was not open."""
    return [
        Event(CONFLICT, item["provider"], item["model"],
              {"field": item["field"], "stored": item["stored"], "candidates": item["candidates"]})
        for item in conflicts
        if conflict_key(item) not in open_keys
    ]  # fmt: skip


def quarantine_events(entries: Iterable[Mapping[str, Any]]) -> list[Event]:
    """quarantined events for held changes (entries as services/quarantine.entry_view shows them)."""
    return [
        Event(QUARANTINED, str(item["provider"]), str(item["model"]),
              {"id": item["id"], "field": item["field"], "old": item["old"], "proposed": item["proposed"],
               "rule": (item.get("evidence") or {}).get("rule"), "runId": item.get("runId")})
        for item in entries
    ]  # fmt: skip


def failure_events(run_id: int | None, outcomes: Iterable[Mapping[str, Any]]) -> list[Event]:
    """sync_failed events for providers that failed or were refused (outcomes as the report's dicts)."""
    return [
        Event(SYNC_FAILED, str(item["provider"]), None,
              {"runId": run_id, "status": item["status"], "message": item.get("message")})
        for item in outcomes
        if item.get("status") in ("failed", "refused")
    ]  # fmt: skip


def run_failed_event(run_id: int | None, reason: str) -> Event:
    """The sync_failed event of a run that failed as a whole (nothing it planned was applied)."""
    return Event(SYNC_FAILED, None, None, {"runId": run_id, "status": "failed", "message": reason})


def matches(
    kind: str,
    provider: str | None,
    model_id: str | None,
    kinds: Sequence[str],
    providers: Sequence[str],
    models: Sequence[str],
) -> bool:
    """Whether an event passes a subscription's filters (see the module's rules)."""
    if kinds and kind not in kinds:
        return False
    if providers and provider is not None and provider not in providers:
        return False
    if models and model_id is not None:
        return model_id in models or f"{provider}/{model_id}" in models
    return True


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of a body sent at `timestamp` (seconds since the epoch)."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether a signature header matches the body and timestamp (what a receiver does)."""
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
