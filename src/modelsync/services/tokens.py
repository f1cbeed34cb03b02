"""API tokens: issue, list, revoke, verify, and remember verified ones.

Rules:
- A token is 256 random bits, shown once at creation and stored only as its SHA-256 digest. A fast digest is
  enough here because the token is high-entropy: nobody can guess a 2^256 preimage, so the slow, salted hashing
  that protects low-entropy passwords adds nothing, and an unsalted digest lets a request find its token with one
  indexed equality look-up instead of an Argon2 verification (about 50 ms and 64 MiB) per request.
- The first characters of a token (its prefix) are kept in clear so that an operator can tell tokens apart.
- A token works until it expires, is revoked, or its user is disabled; `last_used_at` is refreshed at most once a
  minute per token, so that authenticated reads do not turn into a write per request.
- A server may remember tokens it has verified (`TokenCache`) while the access part of the catalog stamp
  (services/versions.py: newest revocation, newest deactivation) is unchanged; expiry is still checked on every
  request, so a cached token stops at its expiry to the second, and a revocation on any replica stops it within one
  stamp interval. A cached token is verified again at least once a minute (which also records its use), so a role
  changed in the database takes effect within a minute.
- Every token change is audit-logged in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db import repo
from modelsync.db.dialect import short_wait
from modelsync.db.tables import api_token, app_user
from modelsync.errors import AuthenticationError, NotFoundError, UsageError
from modelsync.records import utc_now
from modelsync.services.auth import Principal

TOKEN_SCHEME: Final = "msk_"
TOKEN_PREFIX_LENGTH: Final = 12
MAX_TOKEN_LENGTH: Final = 256
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
MAX_TOKEN_LIFETIME: Final = timedelta(days=3650)

_DURATION = re.compile(r"(\d{1,6})\s*([mhdw])")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: the secret is here and nowhere else, ever."""

    id: int
    user: str
    prefix: str
    secret: str
    expires_at: datetime | None


