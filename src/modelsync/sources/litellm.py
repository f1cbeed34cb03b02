"""LiteLLM's cost map as a catalog: prices, limits, capabilities and shutdown dates for exact API ids. Pure.

Rules:
- A provider's models are the entries with its `litellm_provider` whose key is its prefix plus the exact API id
  (`gemini/gemini-2.5-pro`; OpenAI's and Anthropic's keys are bare ids). No fuzzy matching: an id LiteLLM does
  not spell exactly is not in it. Entries that only point elsewhere (`alias_of`) name no provider and are not read.
- Prices are per token in the map and per 1M tokens here, computed exactly from the number's own decimal text
  (the feed is parsed with Decimal, feed_parse.py). Read: each unit pricing.py has, its `_above_<N>k_tokens`
  context tiers and its `_batches` (batch API) rates; per-second prices only where the mode says what the second
  is of (transcription: input audio; speech: output audio; video generation: output video). Service tiers
  (`_priority`, `_flex`, ...), per-image output prices, per-query and other keys with no unit are not read.
- An entry with prices of 0 says the model is free, unless it also charges in a unit modelsync does not read
  (then its price is unknown); an entry with no price key leaves its price unknown. In a paid model, a 0 for a
  part of the input or output (a cache write) is no separate price, and is left out; a per-second price next to
  per-token prices is an estimate, not a second price, and is left out.
- Its context window (`max_input_tokens`) and output limit are a fallback below inheritance and below
  genai-prices' context windows (`litellm_limits`): LiteLLM counts the prompt alone (272,000 for GPT-5, whose
  context window the other catalogs give as 400,000), so it fills only what nothing else knows.
- Capabilities only as stated (`supports_*`); an absent flag stays unknown.
- `deprecation_date` is the announced shutdown day. `mode` is a kind hint (`extra["kind_hint"]`) the policy uses
  only when neither a source nor a kind rule decides the kind.
- Records pass the same validation as the other catalogs (`catalogs.checked`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

from modelsync import pricing
from modelsync.records import KIND_HINT, SourceRecord
from modelsync.sources.catalogs import checked
from modelsync.sources.feed_parse import LITELLM
from modelsync.sources.fields import day, priced

_PER_MILLION: Final = Decimal(1_000_000)
_PER_HOUR: Final = Decimal(3600)

# LiteLLM's price keys (per token unless named otherwise) -> (modelsync unit, factor to the unit's quantity).
_UNITS: Final[dict[str, tuple[str, Decimal]]] = {
    "input_cost_per_token": ("input_tokens", _PER_MILLION),
    "output_cost_per_token": ("output_tokens", _PER_MILLION),
    "cache_read_input_token_cost": ("cache_read_tokens", _PER_MILLION),
    "cache_creation_input_token_cost": ("cache_write_tokens", _PER_MILLION),
    # Anthropic's 1-hour cache write (the 5-minute one is the plain cache_creation price).
    "cache_creation_input_token_cost_above_1hr": ("cache_write_1h_tokens", _PER_MILLION),
    "input_cost_per_audio_token": ("audio_input_tokens", _PER_MILLION),
    "output_cost_per_audio_token": ("audio_output_tokens", _PER_MILLION),
    "cache_read_input_audio_token_cost": ("cached_audio_tokens", _PER_MILLION),
    "input_cost_per_image_token": ("image_input_tokens", _PER_MILLION),
    "output_cost_per_image_token": ("image_output_tokens", _PER_MILLION),
    "cache_read_input_image_token_cost": ("cached_image_tokens", _PER_MILLION),
    "input_cost_per_video_token": ("video_input_tokens", _PER_MILLION),
    "output_cost_per_video_token": ("video_output_tokens", _PER_MILLION),
    "output_cost_per_reasoning_token": ("reasoning_tokens", _PER_MILLION),
    "input_cost_per_character": ("input_characters", _PER_MILLION),
    "input_cost_per_image": ("images", Decimal(1)),
    "input_cost_per_audio_per_second": ("audio_input_hours", _PER_HOUR),
}
# Per-second prices whose second is only known from the mode: (key, mode) -> (unit, factor).
_PER_SECOND: Final[dict[tuple[str, str], tuple[str, Decimal]]] = {
    ("input_cost_per_second", "audio_transcription"): ("audio_input_hours", _PER_HOUR),
    ("output_cost_per_second", "audio_speech"): ("audio_output_hours", _PER_HOUR),
    ("output_cost_per_second", "video_generation"): ("video_seconds", Decimal(1)),
}
# Units a 0 may be stated for in a paid model (an embedding's output tokens).
_BASE_UNITS: Final = frozenset({"input_tokens", "output_tokens"})
_TIER = re.compile(r"^(?P<key>.+)_above_(?P<thousands>\d{1,7})k_tokens$")
_BATCH_SUFFIX: Final = "_batches"

# `supports_*` flags -> capability names (the names the other sources use).
_FLAGS: Final = {
    "supports_vision": "vision",
    "supports_function_calling": "tools",
    "supports_response_schema": "json",
    "supports_reasoning": "reasoning",
    "supports_pdf_input": "pdf",
    "supports_web_search": "web_search",
}
# `mode` -> kind; modes not here (completion, responses, search, ...) say nothing about the kind.
_KINDS: Final = {
    "chat": "chat",
    "embedding": "embedding",
    "image_generation": "image",
    "image_edit": "image",
    "video_generation": "video",
    "audio_transcription": "audio",
    "audio_speech": "audio",
    "realtime": "audio",
    "moderation": "moderation",
    "rerank": "rerank",
}


def _split(key: str) -> tuple[str, int | None, bool]:
    """A price key as (base key, context tier threshold or None, batch)."""
    batch = key.endswith(_BATCH_SUFFIX)
    if batch:
        key = key[: -len(_BATCH_SUFFIX)]
    match = _TIER.match(key)
    if match is None:
        return key, None, batch
    return match["key"], int(match["thousands"]) * 1000, batch


def _positive(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0


def litellm_schedule(entry: Mapping[str, Any]) -> pricing.Schedule | None:
    """An entry's list price as components (per 1M tokens, exact); None when it states no price modelsync reads."""
    mode = entry.get("mode")
    # A model billed per token whose entry also quotes a per-second price (gpt-4o-transcribe: per audio token, and
    # $0.0001 a second "estimated") is billed per token: the per-second figure is not a second price.
    per_token = any(_positive(value) for key, value in entry.items() if _split(key)[0] in _UNITS)
    found = []
    unread_charge = False
    for key, value in entry.items():
        base_key, above, batch = _split(key)
        unit = _UNITS.get(base_key)
        if unit is None and isinstance(mode, str) and not per_token:
            unit = _PER_SECOND.get((base_key, mode))
        if unit is None:
            unread_charge = unread_charge or ("cost" in key and _positive(value))
            continue
        item = priced(unit[0], value, LITELLM, unit[1], above, batch)
        if item is not None:
            found.append(item)
    if not any(pricing.amount(item) > 0 for item in found):
        # 0 per token next to a price in a unit modelsync has no name for (Lyria: 0 per token, $0.04 per clip)
        # is "not charged per token", not "free": unknown.
        return None if unread_charge else pricing.canonical(found) or None
    # Of a paid model, a 0 for a part of the input or output (DeepSeek's cache write) is "no separate price", not
    # "those tokens are free": left out, so they cost what the input or output costs.
    found = [item for item in found if pricing.amount(item) > 0 or item["unit"] in _BASE_UNITS]
    return pricing.canonical(found)


