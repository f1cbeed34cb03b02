"""`GET /metrics`: Prometheus text exposition of the syncs, the catalog and this process's request latency.

Rules: open like /healthz (it reveals provider names, counts and timings, no model data, no user names), unless
`MODELSYNC_METRICS_TOKEN` is set: then only `Authorization: Bearer <that token>` is answered (compared in constant
time), since a scraper holds one static secret rather than a user's API token. Not in the OpenAPI document: it is
text for Prometheus, not part of the JSON API.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelsync.api.deps import get_settings
from modelsync.errors import AuthenticationError

router = APIRouter(tags=["health"])


def _admitted(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """The metrics in Prometheus text format."""
    token = get_settings(request).metrics_token
    if token is not None and not _admitted(request, token.get_secret_value()):
        raise AuthenticationError("/metrics needs `Authorization: Bearer <MODELSYNC_METRICS_TOKEN>`.")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
