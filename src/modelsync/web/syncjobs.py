""""Sync now" from the web UI: one sync at a time per process, run in a background thread through the sync service.

Rules: the sync goes through services/sync.run_sync (trigger "web", the signed-in user as actor), which takes the
cross-process sync lock, records and audit-logs the run; a second "Sync now" while this process's sync runs is
answered with the running one, never started twice, and a sync another process runs is refused by the service
(recorded as a rejected run) and shown as such. Progress lines the service reports are kept (the last 200) for
the sync page.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelsync.errors import ModelsyncError
from modelsync.records import utc_now
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings

Engine = Any  # an opaque handle passed on to the sync service

log = logging.getLogger("modelsync.web")


@dataclass
class SyncJob:
    """One sync started from the web UI: who, which providers, what it reported so far and how it ended."""

    number: int
    providers: list[str]
    actor: str
    started_at: datetime
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        """Whether the sync is still working."""
        return self.finished_at is None

    def note(self, provider: str | None, message: str) -> None:
        """Record one progress line (the sync service's progress callback)."""
        self.lines.append(f"{provider}: {message}" if provider else message)


class SyncJobs:
    """The web UI's syncs in this process: the running one (if any) and the last one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self.current: SyncJob | None = None

    def start(
        self,
        engine: Engine,
        settings: Settings,
        options: SyncOptions,
        on_change: Callable[[], None] | None = None,
    ) -> tuple[SyncJob, bool]:
        """Start a sync in a background thread; return the job and whether it was started (False: one is running)."""
        with self._lock:
            if self.current is not None and self.current.running:
                return self.current, False
            self._count += 1
            job = SyncJob(self._count, list(options.providers), options.actor or "", utc_now())
            self.current = job
        thread = threading.Thread(
            target=self._run, args=(job, engine, settings, options, on_change), name="modelsync-web-sync", daemon=True
        )
        thread.start()
        return job, True

    @staticmethod
    def _run(
        job: SyncJob,
        engine: Engine,
        settings: Settings,
        options: SyncOptions,
        on_change: Callable[[], None] | None,
    ) -> None:
        try:
            report = run_sync(engine, settings, options, progress=job.note, on_change=on_change)
            job.summary = report.to_dict()
        except ModelsyncError as exc:
            job.error = str(exc)
        except Exception as exc:  # the thread must always finish its job, or the page would wait forever
            log.exception("the web UI's sync failed")
            job.error = f"the sync failed ({type(exc).__name__}); the server log has the details"
        finally:
            job.finished_at = utc_now()
