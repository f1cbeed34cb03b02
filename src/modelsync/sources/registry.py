"""Adapter name (the registry rows' `adapter`) -> the `ListingAdapter` that speaks that listing protocol.

Rules:
- `ADAPTERS` is the only list of adapter names: settings keep a row's `adapter` as plain text, and
  `check_adapters` refuses a row naming any other adapter before a single request is made.
- One entry per listing protocol, not per provider: every OpenAI-compatible provider shares `openai_compat`,
  configured by its registry row. Each adapter module declares its own `ADAPTER` (see `adapter.py`).
"""

from __future__ import annotations

from modelsync.errors import ConfigError
from modelsync.settings import ProviderSpec, Settings
from modelsync.sources import anthropic, gemini, ollama, openai, openai_compat, openrouter, replicate
from modelsync.sources.adapter import ListingAdapter

ADAPTERS: dict[str, ListingAdapter] = {
    "openai": openai.ADAPTER,
    "anthropic": anthropic.ADAPTER,
    "gemini": gemini.ADAPTER,
    "replicate": replicate.ADAPTER,
    "openrouter": openrouter.ADAPTER,
    "openai_compat": openai_compat.ADAPTER,
    "ollama": ollama.ADAPTER,
}


def _unknown_adapter(specs: list[ProviderSpec]) -> ConfigError:
    rows = "; ".join(f"[provider.{spec.name}] names adapter {spec.adapter!r}" for spec in specs)
    return ConfigError(
        f"unknown adapter in the provider registry: {rows}. Valid adapters: {', '.join(sorted(ADAPTERS))}. "
        "Fix `adapter` in modelsync.toml."
    )


def check_adapters(settings: Settings) -> None:
    """Raise a ConfigError naming every provider row whose adapter does not exist, and the valid adapters."""
    bad = [spec for spec in settings.registry.values() if spec.adapter not in ADAPTERS]
    if bad:
        raise _unknown_adapter(bad)


def adapter_for(spec: ProviderSpec) -> ListingAdapter:
    """The adapter a provider row names; the same ConfigError as check_adapters when there is none."""
    adapter = ADAPTERS.get(spec.adapter)
    if adapter is None:
        raise _unknown_adapter([spec])
    return adapter
