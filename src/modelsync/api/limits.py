"""Limits on what a request may carry and how often a client may be refused.

Rules:
- Bodies: a request that declares a larger `Content-Length` is refused with 413 before its body is read; a body
  sent without a length (chunked) is read up to the limit and refused with 413 the moment it exceeds it. Accepted
  bodies are small by construction, so the middleware buffers them and hands them on unchanged.
- Every request body of this API is JSON. `curl -d '{...}'` labels its body as a form
  (application/x-www-form-urlencoded) unless told otherwise; no endpoint takes forms, so such a body is read as the
  JSON it is (and one that is not JSON gets the usual 400 for malformed JSON).
- Parameters: no path or query parameter may hold a NUL character (PostgreSQL cannot store or compare one, and no
  stored value contains one): a path with NUL names nothing (404), a query parameter with NUL is invalid (422),
  answered before routing, on both backends alike.
- Denied attempts: a client with too many refused requests in the current minute is answered 429 with
  `Retry-After` (services/audit.py `DenialLog` counts them; api/deps.py decides).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelsync.errors import ModelsyncError

DEFAULT_MAX_BODY_BYTES = 64 * 1024
_FORM = b"application/x-www-form-urlencoded"


class TooManyDenialsError(ModelsyncError):
    """The client was refused too often this minute; it is answered 429 until the minute ends."""

    exit_code = 4
    http_status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many refused requests from this address; try again in {retry_after} s with a valid token."
        )
        self.retry_after = retry_after


def _json_error(status: int, code: str, message: str) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class ParameterGuard:
    """ASGI middleware refusing NUL characters in the path (404) and in query parameters (422)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or hand it on."""
        if scope["type"] == "http":
            refusal = _nul_refusal(scope)
            if refusal is not None:
                start, body = refusal
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _nul_refusal(scope: Scope) -> tuple[dict[str, Any], bytes] | None:
    if "\x00" in scope["path"]:
        return _json_error(404, "not_found", "nothing here has a NUL character in its path; check the id you sent.")
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                where = name.replace("\x00", "\\x00")[:64]
                return _json_error(
                    422, "invalid_request", f"query.{where}: must not contain a NUL character. See /docs."
                )
    return None


class BodySizeLimit:
    """ASGI middleware answering 413 to request bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        start, body = _json_error(
            413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes; send a smaller one."
        )
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then buffer the body up to the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() == _FORM:
            scope = {
                **scope,
                "headers": [
                    (name, b"application/json" if name == b"content-type" else value)
                    for name, value in scope["headers"]
                ],
            }
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False  # the server itself rejects a malformed length
            if too_large:
                await self._refuse(send)
                return
        if declared is None and headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
            return message
        return await receive()

    return replay
