"""The scheduled sync: a background thread of the server that runs `scheduled_sync` at each fire time of a schedule.

Rules:
- The job is one function, `scheduled_sync`: a sync through services/sync.run_sync with trigger `schedule`, the
  single place where anything that should follow a scheduled sync (webhook deliveries) hooks in.
- The job runs on the scheduler's own thread, so it never runs concurrently with itself. A sync still running at
  the next fire time makes that fire time (and any others it overran) be skipped, logged, not queued.
- Across processes and replicas the sync lock decides: a sync held elsewhere makes run_sync record a `rejected`
  run; the scheduler logs it and waits for the next fire time. No error in a job stops the scheduler or the server.
- Waiting is done in slices of at most `MAX_WAIT_S` against the clock, so a wall clock that jumps (NTP, a VM
  resumed) fires at the right time anyway; `stop` wakes the thread at once. A sync running when the server stops
  is not waited for past `stop`'s timeout: the thread is a daemon, and a run a dead process leaves behind is marked
  abandoned by the next sync (services/sync.py).
- Clock and wait are injectable, so the loop can be driven in tests without sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from modelsync.errors import ModelsyncError, SyncBusyError
from modelsync.records import utc_now
from modelsync.schedule import CronSchedule
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings
from modelsync.sync.report import SyncReport

log = logging.getLogger("modelsync.schedule")

TRIGGER = "schedule"
MAX_WAIT_S = 60.0
Clock = Callable[[], datetime]
# Waits up to the given seconds; True when the scheduler was asked to stop meanwhile.
Wait = Callable[[float], bool]


def scheduled_sync(
    engine: Engine, settings: Settings, on_change: Callable[[], None] | None = None
) -> SyncReport | None:
    """Run one scheduled sync of every enabled provider; None when another sync held the lock (run recorded)."""
    options = SyncOptions(trigger=TRIGGER, actor="scheduler")
    try:
        report = run_sync(engine, settings, options, on_change=on_change)
    except SyncBusyError as exc:
        # run_sync has recorded the refusal as a `rejected` run with trigger `schedule`.
        log.warning("scheduled sync skipped: %s", exc.message)
        return None
    totals = report.totals()
    log.info(
        "scheduled sync run %s finished: %s (%s created, %s updated, %s deprecated)",
        report.run_id, report.status, totals["created"], totals["updated"], totals["deprecated"],
    )  # fmt: skip
    return report


class SyncScheduler:
    """Runs `job` at each fire time of `schedule` on a daemon thread, one run at a time, until `stop`."""

    def __init__(
        self,
        schedule: CronSchedule,
        job: Callable[[], object],
        *,
        clock: Clock = utc_now,
        wait: Wait | None = None,
    ) -> None:
        self.schedule = schedule
        self._job = job
        self._clock = clock
        self._stopping = threading.Event()
        self._wait: Wait = wait or self._stopping.wait
        self._thread: threading.Thread | None = None
        self._next: datetime | None = None
        self.runs = 0

    @property
    def next_run(self) -> datetime | None:
        """When the job runs next (None before start and after stop)."""
        return self._next

    def start(self) -> datetime:
        """Start the thread; return the first fire time."""
        if self._thread is not None:
            raise RuntimeError("the scheduler is already started")
        first = self._next = self.schedule.next_after(self._clock())
        self._thread = threading.Thread(target=self._loop, name="modelsync-scheduler", daemon=True)
        self._thread.start()
        return first

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread: at once while it waits; a running sync gets `timeout` seconds to finish."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the scheduled sync still running at shutdown was left to the process's end")
        self._next = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            due = self._next
            if due is None:
                return
            if not self._sleep_until(due):
                return
            self.run_once()
            if self._stopping.is_set():
                return
            now = self._clock()
            following = self.schedule.next_after(max(now, due))
            skipped = self._count_between(due, now)
            if skipped:
                log.warning("the scheduled sync overran %d fire time(s) (last at %s); they were skipped", skipped,
                            now.isoformat(timespec="seconds"))  # fmt: skip
            self._next = following
            log.info("next scheduled sync at %s", following.isoformat(timespec="seconds"))

    def _sleep_until(self, due: datetime) -> bool:
        """Wait until `due` by the clock; False when asked to stop first."""
        while True:
            left = (due - self._clock()).total_seconds()
            if left <= 0:
                return not self._stopping.is_set()
            if self._wait(min(left, MAX_WAIT_S)) or self._stopping.is_set():
                return False

    def _count_between(self, after: datetime, until: datetime) -> int:
        count, moment = 0, after
        while count < 1000:
            moment = self.schedule.next_after(moment)
            if moment > until:
                break
            count += 1
        return count

    def run_once(self) -> None:
        """Run the job now, on the calling thread; log (never raise) what it raises."""
        self.runs += 1
        try:
            self._job()
        except ModelsyncError as exc:
            log.error("scheduled sync failed: %s", exc.message)
        except Exception:
            log.exception("scheduled sync failed")


def sync_scheduler(
    engine: Engine,
    settings: Settings,
    schedule: CronSchedule,
    on_change: Callable[[], None] | None = None,
    clock: Clock = utc_now,
) -> SyncScheduler:
    """A scheduler whose job is `scheduled_sync` over this engine and these settings."""
    return SyncScheduler(schedule, lambda: scheduled_sync(engine, settings, on_change), clock=clock)


def next_runs_text(scheduler: SyncScheduler) -> str:
    """The log line a server prints at start: the schedule, in words, and when it first fires."""
    first = scheduler.next_run
    when = first.strftime("%Y-%m-%d %H:%M:%S UTC") if first else "never"
    wait = first - utc_now() if first else timedelta(0)
    hours = max(0, int(wait.total_seconds() // 3600))
    minutes = max(0, int(wait.total_seconds() % 3600 // 60))
    return (
        f"scheduled sync {scheduler.schedule.expression!r} ({scheduler.schedule.describe()}, UTC): "
        f"next run at {when} (in {hours}h{minutes:02d}m)"
    )
