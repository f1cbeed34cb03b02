"""Change detection for in-process caches: one cheap query that says whether the catalog or the credentials moved.

Rules:
- The stamp has two parts. `catalog`: the newest `model_change` id and the newest provider verification time.
  Every write that changes what a model looks like (a sync's created/updated/deprecated/reactivated rows, an admin
  decision) appends a history row under the catalog write lock, so that id grows with every such commit; a sync
  that changed nothing still moves the verification time (shown as `lastVerified`). `access`: the newest token
  revocation and user deactivation, which are the only ways a valid token stops being valid before it expires.
- The database is asked at most once per `interval` (1 s by default), so caches built on the stamp are at most
  that stale on any replica; a write made through this process calls `invalidate()` to be seen at once.
- The stamp is read *before* a cache entry is computed, so an entry is never older than the stamp it is filed
  under.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import api_token, app_user, model_change, provider_state

_NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the catalog and the credentials looked like at one check."""

    catalog: tuple[int | None, datetime | None]
    access: tuple[datetime | None, datetime | None]


_QUERY = sa.select(
    sa.select(sa.func.max(model_change.c.id)).scalar_subquery(),
    sa.select(sa.func.max(provider_state.c.verified_at)).scalar_subquery(),
    sa.select(sa.func.max(api_token.c.revoked_at)).scalar_subquery(),
    sa.select(sa.func.max(app_user.c.disabled_at)).scalar_subquery(),
)


def read_stamp(engine: Engine) -> Stamp:
    """Ask the database for the current stamp (one statement of four index or tiny-table look-ups)."""
    with engine.connect() as conn:
        change, verified, revoked, disabled = conn.execute(_QUERY).one()
    return Stamp((change, verified), (revoked, disabled))


class CatalogWatch:
    """The latest stamp, re-read from the database at most once per interval."""

    def __init__(self, engine: Engine, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._interval = interval
        self._clock = clock
        self._stamp: Stamp | None = None
        self._next_check = _NEVER
        self._checking = threading.Lock()

    def due(self) -> bool:
        """Whether the next `stamp()` call will query the database."""
        return self._stamp is None or self._clock() >= self._next_check

    def invalidate(self) -> None:
        """Force a check at the next `stamp()` (after a write made through this process)."""
        self._next_check = _NEVER

    def check(self) -> Stamp:
        """Query the stamp now (one thread at a time; others keep the last known stamp meanwhile)."""
        if not self._checking.acquire(blocking=self._stamp is None):
            return self._stamp  # type: ignore[return-value]
        try:
            self._next_check = self._clock() + self._interval
            stamp = read_stamp(self._engine)
            # Keep the same object while nothing moved, so consumers can compare stamps by identity.
            if stamp != self._stamp:
                self._stamp = stamp
            return self._stamp
        except BaseException:
            self._next_check = _NEVER
            raise
        finally:
            self._checking.release()

    def stamp(self) -> Stamp:
        """The current stamp, checking the database when the interval has passed."""
        if self.due():
            return self.check()
        return self._stamp  # type: ignore[return-value]
