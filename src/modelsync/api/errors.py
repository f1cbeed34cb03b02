"""Every error the API returns, as `{"error": {"code", "message"}}` with the right status.

Rules: modelsync errors keep their own status and code (errors.py); malformed JSON is 400, a well-formed body or
query that breaks the schema is 422 with every problem named; a client refused too often is 429 with
`Retry-After`; a database that cannot be reached is 503. Anything
unexpected is a 500 whose body says only that, with a reference to find it in the server log: no response ever
contains a stack trace, an SQL statement, a database URL or a secret.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelsync.errors import ModelsyncError, SyncBusyError

log = logging.getLogger("modelsync.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}
_MAX_PROBLEMS = 10


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An error response; 401s also say which scheme to use."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _modelsync_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelsyncError)
    extra: dict[str, Any] = {}
    if isinstance(exc, SyncBusyError):
        extra["runningRunId"] = exc.running_run_id
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.message)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(exc.http_status, exc.code, exc.message, headers, **extra)


def _where(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        detail = next(str(e.get("ctx", {}).get("error", "")) for e in errors if e.get("type") == "json_invalid")
        return error_response(
            400,
            "malformed_json",
            f"the request body is not valid JSON ({detail or 'cannot parse'}); send a JSON object.",
        )
    problems = [f"{_where(error.get('loc', ()))}: {error.get('msg', 'invalid')}" for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return error_response(422, "invalid_request", "; ".join(problems) + ". See /docs for the expected request.")


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs for the API."
    elif exc.status_code == 405:
        message = "this endpoint does not accept that method; see /docs for the API."
    return error_response(exc.status_code, _STATUS_CODES.get(exc.status_code, "error"), message)


def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    # The exception text carries SQL and parameters: it goes to the server log only.
    log.error("database error (reference %s): %s", reference, type(exc).__name__, exc_info=exc)
    return error_response(
        503,
        "database_unavailable",
        f"the database cannot be reached or refused the request; try again later (reference {reference}).",
    )


def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected error (reference %s)", reference, exc_info=exc)
    return error_response(
        500, "internal_error", f"internal error; the server log has the details under reference {reference}."
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(ModelsyncError, _modelsync_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa.exc.OperationalError, _database_error)
    app.add_exception_handler(sa.exc.InterfaceError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
