"""The one page walker on every paging style: requests made, records kept, broken cursors refused.

The walker runs against a stand-in session that answers each request from a function of (url, params), so every
case (a cursor that stays put, one that cycles back, a listing that never ends) is exact and needs no server.
The same walker over real HTTP is covered by test_adapter_fetch.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from modelsync.records import SourceRecord
from modelsync.sources.fields import ListingFormatError, page_records
from modelsync.sources.paging import AfterId, NextLink, Offset, PageRequest, PageToken, walk

URL = "http://127.0.0.1:9/v1/models"


class Session:
    """Stands in for a ProviderSession: `http.get_json` answers from `answer(url, params)` and records requests."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], Any], max_models: int = 1000) -> None:
        self.answer = answer
        self.http = self
        self.requests: list[tuple[str, dict[str, Any] | None, str]] = []
        self.messages: list[str] = []
        self.max_models = max_models

    async def get_json(self, url: str, params: Any = None, what: str = "the model listing") -> Any:
        self.requests.append((url, dict(params) if params is not None else None, what))
        return self.answer(url, dict(params or {}))

    def progress(self, message: str) -> None:
        self.messages.append(message)

    def check_count(self, count: int) -> None:
        if count > self.max_models:
            raise TooMany(count)


class TooMany(Exception):
    """What the stand-in session raises for a listing over its model limit (the real one: a FetchError)."""


def _record(item: dict[str, Any], where: str) -> SourceRecord:
    return SourceRecord(item["id"], {"display_name": item.get("name")}, None)


def by_id(key: str) -> Callable[[Any, int], dict[str, SourceRecord]]:
    return lambda page, number: page_records(page, key, _record, number)


def run(session: Session, pager: Any, key: str = "data", **options: Any) -> dict[str, SourceRecord]:
    return asyncio.run(walk(session, pager, by_id(key), **options))  # type: ignore[arg-type]


MODELS = [{"id": f"m{n}", "name": f"Model {n}"} for n in range(7)]


# --- after_id (Anthropic) -------------------------------------------------------------------------------------------


def after_id_pages(url: str, params: dict[str, Any]) -> dict[str, Any]:
    ids = [m["id"] for m in MODELS]
    start = ids.index(params["after_id"]) + 1 if "after_id" in params else 0
    chunk = MODELS[start : start + params["limit"]]
    return {"data": chunk, "has_more": start + len(chunk) < len(MODELS), "last_id": chunk[-1]["id"]}


def test_after_id_follows_last_id_while_has_more():
    session = Session(after_id_pages)
    records = run(session, AfterId(URL, 3))
    assert list(records) == [m["id"] for m in MODELS]
    assert [(params, what) for _, params, what in session.requests] == [
        ({"limit": 3}, "the model listing"),
        ({"limit": 3, "after_id": "m2"}, "page 2 of the model listing"),
        ({"limit": 3, "after_id": "m5"}, "page 3 of the model listing"),
    ]
    assert session.messages == ["fetching page 2 (3 models so far)", "fetching page 3 (6 models so far)"]


def test_after_id_that_does_not_advance_is_refused():
    session = Session(lambda url, params: {"data": MODELS[:2], "has_more": True, "last_id": "m1"})
    with pytest.raises(ListingFormatError, match=r"^page 2 of the model listing has a last_id that does not advance$"):
        run(session, AfterId(URL, 2))
    assert len(session.requests) == 2


def test_has_more_without_a_last_id_is_refused():
    session = Session(lambda url, params: {"data": MODELS[:2], "has_more": True, "last_id": None})
    with pytest.raises(ListingFormatError, match="page 1 of the model listing says has_more but gives no last_id"):
        run(session, AfterId(URL, 2))


# --- opaque page token (Gemini) -------------------------------------------------------------------------------------


def token_pages(url: str, params: dict[str, Any]) -> dict[str, Any]:
    start = int(params.get("pageToken", "tok-0").removeprefix("tok-"))
    chunk = MODELS[start : start + params["pageSize"]]
    page: dict[str, Any] = {"models": chunk}
    if start + len(chunk) < len(MODELS):
        page["nextPageToken"] = f"tok-{start + len(chunk)}"
    return page


def test_page_token_is_passed_back_verbatim_until_absent():
    session = Session(token_pages)
    records = run(session, PageToken(URL, 4), key="models")
    assert list(records) == [m["id"] for m in MODELS]
    assert [params for _, params, _ in session.requests] == [{"pageSize": 4}, {"pageSize": 4, "pageToken": "tok-4"}]


def test_a_page_token_that_comes_back_is_refused():
    # Page 1 -> tok-A, page 2 -> tok-B, page 3 -> tok-A again: a cycle, not only a token that stays put.
    tokens = {None: "tok-A", "tok-A": "tok-B", "tok-B": "tok-A"}
    session = Session(lambda url, params: {"models": [], "nextPageToken": tokens[params.get("pageToken")]})
    with pytest.raises(ListingFormatError, match="page 3 of the model listing has a nextPageToken that does not"):
        run(session, PageToken(URL, 10), key="models")
    assert len(session.requests) == 3


