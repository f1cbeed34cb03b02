"""The one page walker: every paged listing is read here, page by page, whatever its paging style.

Rules:
- An adapter declares its paging as a `Pager`: the first request, and the request a page points to next (None
  on the last page). Four styles cover the listings modelsync reads: `NextLink` (a `next` URL, Replicate),
  `PageToken` (an opaque token passed back verbatim, Gemini), `Offset` (offset/limit arithmetic, OpenRouter)
  and `AfterId` (`after_id` = the page's `last_id` while `has_more`, Anthropic).
- `walk` owns the loop: each page is requested through the session's client (retries, redaction, deadline and
  size limit), normalized as it arrives and then dropped, so a 50,000-model listing is never held as raw JSON;
  the first record of an id wins across pages (the repeat is warned about). A failure on any page fails the
  whole listing (the records already read are dropped).
- A listing that grows past the session's model limit (MODELSYNC_MAX_MODELS_PER_PROVIDER) is refused as soon as a
  page takes it over the limit, before the next page is requested.
- A next request equal to one already made (a cursor that does not advance, or comes back) is a broken
  listing: `ListingFormatError`, never a loop. So is a listing that has not ended after `max_pages` pages.
- Messages name the page ("page 3 of the model listing"); progress says which page is being fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelsync.sources.fields import ListingFormatError, PageNormalizer, entries, page_name
from modelsync.sources.http import ProviderSession
from modelsync.sources.listing import Listing

MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page's request: a URL and its query parameters (None: the URL is requested as it is)."""

    url: str
    params: Mapping[str, Any] | None = None

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What makes two requests the same request (parameter order does not)."""
        return self.url, tuple(sorted((name, str(value)) for name, value in (self.params or {}).items()))


def _sized(url: str, params: Mapping[str, Any], size_param: str, size: int, **cursor: Any) -> PageRequest:
    """A request for one page of `size` entries, with the fixed parameters and the cursor's own."""
    return PageRequest(url, {**params, size_param: size, **cursor})


class Pager(Protocol):
    """A paging style: the first request, and the request a page points to next."""

    @property
    def cursor(self) -> str:
        """The page field that leads to the next page, as messages name it."""
        ...

    def first(self) -> PageRequest:
        """The request for page 1."""
        ...

    def next(self, page: Any, current: PageRequest, where: str) -> PageRequest | None:
        """The request for the page after `page` (fetched with `current`), or None when it is the last one."""
        ...


@dataclass(frozen=True, slots=True)
class AfterId:
    """`limit` pages followed with `after_id=<last_id>` while the page says `has_more` (Anthropic)."""

    url: str
    size: int
    params: Mapping[str, Any] = field(default_factory=dict)
    size_param: str = "limit"
    after_param: str = "after_id"
    more_field: str = "has_more"
    last_field: str = "last_id"

    @property
    def cursor(self) -> str:
        """The page field naming the next page's start."""
        return self.last_field

    def first(self) -> PageRequest:
        """The first page: the page size only."""
        return _sized(self.url, self.params, self.size_param, self.size)

    def next(self, page: Any, current: PageRequest, where: str) -> PageRequest | None:
        """After the page's last id while it says there is more; more without a last id is a broken page."""
        if not isinstance(page, dict) or page.get(self.more_field) is not True:
            return None
        last = page.get(self.last_field)
        if not isinstance(last, str) or not last:
            raise ListingFormatError(f"{where} says {self.more_field} but gives no {self.last_field}")
        return _sized(self.url, self.params, self.size_param, self.size, **{self.after_param: last})


