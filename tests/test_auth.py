"""Users, roles and API tokens against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

import dbread
from modelsync.db.tables import api_token, app_user
from modelsync.errors import NotFoundError, UsageError
from modelsync.records import utc_now
from modelsync.services import auth, tokens
from modelsync.services.tokens import InvalidTokenError

PASSWORD = "correct horse battery staple"


def test_passwords_are_stored_as_argon2id_hashes_and_verify(engine):
    auth.create_user(engine, "root", "super_admin", PASSWORD, actor="cli:ops")

    stored = dbread.one_row(engine, app_user)["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in dbread.database_text(engine)
    assert auth.verify_password(engine, "root", PASSWORD)
    assert not auth.verify_password(engine, "root", PASSWORD + "!")
    assert not auth.verify_password(engine, "nobody", PASSWORD)
    [entry] = dbread.audit_entries(engine, "user.create")
    assert entry["actor"] == "cli:ops" and entry["target"] == "root" and entry["details"]["role"] == "super_admin"


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("ok", "emperor", PASSWORD, "unknown role 'emperor'"),
        ("bad name!", "viewer", PASSWORD, "not a valid user name"),
        ("", "viewer", PASSWORD, "not a valid user name"),
        ("ok", "viewer", "short", "at least 12 characters"),
    ],
)
def test_invalid_users_are_refused_with_the_reason(engine, name, role, password, message):
    with pytest.raises(UsageError, match=message):
        auth.create_user(engine, name, role, password, actor=None)
    assert dbread.count(engine, app_user) == 0


def test_a_user_name_is_unique(engine):
    auth.create_user(engine, "ada", "admin", PASSWORD, actor=None)
    with pytest.raises(UsageError, match="already exists"):
        auth.create_user(engine, "ada", "viewer", PASSWORD, actor=None)


def test_a_token_is_stored_only_as_its_sha256_digest_and_authenticates(engine):
    auth.create_user(engine, "vic", "viewer", PASSWORD, actor=None)
    issued = tokens.create_token(engine, "vic", timedelta(days=90), actor="cli:ops")

    assert issued.secret.startswith("msk_") and len(issued.secret) >= 40
    assert issued.secret not in dbread.database_text(engine)
    row = dbread.one_row(engine, api_token)
    assert row["token_hash"] == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert row["prefix"] == issued.secret[:12] and issued.prefix == row["prefix"]
    assert abs(row["expires_at"] - (utc_now() + timedelta(days=90))) < timedelta(minutes=1)

    principal = tokens.authenticate(engine, issued.secret)
    assert (principal.name, principal.role, principal.token_id) == ("vic", "viewer", issued.id)
    [entry] = dbread.audit_entries(engine, "token.create")
    assert entry["target"] == "vic" and entry["details"]["tokenId"] == issued.id
    assert issued.secret not in repr(entry["details"])


def test_two_tokens_are_never_equal(engine):
    auth.create_user(engine, "vic", "viewer", PASSWORD, actor=None)
    secrets = {tokens.create_token(engine, "vic", None, actor=None).secret for _ in range(5)}
    assert len(secrets) == 5


@pytest.mark.parametrize(
    "token",
    ["", "msk_", "msk_not-a-real-token-at-all", "Bearer x", "ghp_" + "a" * 40, "msk_" + "a" * 300],
)
def test_unknown_tokens_are_refused(engine, token):
    with pytest.raises(InvalidTokenError) as caught:
        tokens.authenticate(engine, token)
    assert caught.value.rejection.reason == "unknown" and caught.value.http_status == 401


def test_revoked_expired_and_disabled_tokens_are_refused_with_the_owner_known(engine):
    auth.create_user(engine, "ada", "admin", PASSWORD, actor=None)
    revoked = tokens.create_token(engine, "ada", None, actor=None)
    expired = tokens.create_token(engine, "ada", timedelta(minutes=1), actor=None)
    assert tokens.revoke_token(engine, revoked.id, actor="cli:ops") is True
    assert tokens.revoke_token(engine, revoked.id, actor="cli:ops") is False
    with engine.begin() as conn:
        conn.execute(
            sa.update(api_token).where(api_token.c.id == expired.id).values(expires_at=utc_now() - timedelta(seconds=1))
        )

    for token, reason in ((revoked, "revoked"), (expired, "expired")):
        with pytest.raises(InvalidTokenError) as caught:
            tokens.authenticate(engine, token.secret)
        assert caught.value.rejection.reason == reason
        assert caught.value.rejection.user == "ada"

    live = tokens.create_token(engine, "ada", None, actor=None)
    assert tokens.authenticate(engine, live.secret).name == "ada"
    with engine.begin() as conn:
        conn.execute(sa.update(app_user).values(disabled_at=utc_now()))
    with pytest.raises(InvalidTokenError, match="disabled"):
        tokens.authenticate(engine, live.secret)
    assert [e["details"]["tokenId"] for e in dbread.audit_entries(engine, "token.revoke")] == [revoked.id]


def test_revoking_or_issuing_for_unknown_things_is_a_clear_error(engine):
    with pytest.raises(NotFoundError, match="no token with id 42"):
        tokens.revoke_token(engine, 42, actor=None)
    with pytest.raises(NotFoundError, match="no user named 'ghost'"):
        tokens.create_token(engine, "ghost", None, actor=None)


def test_last_use_is_recorded_at_most_once_a_minute(engine):
    auth.create_user(engine, "vic", "viewer", PASSWORD, actor=None)
    issued = tokens.create_token(engine, "vic", None, actor=None)

    def last_used():
        return dbread.one_row(engine, api_token)["last_used_at"]

    assert last_used() is None
    tokens.authenticate(engine, issued.secret)
    first = last_used()
    assert first is not None and utc_now() - first < timedelta(seconds=10)
    tokens.authenticate(engine, issued.secret)
    assert last_used() == first  # within the minute: no write
    old = utc_now() - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(sa.update(api_token).values(last_used_at=old))
    tokens.authenticate(engine, issued.secret)
    assert last_used() > old


def test_roles_are_ranked():
    viewer = auth.Principal(1, "v", "viewer", 1)
    admin = auth.Principal(2, "a", "admin", 2)
    root = auth.Principal(3, "r", "super_admin", 3)
    assert viewer.allows("viewer") and not viewer.allows("admin")
    assert admin.allows("viewer") and admin.allows("admin") and not admin.allows("super_admin")
    assert root.allows("super_admin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("never", None),
    ],
)
def test_token_lifetimes_parse(text, expected):
    assert tokens.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "-1d", "0d", "1y", "99999d", "12 parsecs"])
def test_bad_token_lifetimes_say_what_to_write(text):
    with pytest.raises(UsageError, match=r"30m, 12h, 90d|3650 days"):
        tokens.parse_duration(text)
