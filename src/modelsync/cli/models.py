"""`modelsync models list|show|set|resolve`, `modelsync history` and `modelsync cost`.

Every stored value is printed through `printable` (cli/common.py): ids, names and notes may hold anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from modelsync.cli.common import database, out, print_json, printable, printable_message, settings
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit
from modelsync.errors import UsageError
from modelsync.fieldspec import PRICE_LIST
from modelsync.pricing import UNITS, describe

app = typer.Typer(help="Read stored models and record admin decisions.", no_args_is_help=True)


def _show(value: Any) -> str:
    """A stored value as printable text: "-" for unknown, lists comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, list) and value and all(isinstance(item, dict) and "unit" in item for item in value):
        return printable("; ".join(describe(item) for item in value))
    if isinstance(value, list):
        return printable(", ".join(str(item) for item in value) or "-")
    return printable(value)


# The columns of `models list`, in every format but JSON.
_LIST_COLUMNS = (
    Column("provider", lambda model: model["provider"]),
    Column("id", lambda model: model["id"]),
    Column("name", lambda model: model["displayName"]),
    Column("status", lambda model: model["status"]),
    Column("kind", lambda model: model["kind"]),
    Column("context", lambda model: model["contextWindow"]),
    Column("in $/1M", lambda model: model["inputCostPer1M"]),
    Column("out $/1M", lambda model: model["outputCostPer1M"]),
    Column("tier", lambda model: model["tier"]),
    Column("tags", lambda model: model["tags"]),
)


