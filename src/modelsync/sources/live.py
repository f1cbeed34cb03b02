"""Live provider listings: fetch every selected provider's listing concurrently, each one isolated.

Rules:
- Every registry row must name a known adapter (`registry.check_adapters`): checked before any request, as a
  ConfigError (a usage error, exit 4), never as one provider's failure.
- A provider that needs a key and has none gets no live listing (`skipped`; the catalogs still apply).
  Providers whose listing needs no key (OpenRouter, Ollama, vLLM) are fetched whenever they are in `names`,
  i.e. named with --provider or enabled in configuration.
- All fetched providers run concurrently on one event loop with one shared HTTP client (`http.py`).
- Isolation: any failure (HTTP error after retries, timeout, refused connection, a body that is not JSON or has
  the wrong shape, a failure on any page) becomes that provider's `ListingResult.error`, a message that says
  what to do and never contains a key; it never stops the other providers. A listing is all pages or nothing.
- Bounded: a provider's whole listing (every page, retry and wait) must finish within
  MODELSYNC_PROVIDER_DEADLINE seconds, and may hold at most MODELSYNC_MAX_MODELS_PER_PROVIDER models; over
  either, that provider fails with a message naming the setting (each request has its own deadline and size
  limit, see `http.py`).
- Every adapter's records are validated here, in one place (`validate.py`): an invalid value is dropped with a
  warning, a record without a usable id is skipped with a warning, and one bad record never fails its provider.
  The warnings (the adapter's own about skipped and repeated entries first) travel on `ListingResult.warnings`,
  each prefixed with the provider's label, at most `WARNING_LIMIT` of them plus one line counting the rest; they
  are logged too. `ListingResult.unknown` names, per model, the fields whose value was dropped: unknown, not
  absent, so the sync can keep what it knew.
- Each listing carries a digest of its normalized records (not of the raw bodies: those hold request-time
  values such as Mistral's and vLLM's `created` or Replicate's run counts, so they never repeat). The sync core
  skips a provider whose digest and other inputs match its last good sync.
- `fetch_listings` is synchronous: it runs its own event loop, on a worker thread when the caller already
  runs one, so the CLI, a thread pool and async code can all call it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from modelsync.records import SourceRecord
from modelsync.settings import ProviderSpec, Settings
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import ListingFormatError
from modelsync.sources.http import FetchError, ProviderSession, Redactor, Sleep, make_client, open_session
from modelsync.sources.listing import WarningLog
from modelsync.sources.registry import adapter_for, check_adapters
from modelsync.sources.validate import checked_listing

log = logging.getLogger("modelsync.sources")

Progress = Callable[[str | None, str], None]
OnListing = Callable[[str, "ListingResult"], None]


@dataclass(slots=True)
class ListingResult:
    """One provider's live listing, or why there is none."""

    provider: str
    records: dict[str, SourceRecord] | None = None
    error: str | None = None
    skipped: str | None = None
    # Digest of the normalized listing (None = unknown: never reuse a previous result).
    digest: str | None = None
    # What was dropped while reading the listing, each line prefixed with the provider's label: at most
    # WARNING_LIMIT lines, then one line counting the rest; `warning_count` counts them all.
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    # Model id -> the fields whose listed value was invalid or unreadable and was dropped (unknown, not absent).
    unknown: dict[str, tuple[str, ...]] = field(default_factory=dict)


def listing_digest(records: dict[str, SourceRecord]) -> str:
    """Digest of a normalized listing: equal for equal records, whatever order the provider listed them in."""
    # str() spells each canonical Decimal one way and runs in C: only equality of the digest matters here.
    items = [[model_id, record.fields, record.extra] for model_id, record in sorted(records.items())]
    canonical = orjson.dumps(items, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=20).hexdigest()


