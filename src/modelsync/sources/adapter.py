"""The listing adapter protocol: the one shape every adapter module declares as its `ADAPTER`.

Rules:
- An adapter is a listing protocol, not a provider: every OpenAI-compatible provider shares `openai_compat`,
  configured by its registry row. `sources/registry.py` maps adapter names to adapters.
- `auth(secret)` gives the headers that carry a key; keys travel in headers only, never in URLs.
- `fetch(session)` is the I/O: requests go through `session.http` (retries, redaction, deadline, size limit) and
  a paged listing goes through the one page walker (`paging.walk`); it returns the normalized records, all
  pages or nothing.
- `normalize(...)` is pure: raw bodies in, records by exact id out, as a `Listing` (a dict that also carries
  warnings about entries skipped for want of an id or repeated). It is what `fetch` applies, and what tests and
  benchmarks call on captured bodies. Its arguments are the adapter's own (pages; a listing and its
  enrichment; tags and show answers). Values are read, not judged: `live.py` validates every record
  (`validate.py`) after `fetch` returns, so an adapter needs no range checks of its own.
- `classify_error(status, payload, detail)`, optional, reads the provider's own error quirks (a spend limit, a
  bad key answered as 400): it is asked before the generic HTTP rules, and a kind it names is never retried.
  It recognises responses by their body, so any registry row using the adapter gets it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from modelsync.records import SourceRecord
from modelsync.sources.http import ErrorClassifier, ProviderSession

Auth = Callable[[str], dict[str, str]]
Fetch = Callable[[ProviderSession], Awaitable[dict[str, SourceRecord]]]
Normalize = Callable[..., dict[str, SourceRecord]]


@dataclass(frozen=True, slots=True)
class ListingAdapter:
    """How one listing protocol authenticates, fetches, normalizes and reads its provider's error quirks."""

    auth: Auth
    fetch: Fetch
    normalize: Normalize
    classify_error: ErrorClassifier | None = None
