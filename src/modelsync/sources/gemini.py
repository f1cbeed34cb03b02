"""Google Gemini: `GET {base}/v1beta/models` (x-goog-api-key; paged by `pageSize`/`pageToken`) -> SourceRecords.

Rules:
- The id is `name` without its `models/` prefix (what generateContent accepts). Pages are followed by the page
  walker (`paging.PageToken`): the opaque `nextPageToken`, passed back verbatim, until it is absent; a token
  that repeats is a broken listing.
- Facts: `displayName`; `inputTokenLimit` -> context_window; `outputTokenLimit` -> max_output_tokens;
  `thinking: true` -> reasoning (the field is only sent when true, so its absence is unknown, not False);
  batch from `batchGenerateContent`/`asyncBatchEmbedContent` (the method list is complete, so its absence is a
  stated False).
- Kind from the generation methods, when they are decisive: embedContent -> embedding, predict -> image
  (Imagen), predictLongRunning -> video (Veo), bidiGenerateContent or bidiGenerateMusic without
  generateContent -> audio (Live / native audio / Lyria realtime), and none of the methods that generate text
  or media -> other (`aqa` answers only through generateAnswer, so it is no chat model). Otherwise left to the
  catalogs and policy (Lyria's music and Nano Banana's images come through generateContent too).
- The listing has no prices and no lifecycle. Extras: `version` and the generation methods.
- Error quirk: a bad key is answered 400 INVALID_ARGUMENT with an ErrorInfo `reason: API_KEY_INVALID`; it is an
  `auth` failure (never retried, reported as a rejected key), not a rejected request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import (
    EntryError,
    compact,
    count,
    identity,
    normalize_pages,
    page_records,
    strings,
    text,
)
from modelsync.sources.http import ProviderSession, Quirk, rpc_details
from modelsync.sources.listing import Listing
from modelsync.sources.paging import PageToken, walk

DEFAULT_PAGE_SIZE = 1000  # the API's maximum
PREFIX = "models/"


def auth(secret: str) -> dict[str, str]:
    """The API key header google-genai sends (never the `?key=` query form, which would put it in URLs)."""
    return {"x-goog-api-key": secret}


# Methods a chat client can call: today's generateContent, and the PaLM-era text and message methods.
_TEXT_METHODS = frozenset({"generateContent", "streamGenerateContent", "generateText", "generateMessage"})


def kind_for(methods: list[str]) -> str | None:
    """The model kind its generation methods imply, or None when they do not decide it."""
    present = set(methods)
    if present & {"embedContent", "embedText"}:
        return "embedding"
    if "predict" in present:
        return "image"
    if "predictLongRunning" in present:
        return "video"
    if "generateContent" not in present and present & {"bidiGenerateContent", "bidiGenerateMusic"}:
        return "audio"
    if present and not present & _TEXT_METHODS:
        return "other"
    return None


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    name = identity(item, "name")
    model_id = name.removeprefix(PREFIX)
    if not model_id:
        raise EntryError("its name is empty")
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


def normalize_page(page: Any, number: int = 1) -> Listing:
    """Map one listing page (`{"models":[Model],"nextPageToken"}`) to records by exact id."""
    # Protobuf JSON omits an empty `models` list: `{}` (or only a token) is an empty page.
    if isinstance(page, dict) and set(page) <= {"nextPageToken"}:
        return Listing()
    return page_records(page, "models", _record, number)


def normalize(pages: Iterable[Any]) -> Listing:
    """Map listing pages to records by exact id."""
    return normalize_pages(pages, normalize_page)


def pager(session: ProviderSession) -> PageToken:
    """The listing's paging: `pageSize` (the row's page size, else the API maximum), then `pageToken`."""
    return PageToken(session.url("v1beta/models"), session.page_size(DEFAULT_PAGE_SIZE))


async def fetch(session: ProviderSession) -> Listing:
    """Fetch and normalize every page of the listing; any failed page fails the whole listing."""
    return await walk(session, pager(session), normalize_page)


def classify_error(status: int, payload: Any, detail: str) -> Quirk | None:
    """Gemini's bad key, a 400 with ErrorInfo reason API_KEY_INVALID, is an auth failure; None otherwise."""
    if status == 400 and any(item.get("reason") == "API_KEY_INVALID" for item in rpc_details(payload)):
        return "auth"
    return None


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize, classify_error=classify_error)
