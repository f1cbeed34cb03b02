"""Request dependencies: the app's engine, settings and caches, the caller, and role checks.

Rules:
- The caller is identified only by `Authorization: Bearer <token>`; a header that is present but not a valid
  bearer token is refused (401) even where anonymous reads are allowed, so a broken client notices.
- `require(role)` guards admin endpoints: no caller -> 401, a lower role -> 403, and every such denial is counted
  in the audit log before the error is raised: one entry per client (address, and user when known) and minute,
  with the count (services/audit.py `DenialLog`), naming the latest endpoint and reason.
- `reader` guards read endpoints: a token is required unless `MODELSYNC_PUBLIC_READ=true`. Its denials are counted
  towards the rate limit below but not audit-logged.
- Rate limit: a client (source address) refused `DenialLog.limit` times in the current minute gets 429 with
  `Retry-After` for the rest of the minute instead of 401/403, with no database access at all: its token is
  checked only against the tokens this process has already verified (so a valid, known token behind the same
  address still works) and nothing is written (the refusals are counted in memory and flushed later).
- Both first bring the catalog stamp up to date (services/versions.py) and leave it in `request.state.stamp` for
  the caches. They are coroutines that run database work (the stamp check when due, a token not yet verified, an
  audit write) in the thread pool, so a request served from the caches never leaves the event loop and a slow
  database never blocks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from modelsync.api.limits import TooManyDenialsError
from modelsync.errors import AuthenticationError, PermissionDeniedError
from modelsync.services.audit import Denial, DenialLog
from modelsync.services.auth import Principal
from modelsync.services.prices import PriceIndex
from modelsync.services.tokens import InvalidTokenError, TokenCache
from modelsync.services.versions import CatalogWatch
from modelsync.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token from `modelsync tokens create --user NAME`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

T = TypeVar("T")
_NO_TOKEN = (
    "this endpoint needs an API token: send `Authorization: Bearer <token>`; "
    "an operator creates one with `modelsync tokens create --user NAME`."
)


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_prices(request: Request) -> PriceIndex:
    """The app's price index."""
    return request.app.state.prices


def get_watch(request: Request) -> CatalogWatch:
    """The app's catalog watch."""
    return request.app.state.watch


def get_denials(request: Request) -> DenialLog:
    """The app's log of denied attempts (rate limit and audit aggregation)."""
    return request.app.state.denials


def client_ip(request: Request) -> str | None:
    """The address the request came from (as uvicorn reports it, proxy headers only from trusted proxies)."""
    return request.client.host if request.client else None


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(function, *args)


class _Unverified(Exception):
    """The token is not among those this process has verified, and the client may not make it look any up."""


async def _caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None, memory_only: bool = False
) -> Principal | None:
    watch = get_watch(request)
    stamp = watch.stamp() if not watch.due() else await _in_thread(watch.check)
    request.state.stamp = stamp
    if credentials is None:
        if request.headers.get("authorization"):
            raise AuthenticationError("the Authorization header must be `Bearer <token>`.")
        return None
    tokens: TokenCache = request.app.state.tokens
    principal = tokens.cached(credentials.credentials, stamp.access)
    if principal is None:
        if memory_only:
            raise _Unverified
        principal = await _in_thread(tokens.authenticate, credentials.credentials, stamp.access)
    return principal


def _denial(request: Request, error: Exception, role: str | None, who: Principal | None) -> Denial:
    user_id, actor, reason, status = None, None, "no token", 401
    if isinstance(error, _Unverified):
        reason, status = "rate limited", 429
    elif isinstance(who, Principal):
        user_id, actor, reason, status = who.user_id, who.name, f"role {who.role} below {role}", 403
    elif isinstance(error, InvalidTokenError):
        user_id, actor, reason = error.rejection.user_id, error.rejection.user, f"token {error.rejection.reason}"
    elif request.headers.get("authorization"):
        reason = "malformed Authorization header"
    return Denial(client_ip(request), user_id, actor, f"{request.method} {request.url.path}", status, reason, role)


async def _refuse(request: Request, error: Exception, role: str | None, who: Principal | None) -> NoReturn:
    """Count a refusal (audit-logged at admin endpoints) and raise it, or 429 when the client is over its limit."""
    denials = get_denials(request)
    retry_after, row = denials.count(
        _denial(request, error, role, who), audited=role is not None, refuse=isinstance(error, _Unverified)
    )
    if retry_after is not None:
        raise TooManyDenialsError(retry_after) from None
    if row is not None:
        await _in_thread(denials.write, row)
    raise error


async def _admit(request: Request, credentials: HTTPAuthorizationCredentials | None, role: str | None) -> Any:
    # role None: a reader (any valid token; anyone when public reads are on).
    principal: Principal | None = None
    try:
        blocked = get_denials(request).retry_after(client_ip(request)) is not None
        principal = await _caller(request, credentials, memory_only=blocked)
        if principal is None:
            if role is None and get_settings(request).public_read:
                return None
            raise AuthenticationError(_NO_TOKEN)
        if role is not None and not principal.allows(role):
            raise PermissionDeniedError(
                f"{principal.name} has the {principal.role} role; this endpoint needs {role} or higher."
            )
        return principal
    except (AuthenticationError, PermissionDeniedError, _Unverified) as exc:
        await _refuse(request, exc, role, principal)


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers whose role is at least `role`, audit-logging every refusal."""

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        principal: Principal = await _admit(request, credentials, role)
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


async def reader(request: Request, credentials: Credentials) -> Principal | None:
    """Admit any valid token, or anyone at all when public reads are enabled."""
    principal: Principal | None = await _admit(request, credentials, None)
    return principal


Reader = Annotated[Principal | None, Depends(reader)]
Admin = Annotated[Principal, Depends(require("admin"))]
SuperAdmin = Annotated[Principal, Depends(require("super_admin"))]
