"""`modelsync catalogs`: where each catalog is read from (feed or installed package), how old it is, how many models.

Nothing is fetched: it shows the stored feed copies, the installed packages, which of them the next sync reads,
and the outcome of the last fetch of each feed.
"""

from __future__ import annotations

from typing import Any

from modelsync.cli.common import database, out, printable, printable_message, settings
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit


def _age(days: int | None) -> str:
    if days is None:
        return "-"
    return "today" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


def _source(entry: dict[str, Any]) -> str:
    if entry["source"] == "none":
        return "none"
    version = printable(entry["version"] or "?")
    return f"feed {version}" if entry["source"] == "feed" else f"package {version}"


def _last_fetch(entry: dict[str, Any]) -> str:
    feed = entry["feed"]
    last = feed["lastFetch"]
    off = "offline" if feed["offline"] else "feed off"
    if last is None:
        return "never fetched" if feed["enabled"] else off
    text = f"{printable(last['outcome'])} {printable(last['at'][5:16].replace('T', ' '))}"
    return text if feed["enabled"] else f"{text} ({off} now)"


_COLUMNS = (
    Column("catalog", lambda entry: entry["catalog"]),
    Column("source", lambda entry: entry["source"]),
    Column("version", lambda entry: entry["version"]),
    Column("date", lambda entry: entry["date"]),
    Column("age days", lambda entry: entry["ageDays"]),
    Column("models", lambda entry: entry["models"]),
    Column("used for sync", lambda entry: entry["usedForSync"]),
    Column("last fetch", lambda entry: (entry["feed"]["lastFetch"] or {}).get("outcome")),
    Column("last fetch at", lambda entry: (entry["feed"]["lastFetch"] or {}).get("at")),
)


def catalogs(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """Show each catalog's source (feed or package), version or date, age, model count and last fetch."""
    from modelsync.records import utc_now
    from modelsync.services.feeds import catalog_status

    found = catalog_status(database(), settings(), utc_now())
    emit(found, _COLUMNS, chosen(fmt, as_json), table=lambda: _table(found))


def _table(found: list[dict[str, Any]]) -> None:
    # Plain aligned lines rather than a table: a piped or narrow terminal would wrap a table's cells.
    out.print(f"{'catalog':<14} {'source':<21} {'date':<10}  {'age':>8}  {'models':>7}  last fetch")
    for entry in found:
        models = entry["models"]
        name = entry["catalog"] + ("" if entry["usedForSync"] else "*")
        count = f"{models:,}" if models is not None else "-"
        out.print(
            f"{name:<14} {_source(entry):<21} {entry['date'] or '-':<10}  {_age(entry['ageDays']):>8}  {count:>7}  "
            f"{_last_fetch(entry)}"
        )
    if any(not entry["usedForSync"] for entry in found):
        out.print("[dim]* no copy to read: the next sync has no layer from this catalog[/dim]")
    for entry in found:
        if entry.get("note"):
            out.print(f"  {entry['catalog']}: {printable_message(entry['note'])}")
        last = entry["feed"]["lastFetch"]
        if last is not None and last["message"]:
            out.print(f"  {entry['catalog']}: {printable_message(last['message'])}")
