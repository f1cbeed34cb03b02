"""`modelsync quarantine`: changes a sync held because they look like errors; approve or reject one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelsync.cli.common import database, out, printable, settings
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit

app = typer.Typer(help="Changes a sync held instead of applying (approve or reject them).", no_args_is_help=False)


def _evidence(entry: dict[str, Any]) -> str:
    evidence = entry["evidence"] or {}
    parts = [str(evidence.get("rule"))]
    if evidence.get("factor"):
        parts.append(f"x{evidence['factor']}")
    if evidence.get("source"):
        parts.append(f"from {evidence['source']}")
    candidates = evidence.get("candidates") or {}
    if candidates:
        parts.append("sources: " + ", ".join(f"{source} {value}" for source, value in sorted(candidates.items())))
    return "; ".join(parts)


_COLUMNS = (
    Column("id", lambda entry: entry["id"]),
    Column("model", lambda entry: f"{entry['provider']}/{entry['model']}"),
    Column("field", lambda entry: entry["field"]),
    Column("stored", lambda entry: entry["old"]),
    Column("proposed", lambda entry: entry["proposed"]),
    Column("status", lambda entry: entry["status"]),
    Column("evidence", _evidence),
    Column("run", lambda entry: entry["runId"]),
)


@app.callback(invoke_without_command=True)
def quarantine(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="pending (default), all, or one status.")] = "pending",
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the changes a sync held, with their evidence (approve or reject one by its id)."""
    if ctx.invoked_subcommand is not None:
        return
    from modelsync.services.quarantine import list_entries

    found = list_entries(database(), status, provider)
    emit(found, _COLUMNS, chosen(fmt, as_json), footer=f"{len(found)} entries")


def _decide(entry_id: int, approve: bool, reason: str | None) -> None:
    from modelsync.services.quarantine import decide

    done = decide(database(), settings(), entry_id, approve, actor="cli", reason=reason)
    what = "approved" if approve else "rejected"
    target = printable(f"{done['provider']}/{done['model']}")
    out.print(f"{what} entry {entry_id}: {target} {done['field']}: {len(done['changes'])} field(s) changed")


@app.command("approve")
def approve(
    entry_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit log).")] = None,
) -> None:
    """Apply a held change (a history row and an audit entry); the next sync finds it stored."""
    _decide(entry_id, True, reason)


@app.command("reject")
def reject(
    entry_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit log).")] = None,
) -> None:
    """Keep the stored value; later syncs proposing the same value hold it silently."""
    _decide(entry_id, False, reason)
