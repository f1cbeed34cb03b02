"""Fetch the catalogs' published feeds with conditional requests. I/O only: what to keep is decided above.

Rules:
- A feed is read when its URL is set (defaults.toml; MODELSYNC_FEED_*_URL) and MODELSYNC_OFFLINE is not true.
- One request per feed, concurrently, through the listings' HTTP layer (sources/http.py): no redirects, only
  gzip and deflate, MODELSYNC_HTTP_DEADLINE and MODELSYNC_HTTP_MAX_BYTES, redacted messages. The connect timeout
  is MODELSYNC_FEED_CONNECT_TIMEOUT (short, so a machine without internet falls back at once) and a failed feed
  request is not retried: a feed improves on the stored copy, never worth holding a sync up for; the next sync
  asks again.
- Conditional: the stored copy's ETag (If-None-Match) and Last-Modified (If-Modified-Since) are sent, and a 304
  says the stored copy is current.
- A feed URL's password and query values may be credentials (a private mirror): they are blanked from every
  message and from the URL as shown (`shown_url`).
- A failure is that feed's answer (a message), never an exception that stops the sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx

from modelsync.settings import Settings
from modelsync.sources.feed_parse import GENAI_PRICES, LITELLM, MODELS_DEV
from modelsync.sources.http import Bounds, FetchError, ListingClient, Redactor, RetryPolicy, Target, tls_context

# Each catalog's URL setting and the environment variable that overrides it.
FEED_SETTINGS = {
    MODELS_DEV: ("feed_models_dev_url", "MODELSYNC_FEED_MODELS_DEV_URL"),
    GENAI_PRICES: ("feed_genai_prices_url", "MODELSYNC_FEED_GENAI_PRICES_URL"),
    LITELLM: ("feed_litellm_url", "MODELSYNC_FEED_LITELLM_URL"),
}
# Shorter query values ("v=2", "ref=main") are not credentials; blanking them would garble every message.
_SECRET_MIN = 8

Status = Literal["fetched", "not_modified", "failed"]


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One feed to read, with the validators of the copy already stored."""

    catalog: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """What a feed's server answered: a new body, not modified, or a failure with its message."""

    catalog: str
    url: str
    status: Status
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    message: str | None = None


def feed_url(settings: Settings, catalog: str) -> str:
    """The catalog's feed URL ("" when its feed is off or modelsync is offline)."""
    if settings.offline:
        return ""
    url: str = getattr(settings, FEED_SETTINGS[catalog][0])
    return url.strip()


def url_secrets(url: str) -> list[str]:
    """The parts of a feed URL that may be credentials: a password, and the values of its query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []  # not a URL at all (refused before any request); nothing in it can be told apart
    found = [parts.password or ""] + [value for _name, value in parse_qsl(parts.query)]
    return [secret for secret in found if len(secret) >= _SECRET_MIN]


def shown_url(url: str) -> str:
    """A feed URL as it may be printed or returned: its credentials (see `url_secrets`) blanked."""
    return Redactor(url_secrets(url))(url)


def http_date(text: str | None) -> date | None:
    """The UTC date of an HTTP date header (Last-Modified), or None."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def _client(settings: Settings, requests: list[FeedRequest]) -> httpx.AsyncClient:
    secure = any(request.url.startswith("https:") for request in requests)
    return httpx.AsyncClient(
        verify=tls_context() if secure else False,
        timeout=httpx.Timeout(settings.http_timeout, connect=min(settings.feed_connect_timeout, settings.http_timeout)),
        follow_redirects=False,
        headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "modelsync"},
    )


def _usable(url: str) -> bool:
    """Whether a feed URL is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        _port = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


async def _fetch_one(client: httpx.AsyncClient, settings: Settings, request: FeedRequest) -> FeedAnswer:
    env = FEED_SETTINGS[request.catalog][1]
    if not _usable(request.url):
        message = f"The {request.catalog} feed URL {shown_url(request.url)!r} is not an http(s) URL; check {env}"
        return FeedAnswer(request.catalog, request.url, "failed", message=message)
    headers: dict[str, str] = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    target = Target(
        label=f"The {request.catalog} feed",
        base_url=request.url,
        base_url_env=env,
        redact=Redactor(url_secrets(request.url)),  # a private mirror's token never reaches a message
    )
    http = ListingClient(
        client,
        target,
        RetryPolicy(retries=0),
        headers=headers,
        timeout=settings.http_timeout,
        bounds=Bounds.from_settings(settings),
    )
    try:
        response, body = await http.get_document(request.url, what=f"the {request.catalog} catalog")
    except FetchError as exc:
        return FeedAnswer(request.catalog, request.url, "failed", message=str(exc))
    except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx refuses beyond `_usable`'s checks
        message = target.redact(f"The {request.catalog} feed URL cannot be requested ({exc}); check {env}")
        return FeedAnswer(request.catalog, request.url, "failed", message=message)
    if response.status_code == 304:
        return FeedAnswer(request.catalog, request.url, "not_modified")
    return FeedAnswer(
        request.catalog,
        request.url,
        "fetched",
        body=body,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )


async def _fetch_all(settings: Settings, requests: list[FeedRequest]) -> dict[str, FeedAnswer]:
    async with _client(settings, requests) as client:
        answers = await asyncio.gather(*(_fetch_one(client, settings, request) for request in requests))
    return {answer.catalog: answer for answer in answers}


def _run(coroutine: Any) -> dict[str, FeedAnswer]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside an event loop (async code): run ours on a worker thread instead of nesting loops.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelsync-feeds") as pool:
        result: dict[str, FeedAnswer] = pool.submit(asyncio.run, coroutine).result()
        return result


def fetch_feeds(settings: Settings, requests: list[FeedRequest]) -> Mapping[str, FeedAnswer]:
    """Read every requested feed concurrently; each answer is a body, not modified, or a failure."""
    if not requests:
        return {}
    return _run(_fetch_all(settings, requests))
