"""Users and roles.

Rules:
- Roles are ranked: viewer (read) < admin (model decisions) < super_admin (everything, syncs and the audit log).
- Passwords are hashed with Argon2id (memory-hard, salted); the plain password is never stored or logged.
- Every user change is audit-logged in the same transaction as the change.
- API tokens, which is how users call the API, live in services/tokens.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db import repo
from modelsync.db.tables import api_token, app_user
from modelsync.errors import UsageError
from modelsync.records import utc_now

Role = Literal["viewer", "admin", "super_admin"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "admin", "super_admin")
ROLE_RANK: Final[dict[str, int]] = {role: rank for rank, role in enumerate(ROLES)}

MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    name: str
    role: str
    token_id: int

    def allows(self, role: str) -> bool:
        """Whether this caller's role is at least `role`."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def _password_hasher() -> Any:
    from argon2 import PasswordHasher

    # argon2-cffi's defaults follow RFC 9106's second recommendation: Argon2id, 64 MiB, 3 passes.
    return PasswordHasher()


def check_role(role: str) -> Role:
    """Validate a role name."""
    if role not in ROLE_RANK:
        raise UsageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}.")
    return role  # type: ignore[return-value]


def check_user_name(name: str) -> str:
    """Validate a user name: letters, digits and . _ @ -, at most 128 characters."""
    if not _USER_NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid user name: use letters, digits and . _ @ - (at most 128, starting with a "
            "letter or digit)."
        )
    return name


def check_password(password: str) -> str:
    """Refuse passwords that are too short or absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsageError(f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters.")
    return password


def create_user(engine: Engine, name: str, role: str, password: str, actor: str | None) -> int:
    """Create a user with a role and an Argon2id password hash; return its id."""
    check_user_name(name)
    check_role(role)
    password_hash = _password_hasher().hash(check_password(password))
    now = utc_now()
    with engine.begin() as conn:
        exists = conn.execute(sa.select(app_user.c.id).where(app_user.c.name == name)).first()
        if exists is not None:
            raise UsageError(f"a user named {name!r} already exists; choose another name.")
        user_id = conn.execute(
            sa.insert(app_user)
            .values(name=name, role=role, password_hash=password_hash, created_at=now)
            .returning(app_user.c.id)
        ).scalar_one()
        repo.append_audit(
            conn,
            action="user.create",
            outcome="ok",
            now=now,
            actor=actor,
            target=name,
            details={"role": role, "userId": user_id},
        )
    return int(user_id)


def verify_password(engine: Engine, name: str, password: str) -> bool:
    """Check a user's password (for interactive log-ins); a disabled or unknown user never verifies."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with engine.connect() as conn:
        row = conn.execute(
            sa.select(app_user.c.password_hash, app_user.c.disabled_at).where(app_user.c.name == name)
        ).first()
    if row is None or row.disabled_at is not None:
        return False
    try:
        return bool(_password_hasher().verify(row.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Return every user with its role and number of live tokens, by name."""
    now = utc_now()
    live = (
        sa.select(sa.func.count())
        .where(
            api_token.c.user_id == app_user.c.id,
            api_token.c.revoked_at.is_(None),
            sa.or_(api_token.c.expires_at.is_(None), api_token.c.expires_at > now),
        )
        .scalar_subquery()
    )
    query = sa.select(
        app_user.c.id, app_user.c.name, app_user.c.role, app_user.c.created_at, app_user.c.disabled_at, live
    ).order_by(app_user.c.name)
    with engine.connect() as conn:
        return [
            {
                "id": row[0],
                "name": row[1],
                "role": row[2],
                "createdAt": row[3],
                "disabledAt": row[4],
                "liveTokens": row[5],
            }
            for row in conn.execute(query)
        ]


def active_user(engine: Engine, user_id: int) -> Principal | None:
    """The user behind a web session as it is now (current role), or None when it is gone or disabled."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(app_user.c.name, app_user.c.role, app_user.c.disabled_at).where(app_user.c.id == user_id)
        ).first()
    if row is None or row.disabled_at is not None:
        return None
    # A session is not an API token; token_id 0 marks it so in anything that reads the principal.
    return Principal(user_id, row.name, row.role, 0)


def user_id_of(engine: Engine, name: str) -> int | None:
    """The id of a user by name (for a session after a verified sign-in), or None."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(app_user.c.id).where(app_user.c.name == name)).scalar()
    return int(found) if found is not None else None