@dataclass(frozen=True, slots=True)
class PageToken:
    """`pageSize` pages followed with the opaque `nextPageToken`, passed back verbatim, until it is absent (Gemini)."""

    url: str
    size: int
    params: Mapping[str, Any] = field(default_factory=dict)
    size_param: str = "pageSize"
    token_param: str = "pageToken"
    token_field: str = "nextPageToken"

    @property
    def cursor(self) -> str:
        """The page field holding the next page's token."""
        return self.token_field

    def first(self) -> PageRequest:
        """The first page: the page size only."""
        return _sized(self.url, self.params, self.size_param, self.size)

    def next(self, page: Any, current: PageRequest, where: str) -> PageRequest | None:
        """The page the token names; no (or an empty) token ends the listing."""
        token = page.get(self.token_field) if isinstance(page, dict) else None
        if not token:
            return None
        if not isinstance(token, str):
            raise ListingFormatError(f"{where} has a {self.token_field} that is not text")
        return _sized(self.url, self.params, self.size_param, self.size, **{self.token_param: token})


@dataclass(frozen=True, slots=True)
class Offset:
    """Offset/limit pages until a short page or `total_count` (OpenRouter); size 0 asks once, for everything."""

    url: str
    size: int
    params: Mapping[str, Any] = field(default_factory=dict)
    entries_key: str = "data"
    offset_param: str = "offset"
    size_param: str = "limit"
    total_field: str = "total_count"

    @property
    def cursor(self) -> str:
        """The parameter that moves through the listing."""
        return self.offset_param

    def first(self) -> PageRequest:
        """The first page; without a size, the one request for the whole listing (no offset/limit)."""
        if not self.size:
            return PageRequest(self.url, dict(self.params))
        return _sized(self.url, self.params, self.size_param, self.size, **{self.offset_param: 0})

    def next(self, page: Any, current: PageRequest, where: str) -> PageRequest | None:
        """The page after the entries read so far; a short page or reaching the total ends the listing."""
        if not self.size:
            return None
        got = len(entries(page, self.entries_key, where))
        offset = int((current.params or {}).get(self.offset_param, 0)) + got
        total = page.get(self.total_field)
        if got < self.size or (isinstance(total, int) and offset >= total):
            return None
        return _sized(self.url, self.params, self.size_param, self.size, **{self.offset_param: offset})


@dataclass(frozen=True, slots=True)
class NextLink:
    """Pages followed through a `next` link until it is null (Replicate).

    `follow` turns a link into the URL to request, or raises when the link must not be followed (another host).
    """

    url: str
    follow: Callable[[str], str]
    link_field: str = "next"

    @property
    def cursor(self) -> str:
        """The page field holding the next page's link."""
        return f"{self.link_field} link"

    def first(self) -> PageRequest:
        """The listing's first page."""
        return PageRequest(self.url)

    def next(self, page: Any, current: PageRequest, where: str) -> PageRequest | None:
        """The page the link points to, as `follow` resolves it; no link ends the listing."""
        link = page.get(self.link_field) if isinstance(page, dict) else None
        if not link:
            return None
        if not isinstance(link, str):
            raise ListingFormatError(f"{where} has a {self.link_field} link that is not text")
        return PageRequest(self.follow(link))


async def walk(
    session: ProviderSession,
    pager: Pager,
    normalize_page: PageNormalizer,
    *,
    max_pages: int = MAX_PAGES,
    progress_every: int = 1,
) -> Listing:
    """Fetch and normalize every page of a listing; any failed or broken page fails the whole listing."""
    records = Listing()
    request = pager.first()
    seen = {request.key()}
    for number in range(1, max_pages + 1):
        where = page_name(number)
        what = "the model listing" if number == 1 else where
        page = await session.http.get_json(request.url, params=request.params, what=what)
        records.absorb(normalize_page(page, number), where)
        session.check_count(len(records))
        following = pager.next(page, request, where)
        if following is None:
            return records
        # Any request already made, not only the last one: a cursor that cycles would loop as surely.
        if following.key() in seen:
            raise ListingFormatError(f"{where} has a {pager.cursor} that does not advance")
        seen.add(following.key())
        request = following
        if number % progress_every == 0:
            session.progress(f"fetching page {number + 1} ({len(records)} models so far)")
    raise ListingFormatError(f"the model listing did not end after {max_pages} pages")