def fetch_listings(
    settings: Settings, names: list[str], progress: Progress, on_listing: OnListing | None = None
) -> dict[str, ListingResult]:
    """Fetch the live listing of every named provider that has a key (or needs none).

    `on_listing(name, result)` is called as each provider's result is known (on the fetching thread: it must only
    hand the result on), so a caller can start working on one provider while the others are still answering.
    """
    check_adapters(settings)
    results: dict[str, ListingResult] = {}
    live: list[str] = []
    for name in names:
        spec = settings.registry[name]
        if spec.needs_key and settings.api_key(name) is None:
            hint = f"set {spec.key_env[0]} to add the account's live listing" if spec.key_env else ""
            results[name] = ListingResult(name, skipped=f"catalog only; {hint}".rstrip("; "))
            if on_listing is not None:
                on_listing(name, results[name])
        else:
            live.append(name)
    if live:
        results.update(_run(fetch_all(settings, live, progress, on_listing=on_listing)))
    return results


def _run(coroutine: Any) -> dict[str, ListingResult]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside an event loop (async code): run ours on a worker thread instead of nesting loops.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelsync-fetch") as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def fetch_all(
    settings: Settings,
    names: list[str],
    progress: Progress,
    sleep: Sleep = asyncio.sleep,
    client: httpx.AsyncClient | None = None,
    on_listing: OnListing | None = None,
) -> dict[str, ListingResult]:
    """Fetch the named providers concurrently on one shared client; each result is a listing or an error."""
    if client is None:
        async with make_client(settings, names) as shared:
            return await fetch_all(settings, names, progress, sleep, shared, on_listing)

    async def one(name: str) -> ListingResult:
        result = await fetch_one(client, settings, name, progress, sleep)
        if on_listing is not None:
            on_listing(name, result)
        return result

    results = await asyncio.gather(*(one(name) for name in names))
    return dict(zip(names, results, strict=True))


async def fetch_one(
    client: httpx.AsyncClient, settings: Settings, name: str, progress: Progress, sleep: Sleep = asyncio.sleep
) -> ListingResult:
    """Fetch one provider's listing; every failure becomes the result's error message."""
    spec = settings.registry[name]
    adapter = adapter_for(spec)
    session = open_session(
        client, settings, name, adapter.auth, lambda message: progress(name, message), sleep, adapter.classify_error
    )
    redact: Redactor = session.http.target.redact
    progress(name, "fetching the live listing")
    try:
        result = await _fetch_checked(adapter, session, spec)
    except FetchError as exc:
        message = exc.message
    except ListingFormatError as exc:
        message = redact(
            f"{spec.label} sent a listing modelsync cannot read ({exc}); nothing was changed. Try again later, "
            "and report it if it persists"
        )
    except Exception as exc:  # one provider's surprise must not stop the others
        message = redact(
            f"{spec.label} listing failed unexpectedly ({type(exc).__name__}: {exc}); nothing was changed. "
            "Try again later, and report it if it persists"
        )
    else:
        progress(name, f"listed {len(result.records or {})} models")
        # Warnings quote upstream text: redacted like every other message, in case a provider echoes a key.
        result.warnings = [redact(line) for line in result.warnings]
        for line in result.warnings:
            log.warning("%s", line)
        return result
    log.info("%s", message)
    return ListingResult(name, error=message)


async def _fetch_checked(adapter: ListingAdapter, session: ProviderSession, spec: ProviderSpec) -> ListingResult:
    """Fetch within the provider deadline, refuse an over-long listing, validate every record."""
    deadline = session.settings.provider_deadline
    scope = asyncio.timeout(deadline)
    try:
        async with scope:
            records = await adapter.fetch(session)
    except TimeoutError:
        if not scope.expired():
            raise
        raise session.http.failure(
            "deadline",
            f"did not finish its listing within {deadline:g} s (MODELSYNC_PROVIDER_DEADLINE); nothing was changed. "
            "Try again later, or raise MODELSYNC_PROVIDER_DEADLINE if the listing is really that slow",
        ) from None
    session.check_count(len(records))
    warnings = WarningLog()
    checked = checked_listing(records, warnings)
    return ListingResult(
        spec.name,
        records=checked.records,
        digest=listing_digest(checked.records),
        warnings=warnings.lines(f"{spec.label}: "),
        warning_count=warnings.total,
        unknown=checked.dropped,
    )
