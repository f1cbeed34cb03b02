"""Admin endpoints of change webhooks: list and read deliveries (admin); create, pause/resume, delete (super_admin).

Rules: subscriptions go through services/webhooks.py (validated, secret encrypted, audit-logged with the caller's
name and address). A response never holds a secret: only its fingerprint, except the one secret modelsync
generates, returned once by the POST that created it. No MODELSYNC_SECRET_KEY: the POST is a 409 saying what to
set. The request and response shapes live here, next to the only routes that use them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from modelsync.api.deps import Admin, SuperAdmin, client_ip, get_engine, get_settings
from modelsync.api.schemas import PlainText, errors
from modelsync.services import webhooks

router = APIRouter(tags=["webhooks"])
SubscriptionId = Annotated[int, Path(ge=1, le=2**62)]
FilterItem = Annotated[str, Field(min_length=1, max_length=600), PlainText]


class WebhookCreate(BaseModel):
    """Subscribe a URL to change events; no `secret` = one is generated and returned once."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=2048), PlainText]
    events: list[FilterItem] | None = Field(default=None, max_length=100, description="Event kinds; none = all.")
    providers: list[FilterItem] | None = Field(default=None, max_length=100)
    models: list[FilterItem] | None = Field(default=None, max_length=100, description="Model ids or PROVIDER/ID.")
    secret: Annotated[str, Field(min_length=1, max_length=256), PlainText] | None = None


class WebhookOut(BaseModel):
    """A subscription (never its secret: the fingerprint is sha256 of it, 12 hex digits)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    url: str
    events: list[str]
    providers: list[str]
    models: list[str]
    active: bool
    secretFingerprint: str
    lastEventId: int
    createdBy: str | None
    createdAt: str


class WebhookUpdate(BaseModel):
    """Pause (`active: false`) or resume (`active: true`) a subscription."""

    model_config = ConfigDict(extra="forbid")

    active: bool = Field(strict=True)


class WebhookOne(BaseModel):
    """One subscription."""

    model_config = ConfigDict(extra="forbid")

    data: WebhookOut


class WebhookCreatedOut(BaseModel):
    """The subscription created, and the generated secret (null when the caller gave one)."""

    model_config = ConfigDict(extra="forbid")

    data: WebhookOut
    secret: str | None


class WebhookPage(BaseModel):
    """Every subscription, oldest first."""

    model_config = ConfigDict(extra="forbid")

    data: list[WebhookOut]


class DeliveryOut(BaseModel):
    """One delivery: a batch of events and its attempts."""

    model_config = ConfigDict(extra="forbid")

    id: int
    subscriptionId: int
    status: str
    events: int
    eventIds: list[int]
    lastEventId: int
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    nextAttemptAt: str | None
    createdAt: str | None
    deliveredAt: str | None


class DeliveryPage(BaseModel):
    """Deliveries, newest first."""

    model_config = ConfigDict(extra="forbid")

    data: list[DeliveryOut]


@router.get(
    "/api/admin/webhooks", response_model=None, responses={200: {"model": WebhookPage}, **errors(401, 403, 503)}
)
def list_webhooks(request: Request, _principal: Admin) -> JSONResponse:
    """Every webhook subscription with its filters and secret fingerprint."""
    return JSONResponse({"data": webhooks.list_subscriptions(get_engine(request))})


@router.post(
    "/api/admin/webhooks",
    response_model=None,
    status_code=201,
    responses={201: {"model": WebhookCreatedOut}, **errors(400, 401, 403, 409, 413, 422, 503)},
)
def create_webhook(body: WebhookCreate, request: Request, principal: SuperAdmin) -> JSONResponse:
    """Subscribe a URL to change events (a new subscription starts at the newest stored event)."""
    created = webhooks.create_subscription(
        get_engine(request),
        get_settings(request),
        body.url,
        events=body.events,
        providers=body.providers,
        models=body.models,
        secret=body.secret,
        actor=principal.name,
        source_ip=client_ip(request),
        user_id=principal.user_id,
    )
    document: dict[str, Any] = {"data": created.subscription, "secret": created.generated_secret}
    return JSONResponse(document, status_code=201)


@router.delete(
    "/api/admin/webhooks/{subscription_id}",
    response_model=None,
    status_code=204,
    responses={204: {"description": "Removed."}, **errors(401, 403, 404, 422, 503)},
)
def delete_webhook(subscription_id: SubscriptionId, request: Request, principal: SuperAdmin) -> Response:
    """Remove a subscription and its pending deliveries."""
    webhooks.remove_subscription(
        get_engine(request),
        subscription_id,
        actor=principal.name,
        source_ip=client_ip(request),
        user_id=principal.user_id,
    )
    return Response(status_code=204)


@router.patch(
    "/api/admin/webhooks/{subscription_id}",
    response_model=None,
    responses={200: {"model": WebhookOne}, **errors(400, 401, 403, 404, 413, 422, 503)},
)
def update_webhook(
    subscription_id: SubscriptionId, body: WebhookUpdate, request: Request, principal: SuperAdmin
) -> JSONResponse:
    """Pause or resume a subscription; resumed, it catches up from its cursor with the events still stored."""
    updated = webhooks.set_active(
        get_engine(request),
        subscription_id,
        body.active,
        actor=principal.name,
        source_ip=client_ip(request),
        user_id=principal.user_id,
    )
    return JSONResponse({"data": updated})


@router.get(
    "/api/admin/webhooks/{subscription_id}/deliveries",
    response_model=None,
    responses={200: {"model": DeliveryPage}, **errors(401, 403, 404, 422, 503)},
)
def list_deliveries(
    subscription_id: SubscriptionId,
    request: Request,
    _principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """A subscription's deliveries, newest first: events, attempts, last status or error, next attempt."""
    return JSONResponse({"data": webhooks.list_deliveries(get_engine(request), subscription_id, limit)})
