"""The outcome of a sync run: per provider and in total, as the CLI prints it and the API returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from modelsync.sync.diff import Change, history_changes

OutcomeStatus = Literal["ok", "skipped", "refused", "failed"]

EXIT_OK = 0
EXIT_REFUSED = 2
EXIT_PROVIDER_FAILED = 3


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
    changes: list[Change] = field(default_factory=list)
    # True when the inputs matched the last good sync and nothing was recomputed.
    inputs_unchanged: bool = False

    def count(self, changes: list[Change], unchanged: int) -> None:
        """Tally the changes planned for this provider."""
        self.changes = changes
        self.unchanged = unchanged
        for change in changes:
            setattr(self, change.kind, getattr(self, change.kind) + 1)

    @property
    def processed(self) -> int:
        """Models looked at: every change plus the unchanged ones."""
        return self.created + self.updated + self.unchanged + self.deprecated + self.reactivated

    def to_dict(self, with_changes: bool = False) -> dict[str, Any]:
        """Render as the JSON summary entry for this provider."""
        data: dict[str, Any] = {
            "provider": self.provider,
            "label": self.label,
            "status": self.status,
            "message": self.message,
            "listing": self.listing,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deprecated": self.deprecated,
            "reactivated": self.reactivated,
            "processed": self.processed,
            "notes": self.notes,
        }
        if with_changes:
            data["changes"] = [
                {"model": change.model_id, "kind": change.kind, "fields": history_changes(change)}
                for change in self.changes
            ]
        return data


@dataclass(slots=True)
class SyncReport:
    """The whole run."""

    run_id: int | None
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    outcomes: list[ProviderOutcome] = field(default_factory=list)

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

    def to_dict(self, with_changes: bool = False) -> dict[str, Any]:
        """Render the summary object `modelsync sync --json` prints and the API returns."""
        return {
            "runId": self.run_id,
            "dryRun": self.dry_run,
            "status": self.status,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "providers": {o.provider: o.to_dict(with_changes) for o in self.outcomes},
            "totals": {
                name: self.total(name)
                for name in ("created", "updated", "unchanged", "deprecated", "reactivated", "processed")
            },
        }
