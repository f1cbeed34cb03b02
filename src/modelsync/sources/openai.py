"""OpenAI: `GET {base}/models` (Bearer key; not paginated) -> SourceRecords.

Rules:
- Ids are exact. Fine-tuned ids `ft:<base>:<org>:<suffix>:<job>[:ckpt-step-N]` name their base model in
  `extra["base_model"]`, so the catalogs describe them with the base model's facts.
- `shutdown_date` is OpenAI's deprecation announcement: it is only set once a model is scheduled to shut down.
  A dated model is therefore `deprecated` from the day the date appears (with `shutdown_date` saying when it
  stops working), not from the shutdown day itself; this keeps normalize independent of the clock, so a
  model's status never flips on a sync where the listing did not change. A present but null `shutdown_date`
  says "not deprecated" (the listing is authoritative over the catalogs); an absent one says nothing, and so
  does one that cannot be read: it is `Unreadable` and no deprecation is stated either way (unknown, never
  "not deprecated", which would reactivate the model and erase its date).
- The listing has no limits, prices or capabilities: those come from the catalogs. `owned_by` and `created`
  (the model's creation time, stable) are kept in extras.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import compact, identity, read_day, records_from_pages, text
from modelsync.sources.http import ProviderSession, bearer
from modelsync.sources.listing import Listing, Unreadable

auth = bearer


def base_model(model_id: str) -> str | None:
    """The base model of a fine-tuned id (`ft:gpt-4o-mini-2024-07-18:acme::7XSv` -> gpt-4o-mini-2024-07-18)."""
    if not model_id.startswith("ft:"):
        return None
    return text(model_id.split(":")[1])


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    model_id = identity(item, "id")
    fields: dict[str, Any] = {}
    if "shutdown_date" in item:
        shutdown = read_day(item["shutdown_date"])
        fields["shutdown_date"] = shutdown
        if isinstance(shutdown, Unreadable):
            fields["deprecated"] = Unreadable(shutdown.value, "follows from a shutdown_date that is not a date")
        else:
            fields["deprecated"] = shutdown is not None
    created = item.get("created")
    extra = compact(
        {
            "base_model": base_model(model_id),
            "owned_by": text(item.get("owned_by")),
            "created": created if isinstance(created, int) and not isinstance(created, bool) else None,
        }
    )
    return SourceRecord(model_id, fields, extra)


def normalize(pages: Iterable[Any]) -> Listing:
    """Map listing pages (`{"object":"list","data":[Model]}`) to records by exact id."""
    return records_from_pages(pages, "data", _record)


async def fetch(session: ProviderSession) -> Listing:
    """Fetch and normalize the account's model listing."""
    page = await session.http.get_json(session.url("models"))
    return normalize([page])


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize)
