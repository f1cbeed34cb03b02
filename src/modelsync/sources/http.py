"""The one HTTP layer of the live listings: the shared client, retries, failure messages and key redaction.

Rules:
- One `httpx.AsyncClient` per sync, shared by every provider; connect, read, write and pool timeouts are all
  `MODELSYNC_HTTP_TIMEOUT` seconds. Redirects are not followed: a redirect could carry a key to another host.
- Only generic HTTP rules live here. A provider's own error quirks (Anthropic's spend-limit 429, xAI's
  exhausted-credits 429 and bad-key 400, Gemini's 400 API_KEY_INVALID) belong to the adapter that speaks to
  it: its `classify_error` hook (an `ErrorClassifier`) is asked first, and a kind it names is never retried.
- Retried with exponential backoff and jitter, or after the wait the provider asks for (`retry-after-ms`,
  `retry-after` in seconds or as an HTTP date, a google.rpc `RetryInfo.retryDelay`): 408, 429, every 5xx (so
  Anthropic's 529 and Gemini's 503), timeouts and dropped connections. A provider asking to wait longer than
  `MODELSYNC_HTTP_MAX_WAIT` is reported at once instead of waited for.
- Never retried: what the adapter's hook classifies, authentication failures (401, 403), every other 4xx, a
  refused connection, a body that is not JSON. `x-should-retry: false` from the provider also stops retrying.
- Every failure becomes a `FetchError` whose message names the provider, what happened and what to do.
- Bounded: every request (connect, send and the whole body, however slowly it trickles) must finish within
  `MODELSYNC_HTTP_DEADLINE` seconds (default 4 x `MODELSYNC_HTTP_TIMEOUT`, whose timeouts are per read only);
  a request over it fails at once, not retried, since a server that trickled will trickle again. Bodies are
  streamed and decoded here, gzip and deflate with a bounded inflater, counting decoded bytes: a body that
  decodes to more than `MODELSYNC_HTTP_MAX_BYTES` is refused as soon as it passes the limit, so a gzip bomb
  costs at most the limit plus one network chunk. Only gzip and deflate are asked for; another encoding is a
  body modelsync cannot read.
- Keys travel in headers only, never in URLs. Every text built from a response or an exception passes through
  the session's `Redactor`, so no key reaches a message, a log line, the run history or the database. The
  redactor also catches a key in another letter case and any prefix of it of 12 characters or more (providers
  echo truncated keys such as `sk-proj-abcdefgh...wxyz`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import orjson
from pydantic import SecretStr

from modelsync.errors import SourceError
from modelsync.settings import ProviderSpec, Settings
from modelsync.sources.listing import escape

log = logging.getLogger("modelsync.sources")

Sleep = Callable[[float], Awaitable[None]]
_DETAIL_LIMIT = 200
_AUTH_STATUSES = frozenset({401, 403})

Quirk = Literal["auth", "spend_limit"]
# A provider's own reading of an error response: (status, the body parsed as JSON or None, the human message)
# -> the failure kind, or None to leave the response to the generic rules. A classified response is never retried.
ErrorClassifier = Callable[[int, Any, str], Quirk | None]


class FetchError(SourceError):
    """A provider's listing could not be fetched; the message is redacted and says what to do."""

    def __init__(self, message: str, kind: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class Redactor:
    """Blanks every secret it holds out of a text: as given or URL-encoded, in any letter case, or a prefix of it."""

    MASK = "[redacted]"
    # A prefix this long of a key is secret enough to blank: providers echo keys cut short ("sk-proj-abc...xyz").
    PREFIX_CHARS = 12

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants = {variant for secret in secrets if secret for variant in (secret, quote(secret, safe=""))}
        # One search for the head (first PREFIX_CHARS characters) of every secret, in any case; a match is then
        # extended along each secret with that head as far as the text keeps following it.
        self._by_head: dict[str, list[str]] = {}
        for variant in variants:
            lowered = variant.lower()
            self._by_head.setdefault(lowered[: self.PREFIX_CHARS], []).append(lowered)
        heads = sorted(self._by_head, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, heads)), re.IGNORECASE) if heads else None

    def __call__(self, text: str) -> str:
        """Return `text` with every secret (or 12+ character prefix of one, in any case) replaced by the mask."""
        if self._pattern is None:
            return text
        found = self._pattern.search(text)
        if found is None:
            return text
        parts: list[str] = []
        position = 0
        while found is not None:
            start, end = found.span()
            reach = end
            for secret in self._by_head.get(found.group().lower(), ()):
                index, offset = end, end - start
                while index < len(text) and offset < len(secret) and text[index].lower() == secret[offset]:
                    index += 1
                    offset += 1
                reach = max(reach, index)
            parts += (text[position:start], self.MASK)
            position = reach
            found = self._pattern.search(text, position)
        parts.append(text[position:])
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The limits of one request: its total deadline (seconds) and the most decoded body bytes it may read."""

    deadline: float = 120.0
    max_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Bounds:
        """Read MODELSYNC_HTTP_DEADLINE and MODELSYNC_HTTP_MAX_BYTES."""
        return cls(settings.request_deadline, settings.http_max_bytes)


class _Plain:
    """An unencoded body: bytes pass through as they are."""

    def feed(self, data: bytes, room: int) -> bytes:
        """The decoded bytes of a chunk."""
        return data

    def finish(self) -> bytes:
        """What is left once the body has ended."""
        return b""


class _Inflate:
    """A gzip or deflate body, decoded at most `room` bytes at a time so a bomb never inflates past the limit."""

    def __init__(self, wbits: int, raw_fallback: bool) -> None:
        self._inflater = zlib.decompressobj(wbits)
        self._raw_fallback = raw_fallback  # "deflate" is sent with and without the zlib header
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """Up to `room` decoded bytes of a chunk; `room` bytes back means there may be more (over the limit)."""
        try:
            out = self._inflater.decompress(data, room)
        except zlib.error:
            if self._started or not self._raw_fallback:
                raise
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflater.decompress(data, room)
        self._started = True
        return out

    def finish(self) -> bytes:
        """The last decoded bytes (only reached while under the limit, so nothing is left unconsumed)."""
        return self._inflater.flush()


def body_decoder(content_encoding: str) -> _Plain | _Inflate | None:
    """The decoder of a Content-Encoding modelsync asked for (gzip, deflate or none); None for any other."""
    codings = [part.strip().lower() for part in content_encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return _Plain()
    if codings in (["gzip"], ["x-gzip"]):
        return _Inflate(16 + zlib.MAX_WBITS, raw_fallback=False)
    if codings == ["deflate"]:
        return _Inflate(zlib.MAX_WBITS, raw_fallback=True)
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a request."""

    retries: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """Read the retry settings (MODELSYNC_HTTP_RETRIES, _BACKOFF, _MAX_WAIT)."""
        return cls(settings.http_retries, settings.http_backoff, settings.http_max_wait)

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Backoff before retry number `attempt` (0-based): doubling, capped, with equal jitter."""
        ceiling = min(self.max_wait, self.backoff * (2**attempt))
        return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a non-2xx response means: its failure kind, whether to retry, and the wait the provider asked for."""

    kind: str
    retry: bool
    wait: float | None
    detail: str


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_detail(payload: Any, fallback: str = "") -> str:
    """Pull the human message out of any provider's error envelope (OpenAI, Anthropic, Google, RFC 7807, xAI)."""
    message: Any = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        message = message or payload.get("detail") or payload.get("message") or payload.get("title")
    text = " ".join(str(message or fallback).split())
    # Upstream text in a message: control characters (terminal escapes, NUL) are shown as escapes, never raw.
    shown = escape(text[:_DETAIL_LIMIT], _DETAIL_LIMIT)
    return shown + ("…" if len(text) > _DETAIL_LIMIT else "")