def test_a_page_token_that_is_not_text_is_refused():
    session = Session(lambda url, params: {"models": [], "nextPageToken": 7})
    with pytest.raises(ListingFormatError, match="page 1 of the model listing has a nextPageToken that is not text"):
        run(session, PageToken(URL, 10), key="models")


# --- offset/limit (OpenRouter) --------------------------------------------------------------------------------------


def offset_pages(url: str, params: dict[str, Any]) -> dict[str, Any]:
    if "offset" not in params:
        return {"data": MODELS, "total_count": len(MODELS)}
    chunk = MODELS[params["offset"] : params["offset"] + params["limit"]]
    return {"data": chunk, "total_count": len(MODELS)}


def test_offset_pages_until_a_short_page():
    session = Session(offset_pages)
    records = run(session, Offset(URL, 3, params={"output_modalities": "all"}))
    assert list(records) == [m["id"] for m in MODELS]
    assert [params["offset"] for _, params, _ in session.requests] == [0, 3, 6]
    assert all(params["output_modalities"] == "all" for _, params, _ in session.requests)


def test_offset_stops_at_the_total_count_without_an_empty_page():
    session = Session(offset_pages)
    run(session, Offset(URL, 7))
    assert len(session.requests) == 1


def test_offset_without_a_size_asks_once_for_everything():
    session = Session(offset_pages)
    records = run(session, Offset(URL, 0, params={"output_modalities": "all"}))
    assert len(records) == 7 and [params for _, params, _ in session.requests] == [{"output_modalities": "all"}]


def test_a_listing_that_never_ends_is_refused_after_max_pages():
    # A server that answers every offset with a full page and no total: the walker stops at the limit.
    session = Session(lambda url, params: {"data": [{"id": f"x{params['offset']}"}, {"id": f"y{params['offset']}"}]})
    with pytest.raises(ListingFormatError, match="the model listing did not end after 5 pages"):
        run(session, Offset(URL, 2), max_pages=5)
    assert len(session.requests) == 5


# --- next link (Replicate) ------------------------------------------------------------------------------------------


def link_pages(url: str, params: dict[str, Any]) -> dict[str, Any]:
    position = int(url.partition("?cursor=")[2] or 0)
    following = position + 2
    return {
        "results": MODELS[position:following],
        "next": f"{URL}?cursor={following}" if following < len(MODELS) else None,
    }


def test_next_links_are_followed_as_follow_resolves_them():
    followed: list[str] = []

    def follow(link: str) -> str:
        followed.append(link)
        return link

    session = Session(link_pages)
    records = run(session, NextLink(URL, follow), key="results", progress_every=2)
    assert list(records) == [m["id"] for m in MODELS]
    assert [url for url, _, _ in session.requests] == [URL, *followed]
    assert all(params is None for _, params, _ in session.requests)  # the link is requested as it is
    assert session.messages == ["fetching page 3 (4 models so far)"]


def test_a_next_link_back_to_the_first_page_is_refused():
    session = Session(lambda url, params: {"results": MODELS[:1], "next": URL})
    with pytest.raises(ListingFormatError, match="page 1 of the model listing has a next link that does not advance"):
        run(session, NextLink(URL, lambda link: link), key="results")


def test_a_link_follow_refuses_stops_the_listing():
    class Refused(Exception):
        pass

    def follow(link: str) -> str:
        raise Refused(link)

    session = Session(link_pages)
    with pytest.raises(Refused):
        run(session, NextLink(URL, follow), key="results")
    assert len(session.requests) == 1


# --- what every style shares ----------------------------------------------------------------------------------------


def test_the_first_record_of_an_id_wins_across_pages_and_the_repeat_is_warned():
    pages = {0: [{"id": "a", "name": "first"}, {"id": "b"}], 2: [{"id": "a", "name": "second"}, {"id": "c"}]}
    session = Session(lambda url, params: {"data": pages.get(params["offset"], [])})
    records = run(session, Offset(URL, 2))
    assert list(records) == ["a", "b", "c"] and records["a"].fields["display_name"] == "first"
    assert records.warnings.kept == [
        "page 2 of the model listing: model a is listed more than once; the first entry is kept"
    ]


def test_a_listing_over_the_model_limit_stops_before_the_next_page():
    session = Session(after_id_pages, max_models=3)
    with pytest.raises(TooMany):
        run(session, AfterId(URL, 2))
    assert len(session.requests) == 2  # the page that took it over 3; the third page is never asked for


def test_a_broken_page_fails_before_the_next_request():
    answers = iter([{"data": MODELS[:2], "has_more": True, "last_id": "m1"}, {"unexpected": True}])
    session = Session(lambda url, params: next(answers))
    with pytest.raises(ListingFormatError, match="page 2 of the model listing has no `data` list"):
        run(session, AfterId(URL, 2))
    assert len(session.requests) == 2


def test_requests_compare_by_url_and_parameters_in_any_order():
    assert PageRequest(URL, {"a": 1, "b": "x"}).key() == PageRequest(URL, {"b": "x", "a": "1"}).key()
    assert PageRequest(URL).key() != PageRequest(URL + "?cursor=1").key()
