"""`modelsync tokens create|list|revoke`: API tokens.

Rules: a new token is printed once, alone on the last line of standard output (so `| tail -n1` captures it); it
cannot be shown again because only its digest is stored. Listings show the prefix, never the token.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelsync.cli.common import database, out, print_json, printable
from modelsync.cli.users import operator

app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


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


@app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tokens (prefix, owner, expiry, revocation, last use); never the tokens themselves."""
    from modelsync.services import tokens

    issued = tokens.list_tokens(database(), user)
    if as_json:
        print_json(
            [
                {
                    "id": token["id"],
                    "user": token["name"],
                    "prefix": token["prefix"],
                    **{
                        key: token[column].isoformat() if token[column] else None
                        for key, column in (
                            ("createdAt", "created_at"),
                            ("expiresAt", "expires_at"),
                            ("revokedAt", "revoked_at"),
                            ("lastUsedAt", "last_used_at"),
                        )
                    },
                }
                for token in issued
            ]
        )
        return
    table = Table("id", "user", "prefix", "created", "expires", "revoked", "last used")
    for token in issued:
        table.add_row(
            str(token["id"]),
            printable(token["name"]),
            printable(token["prefix"]),
            _when(token["created_at"]),
            _when(token["expires_at"]),
            _when(token["revoked_at"]),
            _when(token["last_used_at"]),
        )
    out.print(table)


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
