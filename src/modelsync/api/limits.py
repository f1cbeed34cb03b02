"""Request bodies: a size limit enforced before any handler parses the body, and JSON whatever curl says.

Rules: a request that declares a larger `Content-Length` is refused with 413 before its body is read; a body sent
without a length (chunked) is read up to the limit and refused with 413 the moment it exceeds it. Accepted bodies
are small by construction, so the middleware buffers them and hands them on unchanged.
Every request body of this API is JSON. `curl -d '{...}'` labels its body as a form
(application/x-www-form-urlencoded) unless told otherwise; no endpoint takes forms, so such a body is read as the
JSON it is (and one that is not JSON gets the usual 400 for malformed JSON).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 64 * 1024
_FORM = b"application/x-www-form-urlencoded"


class BodySizeLimit:
    """ASGI middleware answering 413 to request bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"the request body is larger than {self.max_bytes} bytes; send a smaller one.",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
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
