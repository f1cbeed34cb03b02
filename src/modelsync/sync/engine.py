"""Run one sync: fetch -> assemble -> gate -> merge -> policy -> diff -> apply.

Rules:
- Everything that can fail without the database (settings, overrides file, provider names, network fetches)
  happens before the database is touched, so a bad input leaves it untouched.
- Syncs run one at a time: a run takes the sync lease (a row in `sync_lease`, shared by every process and
  replica on the same database) or fails with SyncBusyError naming the running sync.
- Planning and applying happen in one write transaction that holds the catalog write lock; model rows,
  history rows, provider state, the run record, the audit entry and the lease release commit together.
  A crash rolls all of it back and leaves the previous state.
- Only changed rows are written. A provider that failed or was refused contributes nothing.
- A dry run plans the same changes in a read-only transaction and writes nothing at all.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from modelsync.db import repo
from modelsync.db.engine import write_transaction
from modelsync.errors import SyncBusyError, UsageError
from modelsync.records import MANUAL_FIELDS, SOURCE_FIELDS, SourceRecord, money, utc_now
from modelsync.settings import Settings
from modelsync.sources.assemble import CATALOG, LIVE, ProviderSources, assemble
from modelsync.sources.live import ListingResult
from modelsync.sources.overrides import load_overrides
from modelsync.sync.diff import Change, classify, describe_created, describe_update, describe_vanished
from modelsync.sync.gates import check_listing
from modelsync.sync.merge import Layer, merge_records
from modelsync.sync.policy import MANUAL, apply_policy
from modelsync.sync.report import ProviderOutcome, SyncReport

LEASE_TTL = timedelta(minutes=15)

Progress = Callable[[str | None, str], None]
Fetch = Callable[[Settings, list[str], Progress], Mapping[str, ListingResult]]


def _quiet(_provider: str | None, _message: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What to sync and on whose behalf."""

    providers: Sequence[str] = ()
    dry_run: bool = False
    force: bool = False
    trigger: str = "cli"
    actor: str | None = None
    source_ip: str | None = None


def enabled_providers(settings: Settings) -> list[str]:
    """Providers `all` means: the defaults, those named in config, and those whose key is set, in registry order."""
    chosen = set(settings.default_providers) | set(settings.providers)
    chosen |= {name for name in settings.registry if settings.api_key(name) is not None}
    return [name for name in settings.registry if name in chosen]


def resolve_providers(settings: Settings, requested: Sequence[str]) -> list[str]:
    """Turn --provider values into provider names; `all` or nothing means every enabled provider."""
    names = [name.strip().lower() for name in requested if name.strip()]
    unknown = sorted({name for name in names if name != "all" and name not in settings.registry})
    if unknown:
        raise UsageError(
            f"unknown provider {', '.join(repr(n) for n in unknown)}. "
            f"Valid providers: {', '.join(settings.registry)}, or all."
        )
    if not names or "all" in names:
        return enabled_providers(settings)
    return list(dict.fromkeys(names))


def _manual_layer(manual: Mapping[str, Mapping[str, Any]]) -> Layer:
    records = {}
    for model_id, decisions in manual.items():
        fields = {name: value for name, value in decisions.items() if name in SOURCE_FIELDS}
        for name in ("input_price", "output_price", "cache_read_price", "cache_write_price"):
            if name in fields:
                fields[name] = money(fields[name])
        if fields:
            records[model_id] = SourceRecord(model_id=model_id, fields=fields)
    return Layer(MANUAL, records)


@dataclass(slots=True)
class _Plan:
    outcome: ProviderOutcome
    changes: list[Change]
    repairs: list[tuple[int, str]]