def _capabilities(entry: Mapping[str, Any]) -> dict[str, bool]:
    found = {name: entry[flag] for flag, name in _FLAGS.items() if isinstance(entry.get(flag), bool)}
    heard, spoken = entry.get("supports_audio_input"), entry.get("supports_audio_output")
    if heard is True or spoken is True:
        found["audio"] = True
    elif heard is False and spoken is False:
        found["audio"] = False
    return found


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def litellm_record(model_id: str, entry: Mapping[str, Any]) -> SourceRecord:
    """What one LiteLLM entry says about a model, its limits aside (`litellm_limits`)."""
    fields: dict[str, Any] = {
        "capabilities": _capabilities(entry) or None,
        "shutdown_date": day(entry.get("deprecation_date")),
    }
    schedule = litellm_schedule(entry)
    if schedule is not None:
        fields.update(pricing.priced_fields(schedule))
    kind = _KINDS.get(entry.get("mode") or "")
    return SourceRecord(model_id, fields, extra={KIND_HINT: kind} if kind else None)


def litellm_entry(
    entries: Mapping[str, Mapping[str, Any]], provider: str, prefix: str, model_id: str
) -> Mapping[str, Any] | None:
    """The entry whose key is exactly `prefix + model_id` and whose provider is `provider`, or None."""
    entry = entries.get(prefix + model_id)
    return entry if entry is not None and entry.get("litellm_provider") == provider else None


def _matches(
    entries: Mapping[str, Mapping[str, Any]] | None, provider: str, prefix: str, model_ids: list[str]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(id, entry) for each id with an exact entry; nothing without a map or a provider mapping."""
    if not entries or not provider:
        return
    for model_id in model_ids:
        entry = litellm_entry(entries, provider, prefix, model_id)
        if entry is not None:
            yield model_id, entry


def litellm_lookup(
    entries: Mapping[str, Mapping[str, Any]] | None, provider: str, prefix: str, model_ids: list[str]
) -> dict[str, SourceRecord]:
    """LiteLLM's records for the given exact API ids of a provider ({} without a map or a provider mapping)."""
    matches = _matches(entries, provider, prefix, model_ids)
    return checked(LITELLM, provider, {model_id: litellm_record(model_id, entry) for model_id, entry in matches})


def litellm_limits(
    entries: Mapping[str, Mapping[str, Any]] | None, provider: str, prefix: str, model_ids: list[str]
) -> dict[str, SourceRecord]:
    """LiteLLM's context windows (`max_input_tokens`) and output limits for the given exact API ids."""
    found: dict[str, SourceRecord] = {}
    for model_id, entry in _matches(entries, provider, prefix, model_ids):
        fields = {
            "context_window": _count(entry.get("max_input_tokens")),
            "max_output_tokens": _count(entry.get("max_output_tokens")),
        }
        if any(value is not None for value in fields.values()):
            found[model_id] = SourceRecord(model_id, fields)
    return checked(LITELLM, provider, found)
