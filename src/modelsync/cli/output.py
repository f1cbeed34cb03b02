"""How every listing command prints its rows: `--format table|tsv|csv|json`, a table on a terminal, TSV in a pipe.

Rules:
- The default is a table when standard output is a terminal and TSV otherwise, so `modelsync models list | grep
  gpt-4o` sees one whole, untruncated line per row (a table would cut or fold cells to the terminal's width).
- TSV and CSV cells are the full values with control characters escaped as in `printable` (a tab or newline in an
  id cannot split a row), never rich markup; unknown is an empty cell. TSV and CSV start with a header row.
- JSON is the command's own JSON document (the same as its `--json`), exact.
- Commands declare their columns once; nothing here knows any one command.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from modelsync.cli.common import escaped, out, print_json, printable


class Format(StrEnum):
    """An output format of the listing commands."""

    table = "table"
    tsv = "tsv"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="table, tsv, csv or json (default: table on a terminal, tsv in a pipe)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the same as --format json).")]


def chosen(fmt: Format | None, as_json: bool = False) -> Format:
    """The format to print in: --json or --format if given, else table on a terminal and TSV in a pipe."""
    if as_json:
        return Format.json
    if fmt is not None:
        return fmt
    return Format.table if out.is_terminal else Format.tsv


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header and how to read its cell from a row (None = unknown)."""

    header: str
    cell: Callable[[Any], Any]


def text(value: Any) -> str:
    """A cell's plain text: "" for unknown, lists comma-separated, everything else as str."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(text(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={text(item)}" for key, item in value.items())
    return str(value)


def utc_cell(value: str | None) -> str | None:
    """An ISO 8601 UTC time as a table cell: to the second, a space for the "T" (the header says UTC)."""
    return value[:19].replace("T", " ") if value else None


def _safe(value: Any) -> str:
    return escaped(text(value))


def emit(
    rows: Sequence[Any],
    columns: Sequence[Column],
    fmt: Format,
    json_data: Any = None,
    table: Callable[[], None] | None = None,
    footer: str | None = None,
) -> None:
    """Print `rows` in `fmt`; `json_data` is the JSON document (default: the rows), `table` a custom table view."""
    if fmt is Format.json:
        print_json(rows if json_data is None else json_data)
    elif fmt is Format.table:
        if table is not None:
            table()
            return
        grid = Table(*(column.header for column in columns))
        for row in rows:
            grid.add_row(*(printable(text(column.cell(row)) or "-") for column in columns))
        out.print(grid)
        if footer:
            out.print(footer)
    else:
        write_rows(rows, columns, fmt)


def write_rows(rows: Iterable[Any], columns: Sequence[Column], fmt: Format) -> None:
    """Write a header and one line per row as TSV or CSV on stdout, unabridged."""
    stream = sys.stdout
    if fmt is Format.csv:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(column.header for column in columns)
        for row in rows:
            writer.writerow(_safe(column.cell(row)) for column in columns)
        return
    stream.write("\t".join(column.header for column in columns) + "\n")
    for row in rows:
        stream.write("\t".join(_safe(column.cell(row)) for column in columns) + "\n")
