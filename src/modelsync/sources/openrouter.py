"""OpenRouter: `GET {base}/models?output_modalities=all` (public; Bearer key sent when set) -> SourceRecords.

Rules:
- Ids are exact (`author/slug`, variants such as `:free` and `~author/x-latest` aliases are their own ids).
- `name` is the display name and `description` the model's description.
- Every output modality is asked for (the API lists text-output models only by default). With no page size
  configured the API returns the whole list in one answer; with `page_size` the page walker pages it by
  offset/limit (`paging.Offset`) until a short page or `total_count`.
- Prices are strings in USD per token: multiplied by 10^6 exactly (Decimal) into USD per 1M tokens: prompt ->
  input, completion -> output, input_cache_read / input_cache_write -> cache prices, internal_reasoning ->
  reasoning tokens; `image` is per input image, `request` per request (stored per 1K), `web_search` per search
  (stored per 1K). A 0 for a per-unit price or reasoning means "not charged apart", so it is left out. Each
  `overrides` entry with `min_prompt_tokens` is a context tier (its prices above that prompt size). "-1"
  (routers, whose price depends on the model they pick) and any negative or unreadable price are unknown.
- Limits: `context_length` (else `top_provider.context_length`) -> context_window;
  `top_provider.max_completion_tokens` -> max_output_tokens.
- Capabilities from `supported_parameters` are only ever set True (tools; response_format or
  structured_outputs -> json; reasoning or include_reasoning -> reasoning): a parameter OpenRouter does not
  route is not proof the model lacks the ability. Modalities from `architecture`; vision/pdf/audio/image_output
  follow from them.
- `expiration_date` is the deprecation announcement: set -> deprecated with that shutdown_date; null -> not
  deprecated; a value that is not a date -> `Unreadable`, and no deprecation stated either way (unknown).
  Extras: canonical_slug, hugging_face_id, tokenizer, alias target.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from modelsync.pricing import canonical, priced_fields
from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import (
    PER_TOKEN_TO_PER_MILLION,
    compact,
    count,
    identity,
    kind_from_outputs,
    modalities,
    normalize_pages,
    page_records,
    priced,
    read_day,
    strings,
    text,
)
from modelsync.sources.http import ProviderSession, bearer
from modelsync.sources.listing import Listing, Unreadable
from modelsync.sources.paging import Offset, walk

auth = bearer

SOURCE = "openrouter"
# Listed price key -> (unit, scale from the listed amount to the unit's amount). Token prices are per token.
_UNITS = {
    "prompt": ("input_tokens", PER_TOKEN_TO_PER_MILLION),
    "completion": ("output_tokens", PER_TOKEN_TO_PER_MILLION),
    "input_cache_read": ("cache_read_tokens", PER_TOKEN_TO_PER_MILLION),
    "input_cache_write": ("cache_write_tokens", PER_TOKEN_TO_PER_MILLION),
    "internal_reasoning": ("reasoning_tokens", PER_TOKEN_TO_PER_MILLION),
    "input_audio": ("audio_input_tokens", PER_TOKEN_TO_PER_MILLION),
    "audio": ("audio_input_tokens", PER_TOKEN_TO_PER_MILLION),
    "image": ("images", Decimal(1)),
    "request": ("requests", Decimal(1000)),
    "web_search": ("web_searches", Decimal(1000)),
}
# A 0 for these means "not charged apart from the tokens", not "free": reasoning tokens are output tokens.
_ZERO_IS_UNSET = frozenset({"internal_reasoning", "input_audio", "audio", "image", "request", "web_search"})
_PARAMETERS = {
    "tools": "tools",
    "response_format": "json",
    "structured_outputs": "json",
    "reasoning": "reasoning",
    "include_reasoning": "reasoning",
}
_MODALITY_NAMES = {"file": "pdf", "embeddings": "embedding"}


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _capabilities(item: dict[str, Any], inputs: list[str], outputs: list[str]) -> dict[str, bool]:
    found = {_PARAMETERS[name]: True for name in strings(item.get("supported_parameters")) if name in _PARAMETERS}
    if inputs:
        found.update(vision="image" in inputs, pdf="pdf" in inputs, text="text" in inputs)
    if inputs or outputs:
        found["audio"] = "audio" in inputs or "audio" in outputs
    if outputs:
        found["image_output"] = "image" in outputs
    return found


def _components(pricing: dict[str, Any], above: int | None) -> list[dict[str, Any]]:
    found = []
    for key, (unit, scale) in _UNITS.items():
        if key == "audio" and "input_audio" in pricing:
            continue
        item = priced(unit, pricing.get(key), SOURCE, scale, above)
        if item is not None and not (key in _ZERO_IS_UNSET and item["usd"] == "0"):
            found.append(item)
    return found


_ROUTER_REASON = "a router: each request is billed at the price of the model it is routed to"


def _is_router(pricing: dict[str, Any]) -> bool:
    """OpenRouter's way of saying the price depends on the model a request is routed to: prices of -1."""
    return pricing.get("prompt") == "-1" or pricing.get("completion") == "-1"


