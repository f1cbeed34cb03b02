"""Adapter name (the registry rows' `adapter`) -> how to authenticate and fetch that kind of listing.

Rules: one entry per listing protocol, not per provider: every OpenAI-compatible provider shares
`openai_compat`, configured by its registry row. An adapter's `fetch` does the I/O and returns the normalized
records; its `normalize` (pure) is what tests and benchmarks call on raw pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from modelsync.records import SourceRecord
from modelsync.sources import anthropic, gemini, ollama, openai, openai_compat, openrouter, replicate
from modelsync.sources.http import ProviderSession

Fetch = Callable[[ProviderSession], Awaitable[dict[str, SourceRecord]]]


@dataclass(frozen=True, slots=True)
class Adapter:
    """A listing protocol: the auth headers it sends for a key, and its fetch."""

    auth: Callable[[str], dict[str, str]]
    fetch: Fetch


ADAPTERS: dict[str, Adapter] = {
    "openai": Adapter(openai.auth, openai.fetch),
    "anthropic": Adapter(anthropic.auth, anthropic.fetch),
    "gemini": Adapter(gemini.auth, gemini.fetch),
    "replicate": Adapter(replicate.auth, replicate.fetch),
    "openrouter": Adapter(openrouter.auth, openrouter.fetch),
    "openai_compat": Adapter(openai_compat.auth, openai_compat.fetch),
    "ollama": Adapter(ollama.auth, ollama.fetch),
}
