"""Read endpoints of the catalog: the model list, one model, its history, and the change feed.

Rules: model ids may contain "/" and ":", so the id is the rest of the path (`{model_id:path}`); the history route
is registered before the model route so that `.../history` is not read as part of an id. Every route needs a
token unless public reads are enabled. Answers come from the response cache (api/cache.py) while the catalog has
not moved; the database is queried, in the thread pool, only to fill it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from modelsync.api.cache import cached_json
from modelsync.api.deps import Reader, get_engine, get_settings
from modelsync.api.schemas import (
    ChangeFeed,
    ChangeOut,
    ModelOut,
    ModelPage,
    Price,
    PriceLedgerOut,
    ResolveOut,
    errors,
)
from modelsync.fieldspec import ALL_OF, EQUALS, LEGACY_PARAMS, LEGACY_SORTS, FieldType, choice_type
from modelsync.services import catalog, ledger, query, resolve
from modelsync.services.query import CHANGE_KINDS, FILTERS, SORTS, FilterSpec, ModelFilters

router = APIRouter(tags=["models"])
Name = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
NameValue = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
READ_ERRORS = errors(401, 422, 503)


def _param_type(spec: FilterSpec) -> Any:
    if spec.op == ALL_OF or spec.param == "provider":
        return list[NameValue] | None
    if spec.op == EQUALS and spec.type is FieldType.BOOL:
        return bool | None
    if spec.op == EQUALS and not spec.choices:
        return list[Annotated[str, Field(min_length=1, max_length=512)]] | None  # an id (`family`)
    if spec.op == EQUALS:
        return list[choice_type(spec.choices)] | None  # type: ignore[misc]  # a Literal built from the catalogue
    if spec.type is FieldType.MONEY:
        return Price | None
    return Annotated[int, Field(ge=0, le=10**12)] | None


def _query_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: (_param_type(spec), Field(default=None, description=spec.description)) for name, spec in FILTERS.items()
    }
    for old, new in LEGACY_PARAMS.items():
        kind, _ = fields[new]
        fields[old] = (kind, Field(default=None, description=f"Deprecated: use {new}.", deprecated=True))
    sorts = (*SORTS, *LEGACY_SORTS)
    fields["q"] = (
        str | None,
        Field(default=None, min_length=1, max_length=200, description="Text in the id or display name."),
    )
    fields["sort"] = (
        Literal[(*sorts, *(f"-{name}" for name in sorts))],  # names from the catalogue
        Field(default="provider", description="Sort field (a field's JSON name); prefix - for descending."),
    )
    fields["limit"] = (int, Field(default=50, ge=1, le=500))
    fields["cursor"] = (
        str | None,
        Field(default=None, max_length=2048, description="`nextCursor` of the previous page."),
    )
    return fields


class _QueryBase(BaseModel):
    model_config = ConfigDict(extra="ignore")


# The list endpoint's query parameters, built from the field catalogue: a filter per filterable field (a field's
# JSON name; `min`/`max` + the name for bounds), the older names as deprecated aliases, sort, paging and search.
ModelQuery = create_model("ModelQuery", __base__=_QueryBase, **_query_fields())
_PAGING = frozenset({"q", "sort", "limit", "cursor"})


@router.get("/api/ai-models", response_model=None, responses={200: {"model": ModelPage}, **READ_ERRORS})
async def list_models(
    request: Request,
    _caller: Reader,
    params: Annotated[ModelQuery, Query()],  # type: ignore[valid-type]  # a class built from the catalogue
) -> Response:
    """List stored models with filters, sorting and cursor pagination."""
    values = cast(BaseModel, params).model_dump()
    filters = ModelFilters.from_params({k: v for k, v in values.items() if k not in _PAGING}, values["q"])
    engine = get_engine(request)

    def page() -> dict:
        models, next_cursor = query.list_page(engine, filters, values["sort"], values["limit"], values["cursor"])
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
    "/api/ai-models/resolve", response_model=None, responses={200: {"model": ResolveOut}, **errors(401, 404, 422, 503)}
)
async def resolve_model(
    request: Request,
    _caller: Reader,
    id: Annotated[
        str, Query(min_length=1, max_length=600, description="A model id, bare or as PROVIDER/MODEL_ID.")
    ],
    provider: Annotated[Name | None, Query(description="Only this provider's model of that id.")] = None,
) -> Response:
    """Which stored model an id means (an alias's target), its family, and the same model at other providers."""
    engine = get_engine(request)
    settings = get_settings(request)
    return await cached_json(request, lambda: resolve.resolve(engine, settings, id, provider))


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
    "/api/ai-models/{provider}/{model_id:path}/prices",
    response_model=None,
    responses={200: {"model": PriceLedgerOut}, **errors(401, 404, 422, 503)},
)
async def model_prices(provider: str, model_id: str, request: Request, _caller: Reader) -> Response:
    """One model's price ledger: past, current and scheduled list prices with effective-from/to dates."""
    engine = get_engine(request)
    clock = request.app.state.clock
    # Not from the response cache: which price is current moves with the clock, not only with the catalog.
    data = await anyio.to_thread.run_sync(lambda: ledger.price_ledger(engine, provider.lower(), model_id, clock()))
    return JSONResponse(data)


@router.get(
    "/api/ai-models/{provider}/{model_id:path}",
    response_model=None,
    responses={200: {"model": ModelOut}, **errors(401, 404, 422, 503)},
)
async def show_model(provider: str, model_id: str, request: Request, _caller: Reader) -> Response:
    """One model; its id may contain "/" and ":" (for example replicate/meta/llama-3-70b)."""
    engine = get_engine(request)
    tolerance = get_settings(request).policy.price_tolerance
    return await cached_json(request, lambda: catalog.show_model(engine, provider.lower(), model_id, tolerance))
