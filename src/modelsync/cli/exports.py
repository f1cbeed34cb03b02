"""`modelsync export` and `modelsync import-overrides`: the catalog out in other tools' formats, overrides in.

Rules: an export streams (one record at a time to the file or stdout) and shows its progress on stderr, so stdout
holds only the document. An import is checked in full (the overrides file's rules) and previewed as a field diff
against the stored models before anything is written; it replaces the configured overrides file only with --yes
or a confirmation, and a bad file changes nothing (exit 4, naming the entry). The next sync applies it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from modelsync.cli.common import database, err, out, printable, settings
from modelsync.errors import UsageError

_LOG_EVERY = 5000


class ExportFormat(StrEnum):
    """A format `modelsync export` writes."""

    json = "json"
    csv = "csv"
    litellm = "litellm"
    mongo = "mongo"


@contextmanager
def _target(output: Path | None) -> Iterator[IO[str]]:
    """The stream to write to: the file (written whole or not at all), or stdout."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            yield stream
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def export(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json, csv, litellm or mongo.")
    ] = ExportFormat.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider.")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s", help="active or deprecated.")] = None,
) -> None:
    """Export the stored catalog as JSON, CSV, LiteLLM's cost map or a mongoimport array."""
    from modelsync import exports
    from modelsync.services.exports import count_models, iter_models

    config = settings()
    engine = database()
    total = count_models(engine, provider, status)
    views = iter_models(engine, provider, status)

    def names(name: str) -> tuple[str, str]:
        # A provider LiteLLM has no name for gets LiteLLM's usual shape, `<provider>/<id>`, never a bare id.
        spec = config.registry.get(name)
        if spec is None or not spec.litellm:
            return name, f"{name}/"
        return spec.litellm, spec.litellm_prefix

    with err.status(f"exporting 0 of {total:,} models", spinner="dots") as status_line, _target(output) as stream:

        def progress(count: int) -> None:
            if count % 500 == 0 or count == total:
                status_line.update(f"exporting {count:,} of {total:,} models")
            # Without a terminal the spinner is not drawn: a line now and then tells a log how far it got.
            if not err.is_terminal and count % _LOG_EVERY == 0:
                err.print(f"exported {count:,} of {total:,} models")

        if fmt is ExportFormat.json:
            written = exports.write_json(stream, views, progress)
        elif fmt is ExportFormat.csv:
            written = exports.write_csv(stream, views, progress)
        elif fmt is ExportFormat.mongo:
            written = exports.write_mongo(stream, views, progress)
        else:
            written = exports.write_litellm(stream, views, names, progress)
    where = printable(output) if output is not None else "stdout"
    err.print(f"exported {written:,} models ({fmt.value}) to {where}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return printable(", ".join(f"{key}={flag}" for key, flag in value.items()) or "-")
    if isinstance(value, list):
        return printable(", ".join(str(item) for item in value) or "[]")
    return printable(value)


def import_overrides(
    file: Annotated[Path, typer.Argument(help="An overrides file (TOML), or a JSON export to pin as overrides.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write it without asking.")] = False,
) -> None:
    """Check an overrides file, preview what it changes against the stored models, then make it the overrides file."""
    from modelsync import exports
    from modelsync.fieldspec import label as field_label
    from modelsync.services.exports import check_import, preview, target_path

    config = settings()
    document, overrides = check_import(config, file)
    changes = preview(database(), overrides)
    entries = sum(len(records) for records in overrides.by_provider.values())
    target = target_path(config)
    out.print(f"{printable(file)}: {entries} valid entries; {len(changes)} field changes against the stored models:")
    for change in changes:
        ref = f"{change['provider']}/{change['id']}" + ("" if change["known"] else " (not stored)")
        field = printable(field_label(change["field"]))
        out.print(f"  {printable(ref)}  {field}: {_cell(change['stored'])} -> {_cell(change['new'])}")
    if target.is_file():
        out.print(f"it replaces {printable(target)}; the next sync applies it.")
    else:
        out.print(f"it is written to {printable(target)}; the next sync applies it.")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("not written: pass --yes to write the overrides file without a terminal to confirm on.")
        if not typer.confirm("Write it?", default=False):
            out.print("not written")
            raise typer.Exit(1)
    if file.suffix.lower() == ".json":
        text = exports.overrides_toml(document["model"])
    else:
        text = file.read_text(encoding="utf-8")
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    out.print(f"wrote {printable(target)} ({entries} entries)")
