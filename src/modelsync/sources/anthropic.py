"""Anthropic: `GET {base}/v1/models` (x-api-key + anthropic-version; paged by `limit`/`after_id`) -> SourceRecords.

Rules:
- Pages are followed with `after_id=<last_id>` while `has_more`; a page that says `has_more` without a new
  `last_id` is a broken listing (refused, not applied in part).
- Facts from the listing: `display_name`; `max_input_tokens` -> context_window; `max_tokens` ->
  max_output_tokens; `created_at` -> release_date; capabilities (each `{"supported": bool}` leaf is a stated
  fact, so False is kept): image_input -> vision, pdf_input -> pdf, structured_outputs -> json, thinking ->
  reasoning, batch, citations, code_execution, server_tools.web_search -> web_search.
- Lifecycle is authoritative: `lifecycle` deprecated or retired -> deprecated=True, active -> False;
  `deprecated_at` -> deprecated_at; `retires_at` -> shutdown_date. Retired models are not requested (the API
  leaves them out by default), so a model that retires disappears and is deprecated by the sync core.
- Extras: `lifecycle` and `line` (small and stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.fields import (
    ListingFormatError,
    compact,
    count,
    day,
    identity,
    moment,
    records_from_pages,
    text,
)
from modelsync.sources.http import ProviderSession

API_VERSION = "2023-06-01"
DEFAULT_PAGE_SIZE = 1000  # the API's maximum: the fewest round trips
MAX_PAGES = 10_000

# Anthropic capability -> modelsync capability.
_CAPABILITIES = {
    "image_input": "vision",
    "pdf_input": "pdf",
    "structured_outputs": "json",
    "thinking": "reasoning",
    "batch": "batch",
    "citations": "citations",
    "code_execution": "code_execution",
}


def auth(secret: str) -> dict[str, str]:
    """The x-api-key and API version headers."""
    return {"x-api-key": secret, "anthropic-version": API_VERSION}


def _supported(node: Any) -> bool | None:
    value = node.get("supported") if isinstance(node, dict) else None
    return value if isinstance(value, bool) else None


def capabilities(raw: Any) -> dict[str, bool]:
    """Map the listing's capability tree onto modelsync's capability names."""
    if not isinstance(raw, dict):
        return {}
    found = {name: _supported(raw.get(key)) for key, name in _CAPABILITIES.items()}
    tools = raw.get("server_tools")
    if isinstance(tools, dict):
        found["web_search"] = _supported(tools.get("web_search"))
    return {name: value for name, value in found.items() if value is not None}


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    model_id = identity(item, "id", where)
    lifecycle = text(item.get("lifecycle"))
    created = day(item.get("created_at"))
    fields: dict[str, Any] = {
        "display_name": text(item.get("display_name")),
        "context_window": count(item.get("max_input_tokens")),
        "max_output_tokens": count(item.get("max_tokens")),
        "capabilities": capabilities(item.get("capabilities")),
        "release_date": created.isoformat() if created else None,
        "deprecated": None if lifecycle is None else lifecycle in ("deprecated", "retired"),
        "deprecated_at": moment(item.get("deprecated_at")),
        "shutdown_date": day(item.get("retires_at")),
    }
    return SourceRecord(model_id, fields, compact({"lifecycle": lifecycle, "line": text(item.get("line"))}))


def normalize(pages: Iterable[Any]) -> dict[str, SourceRecord]:
    """Map listing pages (`{"data":[ModelInfo],"has_more",...}`) to records by exact id."""
    return records_from_pages(pages, "data", _record)


def next_cursor(page: Any, seen: set[str], number: int) -> str | None:
    """The `after_id` for the next page, None on the last page; a cursor that does not advance is an error."""
    if not isinstance(page, dict) or page.get("has_more") is not True:
        return None
    last = page.get("last_id")
    if not isinstance(last, str) or not last or last in seen:
        raise ListingFormatError(f"page {number} of the model listing says has_more but gives no new last_id")
    seen.add(last)
    return last


async def fetch(session: ProviderSession) -> dict[str, SourceRecord]:
    """Fetch every page of the listing, then normalize; any failed page fails the whole listing."""
    pages: list[Any] = []
    params: dict[str, Any] = {"limit": session.page_size(DEFAULT_PAGE_SIZE)}
    seen: set[str] = set()
    for number in range(1, MAX_PAGES + 1):
        what = "the model listing" if number == 1 else f"page {number} of the model listing"
        page = await session.http.get_json(session.url("v1/models"), params=params, what=what)
        pages.append(page)
        cursor = next_cursor(page, seen, number)
        if cursor is None:
            return normalize(pages)
        params = {**params, "after_id": cursor}
        session.progress(f"fetching page {number + 1}")
    raise ListingFormatError(f"the model listing did not end after {MAX_PAGES} pages")
