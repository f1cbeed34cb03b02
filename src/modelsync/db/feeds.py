"""Queries of the stored catalog feeds (`catalog_feed`): the last good copy of each, and its latest fetch outcome.

Rules: a body is stored zlib-compressed (feeds are megabytes of JSON that compress about tenfold) and read back
decompressed; a copy is only ever replaced by a newer good one, and a failed or refused fetch updates the outcome
columns only, so the last good copy survives it. Never commits: the caller owns the transaction.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.db.tables import catalog_feed

_LEVEL = 6


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """One catalog's row: its stored copy (if any) without the body, and the latest fetch outcome."""

    catalog: str
    url: str | None
    body_digest: str | None
    etag: str | None
    last_modified: str | None
    data_date: date | None
    model_count: int | None
    stored_at: datetime | None
    checked_at: datetime | None
    attempted_at: datetime | None
    outcome: str | None
    message: str | None

    @property
    def has_copy(self) -> bool:
        """Whether a good copy is stored."""
        return self.body_digest is not None


_COLUMNS = [column for column in catalog_feed.c if column.name != "body"]


def load_feeds(conn: Connection) -> dict[str, StoredFeed]:
    """Every stored feed row, by catalog (bodies not read)."""
    rows = conn.execute(sa.select(*_COLUMNS)).mappings()
    return {row["catalog"]: StoredFeed(**row) for row in rows}


def load_body(conn: Connection, catalog: str) -> bytes | None:
    """The stored copy's body, decompressed, or None."""
    body = conn.execute(sa.select(catalog_feed.c.body).where(catalog_feed.c.catalog == catalog)).scalar()
    return zlib.decompress(body) if body is not None else None


def _upsert(conn: Connection, catalog: str, values: dict[str, object]) -> None:
    updated = conn.execute(sa.update(catalog_feed).where(catalog_feed.c.catalog == catalog).values(**values))
    if updated.rowcount == 0:
        conn.execute(sa.insert(catalog_feed).values(catalog=catalog, **values))


def save_copy(
    conn: Connection,
    catalog: str,
    *,
    url: str,
    body: bytes,
    digest: str,
    etag: str | None,
    last_modified: str | None,
    data_date: date | None,
    model_count: int,
    now: datetime,
) -> None:
    """Store a new good copy of a feed (replacing the previous one) and record the fetch as `fetched`."""
    _upsert(
        conn,
        catalog,
        {
            "url": url,
            "body": zlib.compress(body, _LEVEL),
            "body_digest": digest,
            "etag": etag,
            "last_modified": last_modified,
            "data_date": data_date,
            "model_count": model_count,
            "stored_at": now,
            "checked_at": now,
            "attempted_at": now,
            "outcome": "fetched",
            "message": None,
        },
    )


def record_attempt(conn: Connection, catalog: str, outcome: str, message: str | None, now: datetime) -> None:
    """Record a fetch that stored nothing new (not modified, failed, refused); the stored copy is kept."""
    values: dict[str, object] = {"attempted_at": now, "outcome": outcome, "message": message}
    if outcome == "not_modified":
        values["checked_at"] = now
    _upsert(conn, catalog, values)
