"""Gates: refuse a listing that would damage stored data. Pure.

Rules: an empty listing is refused; a listing that shrank by more than half against the last good one is
refused unless forced (`--force` lifts this gate only); a listing that failed to parse or failed part-way is
refused by the fetch stage before it gets here. A refused provider changes nothing in the database.
"""

from __future__ import annotations

from dataclasses import dataclass

SHRINK_LIMIT = 0.5


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a provider's listing was not applied, and what to do about it."""

    reason: str
    forceable: bool


def check_listing(label: str, count: int, last_good_count: int | None, force: bool = False) -> Refusal | None:
    """Return a Refusal when the listing must not be applied, else None."""
    if count == 0:
        return Refusal(
            f"{label} returned an empty model list; nothing was changed. "
            "If the account really has no models, check its key and permissions.",
            forceable=False,
        )
    if last_good_count and count < last_good_count * SHRINK_LIMIT:
        if force:
            return None
        return Refusal(
            f"{label} listed {count} models, less than half of the {last_good_count} in the last good sync; "
            "nothing was changed. If the shrink is real, run again with --force.",
            forceable=True,
        )
    return None