def _plan_provider(
    conn: Connection,
    sources: ProviderSources,
    state: Mapping[str, Any] | None,
    settings: Settings,
    force: bool,
    now: datetime,
) -> _Plan:
    spec = sources.spec
    outcome = ProviderOutcome(spec.name, spec.label, listing=sources.listing, listed=len(sources.model_ids))
    outcome.notes.extend(sources.notes)
    same_kind = state is not None and state["listing"] == sources.listing
    refusal = check_listing(spec.label, len(sources.model_ids), state["model_count"] if same_kind else None, force)
    if refusal is not None:
        outcome.status, outcome.message = "refused", refusal.reason
        return _Plan(outcome, [], [])
    if (
        same_kind
        and sources.input_digest is not None
        and state is not None
        and state["input_digest"] == sources.input_digest
        and state["change_mark"] == repo.change_mark(conn, spec.name)
    ):
        # Same inputs as the last good sync and no write to these models since: the result would be identical.
        outcome.count([], len(sources.model_ids))
        outcome.inputs_unchanged = True
        return _Plan(outcome, [], [])
    snapshot, manual = repo.load_snapshot(conn, spec.name)
    records = merge_records(spec.name, sources.model_ids, [_manual_layer(manual), *sources.layers])
    apply_policy(records, settings.policy, manual)
    # A catalog listing only says a model is gone when catalogs were also what listed it last time; after a
    # live listing, a catalog-only run (key removed) must not deprecate what the account could call.
    authoritative = sources.listing == LIVE or state is None or state["listing"] == CATALOG
    classified = classify(records, snapshot, now, authoritative)
    old = repo.load_rows(
        conn, [s.pk for _, s in classified.candidates] + [s.pk for _, s in classified.vanished], lock=True
    )
    changes = [describe_created(record) for record in classified.created]
    repairs: list[tuple[int, str]] = []
    unchanged = classified.unchanged
    for record, stored in classified.candidates:
        change = describe_update(record, stored, old[stored.pk])
        if change is None:
            repairs.append((stored.pk, record.fingerprint))
            unchanged += 1
        else:
            changes.append(change)
    for model_id, stored in classified.vanished:
        changes.append(describe_vanished(spec.name, model_id, stored, old[stored.pk], now))
    outcome.count(changes, unchanged)
    return _Plan(outcome, changes, repairs)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# On SQLite a running sync holds the database's only write lock for its whole apply phase. A second sync that
# waited for that lock would get it after the first had finished and released the lease, and run second instead
# of being refused. So the lease is claimed without waiting for the lock; when it is taken, the lease is looked at
# with a plain read (never blocked in WAL mode) and the claim retried shortly: a live lease means another sync runs.
_LEASE_LOCK_WAIT_MS = 0
_LEASE_RETRY_S = 0.005
_LEASE_CLAIM_DEADLINE_S = 30.0


@contextmanager
def _lease_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        raw = conn.connection.driver_connection
        previous = raw.execute("PRAGMA busy_timeout").fetchone()[0]  # type: ignore[union-attr]
        raw.execute(f"PRAGMA busy_timeout={_LEASE_LOCK_WAIT_MS}")  # type: ignore[union-attr]
        try:
            yield conn
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(previous)}")  # type: ignore[union-attr]


def _busy(running: int | None) -> SyncBusyError:
    return SyncBusyError(
        f"another sync is running (run {running}); wait for it to finish and try again.", running_run_id=running
    )


def _start_run(engine: Engine, options: SyncOptions, names: list[str], now: datetime) -> int:
    deadline = time.monotonic() + _LEASE_CLAIM_DEADLINE_S
    while True:
        with engine.connect() as conn:
            running = repo.live_lease_holder(conn, now)
        if running is not None:
            raise _busy(running)
        try:
            with _lease_connection(engine) as conn, conn.begin():
                run_id = repo.insert_run(conn, options.trigger, options.actor, names, now)
                if repo.take_lease(conn, run_id, _holder(), now, now + LEASE_TTL):
                    return run_id
                running = repo.lease_holder(conn)
                summary = {"reason": "another sync is running", "runningRunId": running}
                repo.finish_run(conn, run_id, "rejected", summary, now)
            raise _busy(running)
        except OperationalError as exc:
            locked = engine.dialect.name == "sqlite" and "locked" in str(exc.orig)
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(_LEASE_RETRY_S)


def _abandon_run(engine: Engine, run_id: int, error: BaseException) -> None:
    with engine.begin() as conn:
        repo.finish_run(conn, run_id, "failed", {"error": type(error).__name__}, utc_now())
        repo.release_lease(conn, run_id)


