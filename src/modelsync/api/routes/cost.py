"""`POST /api/cost`: price one call from the stored prices, through the in-process price index.

Rules: a model the catalog does not hold is answered `known: false, priced: false` with a note, never a zero
cost and never another model's price; a model with an unknown price is `priced: false` with null costs; a bare id
that several providers offer is a 422 that names them. Every usage quantity of `cost.USAGE_KEYS` may be sent;
one the model has no price for is listed in `unpriced` (and the total is null), never charged 0. The look-up is
in memory, so the route runs on the event loop; only rebuilding the index after the catalog moved (a database
read) goes to the thread pool, as does a question `at` another time (a ledger read).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modelsync.api.deps import Reader, get_engine, get_prices
from modelsync.api.schemas import CostOut, CostRequest, errors
from modelsync.cost import USAGE_KEYS
from modelsync.services.catalog import price_call
from modelsync.services.ledger import price_call_at

router = APIRouter(tags=["cost"])


@router.post("/api/cost", response_model=None, responses={200: {"model": CostOut}, **errors(400, 401, 413, 422, 503)})
async def cost(body: CostRequest, request: Request, _caller: Reader) -> JSONResponse:
    """The cost breakdown of one call at the stored prices, in USD."""
    index = get_prices(request)
    version = request.state.stamp.catalog
    if not index.current(version):
        await anyio.to_thread.run_sync(index.ensure, version)
    entry = index.find(body.model, body.provider)
    usage = {key: getattr(body, key) for key in USAGE_KEYS}
    if entry is None:
        unknown = f"{body.provider}/{body.model}" if body.provider else body.model
        return JSONResponse(
            {
                "provider": body.provider,
                "model": body.model,
                "known": False,
                "inputTokens": body.inputTokens,
                "cachedInputTokens": body.cachedInputTokens,
                "outputTokens": body.outputTokens,
                "inputCost": None,
                "cachedInputCost": None,
                "outputCost": None,
                "totalCost": None,
                "currency": "USD",
                "priced": False,
                "notes": [f"no stored model {unknown!r} (unpriced); GET /api/ai-models?q=... finds the exact id"],
                "usage": {key: value for key, value in usage.items() if value},
                "batch": body.batch,
                "lines": [],
                "unpriced": [key for key, value in usage.items() if value and key != "requests"],
            }
        )
    if body.at is None:
        breakdown = price_call(entry.schedule, entry.provider, entry.model_id, usage, body.batch)
        return JSONResponse({**breakdown.to_dict(), "known": True})
    # Only a question about another time reads the ledger: the call without `at` stays an in-memory look-up.
    engine = get_engine(request)
    data = await anyio.to_thread.run_sync(
        lambda: price_call_at(engine, entry.provider, entry.model_id, usage, body.batch, body.at)
    )
    return JSONResponse({**data, "known": True})