@app.command("list")
def list_models(
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s", help="active or deprecated.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """List stored models (a table on a terminal, one tab-separated line per model in a pipe)."""
    from modelsync.services import catalog

    models = catalog.list_models(database(), provider, status)
    emit(models, _LIST_COLUMNS, chosen(fmt, as_json), footer=f"{len(models)} models")


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(metavar="PROVIDER/MODEL_ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one model with the source of every field."""
    from modelsync.services import catalog

    provider, model_id = catalog.parse_ref(ref)
    model = catalog.show_model(database(), provider, model_id, settings().policy.price_tolerance)
    if as_json:
        print_json(model)
        return
    verification = model.pop("verification")
    from modelsync.fieldspec import BY_JSON

    provenance = model["provenance"]
    table = Table("field", "value", "source", show_header=True)
    for key, value in model.items():
        if key == "provenance":
            continue
        field = BY_JSON.get(key)
        name = field.label if field is not None else key
        shown = "free" if key == PRICE_LIST and value == [] else _show(value)
        table.add_row(printable(name), shown, printable(provenance.get(key, "")))
    out.print(table)
    for key, counts in verification.items():
        single = " (single source)" if counts["sources"] == 1 else ""
        out.print(f"{key}: {counts['agree']} of {counts['sources']} sources agree{single}")


@app.command("resolve")
def resolve_id(
    model: Annotated[str, typer.Argument(metavar="ID", help="A model id, bare or as PROVIDER/MODEL_ID.")],
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which stored model an id means, its family, and the same model at other providers."""
    from modelsync.services import resolve

    answer = resolve.resolve(database(), settings(), model, provider)
    if as_json:
        print_json(answer)
        return
    for match in answer["matches"]:
        target = match["model"]
        ref = f"{match['provider']}/{match['id']}"
        meant = f"{target['provider']}/{target['id']}"
        how = f"alias of {meant} (via {' -> '.join(match['aliasChain'])})" if match["via"] == "alias" else "exact"
        out.print(f"[bold]{printable(ref)}[/bold]: {printable(how)}")
        name, status = printable(target["displayName"] or ""), printable(target["status"])
        out.print(f"  model    {printable(meant)}  {name}  {status}")
        family = match["family"]
        if family is not None:
            members = ", ".join(f"{member['id']} ({member['relation']})" for member in family["members"])
            out.print(f"  family   {printable(family['root'])}: {printable(members)}")
        for link in match["elsewhere"]:
            out.print(f"  also at  {printable(link['provider'])}/{printable(link['id'])}  {printable(link['status'])}")


@app.command("set")
def set_decision(
    ref: Annotated[str, typer.Argument(metavar="PROVIDER/MODEL_ID")],
    allowed: Annotated[
        bool | None, typer.Option("--allowed/--not-allowed", help="Allow or forbid the model for app teams.")
    ] = None,
    recommended: Annotated[
        bool | None, typer.Option("--recommended/--not-recommended", help="Recommend the model or not.")
    ] = None,
    replacement: Annotated[
        str | None, typer.Option("--replacement", help="Model id that replaces this one ('' clears it).")
    ] = None,
    input_price: Annotated[
        str | None, typer.Option("--input-price", help="Negotiated USD per 1M input tokens ('' clears it).")
    ] = None,
    output_price: Annotated[
        str | None, typer.Option("--output-price", help="Negotiated USD per 1M output tokens ('' clears it).")
    ] = None,
    clear: Annotated[
        list[str] | None, typer.Option("--clear", help="Hand a field back to the sync (allowed, recommended, ...).")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who decides (recorded in history).")] = None,
) -> None:
    """Record an admin decision; no later sync overwrites it."""
    from modelsync.services import catalog

    provider, model_id = catalog.parse_ref(ref)
    decisions: dict[str, Any] = {}
    if allowed is not None:
        decisions["is_allowed"] = allowed
    if recommended is not None:
        decisions["recommended"] = recommended
    for name, value in (
        ("replacement_model", replacement),
        ("input_price", input_price),
        ("output_price", output_price),
    ):
        if value is not None:
            decisions[name] = value or None
    aliases = {"allowed": "is_allowed", "replacement": "replacement_model"}
    for name in clear or ():
        decisions[aliases.get(name, name.replace("-", "_"))] = None
    if not decisions:
        raise UsageError(
            "nothing to set: give --allowed/--not-allowed, --recommended, --replacement, a price or --clear."
        )
    try:
        changes = catalog.decide(database(), settings(), provider, model_id, decisions, actor or "cli")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not changes:
        out.print(f"{printable(ref)}: already so, nothing changed")
        return
    from modelsync.fieldspec import label as field_label

    for name, (old, new) in changes.items():
        if name != "provenance":
            out.print(f"{printable(ref)}: {printable(field_label(name))} {_show(old)} -> {_show(new)}")


_HISTORY_COLUMNS = (
    Column("at", lambda change: change[0]["at"]),
    Column("kind", lambda change: change[0]["kind"]),
    Column("actor", lambda change: change[0]["actor"]),
    Column("run", lambda change: change[0]["runId"]),
    Column("field", lambda change: change[1]),
    Column("old", lambda change: _plain(change[2])),
    Column("new", lambda change: _plain(change[3])),
)


def _plain(value: Any) -> Any:
    """A changed value as one cell: price components described, other lists as they are."""
    if isinstance(value, list) and value and all(isinstance(item, dict) and "unit" in item for item in value):
        return "; ".join(describe(item) for item in value)
    return value


def history(
    ref: Annotated[str, typer.Argument(metavar="PROVIDER/MODEL_ID")],
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every recorded change of one model, oldest first."""
    from modelsync.fieldspec import label as field_label
    from modelsync.services import catalog

    provider, model_id = catalog.parse_ref(ref)
    entries = catalog.model_history(database(), provider, model_id)
    # One row per changed field (an entry without field changes, a creation, is one row of its own).
    rows = [
        (entry, field_label(name) if name else "", old, new)
        for entry in entries
        for name, (old, new) in (
            [item for item in entry["changes"].items() if item[0] != "provenance"] or [("", (None, None))]
        )
    ]

    def table() -> None:
        for entry in entries:
            who = f" by {printable(entry['actor'])}" if entry["actor"] else ""
            run = f" (run {entry['runId']})" if entry["runId"] else ""
            out.print(f"[bold]{printable(entry['at'])}[/bold] {printable(entry['kind'])}{who}{run}")
            for name, (old, new) in entry["changes"].items():
                if name != "provenance":
                    out.print(f"    {printable(field_label(name))}: {_show(old)} -> {_show(new)}")

    emit(rows, _HISTORY_COLUMNS, chosen(fmt, as_json), json_data=entries, table=table)


def _usage_options(values: list[str]) -> dict[str, int]:
    usage: dict[str, int] = {}
    for value in values:
        key, eq, count = value.partition("=")
        if not eq or not count.isdigit():
            raise UsageError(f"--usage takes NAME=COUNT (for example images=2), not {value!r}.")
        usage[key.strip()] = int(count)
    return usage


def _when(text: str) -> datetime:
    """An --at time: ISO 8601 with an offset (Z or +00:00); a time without one is a usage error, never a guess."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at takes an ISO 8601 time such as 2027-01-02T00:00:00Z, not {text!r}.") from None
    if when.tzinfo is None:
        raise UsageError(f"--at {text!r} has no UTC offset; add Z (UTC) or +HH:MM, e.g. {text.strip()}Z.")
    return when.astimezone(UTC)


def cost(
    model: Annotated[str, typer.Argument(help="MODEL_ID or PROVIDER/MODEL_ID.")],
    input_tokens: Annotated[
        int, typer.Option("--input-tokens", min=0, help="Input (prompt) tokens, cached and audio ones included.")
    ],
    output_tokens: Annotated[int, typer.Option("--output-tokens", min=0, help="Output tokens.")],
    cached_input_tokens: Annotated[
        int, typer.Option("--cached-input-tokens", min=0, help="Input tokens read from the cache.")
    ] = 0,
    cache_write_tokens: Annotated[
        int, typer.Option("--cache-write-tokens", min=0, help="Input tokens written to the cache.")
    ] = 0,
    images: Annotated[int, typer.Option("--images", min=0, help="Input images (priced per image).")] = 0,
    audio_seconds: Annotated[int, typer.Option("--audio-seconds", min=0, help="Seconds of audio.")] = 0,
    web_searches: Annotated[int, typer.Option("--web-searches", min=0, help="Web searches.")] = 0,
    usage: Annotated[
        list[str] | None,
        typer.Option("--usage", help="Any other quantity as NAME=COUNT (audioInputTokens=500, requests=1, ...)."),
    ] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Sent through the batch API (its prices).")] = False,
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Provider, if the id is ambiguous.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Price the call as billed then (ISO 8601 with an offset, e.g. 2027-01-02T00:00Z)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Price one call at the stored prices: context tiers, cache, batch and per-unit quantities."""
    from modelsync.services import catalog, ledger

    counts = {
        "cacheWriteTokens": cache_write_tokens,
        "images": images,
        "audioSeconds": audio_seconds,
        "webSearches": web_searches,
        **_usage_options(usage or []),
    }
    when = _when(at) if at is not None else None
    engine = database()
    if when is None:
        breakdown = catalog.cost(
            engine, model, input_tokens, output_tokens, cached_input_tokens, provider, counts, batch
        )
        data = breakdown.to_dict()
    else:
        row = catalog.find_priced_model(engine, model, provider)
        tokens = {"inputTokens": input_tokens, "outputTokens": output_tokens, "cachedInputTokens": cached_input_tokens}
        counts = {**counts, **tokens}
        data = ledger.price_call_at(engine, row["provider"], row["model_id"], counts, batch, when)
    if as_json:
        print_json(data)
    else:
        out.print(
            f"{printable(data['provider'])}/{printable(data['model'])}"
            + ("  (batch)" if batch else "")
            + (f"  at {data['at']}" if data.get("at") else "")
        )
        for line in data["lines"]:
            tier = f" above {line['above']:,} prompt tokens" if "above" in line else ""
            out.print(
                f"  {printable(line['unit']):<22} {Decimal(line['quantity']):>12,}  ${_show(line['cost'])}"
                f"  (${_show(line['usd'])} {UNITS[line['unit']].label}{tier})"
            )
        for key in data["unpriced"]:
            out.print(f"  {printable(key):<22} {data['usage'].get(key, 0):>12,}  unpriced")
        out.print(f"  total   ${_show(data['totalCost'])} USD")
        for note in data["notes"]:
            out.print(f"  [yellow]note:[/yellow] {printable_message(note)}")
    if not data["priced"]:
        raise typer.Exit(1)
