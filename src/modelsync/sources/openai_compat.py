"""OpenAI-compatible listings: `GET {base}/models` (Bearer key when set), plus the row's `enrich_path` listing.

Serves Mistral, xAI, Groq, DeepSeek, Together and vLLM, and any compatible server added as a registry row: the
reader recognizes, by name, the fields these servers add to the OpenAI shape, so a new provider is a row of
configuration, not code.

Rules:
- Body: `{"data": [...]}`, a bare JSON array (Together) or `{"models": [...]}` (xAI's language-models). The
  `enrich_path` listing is merged into the main one by id (the main listing wins a field both carry; an id only
  the enrichment knows is listed too).
- Limits: max_context_length (Mistral) / context_window (Groq, DeepSeek) / context_length (Together) /
  max_model_len (vLLM) -> context_window; max_completion_tokens / max_output_tokens -> max_output_tokens.
- Prices, exact Decimal: Together `pricing.input/output/cached_input` are USD per 1M already; xAI
  `*_token_price` integers are USD cents per 100M tokens, times 10^-4 (text, cached text, image input, and the
  `*_long_context` prices as a context tier above `long_context_threshold`). Zero token prices of image, video
  and audio models mean "not priced per token" and are left unknown rather than stored as free.
- Kind: Together `type`; Mistral capabilities (completion_chat -> chat, moderation/classification ->
  moderation, transcription/speech without chat -> audio, OCR without chat -> other); output modalities without
  text. Otherwise left to the catalogs and policy.
- Capabilities: Mistral's booleans are stated facts (False kept): function_calling -> tools, vision, reasoning,
  completion_fim -> fim, ocr, fine_tuning, any audio flag -> audio. Image input -> vision; DeepSeek `effort`
  -> reasoning.
- Lifecycle: Mistral `deprecation` (date) -> deprecated with deprecated_at, `deprecation_replacement_model` ->
  replacement_model, `archived` fine-tunes -> deprecated; Groq `active: false` -> deprecated. A lifecycle field
  that is present and clear says "not deprecated"; one that cannot be read (a deprecation that is not a
  timestamp, an `active` that is not a boolean) is `Unreadable`: unless another field says "deprecated", the
  deprecation is unknown, never "not deprecated".
- Entries without a usable `id` are skipped and a repeated id keeps its first entry, both with a warning, in the
  listing and in the enrichment listing alike.
- Aliases. Mistral lists every alias as its own entry, each naming the others in `aliases`. Every listed id is
  kept as its own model (each is an exact id apps call, and the catalogs list `-latest` ids too, so dropping
  them would deprecate ids in use); the group is de-duplicated by pointing each alias at one canonical entry
  with `extra["alias_of"]` (the id most cards name as `name`, else the first id without "latest"). Every entry
  keeps its `aliases` in extras (for xAI, whose aliases are not listed on their own, that is the only record).
- Lineage: vLLM `parent` and Mistral fine-tunes' `root` -> `extra["base_model"]`, so catalogs describe them
  with the base model's facts; a LoRA adapter without `max_model_len` gets its parent's (vLLM serves adapters
  on the base model's engine, with its context length).
- Request-time fields (`created` of Mistral/vLLM, xAI `fingerprint`) never enter extras, so extras do not churn.
- Error quirks, recognised by the answer (never by provider name, so a row pointing at such a server gets them
  too): xAI answers a bad key with 400 "Incorrect API key provided" (an `auth` failure, reported as a rejected
  key) and a team out of credits with 429 "... used all available credits or reached its monthly spending
  limit" (a `spend_limit` failure: waiting will not lift it, so it is never retried).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

from modelsync.pricing import canonical, priced_fields
from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import (
    EntryError,
    compact,
    count,
    entries,
    identity,
    kind_from_outputs,
    modalities,
    priced,
    read_moment,
    strings,
    text,
)
from modelsync.sources.http import ProviderSession, Quirk, bearer
from modelsync.sources.listing import Listing, Unreadable

auth = bearer
CENTS_PER_100M_TO_USD_PER_1M = Decimal("0.0001")

_CONTEXT_KEYS = ("max_context_length", "context_window", "context_length", "max_model_len")
_OUTPUT_KEYS = ("max_completion_tokens", "max_output_tokens")
_TYPE_KINDS = {
    "chat": "chat",
    "language": "chat",
    "code": "chat",
    "image": "image",
    "embedding": "embedding",
    "moderation": "moderation",
    "rerank": "rerank",
    "audio": "audio",
    "transcribe": "audio",
    "video": "video",
}
_MISTRAL_CAPABILITIES = {
    "function_calling": "tools",
    "vision": "vision",
    "reasoning": "reasoning",
    "completion_fim": "fim",
    "ocr": "ocr",
    "fine_tuning": "fine_tuning",
}
_AUDIO_FLAGS = ("audio", "audio_transcription", "audio_transcription_realtime", "audio_speech")
# xAI's per-token prices (USD cents per 100M tokens) -> units; the long-context ones apply above its threshold.
_XAI_UNITS = {
    "prompt_text_token_price": "input_tokens",
    "cached_prompt_text_token_price": "cache_read_tokens",
    "completion_text_token_price": "output_tokens",
    "prompt_image_token_price": "image_input_tokens",
}
_XAI_LONG_CONTEXT = {
    "prompt_text_token_price_long_context": "input_tokens",
    "cached_prompt_text_token_price_long_context": "cache_read_tokens",
    "completion_text_token_price_long_context": "output_tokens",
}
_TOGETHER_UNITS = {"input": "input_tokens", "output": "output_tokens", "cached_input": "cache_read_tokens"}
# Listing prices are attributed to the listing's layer by the merge; this placeholder is replaced there.
_LISTING = "listing"
_UNPRICED_KINDS = frozenset({"image", "video", "audio"})


def listing_entries(body: Any, where: str) -> list[dict[str, Any]]:
    """The entries of any compatible listing body: `data`, a bare array, or `models`."""
    if isinstance(body, list):
        return entries(body, None, where)
    if isinstance(body, dict) and "data" not in body and "models" in body:
        return entries(body, "models", where)
    return entries(body, "data", where)


def usable_entries(items: list[dict[str, Any]], where: str, listing: Listing) -> list[dict[str, Any]]:
    """The entries with a usable `id`, each id once (its first entry); the others are warned about on `listing`."""
    kept: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items, 1):
        try:
            model_id = identity(item, "id")
        except EntryError as exc:
            listing.skip(f"{where}, entry #{index}", str(exc))
            continue
        if model_id in kept:
            listing.repeated(model_id, where)
            continue
        kept[model_id] = item
    return list(kept.values())


def merge_entries(main: list[dict[str, Any]], enrichment: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the enrichment listing into the main one by id; main wins shared fields, extra ids are appended.

    Both lists hold usable, distinct ids (`usable_entries`).
    """
    extra = {item["id"]: item for item in enrichment}
    merged = [{**extra.pop(item["id"], {}), **item} for item in main]
    return merged + list(extra.values())


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_count(item: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    return next((value for key in keys if (value := count(item.get(key))) is not None), None)


def _mistral(caps: dict[str, Any]) -> tuple[str | None, dict[str, bool]]:
    found = {name: caps[key] for key, name in _MISTRAL_CAPABILITIES.items() if isinstance(caps.get(key), bool)}
    audio = [caps[key] for key in _AUDIO_FLAGS if isinstance(caps.get(key), bool)]
    if audio:
        found["audio"] = any(audio)
    if caps.get("completion_chat") is True:
        kind = "chat"
    elif caps.get("moderation") is True or caps.get("classification") is True:
        kind = "moderation"
    elif any(caps.get(key) is True for key in _AUDIO_FLAGS[1:]):
        kind = "audio"
    elif caps.get("ocr") is True:
        kind = "other"
    else:
        kind = None
    return kind, found


def _prices(item: dict[str, Any], kind: str | None) -> dict[str, Any]:
    found: list[dict[str, Any] | None] = []
    pricing = item.get("pricing")
    if isinstance(pricing, dict):
        found += [priced(unit, pricing.get(key), _LISTING) for key, unit in _TOGETHER_UNITS.items()]
    found += [priced(unit, item.get(key), _LISTING, CENTS_PER_100M_TO_USD_PER_1M) for key, unit in _XAI_UNITS.items()]
    threshold = count(item.get("long_context_threshold"))
    if threshold is not None:
        found += [
            priced(unit, item.get(key), _LISTING, CENTS_PER_100M_TO_USD_PER_1M, above=threshold)
            for key, unit in _XAI_LONG_CONTEXT.items()
        ]
    components = [component for component in found if component is not None]
    if kind in _UNPRICED_KINDS:
        components = [component for component in components if component["usd"] != "0"]
    if not any(component["unit"] in ("input_tokens", "output_tokens") for component in components):
        return {}
    return priced_fields(canonical(components))


def _lifecycle(item: dict[str, Any]) -> dict[str, Any]:
    deprecating: list[bool] = []
    unreadable: list[Any] = []
    fields: dict[str, Any] = {}
    if "deprecation" in item:
        when = read_moment(item["deprecation"])
        fields["deprecated_at"] = when
        fields["replacement_model"] = text(item.get("deprecation_replacement_model"))
        if isinstance(when, Unreadable):
            unreadable.append(when.value)
        else:
            deprecating.append(when is not None)
    # Each flag and the value of it that means "deprecated": an archived fine-tune, a Groq model not active.
    for key, deprecated_when in (("archived", True), ("active", False)):
        value = item.get(key)
        if isinstance(value, bool):
            deprecating.append(value is deprecated_when)
        elif value is not None:
            unreadable.append(value)
    if any(deprecating):
        fields["deprecated"] = True
    elif unreadable:
        fields["deprecated"] = Unreadable(unreadable[0], "a lifecycle value that cannot be read")
    elif deprecating:
        fields["deprecated"] = False
    return fields


def _record(item: dict[str, Any], listed: set[str]) -> SourceRecord:
    model_id = identity(item, "id")
    kind, capabilities = _mistral(_table(item.get("capabilities")))
    inputs = modalities(item.get("input_modalities"))
    outputs = modalities(item.get("output_modalities"))
    kind = _TYPE_KINDS.get(str(item.get("type"))) or kind or kind_from_outputs(outputs)
    if inputs:
        capabilities.setdefault("vision", "image" in inputs)
    effort = item.get("effort")
    if isinstance(effort, dict) and strings(effort.get("supported_levels")):
        capabilities.setdefault("reasoning", True)
    name = text(item.get("name"))
    display = text(item.get("display_name")) or (name if name and name != model_id and name not in listed else None)
    fields: dict[str, Any] = {
        "display_name": display,
        "kind": kind,
        "context_window": _first_count(item, _CONTEXT_KEYS),
        "max_output_tokens": _first_count(item, _OUTPUT_KEYS),
        "modalities_in": inputs,
        "modalities_out": outputs,
        "capabilities": capabilities,
        **_prices(item, kind),
        **_lifecycle(item),
    }
    base = text(item.get("parent")) or (text(item.get("root")) if item.get("type") == "fine-tuned" else None)
    extra = {
        "base_model": base if base != model_id else None,
        "owned_by": text(item.get("owned_by")),
        "organization": text(item.get("organization")),
        "aliases": sorted(strings(item.get("aliases"))),
    }
    return SourceRecord(model_id, fields, compact(extra))


def alias_groups(items: list[dict[str, Any]]) -> dict[str, str]:
    """Map every listed alias to its group's canonical id (ids with no listed alias are left out)."""
    cards = {item["id"]: item for item in items}
    parent = {model_id: model_id for model_id in cards}

    def root(model_id: str) -> str:
        while parent[model_id] != model_id:
            parent[model_id] = parent[parent[model_id]]
            model_id = parent[model_id]
        return model_id

    for model_id, card in cards.items():
        for alias in strings(card.get("aliases")):
            if alias in cards:
                parent[root(alias)] = root(model_id)
    groups: dict[str, set[str]] = {}
    for model_id in cards:
        groups.setdefault(root(model_id), set()).add(model_id)
    canonical: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        named = Counter(name for m in members if isinstance(name := cards[m].get("name"), str) and name in members)
        if named:
            chosen = max(sorted(named), key=lambda name: named[name])
        else:
            plain = sorted(m for m in members if "latest" not in m)
            chosen = plain[0] if plain else sorted(members)[0]
        canonical.update({member: chosen for member in members if member != chosen})
    return canonical


def normalize(body: Any, enrichment: Any = None) -> Listing:
    """Map a compatible listing (and the optional enrichment listing) to records by exact id."""
    records = Listing()
    where = "the model listing"
    items = usable_entries(listing_entries(body, where), where, records)
    if enrichment is not None:
        more = "the enrichment listing"
        items = merge_entries(items, usable_entries(listing_entries(enrichment, more), more, records))
    listed = {item["id"] for item in items}
    for item in items:
        records.add(_record(item, listed), where)
    for alias, chosen in alias_groups(items).items():
        record = records[alias]
        record.extra = {**(record.extra or {}), "alias_of": chosen}
    for record in records.values():
        base = records.get((record.extra or {}).get("base_model", ""))
        if base is not None and record.fields.get("context_window") is None:
            record.fields["context_window"] = base.fields.get("context_window")
    return records


async def fetch(session: ProviderSession) -> Listing:
    """Fetch the listing (and the enrichment listing, concurrently), then normalize."""
    main = session.http.get_json(session.url("models"))
    if not session.spec.enrich_path:
        return normalize(await main)
    path = session.spec.enrich_path
    extra = session.http.get_json(session.url(path), what=f"the {path} listing")
    # Both requests run to the end (no orphaned request when one fails); the first failure is raised.
    answers: tuple[Any, ...] = await asyncio.gather(main, extra, return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return normalize(answers[0], answers[1])


def classify_error(status: int, payload: Any, detail: str) -> Quirk | None:
    """xAI's bad-key 400 and exhausted-credits 429, by their message; None for every other response."""
    lowered = detail.lower()
    if status == 400 and "api key" in lowered:
        return "auth"
    if status == 429 and ("credits" in lowered or "spending limit" in lowered):
        return "spend_limit"
    return None


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize, classify_error=classify_error)
