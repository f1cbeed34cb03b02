"""Rendered catalog reads kept in memory while the catalog has not moved.

Rules: an entry is the exact JSON body a read endpoint returned for one path and query; every entry is filed under
the catalog part of the stamp (services/versions.py) that was current before it was computed, and the whole cache
is emptied when the stamp moves, so a cached answer is never older than the stamp check interval (1 s) and a
write through this process is visible at once. Responses do not depend on who asks (every reader sees the same
catalog), so one entry serves every caller. Errors are never cached. Size is bounded by entries and bytes; the
least recently used entries go first. Only the event loop thread touches it, so it needs no lock.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Request, Response


class ResponseCache:
    """JSON bodies by request key, for one catalog version at a time."""

    def __init__(self, max_entries: int = 8192, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._version: object = None
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def _align(self, version: object) -> None:
        if version is not self._version and version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = version

    def get(self, key: str, version: object) -> bytes | None:
        """The body stored for `key` under `version`, if any."""
        self._align(version)
        body = self._entries.get(key)
        if body is not None:
            self._entries.move_to_end(key)
        return body

    def put(self, key: str, version: object, body: bytes) -> None:
        """Store a body computed after `version` was read."""
        self._align(version)
        if len(body) > self._max_bytes // 8:
            return
        previous = self._entries.pop(key, None)
        self._bytes += len(body) - (len(previous) if previous else 0)
        self._entries[key] = body
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)


def scope_key(path: str, query: bytes) -> str:
    """Path plus the query string exactly as sent.

    Not reordered: with a repeated scalar parameter the last one wins, so `limit=5&limit=10` and
    `limit=10&limit=5` are different requests.
    """
    return path + "?" + query.decode("latin-1") if query else path


def request_key(request: Request) -> str:
    """The cache key of a request."""
    return scope_key(request.scope["path"], request.scope.get("query_string", b""))


# Cache misses are database reads plus rendering, mostly holding the GIL: a few at a time finish sooner than forty
# threads taking turns, and leave the pool's other threads to the syncs and writes.
RENDER_THREADS = 4


def _render_limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter = getattr(state, "render_limiter", None)
    if limiter is None:
        limiter = state.render_limiter = anyio.CapacityLimiter(RENDER_THREADS)
    return limiter


async def cached_json(request: Request, compute: Callable[[], Any], vary: str = "") -> Response:
    """Answer from the cache, or compute (in the thread pool: it queries the database), render and remember.

    `vary` is whatever else the answer depends on besides the catalog and the request (the change feed: how many
    scheduled-price times the clock has passed).
    """
    cache: ResponseCache = request.app.state.responses
    version = request.state.stamp.catalog
    key = request_key(request) + (f"#{vary}" if vary else "")
    body = cache.get(key, version)
    if body is None:

        def render() -> bytes:
            return json.dumps(compute(), separators=(",", ":")).encode()

        body = await anyio.to_thread.run_sync(render, limiter=_render_limiter(request))
        cache.put(key, version, body)
    return Response(body, media_type="application/json")
