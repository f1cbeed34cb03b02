"""`modelsync users|tokens|serve`: users and tokens from the command line, the way an operator makes them."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner

import dbread
from apiserver import serve_process
from modelsync.cli import app as cli_app
from modelsync.cli import common
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import api_token, app_user
from modelsync.records import utc_now
from modelsync.services import auth, tokens

PASSWORD = "a long enough passphrase"


@pytest.fixture
def db(settings):
    engine = create_db_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_create_a_user_from_stdin_and_list_it(cli, db):
    result = cli("users", "create", "root", "--role", "super_admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.code == 0, result.err
    assert "created user root" in result.out and PASSWORD not in result.out + result.err
    assert auth.verify_password(db, "root", PASSWORD)
    listing = cli("users", "list", "--json")
    assert listing.code == 0
    [user] = json.loads(listing.out)
    assert (user["name"], user["role"], user["liveTokens"]) == ("root", "super_admin", 0)
    assert "root" in cli("users", "list").out
    [entry] = dbread.audit_entries(db, "user.create")
    assert entry["target"] == "root" and entry["actor"].startswith("cli")


def test_the_password_prompt_asks_twice_and_hides_the_input(settings, db):
    common.settings.cache_clear()
    common.database.cache_clear()
    result = CliRunner().invoke(
        cli_app.app, ["users", "create", "ada", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    common.database.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert auth.verify_password(db, "ada", PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "create", "x", "--role", "owner", "--password-stdin"], PASSWORD, "unknown role 'owner'"),
        (["users", "create", "bad name", "--role", "viewer", "--password-stdin"], PASSWORD, "not a valid user name"),
        (["users", "create", "vic", "--role", "viewer", "--password-stdin"], "short\n", "at least 12"),
        (["users", "create", "vic", "--role", "viewer", "--password-stdin"], "", "standard input is empty"),
    ],
)
def test_bad_user_input_is_exit_4_with_the_reason_and_creates_nothing(cli, db, args, stdin, message):
    result = cli(*args, stdin=stdin)
    assert result.code == 4 and message in result.err
    assert dbread.count(db, app_user) == 0


def test_a_token_is_printed_alone_on_the_last_line_and_only_its_digest_is_stored(cli, db):
    cli("users", "create", "vic", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    result = cli("tokens", "create", "--user", "vic", "--expires-in", "30d")
    assert result.code == 0, result.err
    token = result.out.rstrip("\n").splitlines()[-1]
    assert token.startswith("msk_") and " " not in token
    assert tokens.authenticate(db, token).name == "vic"
    row = dbread.one_row(db, api_token)
    assert token not in repr(dict(row)) and row["prefix"] == token[:12]
    assert abs(row["expires_at"] - (utc_now() + timedelta(days=30))) < timedelta(minutes=1)
    listing = cli("tokens", "list", "--json")
    assert token not in listing.out and row["token_hash"] not in listing.out
    [shown] = json.loads(listing.out)
    assert (shown["user"], shown["prefix"], shown["revokedAt"]) == ("vic", token[:12], None)


def test_tokens_default_to_90_days_and_never_is_possible(cli, db):
    cli("users", "create", "vic", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    assert cli("tokens", "create", "--user", "vic").code == 0
    assert cli("tokens", "create", "--user", "vic", "--expires-in", "never").code == 0
    expiries = [token["expires_at"] for token in dbread.rows(db, api_token)]
    assert abs(expiries[0] - (utc_now() + timedelta(days=90))) < timedelta(minutes=1)
    assert expiries[1] is None


def test_revoking_a_token_stops_it(cli, db):
    cli("users", "create", "vic", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    token = cli("tokens", "create", "--user", "vic").out.splitlines()[-1]
    token_id = tokens.authenticate(db, token).token_id
    result = cli("tokens", "revoke", str(token_id))
    assert result.code == 0 and "revoked" in result.out
    with pytest.raises(tokens.InvalidTokenError, match="revoked"):
        tokens.authenticate(db, token)
    assert "already revoked" in cli("tokens", "revoke", str(token_id)).out
    missing = cli("tokens", "revoke", "999")
    assert missing.code == 4 and "no token with id 999" in missing.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tokens", "create", "--user", "ghost"], "no user named 'ghost'"),
        (["tokens", "create", "--user", "vic", "--expires-in", "forever"], "not a lifetime"),
    ],
)
def test_bad_token_requests_are_exit_4(cli, db, args, message):
    cli("users", "create", "vic", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    result = cli(*args)
    assert result.code == 4 and message in result.err
    assert dbread.count(db, api_token) == 0


def test_serve_runs_the_api_in_its_own_process(settings, db, clean_env):
    auth.create_user(db, "vic", "viewer", PASSWORD, actor="test")
    token = tokens.create_token(db, "vic", None, actor="test").secret
    process, url = serve_process(clean_env, {"DATABASE_URL": settings.database_url}, "--log-level", "warning")
    try:
        health = httpx.get(f"{url}/healthz", timeout=2)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        assert httpx.get(f"{url}/api/ai-models").status_code == 401
        listing = httpx.get(f"{url}/api/ai-models", headers={"Authorization": f"Bearer {token}"})
        assert listing.status_code == 200 and listing.json() == {"data": [], "nextCursor": None}
    finally:
        process.terminate()
        process.wait(timeout=30)
