"""Google Gemini: `GET {base}/v1beta/models` (x-goog-api-key; paged by `pageSize`/`pageToken`) -> SourceRecords.

Rules:
- The id is `name` without its `models/` prefix (what generateContent accepts). Pages are followed with the
  opaque `nextPageToken`, passed back verbatim, until it is absent; a token that repeats is a broken listing.
- Facts: `displayName`; `inputTokenLimit` -> context_window; `outputTokenLimit` -> max_output_tokens;
  `thinking: true` -> reasoning (the field is only sent when true, so its absence is unknown, not False);
  batch from `batchGenerateContent`/`asyncBatchEmbedContent` (the method list is complete, so its absence is a
  stated False).
- Kind from the generation methods, when they are decisive: embedContent -> embedding, predict -> image
  (Imagen), predictLongRunning -> video (Veo), bidiGenerateContent or bidiGenerateMusic without
  generateContent -> audio (Live / native audio / Lyria realtime). Otherwise left to the catalogs and policy.
- The listing has no prices and no lifecycle. Extras: `version` and the generation methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.fields import (
    ListingFormatError,
    compact,
    count,
    identity,
    records_from_pages,
    strings,
    text,
)
from modelsync.sources.http import ProviderSession

DEFAULT_PAGE_SIZE = 1000  # the API's maximum
MAX_PAGES = 10_000
PREFIX = "models/"


def auth(secret: str) -> dict[str, str]:
    """The API key header google-genai sends (never the `?key=` query form, which would put it in URLs)."""
    return {"x-goog-api-key": secret}


def kind_for(methods: list[str]) -> str | None:
    """The model kind its generation methods imply, or None when they do not decide it."""
    present = set(methods)
    if "embedContent" in present:
        return "embedding"
    if "predict" in present:
        return "image"
    if "predictLongRunning" in present:
        return "video"
    if "generateContent" not in present and present & {"bidiGenerateContent", "bidiGenerateMusic"}:
        return "audio"
    return None


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    name = identity(item, "name", where)
    model_id = name.removeprefix(PREFIX)
    if not model_id:
        raise ListingFormatError(f"{where}: an entry has an empty name")
    methods = strings(item.get("supportedGenerationMethods"))
    capabilities: dict[str, bool] = {}
    if item.get("thinking") is True:
        capabilities["reasoning"] = True
    if methods:
        capabilities["batch"] = bool({"batchGenerateContent", "asyncBatchEmbedContent"} & set(methods))
    fields: dict[str, Any] = {
        "display_name": text(item.get("displayName")),
        "context_window": count(item.get("inputTokenLimit")),
        "max_output_tokens": count(item.get("outputTokenLimit")),
        "kind": kind_for(methods),
        "capabilities": capabilities,
    }
    return SourceRecord(model_id, fields, compact({"version": text(item.get("version")), "methods": methods}))


def normalize(pages: Iterable[Any]) -> dict[str, SourceRecord]:
    """Map listing pages (`{"models":[Model],"nextPageToken"}`) to records by exact id."""
    # Protobuf JSON omits an empty `models` list: `{}` (or only a token) is an empty page.
    pages = [{"models": []} if isinstance(page, dict) and set(page) <= {"nextPageToken"} else page for page in pages]
    return records_from_pages(pages, "models", _record)


async def fetch(session: ProviderSession) -> dict[str, SourceRecord]:
    """Fetch every page of the listing, then normalize; any failed page fails the whole listing."""
    pages: list[Any] = []
    size = session.page_size(DEFAULT_PAGE_SIZE)
    params: dict[str, Any] = {"pageSize": size}
    seen: set[str] = set()
    for number in range(1, MAX_PAGES + 1):
        what = "the model listing" if number == 1 else f"page {number} of the model listing"
        page = await session.http.get_json(session.url("v1beta/models"), params=params, what=what)
        pages.append(page)
        token = page.get("nextPageToken") if isinstance(page, dict) else None
        if not token:
            return normalize(pages)
        if not isinstance(token, str) or token in seen:
            raise ListingFormatError(f"page {number} of the model listing repeats its nextPageToken")
        seen.add(token)
        params = {"pageSize": size, "pageToken": token}
        session.progress(f"fetching page {number + 1}")
    raise ListingFormatError(f"the model listing did not end after {MAX_PAGES} pages")