def _skipped(name: str, settings: Settings) -> ProviderOutcome:
    spec = settings.registry[name]
    hint = f"set {spec.key_env[0]} to sync its live listing" if spec.key_env else "check that its server is running"
    return ProviderOutcome(name, spec.label, status="skipped", message=f"no catalog covers {spec.label}; {hint}")


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of a sync."""
    # A sync allocates a few small dicts per model and keeps them all alive until it ends; the cyclic collector
    # would re-scan that growing heap again and again (a third of the run time at 10k models). None of these
    # objects form cycles, so reference counting frees them; whatever else piles up is collected afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_sync(
    engine: Engine,
    settings: Settings,
    options: SyncOptions,
    progress: Progress = _quiet,
    fetch: Fetch | None = None,
) -> SyncReport:
    """Run one sync and return its report; provider failures are outcomes, not exceptions."""
    with _no_cyclic_gc():
        return _run_sync(engine, settings, options, progress, fetch)


def _run_sync(
    engine: Engine, settings: Settings, options: SyncOptions, progress: Progress, fetch: Fetch | None
) -> SyncReport:
    names = resolve_providers(settings, options.providers)
    overrides = load_overrides(settings.overrides_file, set(settings.registry))
    if fetch is None:
        from modelsync.sources.live import fetch_listings

        fetch = fetch_listings
    listings = fetch(settings, names, progress)
    now = utc_now()
    report = SyncReport(run_id=None, dry_run=options.dry_run, started_at=now)
    assembled: dict[str, ProviderSources] = {}
    early: dict[str, ProviderOutcome] = {}
    for name in names:
        spec = settings.registry[name]
        listing = listings.get(name)
        if listing is not None and listing.error:
            early[name] = ProviderOutcome(name, spec.label, status="failed", message=listing.error)
            continue
        sources = assemble(
            spec,
            overrides,
            listing.records if listing else None,
            now,
            settings.policy,
            listing.digest if listing else None,
        )
        if not sources.model_ids and sources.listing == CATALOG and not spec.models_dev:
            early[name] = _skipped(name, settings)
            continue
        if sources.listing == CATALOG and spec.key_env and listing is not None and listing.skipped:
            sources.notes.append(listing.skipped)
        assembled[name] = sources
    if not options.dry_run:
        report.run_id = _start_run(engine, options, names, now)
    try:
        _plan_and_apply(engine, settings, options, names, assembled, early, report, progress, now)
    except BaseException as exc:
        if report.run_id is not None:
            _abandon_run(engine, report.run_id, exc)
        raise
    return report


def _plan_and_apply(
    engine: Engine,
    settings: Settings,
    options: SyncOptions,
    names: list[str],
    assembled: Mapping[str, ProviderSources],
    early: Mapping[str, ProviderOutcome],
    report: SyncReport,
    progress: Progress,
    now: datetime,
) -> None:
    with write_transaction(engine) as conn:
        states = repo.load_provider_states(conn)
        plans: dict[str, _Plan] = {}
        for name in names:
            if name in early:
                report.outcomes.append(early[name])
                continue
            progress(name, "comparing with the database")
            plan = _plan_provider(conn, assembled[name], states.get(name), settings, options.force, now)
            plans[name] = plan
            report.outcomes.append(plan.outcome)
        report.finished_at = utc_now()
        if options.dry_run:
            conn.rollback()
            return
        progress(None, "writing changes")
        changes = [change for plan in plans.values() for change in plan.changes]
        pks = repo.write_models(conn, changes, now)
        repo.write_history(conn, changes, pks, report.run_id, options.actor or options.trigger, now)
        repo.write_hash_repairs(conn, [repair for plan in plans.values() for repair in plan.repairs])
        for name, plan in plans.items():
            if plan.outcome.status == "ok":
                sources = assembled[name]
                repo.save_provider_state(
                    conn, name, sources.listing, len(sources.model_ids), report.run_id, now, sources.input_digest
                )
        assert report.run_id is not None
        summary = report.to_dict()
        repo.finish_run(conn, report.run_id, report.status, summary, report.finished_at)
        repo.append_audit(
            conn,
            action="sync",
            outcome=report.status,
            now=report.finished_at,
            actor=options.actor,
            source_ip=options.source_ip,
            target=",".join(names),
            details={
                "runId": report.run_id,
                "trigger": options.trigger,
                "providers": names,
                "totals": summary["totals"],
            },
        )
        repo.release_lease(conn, report.run_id)


def pinned_fields() -> tuple[str, ...]:
    """Fields an admin decision can pin (the CLI and API validate against this)."""
    return MANUAL_FIELDS