def hash_token(token: str) -> str:
    """Return the stored form of a token: its SHA-256 digest in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_duration(text: str) -> timedelta | None:
    """Parse a lifetime such as 90d, 12h, 30m or 2w; `never` means no expiry."""
    value = text.strip().lower()
    if value in ("never", "none", "0"):
        return None
    match = _DURATION.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"{text!r} is not a lifetime; use a number and a unit (30m, 12h, 90d, 2w) or never.")
    lifetime = int(match.group(1)) * _UNITS[match.group(2)]
    if lifetime > MAX_TOKEN_LIFETIME:
        raise UsageError("a token lifetime cannot exceed 3650 days; use a shorter --expires-in or never.")
    return lifetime


def create_token(engine: Engine, user: str, lifetime: timedelta | None, actor: str | None) -> IssuedToken:
    """Issue a new token for a user; the secret is returned once and only its digest is stored."""
    secret = TOKEN_SCHEME + secrets.token_urlsafe(32)
    prefix = secret[:TOKEN_PREFIX_LENGTH]
    now = utc_now()
    expires_at = now + lifetime if lifetime is not None else None
    with engine.begin() as conn:
        row = conn.execute(sa.select(app_user.c.id, app_user.c.disabled_at).where(app_user.c.name == user)).first()
        if row is None:
            raise NotFoundError(f"no user named {user!r}; `modelsync users list` shows them.")
        if row.disabled_at is not None:
            raise UsageError(f"user {user!r} is disabled; a token for it would not work.")
        token_id = conn.execute(
            sa.insert(api_token)
            .values(user_id=row.id, token_hash=hash_token(secret), prefix=prefix, created_at=now, expires_at=expires_at)
            .returning(api_token.c.id)
        ).scalar_one()
        repo.append_audit(
            conn,
            action="token.create",
            outcome="ok",
            now=now,
            actor=actor,
            target=user,
            details={
                "tokenId": token_id,
                "prefix": prefix,
                "expiresAt": expires_at.isoformat() if expires_at else None,
            },
        )
    return IssuedToken(int(token_id), user, prefix, secret, expires_at)


def revoke_token(engine: Engine, token_id: int, actor: str | None) -> bool:
    """Revoke a token; return False when it was already revoked."""
    now = utc_now()
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(api_token.c.revoked_at, api_token.c.prefix, app_user.c.name)
            .join(app_user, app_user.c.id == api_token.c.user_id)
            .where(api_token.c.id == token_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no token with id {token_id}; `modelsync tokens list` shows them.")
        if row.revoked_at is not None:
            return False
        conn.execute(sa.update(api_token).where(api_token.c.id == token_id).values(revoked_at=now))
        repo.append_audit(
            conn,
            action="token.revoke",
            outcome="ok",
            now=now,
            actor=actor,
            target=row.name,
            details={"tokenId": token_id, "prefix": row.prefix},
        )
    return True


def list_tokens(engine: Engine, user: str | None = None) -> list[dict[str, Any]]:
    """Return tokens (never their secret or digest), newest first."""
    query = (
        sa.select(
            api_token.c.id,
            app_user.c.name,
            api_token.c.prefix,
            api_token.c.created_at,
            api_token.c.expires_at,
            api_token.c.revoked_at,
            api_token.c.last_used_at,
        )
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .order_by(api_token.c.id.desc())
    )
    if user is not None:
        query = query.where(app_user.c.name == user)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@dataclass(frozen=True, slots=True)
class TokenRejection:
    """Why a presented token was refused, and whose it was when that is known (for the audit log)."""

    reason: str
    user_id: int | None = None
    user: str | None = None


class InvalidTokenError(AuthenticationError):
    """A presented token is unknown, expired, revoked or belongs to a disabled user."""

    def __init__(self, rejection: TokenRejection) -> None:
        super().__init__(
            f"the API token is {rejection.reason}; create a new one with `modelsync tokens create --user NAME`."
        )
        self.rejection = rejection


def authenticate(engine: Engine, token: str) -> Principal:
    """Return the caller a token belongs to, or raise InvalidTokenError saying why it is refused."""
    return _verify(engine, token)[0]


def _verify(engine: Engine, token: str) -> tuple[Principal, datetime | None]:
    if not token.startswith(TOKEN_SCHEME) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError(TokenRejection("unknown"))
    query = (
        sa.select(
            api_token.c.id,
            api_token.c.expires_at,
            api_token.c.revoked_at,
            api_token.c.last_used_at,
            app_user.c.id.label("user_id"),
            app_user.c.name,
            app_user.c.role,
            app_user.c.disabled_at,
        )
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .where(api_token.c.token_hash == hash_token(token))
    )
    now = utc_now()
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise InvalidTokenError(TokenRejection("unknown"))
    for reason, refused in (
        ("revoked", row.revoked_at is not None),
        ("expired", row.expires_at is not None and row.expires_at <= now),
        ("owned by a disabled user", row.disabled_at is not None),
    ):
        if refused:
            raise InvalidTokenError(TokenRejection(reason, row.user_id, row.name))
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        _touch(engine, row.id, now)
    return Principal(row.user_id, row.name, row.role, row.id), row.expires_at


def _touch(engine: Engine, token_id: int, now: datetime) -> None:
    # Best effort: last use is informational, so a busy database (a sync holding SQLite's write lock) must not
    # hold up the request; on SQLite the wait is cut to 200 ms for this one statement.
    statement = sa.update(api_token).where(api_token.c.id == token_id).values(last_used_at=now)
    try:
        with engine.connect() as conn, short_wait(conn, 200), conn.begin():
            conn.execute(statement)
    except sa.exc.OperationalError:
        return


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires_at: datetime | None
    touched_at: datetime


class TokenCache:
    """Tokens this process verified, kept while the access stamp they were verified under is current."""

    def __init__(self, engine: Engine, max_entries: int = 10_000) -> None:
        self._engine = engine
        self._max = max_entries
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._access: object = None
        self._lock = threading.Lock()

    def cached(self, token: str, access: object) -> Principal | None:
        """The caller of a token verified under the same access stamp, unexpired, whose last use is recorded."""
        now = utc_now()
        with self._lock:
            if access is not self._access and access != self._access:
                self._entries.clear()
                self._access = access
                return None
            entry = self._entries.get(hash_token(token))
        if entry is None or (entry.expires_at is not None and entry.expires_at <= now):
            return None
        if now - entry.touched_at >= LAST_USED_RESOLUTION:
            return None  # verify again, which records the use
        return entry.principal

    def authenticate(self, token: str, access: object) -> Principal:
        """Verify a token against the database and remember it under `access`."""
        principal, expires_at = _verify(self._engine, token)
        with self._lock:
            if access is self._access or access == self._access:
                self._entries[hash_token(token)] = _Verified(principal, expires_at, utc_now())
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return principal
