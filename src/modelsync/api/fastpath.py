"""Cached catalog reads answered before routing.

Rules: a GET under /api/ai-models whose exact answer is in the response cache (api/cache.py) is sent straight
from it, without FastAPI's routing and parameter validation, which cost more than the answer itself. Only a
request that would certainly succeed is answered here: the catalog stamp is fresh (not due for a check), and the
caller is admitted by the same rules as the `reader` dependency, from memory only (public reads without an
Authorization header, or a bearer token this process has already verified under the current access stamp and
that has not expired). Everything else (no entry, unknown token, malformed header, a stamp check due) goes through
the normal route, which validates, audits and answers errors. Entries only exist for requests that the route
already validated and answered 200, so the answer is the same either way.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from modelsync.api.cache import scope_key

_PREFIX = "/api/ai-models"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class CachedReads:
    """ASGI middleware serving cache hits of catalog reads."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    def _hit(self, scope: Scope) -> bytes | None:
        state = self.state
        watch = state.watch
        if watch.due():
            return None
        stamp = watch.stamp()
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        if authorization is None:
            if not state.settings.public_read:
                return None
        else:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token or state.tokens.cached(token, stamp.access) is None:
                return None
        return state.responses.get(scope_key(scope["path"], scope.get("query_string", b"")), stamp.catalog)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a cache hit, or hand the request on."""
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(_PREFIX):
            body = self._hit(scope)
            if body is not None:
                headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
