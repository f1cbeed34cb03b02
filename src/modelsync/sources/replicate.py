"""Replicate: configured collections (`GET {base}/v1/collections/{slug}`) or the full public listing
(`GET {base}/v1/models`, cursor-paged) -> SourceRecords. Bearer token.

Rules:
- The id is `owner/name`, exactly as the predictions API takes it.
- By default the listing is the union of `replicate_collections` (each collection body holds all its members);
  a collection that does not exist fails the provider, so a typo never deprecates its models. With
  `replicate_full_listing = true` it is the whole public listing, followed page by page through `next` by the
  page walker (`paging.NextLink`).
- `next` links are followed verbatim only while they stay on the configured base URL's scheme and host. A link
  to Replicate's own host while a different base URL is configured (a proxy passing links through) is re-based
  onto the configured URL; a link to any other host fails the provider: the token is never sent elsewhere.
- Pages are normalized as they arrive and then dropped (the walker's rule), so a 50,000-model listing is never
  held as raw JSON. A failure on any page fails the whole listing (the pages already read are discarded).
- An entry without a usable owner or name is skipped and a repeated id keeps its first entry, both with a
  warning (a model found in several collections is one model in all of them, not a repeat).
- The listing has no prices, limits or lifecycle. Kind comes from a collection that implies one
  (text-to-image -> image, language-models -> chat, ...). Extras: `is_official` and the collections a model
  was found in (volatile fields such as run_count or the latest version are left out on purpose).
- The latest version's output schema says what a model writes: a URL (or a list of URLs) is a file, so the model
  is no chat model (a language model streams strings). It is kept as `extra["output"] = "file"`; the policy then
  never guesses `chat` for it. Which kind of file it is, the schema does not say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

from modelsync.records import OUTPUT_EXTRA, WRITES_FILES, SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import (
    EntryError,
    ListingFormatError,
    compact,
    entries,
    identity,
    normalize_pages,
    page_records,
)
from modelsync.sources.http import ProviderSession, bearer
from modelsync.sources.listing import Listing, escape
from modelsync.sources.paging import NextLink, walk

auth = bearer
MAX_PAGES = 100_000  # the full listing: tens of thousands of models, at an undocumented page size
PROGRESS_EVERY = 20  # pages between progress messages (a full listing is thousands of pages)

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


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_url(schema: Any) -> bool:
    return _table(schema).get("type") == "string" and _table(schema).get("format") == "uri"


def writes_files(item: dict[str, Any]) -> bool:
    """Whether the latest version's output schema is a file URL or a list of them."""
    schemas = _table(_table(_table(_table(item.get("latest_version")).get("openapi_schema")).get("components")))
    output = _table(schemas.get("schemas")).get("Output")
    return _is_url(output) or (_table(output).get("type") == "array" and _is_url(_table(output).get("items")))


def _record(item: dict[str, Any], where: str, collections: tuple[str, ...] = ()) -> SourceRecord:
    model_id = f"{identity(item, 'owner')}/{identity(item, 'name')}"
    kind = next((KIND_BY_COLLECTION[slug] for slug in collections if slug in KIND_BY_COLLECTION), None)
    official = item.get("is_official")
    extra = compact(
        {
            "is_official": official if isinstance(official, bool) else None,
            "collections": sorted(collections),
            OUTPUT_EXTRA: WRITES_FILES if writes_files(item) else None,
        }
    )
    return SourceRecord(model_id, {"kind": kind}, extra)


def normalize_page(page: Any, number: int = 1) -> Listing:
    """Map one page of the full listing (`{"next","previous","results":[Model]}`) to records by exact id."""
    return page_records(page, "results", _record, number)


def normalize(pages: Iterable[Any]) -> Listing:
    """Map pages of the full listing to records by exact id."""
    return normalize_pages(pages, normalize_page)


def normalize_collections(bodies: Iterable[Any]) -> Listing:
    """Map collection bodies (`{"slug","models":[Model]}`) to records; a model in several keeps every slug."""
    members: dict[str, tuple[dict[str, Any], list[str]]] = {}
    records = Listing()
    for body in bodies:
        slug = body.get("slug") if isinstance(body, dict) else None
        if not isinstance(slug, str) or not slug:
            raise ListingFormatError(f"collection {escape(str(slug or '?'))} has no slug")
        where = f"collection {escape(slug)}"
        for index, item in enumerate(entries(body, "models", where), 1):
            try:
                model_id = f"{identity(item, 'owner')}/{identity(item, 'name')}"
            except EntryError as exc:
                records.skip(f"{where}, entry #{index}", str(exc))
                continue
            item_slugs = members.setdefault(model_id, (item, []))[1]
            if slug in item_slugs:
                records.repeated(model_id, where)
            else:
                item_slugs.append(slug)
    for model_id, (item, slugs) in members.items():
        records[model_id] = _record(item, "collection", tuple(slugs))
    return records


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


def pager(session: ProviderSession) -> NextLink:
    """The full listing's paging: `next` links, followed only on the configured host (see `safe_next`)."""

    def follow(link: str) -> str:
        url = safe_next(link, session.base_url, session.spec.base_url)
        if url is None:
            host = urlsplit(link).netloc or "?"
            raise session.http.failure(
                "unsafe_link",
                f"sent a next-page link to another host ({host}); the token is only sent to {session.base_url}, "
                f"so the listing was not applied. Check {session.spec.base_url_env or 'the base URL'}",
            )
        return url

    return NextLink(session.url("v1/models"), follow)


async def _collections(session: ProviderSession) -> Listing:
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


async def fetch(session: ProviderSession) -> Listing:
    """Fetch the configured collections, or the full listing when `replicate_full_listing` is set."""
    if session.settings.replicate_full_listing:
        return await walk(session, pager(session), normalize_page, max_pages=MAX_PAGES, progress_every=PROGRESS_EVERY)
    return await _collections(session)


# `normalize` reads the full listing's pages; the collections' bodies have their own reader, normalize_collections.
ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize)
