"""The one sync service: every caller (CLI, API, web UI, scheduler) runs a sync through `run_sync`.

Rules:
- Everything that can fail without the database (provider names, adapters, the overrides file) is checked first,
  so a bad request leaves the database untouched.
- One sync at a time, across processes and replicas: the sync lock (db.dialect.SyncLock) is taken before the
  first provider request, so two syncs started together never both fetch and an older listing is never applied
  after a newer one. The loser is refused at once with SyncBusyError naming the running run; the refusal is
  recorded as a `rejected` run and audit-logged. The lock dies with its process: a run a crashed process left
  `running` is marked `abandoned` by the next sync (and by `abandon_dead_runs`, which readers of runs call).
- A real sync is recorded as a run and audit-logged inside its own transaction (sync/engine.py); a dry run takes
  no lock, writes no model and no run, and is audit-logged as `sync.dry_run`. A failed or interrupted sync marks
  its run `failed` or `cancelled` and frees the lock; nothing it planned is applied.
- After every real sync `on_change` runs (the API invalidates its caches with it), whoever called.
- A real sync's change events (services/events.py) are derived from what it wrote and stored in its transaction;
  a run that failed stores a sync_failed event. Delivering them is the caller's business (services/delivery.py),
  never the sync's.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from modelsync.db import repo
from modelsync.db.dialect import SyncLock
from modelsync.errors import SyncBusyError
from modelsync.records import utc_now
from modelsync.services.events import RunContext, record_run_events, record_run_failure
from modelsync.services.feeds import refresh_catalogs
from modelsync.services.ledger import record_scheduled
from modelsync.settings import Settings
from modelsync.sources.live import ListingResult, fetch_listings
from modelsync.sources.overrides import Overrides, load_overrides
from modelsync.sources.registry import check_adapters
from modelsync.sync.assemble import ProviderSources
from modelsync.sync.engine import (
    Clock,
    Progress,
    SyncOptions,
    gather,
    plan_and_apply,
    prepare,
    resolve_providers,
)
from modelsync.sync.report import STORAGE_FORMAT, ProviderOutcome, SyncReport

__all__ = ["SyncOptions", "abandon_dead_runs", "run_sync"]

log = logging.getLogger("modelsync.sync")
Fetch = Callable[[Settings, list[str], Progress], Mapping[str, ListingResult]]
_HOLDER_WAIT_S = 2.0
ABANDONED_REASON = (
    "the process running this sync stopped before it finished (killed, crashed or lost its database connection); "
    "nothing it planned was applied"
)


def _quiet(_provider: str | None, _message: str) -> None:
    return None


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _running_run(engine: Engine) -> int | None:
    # The winner records its run right after taking the lock; a loser that lost by microseconds waits for that
    # record briefly, so that it can say which run it lost to.
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        with engine.connect() as conn:
            running = repo.lease_holder(conn)
        if running is not None or time.monotonic() >= deadline:
            return running
        time.sleep(0.01)


def _refuse(engine: Engine, options: SyncOptions, names: list[str], now: datetime) -> SyncBusyError:
    running = _running_run(engine)
    with engine.begin() as conn:
        run_id = repo.insert_run(conn, options.trigger, options.actor, names, now)
        summary = {"format": STORAGE_FORMAT, "status": "rejected", "reason": "another sync is running",
                   "runningRunId": running}  # fmt: skip
        repo.finish_run(conn, run_id, "rejected", summary, now)
        repo.append_audit(
            conn,
            action="sync",
            outcome="rejected",
            now=now,
            actor=options.actor,
            user_id=options.user_id,
            source_ip=options.source_ip,
            target=",".join(names),
            details={"trigger": options.trigger, "runningRunId": running, "dryRun": options.dry_run},
        )
    where = f" (run {running})" if running is not None else ""
    return SyncBusyError(
        f"another sync is running{where}; wait for it to finish and try again.", running_run_id=running
    )


def _begin(engine: Engine, lock: SyncLock, options: SyncOptions, names: list[str], now: datetime) -> int:
    if not lock.try_acquire():
        raise _refuse(engine, options, names, now)
    try:
        with engine.begin() as conn:
            run_id = repo.insert_run(conn, options.trigger, options.actor, names, now)
            repo.claim_lease(conn, run_id, _holder(), now)
            repo.abandon_runs(conn, now, ABANDONED_REASON, keep=run_id)
    except BaseException:
        lock.release()
        raise
    return run_id


def _close_failed(engine: Engine, run_id: int, error: BaseException, now: datetime) -> None:
    status = "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"
    reason = "interrupted" if status == "cancelled" else type(error).__name__
    with engine.begin() as conn:
        summary = {"format": STORAGE_FORMAT, "status": status, "reason": reason}
        repo.finish_run(conn, run_id, status, summary, now)
        repo.release_lease(conn, run_id)


def abandon_dead_runs(engine: Engine, clock: Clock = utc_now) -> list[int]:
    """Mark runs left `running` by a process that died as abandoned (when no sync is running); return their ids."""
    lock = SyncLock(engine)
    if not lock.try_acquire():
        return []  # a live sync holds the lock; its own run is legitimately running
    try:
        with engine.begin() as conn:
            ids = repo.abandon_runs(conn, clock(), ABANDONED_REASON)
            left = repo.lease_holder(conn)
            if left is not None:
                repo.release_lease(conn, left)
        return ids
    finally:
        lock.release()


@contextmanager
def collector_paused_when_alone() -> Iterator[bool]:
    """Pause the cyclic garbage collector while the calling thread is the process's only one; yield whether it did."""
    # A sync allocates a few small containers per model and keeps them until it ends; the cyclic collector would
    # re-scan that growing heap again and again (a third of the run time at 100k models) though none of them form
    # cycles. The collector is process-wide, so it is only paused when the sync's thread is the only thread (the
    # CLI, a scheduler process, a benchmark); a server answering requests on other threads keeps collecting. The
    # previous state is restored on every exit path.
    alone = threading.current_thread() is threading.main_thread() and threading.active_count() == 1
    paused = alone and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield paused
    finally:
        if paused:
            gc.enable()


