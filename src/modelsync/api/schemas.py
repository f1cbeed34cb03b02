"""Request bodies and documented response shapes of the HTTP API (camelCase, as in the original schema).

Rules: request bodies forbid unknown fields and bound every string and number, so that nothing a client sends can
grow without limit; prices are exact decimals (a JSON number or a decimal string), never negative. Response models
document what the services return (the shapes come from services/views.py and friends); the API returns those
dicts as they are, and a test checks that the two agree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

MAX_TOKENS: Final = 10**12
Price = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=28, decimal_places=12, allow_inf_nan=False)]
ModelRef = Annotated[str, Field(min_length=1, max_length=512)]
ProviderName = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class SyncRequest(_Body):
    """Start a sync of one provider, or of every enabled one with `all`."""

    provider: ProviderName = Field(description="A provider name (openai, anthropic, google, replicate, ...) or all.")
    dryRun: bool = Field(default=False, description="Plan and report the changes without writing anything.")


class ReplicateSyncRequest(_Body):
    """Start a sync of Replicate."""

    dryRun: bool = Field(default=False, description="Plan and report the changes without writing anything.")


# API field -> internal decision name; null in a PATCH hands the field back to the sync.
PATCH_FIELDS: Final = {
    "isAllowed": "is_allowed",
    "recommended": "recommended",
    "replacementModel": "replacement_model",
    "displayName": "display_name",
    "inputCostPer1M": "input_price",
    "outputCostPer1M": "output_price",
    "cacheReadCostPer1M": "cache_read_price",
    "cacheWriteCostPer1M": "cache_write_price",
}


class ModelPatch(_Body):
    """Admin decisions on a model; a field set to null is cleared (the sources decide it again)."""

    isAllowed: bool | None = None
    recommended: bool | None = None
    replacementModel: ModelRef | None = None
    displayName: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    inputCostPer1M: Price | None = None
    outputCostPer1M: Price | None = None
    cacheReadCostPer1M: Price | None = None
    cacheWriteCostPer1M: Price | None = None

    def decisions(self) -> dict[str, Any]:
        """The fields the client sent, under their internal names."""
        return {PATCH_FIELDS[name]: getattr(self, name) for name in self.model_fields_set}


class CostRequest(_Body):
    """Price one call of a stored model."""

    model: ModelRef = Field(description="MODEL_ID, or PROVIDER/MODEL_ID.")
    provider: ProviderName | None = Field(default=None, description="The provider, when the id alone is ambiguous.")
    inputTokens: int = Field(ge=0, le=MAX_TOKENS, description="Input tokens, cached ones included.")
    outputTokens: int = Field(ge=0, le=MAX_TOKENS)
    cachedInputTokens: int = Field(default=0, ge=0, le=MAX_TOKENS, description="Input tokens read from the cache.")


# --- documented responses ----------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """What went wrong and what to do."""

    code: str
    message: str
    runningRunId: int | None = None


class ErrorOut(_Out):
    """Every error response."""

    error: ErrorDetail


class ModelOut(_Out):
    """One model in the original schema's camelCase names (money as exact decimal text, USD)."""

    id: str
    provider: str
    name: str
    displayName: str | None
    kind: str
    status: str
    capabilities: list[str]
    contextWindow: int | None
    maxOutputTokens: int | None
    costPer1kInputTokens: str | None
    costPer1kOutputTokens: str | None
    inputCostPer1M: str | None
    outputCostPer1M: str | None
    cacheReadCostPer1M: str | None
    cacheWriteCostPer1M: str | None
    supportsStreaming: bool | None
    supportsJSON: bool | None
    supportsVision: bool | None
    supportsTools: bool | None
    supportsReasoning: bool | None
    recommended: bool
    tier: str | None
    isAllowed: bool
    tags: list[str]
    replacementModel: str | None
    deprecatedAt: str | None
    shutdownDate: str | None
    inputModalities: list[str]
    outputModalities: list[str]
    releaseDate: str | None
    knowledgeCutoff: str | None
    provenance: dict[str, str]
    lastVerified: str | None
    createdAt: str
    updatedAt: str


class ModelPage(_Out):
    """One page of models; pass `nextCursor` as `cursor` for the next (null on the last page)."""

    data: list[ModelOut]
    nextCursor: str | None


class ChangeOut(_Out):
    """One history entry: the old and new value of each changed field."""

    id: int
    runId: int | None
    provider: str
    model: str
    kind: str
    changes: dict[str, Any]
    actor: str | None
    at: str


class ChangeFeed(_Out):
    """Changes after `since`, oldest first; poll again with `since=nextSince`."""

    data: list[ChangeOut]
    nextSince: str | None
    hasMore: bool


class DecisionOut(_Out):
    """What an admin decision changed ({field: [old, new]}) and the model as it is now."""

    changes: dict[str, list[Any]]
    model: ModelOut


class CostOut(_Out):
    """The cost of one call at the stored prices; `priced` is false when any needed price is unknown."""

    provider: str | None
    model: str
    known: bool
    inputTokens: int
    cachedInputTokens: int
    outputTokens: int
    inputCost: str | None
    cachedInputCost: str | None
    outputCost: str | None
    totalCost: str | None
    currency: str
    priced: bool
    notes: list[str]


class SyncOutcomeOut(BaseModel):
    """One provider's outcome in a sync summary."""

    provider: str
    label: str
    status: str
    message: str | None
    listing: str | None
    created: int
    updated: int
    unchanged: int
    deprecated: int
    reactivated: int
    processed: int
    notes: list[str]
    changes: list[dict[str, Any]] | None = Field(
        default=None, description="Dry runs only: each planned change (model, kind, fields with old and new values)."
    )


class SyncSummaryOut(BaseModel):
    """The summary `modelsync sync --json` prints; `runId` is null for a dry run (nothing is recorded)."""

    runId: int | None
    dryRun: bool
    status: str
    startedAt: str
    finishedAt: str | None
    providers: dict[str, SyncOutcomeOut]
    totals: dict[str, int]


class RunOut(BaseModel):
    """One recorded sync run."""

    id: int
    trigger: str
    actor: str | None
    providers: list[str]
    dryRun: bool
    status: str
    startedAt: str
    finishedAt: str | None
    totals: dict[str, int] | None
    summary: dict[str, Any] | None = None


class RunPage(_Out):
    """Sync runs, newest first; pass `nextCursor` as `cursor` for older ones."""

    data: list[RunOut]
    nextCursor: int | None


class AuditEntryOut(_Out):
    """One audit entry."""

    id: int
    at: str
    actor: str | None
    userId: int | None
    sourceIp: str | None
    action: str
    target: str | None
    outcome: str
    details: dict[str, Any] | None


class AuditPage(_Out):
    """Audit entries, newest first; pass `nextCursor` as `cursor` for older ones."""

    data: list[AuditEntryOut]
    nextCursor: int | None


class HealthOut(_Out):
    """Whether the service can answer: the database is reachable; and the last sync."""

    status: str
    database: str
    lastSync: RunOut | None
    models: int | None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document error responses for a route."""
    return {status: {"model": ErrorOut} for status in statuses}
