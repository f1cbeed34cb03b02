"""Anthropic: `GET {base}/v1/models` (x-api-key + anthropic-version; paged by `limit`/`after_id`) -> SourceRecords.

Rules:
- Pages are followed by the page walker (`paging.AfterId`): `after_id=<last_id>` while `has_more`; a page that
  says `has_more` without a new `last_id` is a broken listing (refused, not applied in part).
- Facts from the listing: `display_name`; `max_input_tokens` -> context_window; `max_tokens` ->
  max_output_tokens; `created_at` -> release_date; capabilities (each `{"supported": bool}` leaf is a stated
  fact, so False is kept): image_input -> vision, pdf_input -> pdf, structured_outputs -> json, thinking ->
  reasoning, batch, citations, code_execution, server_tools.web_search -> web_search.
- Lifecycle is authoritative: `lifecycle` deprecated or retired -> deprecated=True, active -> False;
  `deprecated_at` -> deprecated_at; `retires_at` -> shutdown_date. Retired models are not requested (the API
  leaves them out by default), so a model that retires disappears and is deprecated by the sync core. A
  lifecycle value other than those three, or a date that does not read, is `Unreadable` (unknown, dropped with a
  warning), never "active".
- Extras: `lifecycle` and `line` (small and stable).
- Error quirk: a 429 whose `error.details.error_code` is `enforced_spend_limit_reached` is the organization's
  spend cap, which no retry lifts: it is a `spend_limit` failure, not a rate limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import (
    compact,
    count,
    day,
    identity,
    normalize_pages,
    page_records,
    read_day,
    read_moment,
    text,
)
from modelsync.sources.http import ProviderSession, Quirk
from modelsync.sources.listing import Listing, Unreadable
from modelsync.sources.paging import AfterId, walk

API_VERSION = "2023-06-01"
DEFAULT_PAGE_SIZE = 1000  # the API's maximum: the fewest round trips

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


_LIFECYCLES = {"active": False, "deprecated": True, "retired": True}


def _deprecated(lifecycle: Any) -> bool | Unreadable | None:
    if lifecycle is None or lifecycle == "":
        return None
    found = _LIFECYCLES.get(lifecycle.strip().lower()) if isinstance(lifecycle, str) else None
    return Unreadable(lifecycle, "not a known lifecycle") if found is None else found


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
    model_id = identity(item, "id")
    lifecycle = item.get("lifecycle")
    created = day(item.get("created_at"))
    fields: dict[str, Any] = {
        "display_name": text(item.get("display_name")),
        "context_window": count(item.get("max_input_tokens")),
        "max_output_tokens": count(item.get("max_tokens")),
        "capabilities": capabilities(item.get("capabilities")),
        "release_date": created.isoformat() if created else None,
        "deprecated": _deprecated(lifecycle),
        "deprecated_at": read_moment(item.get("deprecated_at")),
        "shutdown_date": read_day(item.get("retires_at")),
    }
    extra = compact({"lifecycle": text(lifecycle), "line": text(item.get("line"))})
    return SourceRecord(model_id, fields, extra)


def normalize_page(page: Any, number: int = 1) -> Listing:
    """Map one listing page (`{"data":[ModelInfo],"has_more",...}`) to records by exact id."""
    return page_records(page, "data", _record, number)


def normalize(pages: Iterable[Any]) -> Listing:
    """Map listing pages to records by exact id."""
    return normalize_pages(pages, normalize_page)


def pager(session: ProviderSession) -> AfterId:
    """The listing's paging: `limit` (the row's page size, else the API maximum), then `after_id`."""
    return AfterId(session.url("v1/models"), session.page_size(DEFAULT_PAGE_SIZE))


async def fetch(session: ProviderSession) -> Listing:
    """Fetch and normalize every page of the listing; any failed page fails the whole listing."""
    return await walk(session, pager(session), normalize_page)


def classify_error(status: int, payload: Any, detail: str) -> Quirk | None:
    """Anthropic's spend-limit 429 (never retried); None for every other response."""
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if status == 429 and isinstance(details, dict) and details.get("error_code") == "enforced_spend_limit_reached":
        return "spend_limit"
    return None


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize, classify_error=classify_error)