def _fetch_and_prepare(
    settings: Settings,
    names: list[str],
    overrides: Overrides,
    progress: Progress,
    fetch: Fetch | None,
    now: datetime,
) -> dict[str, ProviderSources | ProviderOutcome]:
    """Fetch the listings and assemble each provider's sources, overlapping the two where possible."""
    if fetch is not None:
        listings = fetch(settings, names, progress)
        return gather(settings, names, overrides, listings, now)
    # Assembling a provider (catalog look-ups, enrichment) is CPU work that needs only its own listing: it runs on a
    # worker thread as each listing arrives, while the other providers are still answering. One worker, so the
    # catalogs' caches are never filled twice at once. (Loading the catalogs up front on that worker was tried: it
    # competes with the fetch for the interpreter lock and delays every first request.)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelsync-prepare")
    try:
        futures: dict[str, Future[ProviderSources | ProviderOutcome]] = {}

        def on_listing(name: str, result: ListingResult) -> None:
            futures[name] = worker.submit(prepare, settings, name, overrides, result, now)

        listings = fetch_listings(settings, names, progress, on_listing=on_listing)
        prepared: dict[str, ProviderSources | ProviderOutcome] = {}
        for name in names:
            if name in futures:
                prepared[name] = futures[name].result()
            else:
                prepared[name] = prepare(settings, name, overrides, listings.get(name), now)
        return prepared
    finally:
        worker.shutdown(wait=True, cancel_futures=True)


def run_sync(
    engine: Engine,
    settings: Settings,
    options: SyncOptions,
    progress: Progress = _quiet,
    fetch: Fetch | None = None,
    clock: Clock = utc_now,
    on_change: Callable[[], None] | None = None,
) -> SyncReport:
    """Run one sync and return its report; provider failures are outcomes, not exceptions."""
    with collector_paused_when_alone():
        return _run_sync(engine, settings, options, progress, fetch, clock, on_change)


def _run_sync(
    engine: Engine,
    settings: Settings,
    options: SyncOptions,
    progress: Progress,
    fetch: Fetch | None,
    clock: Clock,
    on_change: Callable[[], None] | None,
) -> SyncReport:
    names = resolve_providers(settings, options.providers)
    check_adapters(settings)
    overrides = load_overrides(settings.overrides_file, set(settings.registry))
    lock = None if options.dry_run else SyncLock(engine)
    run_id = None if lock is None else _begin(engine, lock, options, names, clock())
    try:
        now = clock()
        # Once per run, before any provider is prepared: every provider reads the same catalog data.
        catalogs = refresh_catalogs(engine, settings, now, store=not options.dry_run, progress=progress)
        prepared = _fetch_and_prepare(settings, names, overrides, progress, fetch, now)
        scheduled = record_scheduled(engine, prepared, now, store=not options.dry_run)

        def store_events(conn: Connection, report: SyncReport) -> None:
            # In the run's transaction, from the history it has just written: the events commit with the run (in
            # commit order, under the catalog lock), and a failure to derive them never fails the sync.
            record_run_events(conn, RunContext(run_id, now, settings, report, scheduled))

        report = plan_and_apply(
            engine, settings, options, names, prepared, run_id, progress, clock, now,
            catalogs={use.catalog: use.to_dict() for use in catalogs}, before_commit=store_events,
        )  # fmt: skip
    except BaseException as exc:
        if run_id is not None:
            if isinstance(exc, KeyboardInterrupt):
                # The interrupted frames still hold the database cursors they were reading with, and a driver
                # connection with a live cursor keeps its transaction (and SQLite's write lock) until they go.
                traceback.clear_frames(exc.__traceback__)
            try:
                _close_failed(engine, run_id, exc, clock())
            except SQLAlchemyError:
                # The database is what failed: the run stays `running` until the next sync marks it abandoned.
                log.warning("could not record the end of sync run %s", run_id)
            if not isinstance(exc, KeyboardInterrupt):
                record_run_failure(engine, run_id, type(exc).__name__, clock())
        raise
    finally:
        if lock is not None:
            lock.release()
    if options.dry_run:
        summary = report.to_dict()
        with engine.begin() as conn:
            repo.append_audit(
                conn,
                action="sync.dry_run",
                outcome=report.status,
                now=clock(),
                actor=options.actor,
                user_id=options.user_id,
                source_ip=options.source_ip,
                target=",".join(names),
                details={"trigger": options.trigger, "providers": names, "totals": summary["totals"]},
            )
    elif on_change is not None:
        on_change()  # even a sync that changed no model moved the providers' verification time
    return report
