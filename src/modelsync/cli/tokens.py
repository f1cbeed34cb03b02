"""`modelsync tokens create|list|revoke`: API tokens.

Rules: a new token is printed once, alone on the last line of standard output (so `| tail -n1` captures it); it
cannot be shown again because only its digest is stored. Listings show the prefix, never the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from modelsync.cli.common import database, out, printable
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit
from modelsync.cli.users import operator

app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


def _when(value: datetime | None) -> str | None:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else None


@app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", "-u", help="The user the token acts as.")],
    expires_in: Annotated[str, typer.Option("--expires-in", help="Lifetime: 30m, 12h, 90d, 2w, or never.")] = "90d",
) -> None:
    """Create a token for a user and print it once, alone on the last line."""
    from modelsync.services import tokens

    lifetime = tokens.parse_duration(expires_in)
    issued = tokens.create_token(database(), user, lifetime, operator())
    expiry = f"expires {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else "never expires"
    out.print(f"token {issued.id} for {printable(issued.user)} ({printable(issued.prefix)}..., {expiry}).")
    out.print("It is shown only now; store it in your secret manager:")
    print(issued.secret)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_TOKEN_COLUMNS = (
    Column("id", lambda token: token["id"]),
    Column("user", lambda token: token["name"]),
    Column("prefix", lambda token: token["prefix"]),
    Column("created", lambda token: _when(token["created_at"])),
    Column("expires", lambda token: _when(token["expires_at"])),
    Column("revoked", lambda token: _when(token["revoked_at"])),
    Column("last used", lambda token: _when(token["last_used_at"])),
)


@app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's tokens.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (prefix, owner, expiry, revocation, last use); never the tokens themselves."""
    from modelsync.services import tokens

    issued = tokens.list_tokens(database(), user)
    document = [
        {
            "id": token["id"],
            "user": token["name"],
            "prefix": token["prefix"],
            "createdAt": _iso(token["created_at"]),
            "expiresAt": _iso(token["expires_at"]),
            "revokedAt": _iso(token["revoked_at"]),
            "lastUsedAt": _iso(token["last_used_at"]),
        }
        for token in issued
    ]
    emit(issued, _TOKEN_COLUMNS, chosen(fmt, as_json), json_data=document)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id (see `modelsync tokens list`).")],
) -> None:
    """Revoke a token: it stops working at once, on every replica."""
    from modelsync.services import tokens

    if tokens.revoke_token(database(), token_id, operator()):
        out.print(f"token {token_id} revoked")
    else:
        out.print(f"token {token_id} was already revoked")
