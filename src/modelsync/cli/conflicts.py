"""`modelsync conflicts`: models whose independent sources disagree on a price or limit, and resolving one."""

from __future__ import annotations

from typing import Annotated

import typer

from modelsync.cli.common import database, out, print_json, printable, settings

app = typer.Typer(help="Prices and limits on which independent sources disagree.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def conflicts(
    ctx: typer.Context,
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every unresolved conflict with each source's value (resolve one with `conflicts resolve`)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from modelsync.services.conflicts import list_conflicts

    found = list_conflicts(database(), settings().policy.price_tolerance, provider)
    if as_json:
        print_json(found)
        return
    table = Table("model", "field", "stored", "candidates", show_header=True)
    for item in found:
        shown = ", ".join(f"{printable(c['source'])} {printable(str(c['value']))}" for c in item["candidates"])
        table.add_row(printable(f"{item['provider']}/{item['model']}"), item["field"], printable(str(item["stored"])),
                      shown)  # fmt: skip
    out.print(table)
    out.print(f"{len(found)} conflicts")


@app.command("resolve")
def resolve(
    ref: Annotated[str, typer.Argument(metavar="PROVIDER/MODEL_ID")],
    field: Annotated[str, typer.Argument(help="The field, e.g. inputCostPer1M or contextWindow.")],
    source: Annotated[str | None, typer.Option("--source", help="Take this source's value.")] = None,
    value: Annotated[str | None, typer.Option("--value", help="Enter a value instead.")] = None,
) -> None:
    """Resolve a conflict with an admin decision (recorded in history and the audit log)."""
    from modelsync.services import catalog
    from modelsync.services.conflicts import resolve as resolve_conflict

    provider, model_id = catalog.parse_ref(ref)
    changes = resolve_conflict(database(), settings(), provider, model_id, field, source=source, value=value,
                               actor="cli")  # fmt: skip
    out.print(f"resolved {printable(ref)} {field}: {len(changes)} field(s) changed")
