"""Request dependencies: the app's engine, settings and caches, the caller, and role checks.

Rules:
- The caller is identified only by `Authorization: Bearer <token>`; a header that is present but not a valid
  bearer token is refused (401) even where anonymous reads are allowed, so a broken client notices.
- `require(role)` guards admin endpoints: no caller -> 401, a lower role -> 403, and every such denial is written
  to the audit log (who when known, from which address, which endpoint, why) before the error is raised.
- `reader` guards read endpoints: a token is required unless `MODELSYNC_PUBLIC_READ=true`.
- Both first bring the catalog stamp up to date (services/versions.py) and leave it in `request.state.stamp` for
  the caches. They are coroutines that run database work (the stamp check when due, a token not yet verified, an
  audit write) in the thread pool, so a request served from the caches never leaves the event loop and a slow
  database never blocks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from modelsync.errors import AuthenticationError, PermissionDeniedError
from modelsync.services import audit
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
    return request.app.state.engine  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


def get_prices(request: Request) -> PriceIndex:
    """The app's price index."""
    return request.app.state.prices  # type: ignore[no-any-return]


def get_watch(request: Request) -> CatalogWatch:
    """The app's catalog watch."""
    return request.app.state.watch  # type: ignore[no-any-return]


def client_ip(request: Request) -> str | None:
    """The address the request came from (as uvicorn reports it, proxy headers only from trusted proxies)."""
    return request.client.host if request.client else None


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(function, *args)


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
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
        principal = await _in_thread(tokens.authenticate, credentials.credentials, stamp.access)
    return principal


def _audit_denial(request: Request, error: AuthenticationError | PermissionDeniedError, role: str, who: object) -> None:
    user_id, actor, reason = None, None, "no token"
    if isinstance(who, Principal):
        user_id, actor, reason = who.user_id, who.name, f"role {who.role} below {role}"
    elif isinstance(error, InvalidTokenError):
        user_id, actor, reason = error.rejection.user_id, error.rejection.user, f"token {error.rejection.reason}"
    elif request.headers.get("authorization"):
        reason = "malformed Authorization header"
    audit.record(
        get_engine(request),
        action="access.denied",
        outcome="denied",
        actor=actor,
        user_id=user_id,
        source_ip=client_ip(request),
        target=f"{request.method} {request.url.path}",
        details={"status": error.http_status, "reason": reason, "requiredRole": role},
    )


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers whose role is at least `role`, audit-logging every refusal."""

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        principal: Principal | None = None
        try:
            principal = await _caller(request, credentials)
            if principal is None:
                raise AuthenticationError(_NO_TOKEN)
            if not principal.allows(role):
                raise PermissionDeniedError(
                    f"{principal.name} has the {principal.role} role; this endpoint needs {role} or higher."
                )
        except (AuthenticationError, PermissionDeniedError) as exc:
            await _in_thread(_audit_denial, request, exc, role, principal)
            raise
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


async def reader(request: Request, credentials: Credentials) -> Principal | None:
    """Admit any valid token, or anyone at all when public reads are enabled."""
    principal = await _caller(request, credentials)
    if principal is None and not get_settings(request).public_read:
        raise AuthenticationError(_NO_TOKEN)
    return principal


Reader = Annotated[Principal | None, Depends(reader)]
Admin = Annotated[Principal, Depends(require("admin"))]
SuperAdmin = Annotated[Principal, Depends(require("super_admin"))]
