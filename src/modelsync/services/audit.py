"""The audit log: append entries, aggregate denied attempts per client and minute, prune old entries, read back.

Rules:
- An entry records who (user and name), from where (source address), what (action and target) and how it ended
  (outcome), plus details that never contain a secret. Reads page backwards by id, the order entries were
  committed in.
- Entries are appended and never rewritten, with two exceptions made on purpose. Denied attempts at admin endpoints
  are one entry per client (source address, and the user when known) and minute (`DenialLog`): the entry is written
  at the first denial and its `details.count` grows with the ones that follow, so a client hammering an endpoint
  costs one row a minute, not one per request. And when a retention is configured, entries older than it are
  deleted (`Retention`), at most once an hour per process.
- `DenialLog` also limits denied attempts: a client (source address) with `limit` denials in the current minute is
  refused for the rest of that minute (the API answers 429) without any database access. Counting happens in
  memory under one lock; each minute row is written under a lock of its own, so two threads never write two rows
  for one client-minute and no count is lost. Counts not yet in the database (refusals, writes that failed or
  were skipped because the database was busy) are written by `flush`, which the API runs every few seconds and at
  shutdown. Replicas each keep their own minute rows.
- Memory stays bounded: at most `max_clients` source addresses are told apart per minute; further addresses share
  one entry whose source address is "*".
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db import repo
from modelsync.db.dialect import short_wait
from modelsync.db.tables import audit_log
from modelsync.records import utc_now

log = logging.getLogger("modelsync.audit")

DENIED_ACTION: Final = "access.denied"
DENIALS_PER_MINUTE: Final = 30
MAX_CLIENTS_PER_MINUTE: Final = 10_000
OTHER_CLIENTS: Final = "*"
_MAX_TARGETS: Final = 32  # distinct targets counted per minute row; the rest are counted under "other"
_MAX_TARGET_LENGTH: Final = 200
# A denial is answered at once; when the database is busy (a long SQLite write), its row is written by the next
# flush instead of holding the request.
_REQUEST_WRITE_WAIT_MS: Final = 250
PRUNE_INTERVAL_SECONDS: Final = 3600.0


def record(
    engine: Engine,
    *,
    action: str,
    outcome: str,
    actor: str | None = None,
    user_id: int | None = None,
    source_ip: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, committed at once."""
    with engine.begin() as conn:
        repo.append_audit(
            conn,
            action=action,
            outcome=outcome,
            now=utc_now(),
            actor=actor,
            user_id=user_id,
            source_ip=source_ip,
            target=target[:512] if target else target,
            details=details,
        )


# --- denied attempts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Denial:
    """One refused request: who (when known), from where, what, and why."""

    source_ip: str | None
    user_id: int | None
    actor: str | None
    target: str
    status: int
    reason: str
    required_role: str | None


@dataclass(eq=False)
class MinuteRow:
    """The audit entry of one client's denied attempts in one minute, as counted so far."""

    minute: datetime
    source_ip: str | None
    user_id: int | None
    actor: str | None
    first_at: datetime
    last_at: datetime
    target: str = ""
    status: int = 0
    reason: str = ""
    required_role: str | None = None
    count: int = 0
    limited: int = 0
    targets: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    row_id: int | None = None
    written: tuple[int, int] = (0, 0)  # (count, limited) as last written
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, denial: Denial, now: datetime, limited: bool) -> None:
        """Count one more denial (under the log's lock)."""
        self.count += 1
        self.last_at = now
        target = denial.target[:_MAX_TARGET_LENGTH]
        if target not in self.targets and len(self.targets) >= _MAX_TARGETS:
            target = "other"
        self.targets[target] += 1
        if limited:
            self.limited += 1
            return
        self.target, self.status, self.reason = denial.target, denial.status, denial.reason
        self.required_role = denial.required_role
        self.reasons[denial.reason] += 1

    @property
    def pending(self) -> bool:
        """Whether the database is behind the counts."""
        return self.written != (self.count, self.limited)

    def details(self) -> dict[str, Any]:
        """The entry's details: the latest denial, and counts over the minute."""
        return {
            "status": self.status,
            "reason": self.reason,
            "requiredRole": self.required_role,
            "count": self.count,
            "limited": self.limited,
            "minute": self.minute.isoformat(),
            "lastAt": self.last_at.isoformat(),
            "targets": dict(self.targets),
            "reasons": dict(self.reasons),
        }


def _waiting(conn: Connection, wait_ms: int | None) -> AbstractContextManager[Connection]:
    return short_wait(conn, wait_ms) if wait_ms is not None else nullcontext(conn)


def _store(conn: Connection, row: MinuteRow, values: dict[str, Any]) -> int:
    # Update the minute's entry, or insert it the first time (and again should it have been pruned meanwhile).
    update = sa.update(audit_log).where(audit_log.c.id == row.row_id).values(**values)
    if row.row_id is not None and conn.execute(update).rowcount:
        return row.row_id
    inserted = conn.execute(
        sa.insert(audit_log)
        .values(
            created_at=row.first_at,
            actor=row.actor,
            user_id=row.user_id,
            source_ip=row.source_ip,
            action=DENIED_ACTION,
            outcome="denied",
            **values,
        )
        .returning(audit_log.c.id)
    ).scalar_one()
    return int(inserted)


def _minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _seconds_left(moment: datetime) -> int:
    return max(1, math.ceil((_minute_of(moment) + timedelta(minutes=1) - moment).total_seconds()))