def rpc_details(payload: Any) -> list[dict[str, Any]]:
    """The `error.details` objects of a google.rpc error body (empty for any other body)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [item for item in details or () if isinstance(item, dict)]


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def retry_after(headers: Mapping[str, str], payload: Any, now: datetime | None = None) -> float | None:
    """Return the wait in seconds the provider asked for, or None when it did not say."""
    if "retry-after-ms" in headers:
        millis = _seconds(headers["retry-after-ms"])
        if millis is not None:
            return millis / 1000
    if "retry-after" in headers:
        text = headers["retry-after"].strip()
        seconds = _seconds(text)
        if seconds is not None:
            return seconds
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
    for item in rpc_details(payload):
        delay = item.get("retryDelay")
        if str(item.get("@type", "")).endswith("RetryInfo") and isinstance(delay, str) and delay.endswith("s"):
            seconds = _seconds(delay[:-1])
            if seconds is not None:
                return seconds
    return None


def judge(status: int, headers: Mapping[str, str], body: bytes, quirks: ErrorClassifier | None = None) -> Verdict:
    """Classify a non-2xx response, asking the adapter's `quirks` first. Pure: the retry loop and tests share it."""
    payload = _json_or_none(body)
    detail = error_detail(payload, fallback=body[:_DETAIL_LIMIT].decode("utf-8", "replace"))
    if quirks is not None:
        quirk = quirks(status, payload, detail)
        if quirk is not None:
            return Verdict(quirk, False, None, detail)
    wait = retry_after(headers, payload)
    should = headers.get("x-should-retry", "").lower()
    if status in _AUTH_STATUSES:
        return Verdict("auth", False, None, detail)
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server"
    elif status == 408:
        kind = "timeout"
    elif status == 404:
        return Verdict("not_found", False, None, detail)
    else:
        return Verdict("rejected", should == "true", wait, detail)
    return Verdict(kind, should != "false", wait, detail)


