"""`modelsync users create|list`: the people and services that may use the API, each with one role.

Rules: the password is read with a hidden, confirmed prompt or, for scripts, from standard input with
`--password-stdin`; it is never accepted as an argument (arguments end up in shell history and `ps`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelsync.cli.common import database, out, printable
from modelsync.cli.output import Column, Format, FormatOption, JsonOption, chosen, emit
from modelsync.errors import UsageError

app = typer.Typer(help="API users and their roles (viewer, admin, super_admin).", no_args_is_help=True)


def operator() -> str:
    """Who runs this command, for the audit log (the local login name)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (KeyError, OSError):
        return "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: standard input is empty; pipe the password in.")
        return line.rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, admin or super_admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Create a user; asks for the password twice unless --password-stdin."""
    from modelsync.services import auth

    auth.check_user_name(name)
    auth.check_role(role)
    password = auth.check_password(_read_password(password_stdin))
    user_id = auth.create_user(database(), name, role, password, operator())
    out.print(f"created user {printable(name)} (id {user_id}, role {printable(role)})")
    out.print(f"next: modelsync tokens create --user {printable(name)}")


_USER_COLUMNS = (
    Column("id", lambda user: user["id"]),
    Column("name", lambda user: user["name"]),
    Column("role", lambda user: user["role"]),
    Column("live tokens", lambda user: user["liveTokens"]),
    Column("created", lambda user: f"{user['createdAt']:%Y-%m-%d %H:%M}"),
    Column("disabled", lambda user: f"{user['disabledAt']:%Y-%m-%d %H:%M}" if user["disabledAt"] else None),
)


@app.command("list")
def list_users(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """List users with their role and number of live tokens."""
    from modelsync.services import auth

    users = auth.list_users(database())
    chosen_format = chosen(fmt, as_json)
    if not users and chosen_format is Format.table:
        out.print("no users yet; create one with `modelsync users create NAME --role super_admin`")
        return
    document = [
        {
            **user,
            "createdAt": user["createdAt"].isoformat(),
            "disabledAt": user["disabledAt"].isoformat() if user["disabledAt"] else None,
        }
        for user in users
    ]
    emit(users, _USER_COLUMNS, chosen_format, json_data=document)