def _prices(pricing: dict[str, Any]) -> list[dict[str, Any]] | None:
    found = _components(pricing, None)
    if not any(item["unit"] in ("input_tokens", "output_tokens") for item in found):
        return None  # a router ("-1") or an entry without token prices: unknown
    overrides = pricing.get("overrides")
    for tier in overrides if isinstance(overrides, list) else ():
        threshold = count(tier.get("min_prompt_tokens")) if isinstance(tier, dict) else None
        if threshold is not None:
            found.extend(_components(tier, threshold))
    return canonical(found)


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    model_id = identity(item, "id")
    architecture = _table(item.get("architecture"))
    top = _table(item.get("top_provider"))
    pricing = _table(item.get("pricing"))
    inputs = modalities(architecture.get("input_modalities"), _MODALITY_NAMES) or []
    outputs = modalities(architecture.get("output_modalities"), _MODALITY_NAMES) or []
    fields: dict[str, Any] = {
        "display_name": text(item.get("name")),
        "description": text(item.get("description")),
        "context_window": count(item.get("context_length")) or count(top.get("context_length")),
        "max_output_tokens": count(top.get("max_completion_tokens")),
        "modalities_in": inputs or None,
        "modalities_out": outputs or None,
        "kind": kind_from_outputs(outputs),
        "capabilities": _capabilities(item, inputs, outputs),
        "knowledge_cutoff": text(item.get("knowledge_cutoff")),
    }
    fields.update(priced_fields(_prices(pricing)))
    fields["price_note"] = _ROUTER_REASON if _is_router(pricing) else None
    if "expiration_date" in item:
        expires = read_day(item["expiration_date"])
        fields["shutdown_date"] = expires
        if isinstance(expires, Unreadable):
            fields["deprecated"] = Unreadable(expires.value, "follows from an expiration_date that is not a date")
        else:
            fields["deprecated"] = expires is not None
    alias = _table(item.get("alias_target"))
    extra = compact(
        {
            "canonical_slug": text(item.get("canonical_slug")),
            "hugging_face_id": text(item.get("hugging_face_id")),
            "tokenizer": text(architecture.get("tokenizer")),
            "alias_of": text(alias.get("slug")) or text(alias.get("name")),
        }
    )
    return SourceRecord(model_id, fields, extra)


def normalize_page(page: Any, number: int = 1) -> Listing:
    """Map one listing page (`{"data":[Model],"total_count","links"}`) to records by exact id."""
    return page_records(page, "data", _record, number)


def normalize(pages: Iterable[Any]) -> Listing:
    """Map listing pages to records by exact id."""
    return normalize_pages(pages, normalize_page)


def pager(session: ProviderSession) -> Offset:
    """The listing's paging: every output modality; offset/limit only when the row sets a page size."""
    return Offset(session.url("models"), session.spec.page_size, params={"output_modalities": "all"})


async def fetch(session: ProviderSession) -> Listing:
    """Fetch the listing (in one answer, or page by page when a page size is configured), normalized."""
    return await walk(session, pager(session), normalize_page)


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize)