class DenialLog:
    """Denied attempts of the current minute, per client: the rate limit and the aggregated audit entries."""

    def __init__(
        self,
        engine: Engine,
        limit: int = DENIALS_PER_MINUTE,
        *,
        max_clients: int = MAX_CLIENTS_PER_MINUTE,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self.limit = limit
        self._max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._minute: datetime | None = None
        self._per_client: dict[str, int] = {}
        self._rows: dict[tuple[datetime, str | None, int | None, str | None], MinuteRow] = {}

    def _roll(self, now: datetime) -> datetime:
        # Under self._lock: a new minute starts every client's count again.
        minute = _minute_of(now)
        if minute != self._minute:
            self._minute = minute
            self._per_client.clear()
        return minute

    def _client(self, source_ip: str | None) -> str:
        key = source_ip or ""
        if key not in self._per_client and len(self._per_client) >= self._max_clients:
            return OTHER_CLIENTS
        return key

    def retry_after(self, source_ip: str | None) -> int | None:
        """Seconds until this client may be answered again, when it has used up this minute's denials; else None."""
        now = self._clock()
        with self._lock:
            self._roll(now)
            if self._per_client.get(self._client(source_ip), 0) < self.limit:
                return None
        return _seconds_left(now)

    def count(self, denial: Denial, *, audited: bool, refuse: bool = False) -> tuple[int | None, MinuteRow | None]:
        """Count one denied attempt.

        Returns the seconds to wait when the attempt is over this minute's limit (or `refuse` says so), in which case
        nothing may be written for it; otherwise, for an audited attempt, the minute row to write.
        """
        now = self._clock()
        with self._lock:
            minute = self._roll(now)
            client = self._client(denial.source_ip)
            self._per_client[client] = self._per_client.get(client, 0) + 1
            limited = refuse or self._per_client[client] > self.limit
            row = None
            if audited:
                source_ip = OTHER_CLIENTS if client == OTHER_CLIENTS else denial.source_ip
                user_id, actor = (None, None) if client == OTHER_CLIENTS else (denial.user_id, denial.actor)
                key = (minute, source_ip, user_id, actor)
                row = self._rows.get(key)
                if row is None:
                    row = self._rows[key] = MinuteRow(minute, source_ip, user_id, actor, now, now)
                row.add(denial, now, limited)
        if limited:
            return _seconds_left(now), None
        return None, row

    def write(self, row: MinuteRow, wait_ms: int | None = _REQUEST_WRITE_WAIT_MS) -> bool:
        """Bring the row's entry up to its counts; False when the database was busy (the next flush retries)."""
        with row.lock:
            with self._lock:
                counts = (row.count, row.limited)
                values = {"target": row.target[:512] or None, "details": row.details()}
            if counts == row.written:
                return True
            try:
                with self._engine.connect() as conn, _waiting(conn, wait_ms), conn.begin():
                    row.row_id = _store(conn, row, values)
            except sa.exc.OperationalError:
                if wait_ms is None:
                    raise
                log.warning("audit entry of denied attempts deferred: the database is busy")
                return False
            row.written = counts
            return True

    def flush(self) -> int:
        """Write every entry that is behind its counts, and forget finished minutes; return how many were written."""
        current = _minute_of(self._clock())
        with self._lock:
            rows = list(self._rows.items())
        written = 0
        for key, row in rows:
            if row.pending:
                self.write(row, wait_ms=None)
                written += 1
            if key[0] != current and not row.pending:
                with self._lock:
                    if not row.pending:
                        self._rows.pop(key, None)
        return written


# --- retention ---------------------------------------------------------------------------------------------------


def prune(engine: Engine, retention_days: int, now: datetime | None = None) -> int:
    """Delete entries older than `retention_days`; cheap when there are none (one indexed look-up, no write)."""
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    with engine.connect() as conn, short_wait(conn, 1000), conn.begin():
        oldest = conn.execute(sa.select(sa.func.min(audit_log.c.created_at))).scalar()
        if oldest is None or oldest >= cutoff:
            return 0
        return int(conn.execute(sa.delete(audit_log).where(audit_log.c.created_at < cutoff)).rowcount or 0)


class Retention:
    """Applies the retention setting at most once per `interval` seconds; a busy database just defers it."""

    def __init__(self, engine: Engine, days: int | None, interval: float = PRUNE_INTERVAL_SECONDS) -> None:
        self._engine = engine
        self.days = days
        self._interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    def run(self) -> int:
        """Prune if a retention is set and the last prune is at least `interval` old; return the entries deleted."""
        if self.days is None:
            return 0
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last < self._interval:
                return 0
            self._last = now
            try:
                deleted = prune(self._engine, self.days)
            except sa.exc.OperationalError:
                log.warning("audit retention deferred: the database is busy")
                return 0
        if deleted:
            log.info("audit retention: deleted %d entries older than %d days", deleted, self.days)
        return deleted


# --- reading -----------------------------------------------------------------------------------------------------


def entry_view(row: dict[str, Any]) -> dict[str, Any]:
    """Render one audit entry in the API's camelCase shape."""
    return {
        "id": row["id"],
        "at": row["created_at"].isoformat(),
        "actor": row["actor"],
        "userId": row["user_id"],
        "sourceIp": row["source_ip"],
        "action": row["action"],
        "target": row["target"],
        "outcome": row["outcome"],
        "details": row["details"],
    }


def list_entries(
    engine: Engine,
    *,
    limit: int,
    before: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    outcome: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Return up to `limit` entries older than id `before`, newest first, and the cursor of the next page."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action:
        query = query.where(audit_log.c.action == action)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if outcome:
        query = query.where(audit_log.c.outcome == outcome)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return [entry_view(row) for row in rows], rows[-1]["id"] if more else None