@dataclass(slots=True)
class Target:
    """Who a listing client talks to, and the words its messages use."""

    label: str
    base_url: str
    key_env: str = ""
    base_url_env: str = ""
    has_key: bool = False
    redact: Redactor = field(default_factory=Redactor)


class ListingClient:
    """JSON requests for one provider, with retries; every failure is raised as a redacted FetchError."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        target: Target,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        timeout: float = 30.0,
        quirks: ErrorClassifier | None = None,
        bounds: Bounds | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.policy = policy
        self.headers = dict(headers or {})
        self.sleep = sleep
        self.timeout = timeout
        self.quirks = quirks
        self.bounds = bounds or Bounds()
        self.requests = 0

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None, what: str = "the model listing") -> Any:
        """GET a JSON document."""
        return await self._json("GET", url, params=params, body=None, what=what)

    async def post_json(self, url: str, body: Any, what: str = "the model listing") -> Any:
        """POST a JSON body and read a JSON document."""
        return await self._json("POST", url, params=None, body=body, what=what)

    async def get_document(self, url: str, what: str) -> tuple[httpx.Response, bytes]:
        """GET a document as bytes with its response; a 304 Not Modified is an answer here, not a failure."""
        return await self._send_for("GET", url, None, None, what, not_modified_ok=True)

    async def _json(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, what: str) -> Any:
        content = await self._send(method, url, params, body, what)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
        # orjson refuses some valid JSON (a number beyond a double, a lone surrogate escape): the standard parser
        # reads it, and validation then drops the one value instead of the whole listing failing.
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            raise self._error(
                "bad_body",
                f"answered {what} with a body that is not valid JSON; nothing was changed. Try again later",
                None,
            ) from None

    async def _send(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, what: str) -> bytes:
        _response, content = await self._send_for(method, url, params, body, what)
        return content

    async def _send_for(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        what: str,
        not_modified_ok: bool = False,
    ) -> tuple[httpx.Response, bytes]:
        attempt = 0
        while True:
            self.requests += 1
            status: int | None = None
            try:
                response, content = await self._exchange(method, url, params, body, what)
            except httpx.TimeoutException:
                verdict = Verdict("timeout", True, None, "")
            except httpx.ConnectError as exc:
                raise self._connect_error(exc) from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                verdict = Verdict("network", True, None, type(exc).__name__)
            else:
                if response.is_success or (not_modified_ok and response.status_code == 304):
                    return response, content
                status = response.status_code
                if response.is_redirect:
                    location = response.headers.get("location", "?")
                    raise self._error(
                        "redirect",
                        f"redirected {what} to {location}; set {self._base_env()} to the new address",
                        status,
                    )
                verdict = judge(status, response.headers, content, self.quirks)
            if not verdict.retry or attempt >= self.policy.retries:
                raise self._final(verdict, status, attempt, what, url)
            if verdict.wait is not None and verdict.wait > self.policy.max_wait:
                raise self._error(
                    verdict.kind,
                    f"{self._said(verdict, status, what)} and asks to wait {verdict.wait:.0f} s, longer than "
                    f"MODELSYNC_HTTP_MAX_WAIT ({self.policy.max_wait:g} s); try again later",
                    status,
                )
            wait = verdict.wait if verdict.wait is not None else self.policy.delay(attempt)
            attempt += 1
            log.info(
                "%s %s; retry %d of %d in %.2f s",
                self.target.label,
                self.target.redact(self._said(verdict, status, what)),
                attempt,
                self.policy.retries,
                wait,
            )
            await self.sleep(wait)

    async def _exchange(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, what: str
    ) -> tuple[httpx.Response, bytes]:
        """One request and its whole (decoded, size-checked) body, within the request deadline."""
        request = self.client.build_request(method, url, params=params, json=body, headers=self.headers)
        deadline = self.bounds.deadline
        scope = asyncio.timeout(deadline)
        try:
            async with scope:
                response = await self.client.send(request, stream=True)
                try:
                    content = await self._read(response, what)
                finally:
                    await response.aclose()
        except TimeoutError:
            if not scope.expired():
                raise
            raise self._error(
                "deadline",
                f"did not finish sending {what} within {deadline:g} s (MODELSYNC_HTTP_DEADLINE); nothing was "
                "changed. Try again later, or raise MODELSYNC_HTTP_DEADLINE if the listing is really that slow",
                None,
            ) from None
        return response, content

    async def _read(self, response: httpx.Response, what: str) -> bytes:
        """The body, decoded and counted as it streams in; refused the moment it passes the size limit."""
        limit = self.bounds.max_bytes
        encoding = response.headers.get("content-encoding", "")
        decoder = body_decoder(encoding)
        if decoder is None:
            raise self._error(
                "bad_body",
                f"answered {what} in an encoding modelsync did not ask for ({encoding[:40]!r}); nothing was changed",
                response.status_code,
            )
        declared = response.headers.get("content-length", "")
        if isinstance(decoder, _Plain) and declared.isdigit() and int(declared) > limit:
            raise self._too_large(what, response.status_code)
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                data = decoder.feed(raw, limit - size + 1)
                size += len(data)
                if size > limit:
                    raise self._too_large(what, response.status_code)
                chunks.append(data)
            tail = decoder.finish()
        except zlib.error:
            raise self._error(
                "bad_body",
                f"answered {what} with a compressed body that cannot be decoded; nothing was changed. Try again later",
                response.status_code,
            ) from None
        if size + len(tail) > limit:
            raise self._too_large(what, response.status_code)
        chunks.append(tail)
        return b"".join(chunks)

    def _too_large(self, what: str, status: int) -> FetchError:
        limit = self.bounds.max_bytes
        return self._error(
            "too_large",
            f"answered {what} with more than {limit:,} bytes (MODELSYNC_HTTP_MAX_BYTES); nothing was changed. "
            "Raise MODELSYNC_HTTP_MAX_BYTES if the listing is really that large",
            status,
        )

    def failure(self, kind: str, text: str) -> FetchError:
        """Build a redacted FetchError for a problem an adapter found (the provider's label is prepended)."""
        return self._error(kind, text, None)

    def _base_env(self) -> str:
        return self.target.base_url_env or "its base URL"

    def _said(self, verdict: Verdict, status: int | None, what: str) -> str:
        if status is None:
            if verdict.kind == "network":
                return f"dropped the connection while sending {what} ({verdict.detail})"
            return f"did not answer within {self.timeout:g} s for {what}"
        if verdict.kind == "rate_limited":
            return f"rate limited the requests for {what} ({status})"
        return f"answered {status}" + (f" ({verdict.detail})" if verdict.detail else "") + f" for {what}"

    def _final(self, verdict: Verdict, status: int | None, attempt: int, what: str, url: str) -> FetchError:
        target = self.target
        retried = f", retried {attempt} times" if attempt else ""
        if verdict.kind == "auth":
            if target.has_key:
                text = f"rejected the key ({status}: {verdict.detail}); check {target.key_env}"
            elif target.key_env:
                text = f"requires a key ({status}: {verdict.detail}); set {target.key_env}"
            else:
                text = f"refused access ({status}: {verdict.detail}); check the server's access settings"
            return self._error("auth", text, status)
        if verdict.kind == "spend_limit":
            return self._error(
                "spend_limit",
                f"refused the listing ({status}: {verdict.detail}); the account's spend limit or credits are "
                f"exhausted, which waiting will not fix: raise the limit or add credits in the {target.label} "
                "console, then sync again",
                status,
            )
        if verdict.kind == "not_found":
            path = urlsplit(url).path
            return self._error(
                "not_found", f"has no {path} ({status}: {verdict.detail}); check {self._base_env()}", status
            )
        if verdict.kind == "rejected":
            return self._error("rejected", f"refused the request for {what} ({status}: {verdict.detail})", status)
        if status is None and verdict.kind == "timeout":
            return self._error(
                "timeout",
                f"did not answer within {self.timeout:g} s for {what}{retried}; try again later or raise "
                "MODELSYNC_HTTP_TIMEOUT",
                None,
            )
        return self._error(verdict.kind, f"{self._said(verdict, status, what)}{retried}; try again later", status)

    def _connect_error(self, exc: httpx.ConnectError) -> FetchError:
        origin = urlsplit(self.target.base_url)
        return self._error(
            "connect",
            f"cannot be reached at {origin.scheme}://{origin.netloc} ({exc or type(exc).__name__}); check "
            f"{self._base_env()} and that the server is running",
            None,
        )

    def _error(self, kind: str, text: str, status: int | None) -> FetchError:
        return FetchError(self.target.redact(f"{self.target.label} {text}"), kind, status)


@cache
def tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~50 ms: once per process, not once per sync.
    return httpx.create_ssl_context()


class _NoHttps(httpx.AsyncBaseTransport):
    """A transport that refuses every request (mounted for https:// when the client was built for HTTP only)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse: this client has no TLS context to verify a server with."""
        raise httpx.UnsupportedProtocol(f"unexpected HTTPS request to {request.url.host}")


def make_client(settings: Settings, names: Iterable[str] | None = None) -> httpx.AsyncClient:
    """Build the sync's shared client: one timeout for everything, no redirects, JSON accepted."""
    # The CA bundle is only loaded when a provider of this sync is reached over HTTPS (local Ollama and vLLM
    # servers usually are not); plain-HTTP requests never touch the TLS context.
    targets = settings.registry if names is None else names
    secure = any(settings.base_url(name).startswith("https:") for name in targets)
    return httpx.AsyncClient(
        verify=tls_context() if secure else False,
        # Without the TLS context no request may use HTTPS at all (it would not be verified): refused outright.
        mounts=None if secure else {"https://": _NoHttps()},
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=False,
        # Only the encodings `body_decoder` decodes within the size limit.
        headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "modelsync"},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


@dataclass(slots=True)
class ProviderSession:
    """Everything an adapter's fetch needs: its registry row, settings, base URL, key and HTTP client."""

    spec: ProviderSpec
    settings: Settings
    base_url: str
    key: SecretStr | None
    http: ListingClient
    progress: Callable[[str], None] = lambda _message: None

    def url(self, path: str) -> str:
        """Join a path onto the provider's base URL."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def page_size(self, default: int) -> int:
        """The page size to ask for: the registry row's, else the adapter's default."""
        return self.spec.page_size or default

    def check_count(self, count: int) -> None:
        """Refuse a listing of more models than MODELSYNC_MAX_MODELS_PER_PROVIDER allows (a FetchError)."""
        limit = self.settings.max_models_per_provider
        if count > limit:
            raise self.http.failure(
                "too_many",
                f"listed more than {limit:,} models (MODELSYNC_MAX_MODELS_PER_PROVIDER); nothing was changed. "
                "Raise MODELSYNC_MAX_MODELS_PER_PROVIDER if the listing is really that long",
            )


def open_session(
    client: httpx.AsyncClient,
    settings: Settings,
    name: str,
    auth: Callable[[str], dict[str, str]],
    progress: Callable[[str], None],
    sleep: Sleep = asyncio.sleep,
    quirks: ErrorClassifier | None = None,
) -> ProviderSession:
    """Build a provider's session: auth headers from its key, its error quirks, a redactor that knows every key."""
    spec = settings.registry[name]
    key = settings.api_key(name)
    base_url = settings.base_url(name)
    secret = key.get_secret_value() if key is not None else ""
    target = Target(
        label=spec.label,
        base_url=base_url,
        key_env=spec.key_env[0] if spec.key_env else "",
        base_url_env=spec.base_url_env,
        has_key=key is not None,
        # Every configured key, not only this provider's: a message must not carry any of them.
        redact=Redactor([secret, *all_secrets(settings)]),
    )
    headers = auth(secret) if secret else {}
    policy = RetryPolicy.from_settings(settings)
    http = ListingClient(
        client,
        target,
        policy,
        headers=headers,
        sleep=sleep,
        timeout=settings.http_timeout,
        quirks=quirks,
        bounds=Bounds.from_settings(settings),
    )
    return ProviderSession(spec, settings, base_url, key, http, progress)


def all_secrets(settings: Settings) -> list[str]:
    """The value of every provider key that is set."""
    keys = (settings.api_key(name) for name in settings.registry)
    return [key.get_secret_value() for key in keys if key is not None]


def bearer(secret: str) -> dict[str, str]:
    """The `Authorization: Bearer` header most providers take."""
    return {"Authorization": f"Bearer {secret}"}
