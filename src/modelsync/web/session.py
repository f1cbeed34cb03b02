"""Signed session cookies and CSRF tokens for the admin web UI.

Rules:
- The cookie holds a random session id, the user id after sign-in, and an expiry, signed with HMAC-SHA256 under
  the session key; anything unsigned, altered or expired is read as no session. The user is looked up on every
  request (services/auth.active_user), so a disabled user or a changed role takes effect at once.
- Signing in starts a new session id (a session id planted before sign-in is never promoted).
- CSRF tokens are bound to the session id (an HMAC of it), so every form carries one and a POST without the
  token of its own session is refused; the sign-in form is covered too, by the anonymous session.
- The key comes from MODELSYNC_SESSION_SECRET; unset, a random key is made once per process (and a warning
  logged once): sessions then end with the process and are not shared between workers.
- Cookies are HttpOnly and SameSite=Lax, and Secure when the request came over HTTPS (uvicorn sets the scheme
  from X-Forwarded-Proto for trusted proxies).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Final

from modelsync.settings import Settings

log = logging.getLogger("modelsync.web")

COOKIE: Final = "modelsync_session"
LIFETIME_S: Final = 12 * 3600
_PROCESS_KEY: Final = secrets.token_bytes(32)
_warned = False


def session_key(settings: Settings) -> bytes:
    """The key that signs sessions: the configured secret, else this process's random key."""
    global _warned
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    if not _warned:
        _warned = True
        log.warning(
            "MODELSYNC_SESSION_SECRET is not set: web sessions are signed with a random per-process key, so they "
            "end when the server restarts and are not shared between workers"
        )
    return _PROCESS_KEY


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: its id, the signed-in user's id (None before sign-in) and its expiry (epoch seconds)."""

    sid: str
    user_id: int | None
    expires: int


def new_session(user_id: int | None = None, now: float | None = None) -> Session:
    """A fresh session with a new random id."""
    moment = time.time() if now is None else now
    return Session(secrets.token_urlsafe(18), user_id, int(moment) + LIFETIME_S)


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode().rstrip("=")


def encode(session: Session, key: bytes) -> str:
    """The cookie value: base64 JSON payload, a dot, and its signature."""
    data = {"s": session.sid, "u": session.user_id, "e": session.expires}
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"{payload.decode().rstrip('=')}.{_sign(key, payload.rstrip(b'='))}"


def decode(value: str | None, key: bytes, now: float | None = None) -> Session | None:
    """The session a cookie holds, or None when it is missing, forged, malformed or expired."""
    if not value or len(value) > 512:
        return None
    payload, dot, signature = value.partition(".")
    if not dot or not hmac.compare_digest(_sign(key, payload.encode()), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    sid, user_id, expires = data.get("s"), data.get("u"), data.get("e")
    if not isinstance(sid, str) or not isinstance(expires, int) or not (user_id is None or isinstance(user_id, int)):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return Session(sid, user_id, expires)


def csrf_token(session: Session, key: bytes) -> str:
    """The CSRF token of a session (what every form of its pages carries)."""
    return _sign(key, b"csrf:" + session.sid.encode())


def csrf_ok(session: Session | None, key: bytes, token: str | None) -> bool:
    """Whether a submitted token is the one of this session."""
    if session is None or not token:
        return False
    return hmac.compare_digest(csrf_token(session, key), token)
