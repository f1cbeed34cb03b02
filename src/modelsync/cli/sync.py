"""`modelsync sync`: run a sync with a progress display, then print the summary per provider.

Every label, message, note and model id is printed through `printable` (cli/common.py), so no upstream value can
forge a line of the summary.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from modelsync.cli.common import database, err, out, print_json, printable, printable_message, settings
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit, utc_cell

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from modelsync.settings import Settings
    from modelsync.sync.report import ProviderOutcome, SyncReport

_CHANGE_LINES = 25
_WARNING_LINES = 5


EXIT_INTERRUPTED = 130


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (docker stop, systemd, Kubernetes) like Ctrl-C while a sync runs: end it cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set on the main thread (the CLI always runs there)
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _counts(outcome: ProviderOutcome) -> str:
    parts = [f"{outcome.created} created", f"{outcome.updated} updated", f"{outcome.unchanged} unchanged"]
    if outcome.deprecated:
        parts.append(f"{outcome.deprecated} deprecated")
    if outcome.reactivated:
        parts.append(f"{outcome.reactivated} reactivated")
    if outcome.quarantined:
        parts.append(f"quarantined: {outcome.quarantined}")
    return ", ".join(parts)


def _print_catalogs(report: SyncReport) -> None:
    """One line per catalog: the copy the run read and what became of its feed."""
    for name, use in report.catalogs.items():
        source = use.get("source")
        what = "none" if source == "none" else f"{source} {printable(use.get('version') or '?')}"
        date = f", data of {use['date']}" if use.get("date") else ""
        out.print(f"  [dim]catalog {printable(name)}: {what}{date} (feed: {printable(use.get('fetch'))})[/dim]")
        if use.get("warning"):
            out.print(f"    [yellow]warning:[/yellow] {printable_message(use['warning'])}")


def _print_summary(report: SyncReport) -> None:
    from modelsync.fieldspec import label as field_label
    from modelsync.sync.report import SAMPLE_SIZE

    run = "dry run, nothing written" if report.dry_run else f"run {report.run_id}"
    out.print(f"[bold]modelsync sync[/bold] ({run}, {report.started_at:%Y-%m-%d %H:%M:%S} UTC)")
    for outcome in report.outcomes:
        label = f"  {printable(outcome.label)}:"
        if outcome.status == "ok":
            source = "live listing" if outcome.listing == "live" else "catalogs"
            out.print(f"{label} {_counts(outcome)} [dim]({source})[/dim]")
        else:
            style = {"skipped": "yellow", "refused": "red", "failed": "red"}[outcome.status]
            out.print(f"{label} [{style}]{outcome.status}[/{style}] - {printable_message(outcome.message or '')}")
        for note in outcome.notes:
            out.print(f"    [dim]note: {printable_message(note)}[/dim]")
        if outcome.warning_count:
            out.print(
                f"    [yellow]{outcome.warning_count} value(s) dropped while reading the listing[/yellow] "
                "(the rest of each model was kept; --json lists them):"
            )
            for warning in outcome.warnings[:_WARNING_LINES]:
                out.print(f"      {printable_message(warning)}")
        if report.dry_run:
            for change in outcome.sample[:_CHANGE_LINES]:
                fields = ", ".join(field_label(name) for name in change.fields() if name != "provenance")
                model = printable(change.model_id)
                out.print(f"    {printable(change.kind):<11} {model}  [dim]{printable(fields)}[/dim]")
            if outcome.changed > _CHANGE_LINES:
                shown = min(outcome.changed, SAMPLE_SIZE)
                out.print(
                    f"    ... and {outcome.changed - _CHANGE_LINES} more (--json lists {shown} of {outcome.changed})"
                )
    _print_catalogs(report)
    out.print(
        f"[bold]Total:[/bold] {report.total('created')} created, {report.total('updated')} updated, "
        f"{report.total('deprecated')} deprecated, {report.total('reactivated')} reactivated, "
        f"{report.total('processed')} processed"
    )


def sync(
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", "-p", help="Provider to sync (repeatable); `all` or none = every enabled one."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Apply a listing that shrank by more than half (the shrink gate only).")
    ] = False,
    recompute: Annotated[
        bool,
        typer.Option("--recompute", help="Recompute every model, even for providers whose inputs did not change."),
    ] = False,
) -> None:
    """Sync the model catalog from the providers and catalogs into the database."""
    from modelsync.services.sync import SyncOptions, run_sync

    config = settings()
    engine = database()
    try:
        with err.status("Syncing...", spinner="dots") as status, _terminate_as_interrupt():

            def progress(name: str | None, message: str) -> None:
                label = config.registry[name].label if name else "modelsync"
                status.update(f"{printable(label)}: {printable(message)}")

            options = SyncOptions(providers=provider or (), dry_run=dry_run, force=force, recompute=recompute)
            report = run_sync(engine, config, options, progress)
    except KeyboardInterrupt:
        # The sync service rolled back, marked the run cancelled and released the lock before this point.
        # Almost always before its commit (then nothing was applied and the run reads `cancelled`); an interrupt
        # in the last instant after the commit leaves a finished run, so the message sends the user to look.
        err.print("[yellow]sync interrupted:[/yellow] `modelsync sync-runs` shows whether it was cancelled.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        print_json(report.to_dict(with_changes=dry_run))
    else:
        _print_summary(report)
    if not dry_run:
        _deliver_webhooks(config, engine)
        _prune_events(config, engine)
    raise typer.Exit(report.exit_code)


def _deliver_webhooks(config: Settings, engine: Engine) -> None:
    """Send the webhook deliveries due now (this sync's and older pending ones) for a short budget; never fails."""
    from modelsync.cli.webhooks import report_deliveries
    from modelsync.services.delivery import deliver_pending

    try:
        result = deliver_pending(engine, config, budget=config.webhook_sync_budget)
    except Exception as exc:  # the sync is done and recorded; a delivery problem must not change its exit code
        err.print(f"[yellow]webhooks:[/yellow] not delivered now ({printable(type(exc).__name__)}); "
                  "`modelsync webhooks deliver` retries")  # fmt: skip
        return
    report_deliveries(result)


def _prune_events(config: Settings, engine: Engine) -> None:
    """Apply the webhook event retention (after delivering, so just-sent batches count as sent); never fails."""
    from modelsync.services.event_retention import prune_events

    try:
        prune_events(engine, config.webhook_retention_days)
    except Exception as exc:  # housekeeping: the next sync or the server prunes instead
        err.print(f"[yellow]webhooks:[/yellow] old events not pruned now ({printable(type(exc).__name__)})")


_RUN_COLUMNS = (
    Column("run", lambda run: run["id"]),
    Column("trigger", lambda run: run["trigger"]),
    Column("actor", lambda run: run["actor"]),
    Column("status", lambda run: run["status"]),
    Column("started (UTC)", lambda run: utc_cell(run["startedAt"])),
    Column("finished (UTC)", lambda run: utc_cell(run["finishedAt"])),
    Column("created", lambda run: (run["totals"] or {}).get("created")),
    Column("updated", lambda run: (run["totals"] or {}).get("updated")),
)


def sync_runs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="How many runs, newest first.")] = 20,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recorded sync runs, newest first (a run a crashed process left running shows as abandoned)."""
    from modelsync.services import runs

    found, _ = runs.list_runs(database(), limit)
    emit(found, _RUN_COLUMNS, chosen(fmt, as_json))
