"""The outcome of a sync run: per provider and in total, as the CLI prints it, the API returns it and storage keeps it.

Rules:
- A report keeps counts and a bounded sample of the changes (the first `SAMPLE_SIZE` per provider), never every
  change: a 100k-model sync must not hold 100k change objects after they are written.
- `to_dict` is the summary `modelsync sync --json` prints and the API returns (camelCase, field names as the API
  names them). `to_storage` is the shape a run keeps in `sync_run.summary`: versioned, snake_case, independent of
  the API, so the API can change without rewriting stored runs; `summary_from_storage` renders it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from modelsync.changes import Change, history_fields
from modelsync.fieldspec import json_name

OutcomeStatus = Literal["ok", "skipped", "refused", "failed"]

EXIT_OK = 0
EXIT_REFUSED = 2
EXIT_PROVIDER_FAILED = 3
SAMPLE_SIZE: Final = 500
COUNTERS: Final = ("created", "updated", "unchanged", "deprecated", "reactivated")
STORAGE_FORMAT: Final = 2


@dataclass(slots=True)
class ProviderOutcome:
    """What a sync did (or would do) for one provider."""

    provider: str
    label: str
    status: OutcomeStatus = "ok"
    message: str | None = None
    listing: str | None = None
    listed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deprecated: int = 0
    reactivated: int = 0
    notes: list[str] = field(default_factory=list)
    # Values the sources layer dropped while reading the listing (bounded lines) and how many there were.
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    # The first SAMPLE_SIZE changes, for dry runs and summaries; `changed` counts them all.
    sample: list[Change] = field(default_factory=list)
    # True when the inputs matched the last good sync and nothing was recomputed.
    inputs_unchanged: bool = False
    # Changes held by the quarantine (sync/quarantine.py) with a pending entry, and the first SAMPLE_SIZE of them.
    quarantined: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)

    def hold(self, model_id: str, field_name: str, old: Any, new: Any, rule: str) -> None:
        """Count one change held for an admin (and keep it while the sample has room)."""
        self.quarantined += 1
        if len(self.held) < SAMPLE_SIZE:
            self.held.append({"model": model_id, "field": field_name, "old": old, "new": new, "rule": rule})

    def add(self, change: Change) -> None:
        """Count one planned change (and keep it while the sample has room)."""
        setattr(self, change.kind, getattr(self, change.kind) + 1)
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append(change)

    @property
    def changed(self) -> int:
        """Every change counted."""
        return self.created + self.updated + self.deprecated + self.reactivated

    @property
    def processed(self) -> int:
        """Models looked at: every change plus the unchanged ones."""
        return self.changed + self.unchanged

    def to_dict(self, with_changes: bool = False) -> dict[str, Any]:
        """Render as the JSON summary entry for this provider."""
        data: dict[str, Any] = {
            "provider": self.provider,
            "label": self.label,
            "status": self.status,
            "message": self.message,
            "listing": self.listing,
            **{name: getattr(self, name) for name in COUNTERS},
            "processed": self.processed,
            "notes": self.notes,
            "warnings": self.warnings,
            "warningCount": self.warning_count,
            "quarantined": self.quarantined,
        }
        if with_changes:
            data["changes"] = [
                {
                    "model": change.model_id,
                    "kind": change.kind,
                    "fields": {json_name(name): diff for name, diff in history_fields(change).items()},
                }
                for change in self.sample
            ]
            data["changesOmitted"] = self.changed - len(self.sample)
            data["held"] = list(self.held)
        return data

    def to_storage(self) -> dict[str, Any]:
        """The shape a stored run keeps for this provider."""
        return {
            "provider": self.provider,
            "label": self.label,
            "status": self.status,
            "message": self.message,
            "listing": self.listing,
            "counts": {name: getattr(self, name) for name in COUNTERS},
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "warning_count": self.warning_count,
            "inputs_unchanged": self.inputs_unchanged,
            "quarantined": self.quarantined,
        }


@dataclass(slots=True)
class SyncReport:
    """The whole run."""

    run_id: int | None
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    outcomes: list[ProviderOutcome] = field(default_factory=list)
    # Per catalog, the copy the run read (feed or package, version, date, models) and its feed's fetch outcome.
    catalogs: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def total(self, name: str) -> int:
        """Sum one counter over all providers."""
        return sum(getattr(outcome, name) for outcome in self.outcomes)

    @property
    def status(self) -> str:
        """ok, partial (some provider failed or was refused) or failed (none succeeded)."""
        bad = [o for o in self.outcomes if o.status in ("failed", "refused")]
        if not bad:
            return "ok"
        return "failed" if len(bad) == len([o for o in self.outcomes if o.status != "skipped"]) else "partial"

    @property
    def exit_code(self) -> int:
        """0 ok, 3 when a provider failed, 2 when a gate refused one (and none failed)."""
        if any(outcome.status == "failed" for outcome in self.outcomes):
            return EXIT_PROVIDER_FAILED
        if any(outcome.status == "refused" for outcome in self.outcomes):
            return EXIT_REFUSED
        return EXIT_OK

    def totals(self) -> dict[str, int]:
        """Every counter summed over the providers, plus `processed` and `quarantined`."""
        return {name: self.total(name) for name in (*COUNTERS, "processed", "quarantined")}

    def to_dict(self, with_changes: bool = False) -> dict[str, Any]:
        """Render the summary object `modelsync sync --json` prints and the API returns."""
        return {
            "runId": self.run_id,
            "dryRun": self.dry_run,
            "status": self.status,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "providers": {o.provider: o.to_dict(with_changes) for o in self.outcomes},
            "totals": self.totals(),
            "catalogs": {name: dict(use) for name, use in self.catalogs.items()},
        }

    def to_storage(self) -> dict[str, Any]:
        """The summary as `sync_run.summary` keeps it."""
        return {
            "format": STORAGE_FORMAT,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "providers": [outcome.to_storage() for outcome in self.outcomes],
            "catalogs": {name: dict(use) for name, use in self.catalogs.items()},
        }


def summary_from_storage(stored: dict[str, Any] | None, run_id: int, dry_run: bool) -> dict[str, Any] | None:
    """Render a stored run summary in the API's shape (older runs stored that shape itself and pass through)."""
    if not stored or stored.get("format") != STORAGE_FORMAT:
        return stored
    providers: dict[str, Any] = {}
    totals = dict.fromkeys((*COUNTERS, "processed", "quarantined"), 0)
    for entry in stored.get("providers", []):
        counts = {name: int(entry.get("counts", {}).get(name, 0)) for name in COUNTERS}
        processed = sum(counts.values())
        providers[entry["provider"]] = {
            "provider": entry["provider"],
            "label": entry.get("label"),
            "status": entry.get("status"),
            "message": entry.get("message"),
            "listing": entry.get("listing"),
            **counts,
            "processed": processed,
            "notes": entry.get("notes", []),
            "warnings": entry.get("warnings", []),
            "warningCount": entry.get("warning_count", 0),
            "quarantined": int(entry.get("quarantined", 0)),
        }
        for name in COUNTERS:
            totals[name] += counts[name]
        totals["processed"] += processed
        totals["quarantined"] += int(entry.get("quarantined", 0))
    summary: dict[str, Any] = {
        "runId": run_id,
        "dryRun": dry_run,
        "status": stored.get("status"),
        "startedAt": stored.get("started_at"),
        "finishedAt": stored.get("finished_at"),
        "providers": providers,
        "totals": totals,
    }
    if "catalogs" in stored:
        summary["catalogs"] = stored["catalogs"]
    for key in ("reason", "runningRunId", "error"):
        if key in stored:
            summary[key] = stored[key]
    return summary
