"""Replicate: configured collections (`GET {base}/v1/collections/{slug}`) or the full public listing
(`GET {base}/v1/models`, cursor-paged) -> SourceRecords. Bearer token.

Rules:
- The id is `owner/name`, exactly as the predictions API takes it.
- By default the listing is the union of `replicate_collections` (each collection body holds all its members);
  a collection that does not exist fails the provider, so a typo never deprecates its models. With
  `replicate_full_listing = true` it is the whole public listing, followed page by page through `next`.
- `next` links are followed verbatim only while they stay on the configured base URL's scheme and host. A link
  to Replicate's own host while a different base URL is configured (a proxy passing links through) is re-based
  onto the configured URL; a link to any other host fails the provider: the token is never sent elsewhere.
- Pages are normalized as they arrive and then dropped, so a 50,000-model listing is never held as raw JSON.
  A failure on any page fails the whole listing (the pages already read are discarded).
- The listing has no prices, limits or lifecycle. Kind comes from a collection that implies one
  (text-to-image -> image, language-models -> chat, ...). Extras: `is_official` and the collections a model
  was found in (volatile fields such as run_count or the latest version are left out on purpose).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

from modelsync.records import SourceRecord
from modelsync.sources.fields import ListingFormatError, compact, entries, identity, records_from_pages
from modelsync.sources.http import ProviderSession, bearer

auth = bearer
MAX_PAGES = 100_000

# Collections whose members share a kind.
KIND_BY_COLLECTION = {
    "language-models": "chat",
    "text-to-image": "image",
    "text-to-video": "video",
    "image-to-video": "video",
    "text-to-speech": "audio",
    "speech-to-text": "audio",
    "embedding-models": "embedding",
}


def _record(item: dict[str, Any], where: str, collections: tuple[str, ...] = ()) -> SourceRecord:
    model_id = f"{identity(item, 'owner', where)}/{identity(item, 'name', where)}"
    kind = next((KIND_BY_COLLECTION[slug] for slug in collections if slug in KIND_BY_COLLECTION), None)
    official = item.get("is_official")
    extra = compact(
        {"is_official": official if isinstance(official, bool) else None, "collections": sorted(collections)}
    )
    return SourceRecord(model_id, {"kind": kind}, extra)


def normalize(pages: Iterable[Any]) -> dict[str, SourceRecord]:
    """Map pages of the full listing (`{"next","previous","results":[Model]}`) to records by exact id."""
    return records_from_pages(pages, "results", _record)


def normalize_collections(bodies: Iterable[Any]) -> dict[str, SourceRecord]:
    """Map collection bodies (`{"slug","models":[Model]}`) to records; a model in several keeps every slug."""
    members: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for body in bodies:
        slug = body.get("slug") if isinstance(body, dict) else None
        where = f"collection {slug or '?'}"
        if not isinstance(slug, str) or not slug:
            raise ListingFormatError(f"{where} has no slug")
        for item in entries(body, "models", where):
            model_id = f"{identity(item, 'owner', where)}/{identity(item, 'name', where)}"
            members.setdefault(model_id, (item, []))[1].append(slug)
    return {
        model_id: _record(item, "collection", tuple(dict.fromkeys(slugs)))
        for model_id, (item, slugs) in members.items()
    }


def safe_next(link: str, base_url: str, default_base_url: str) -> str | None:
    """Return the URL to request for a `next` link, or None when it leaves the configured host."""
    base = urlsplit(base_url)
    target = urlsplit(urljoin(base_url + "/", link))
    if (target.scheme, target.netloc) == (base.scheme, base.netloc):
        return target.geturl()
    default = urlsplit(default_base_url)
    prefix = default.path.rstrip("/")
    if (target.scheme, target.netloc) == (default.scheme, default.netloc) and target.path.startswith(prefix):
        query = f"?{target.query}" if target.query else ""
        return f"{base_url}{target.path[len(prefix) :]}{query}"
    return None


async def _full_listing(session: ProviderSession) -> dict[str, SourceRecord]:
    records: dict[str, SourceRecord] = {}
    url: str | None = session.url("v1/models")
    seen: set[str] = set()
    for number in range(1, MAX_PAGES + 1):
        assert url is not None
        what = "the model listing" if number == 1 else f"page {number} of the model listing"
        page = await session.http.get_json(url, what=what)
        for model_id, record in normalize([page]).items():
            records.setdefault(model_id, record)
        link = page.get("next")
        if not link:
            return records
        if not isinstance(link, str) or link in seen:
            raise ListingFormatError(f"page {number} of the model listing has a next link that does not advance")
        seen.add(link)
        url = safe_next(link, session.base_url, session.spec.base_url)
        if url is None:
            host = urlsplit(link).netloc or "?"
            raise session.http.failure(
                "unsafe_link",
                f"sent a next-page link to another host ({host}); the token is only sent to {session.base_url}, "
                f"so the listing was not applied. Check {session.spec.base_url_env or 'the base URL'}",
            )
        if number % 20 == 0:
            session.progress(f"fetched {number} pages ({len(records)} models)")
    raise ListingFormatError(f"the model listing did not end after {MAX_PAGES} pages")


async def _collections(session: ProviderSession) -> dict[str, SourceRecord]:
    slugs = list(dict.fromkeys(session.settings.replicate_collections))
    if not slugs:
        raise session.http.failure(
            "config",
            "has no collections configured; set replicate_collections in modelsync.toml or "
            "replicate_full_listing = true",
        )
    results = await asyncio.gather(
        *(session.http.get_json(session.url(f"v1/collections/{slug}"), what=f"collection {slug}") for slug in slugs),
        return_exceptions=True,
    )
    for slug, result in zip(slugs, results, strict=True):
        if isinstance(result, BaseException):
            if getattr(result, "kind", None) == "not_found":
                raise session.http.failure(
                    "not_found", f"has no collection {slug!r}; fix replicate_collections in modelsync.toml"
                ) from None
            raise result
    return normalize_collections(results)


async def fetch(session: ProviderSession) -> dict[str, SourceRecord]:
    """Fetch the configured collections, or the full listing when `replicate_full_listing` is set."""
    if session.settings.replicate_full_listing:
        return await _full_listing(session)
    return await _collections(session)
