"""Live provider listings: fetch every selected provider's listing concurrently, each one isolated.

Rules: a provider without a key gets no live listing (the catalogs still apply); a failure becomes that
provider's `ListingResult.error` (a message that says what to do, never containing the key) and never stops
the other providers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelsync.records import SourceRecord
from modelsync.settings import Settings

Progress = Callable[[str | None, str], None]


@dataclass(slots=True)
class ListingResult:
    """One provider's live listing, or why there is none."""

    provider: str
    records: dict[str, SourceRecord] | None = None
    error: str | None = None
    skipped: str | None = None


def fetch_listings(settings: Settings, names: list[str], progress: Progress) -> dict[str, ListingResult]:
    """Fetch the live listing of every named provider that has a key (or needs none)."""
    results: dict[str, ListingResult] = {}
    for name in names:
        spec = settings.registry[name]
        if spec.needs_key and settings.api_key(name) is None:
            hint = f"set {spec.key_env[0]} to add the account's live listing" if spec.key_env else ""
            results[name] = ListingResult(name, skipped=f"catalog only; {hint}".rstrip("; "))
    return results
