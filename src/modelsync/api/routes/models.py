"""Read endpoints of the catalog: the model list, one model, its history, and the change feed.

Rules: model ids may contain "/" and ":", so the id is the rest of the path (`{model_id:path}`); the history route
is registered before the model route so that `.../history` is not read as part of an id. Every route needs a
token unless public reads are enabled. Answers come from the response cache (api/cache.py) while the catalog has
not moved; the database is queried, in the thread pool, only to fill it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from modelsync.api.cache import cached_json
from modelsync.api.deps import Reader, get_engine
from modelsync.api.schemas import ChangeFeed, ChangeOut, ModelOut, ModelPage, Price, errors
from modelsync.records import KINDS, STATUSES, TIERS
from modelsync.services import catalog, query
from modelsync.services.query import CHANGE_KINDS, SORTS, ModelFilters

router = APIRouter(tags=["models"])
Name = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
SortName = Literal[SORTS + tuple(f"-{name}" for name in SORTS)]  # type: ignore[valid-type]
READ_ERRORS = errors(401, 422, 503)


@router.get("/api/ai-models", response_model=None, responses={200: {"model": ModelPage}, **READ_ERRORS})
async def list_models(
    request: Request,
    _caller: Reader,
    provider: Annotated[list[Name] | None, Query(description="Only these providers (repeatable).")] = None,
    status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    kind: Annotated[list[Literal[KINDS]] | None, Query(description="Only these kinds (repeatable).")] = None,  # type: ignore[valid-type]
    capability: Annotated[list[Name] | None, Query(description="Only models known to have all of these.")] = None,
    tag: Annotated[list[Name] | None, Query(description="Only models with all of these tags.")] = None,
    tier: Annotated[Literal[TIERS] | None, Query()] = None,  # type: ignore[valid-type]
    recommended: bool | None = None,
    allowed: bool | None = None,
    maxInputPrice: Annotated[
        Price | None, Query(description="USD per 1M input tokens; unpriced models excluded.")
    ] = None,
    maxOutputPrice: Annotated[Price | None, Query(description="USD per 1M output tokens; unpriced excluded.")] = None,
    minContext: Annotated[int | None, Query(ge=0, le=10**12, description="Smallest context window.")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Text in the id or name.")] = None,
    sort: Annotated[SortName, Query(description="Sort field; prefix - for descending.")] = "provider",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="`nextCursor` of the previous page.")] = None,
) -> Response:
    """List stored models with filters, sorting and cursor pagination."""
    filters = ModelFilters(
        providers=tuple(provider or ()),
        status=status,
        kinds=tuple(kind or ()),
        capabilities=tuple(capability or ()),
        tags=tuple(tag or ()),
        tier=tier,
        recommended=recommended,
        allowed=allowed,
        max_input_price=maxInputPrice,
        max_output_price=maxOutputPrice,
        min_context=minContext,
        q=q,
    )
    engine = get_engine(request)

    def page() -> dict:
        models, next_cursor = query.list_page(engine, filters, sort, limit, cursor)
        return {"data": models, "nextCursor": next_cursor}

    return await cached_json(request, page)


@router.get("/api/ai-models/changes", response_model=None, responses={200: {"model": ChangeFeed}, **READ_ERRORS})
async def list_changes(
    request: Request,
    _caller: Reader,
    since: Annotated[
        str | None,
        Query(max_length=64, description="`nextSince` of the last response (a change id), or an ISO 8601 time."),
    ] = None,
    provider: Annotated[list[Name] | None, Query()] = None,
    kind: Annotated[list[Literal[CHANGE_KINDS]] | None, Query()] = None,  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The change feed: created, updated (old and new values), deprecated, reactivated and admin changes."""
    engine = get_engine(request)
    return await cached_json(
        request, lambda: query.list_changes(engine, since, limit, tuple(provider or ()), tuple(kind or ()))
    )


@router.get(
    "/api/ai-models/{provider}/{model_id:path}/history",
    response_model=None,
    responses={200: {"model": list[ChangeOut]}, **errors(401, 404, 422, 503)},
)
async def model_history(provider: str, model_id: str, request: Request, _caller: Reader) -> Response:
    """Every recorded change of one model, oldest first."""
    engine = get_engine(request)
    return await cached_json(request, lambda: catalog.model_history(engine, provider.lower(), model_id))


@router.get(
    "/api/ai-models/{provider}/{model_id:path}",
    response_model=None,
    responses={200: {"model": ModelOut}, **errors(401, 404, 422, 503)},
)
async def show_model(provider: str, model_id: str, request: Request, _caller: Reader) -> Response:
    """One model; its id may contain "/" and ":" (for example replicate/meta/llama-3-70b)."""
    engine = get_engine(request)
    return await cached_json(request, lambda: catalog.show_model(engine, provider.lower(), model_id))
