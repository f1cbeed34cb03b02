"""Request bodies and documented response shapes of the HTTP API (camelCase, as in the original schema).

Rules: the model and decision shapes are built from the field catalogue (fieldspec.py); request bodies forbid
unknown fields and bound every string and number, so that nothing a client sends can grow without limit; strings
hold no control characters and no lone surrogates (neither backend could store them alike); prices are exact
decimals (a JSON number or a decimal string), never negative. Response models document what the
services return (the shapes come from services/views.py and friends); the API returns those dicts as they are,
and a test checks that the two agree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model

from modelsync.cost import USAGE_KEYS
from modelsync.fieldspec import DECISION, DERIVED, FIELDS, IDENTITY, FieldType, RecordField, fields_set_by, python_type
from modelsync.pricing import UNITS_ORDERED

MAX_TOKENS: Final = 10**12
Price = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=28, decimal_places=12, allow_inf_nan=False)]


def _plain_text(value: str) -> str:
    for char in value:
        if char < " " or "\x7f" <= char <= "\x9f" or "\ud800" <= char <= "\udfff":
            raise ValueError(f"must not contain control characters or lone surrogates (found {char!r})")
    return value


PlainText = AfterValidator(_plain_text)
ModelRef = Annotated[str, Field(min_length=1, max_length=512), PlainText]
ProviderName = Annotated[str, Field(min_length=1, max_length=64), PlainText]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class SyncRequest(_Body):
    """Start a sync of one provider, or of every enabled one with `all`."""

    provider: ProviderName = Field(description="A provider name (openai, anthropic, google, replicate, ...) or all.")
    dryRun: bool = Field(default=False, description="Plan and report the changes without writing anything.")
    recompute: bool = Field(
        default=False, description="Recompute every model even when a provider's inputs did not change."
    )


class ReplicateSyncRequest(_Body):
    """Start a sync of Replicate."""

    dryRun: bool = Field(default=False, description="Plan and report the changes without writing anything.")
    recompute: bool = Field(
        default=False, description="Recompute every model even when a provider's inputs did not change."
    )


def _decision_type(field: RecordField) -> Any:
    if field.type is FieldType.MONEY:
        return Price | None
    if field.type is FieldType.TEXT:
        return Annotated[str, Field(min_length=1, max_length=field.max_length), PlainText] | None
    return python_type(field) | None


# API field -> internal decision name, for every field an admin may decide (fieldspec: DECISION).
PATCH_FIELDS: Final = {field.json: field.name for field in fields_set_by(DECISION)}

ModelPatch = create_model(
    "ModelPatch",
    __base__=_Body,
    __doc__="Admin decisions on a model; a field set to null is cleared (the sources decide it again).",
    **{
        field.json: (_decision_type(field), Field(default=None, description=field.description))
        for field in fields_set_by(DECISION)
    },  # type: ignore[call-overload]
)


def decisions_of(patch: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body sent, under their internal names."""
    return {PATCH_FIELDS[name]: getattr(patch, name) for name in patch.model_fields_set}


class _CostBase(_Body):
    model: ModelRef = Field(description="MODEL_ID, or PROVIDER/MODEL_ID.")
    provider: ProviderName | None = Field(default=None, description="The provider, when the id alone is ambiguous.")
    inputTokens: int = Field(
        ge=0, le=MAX_TOKENS, description="Every prompt token: cached, cache-write, audio and image input included."
    )
    outputTokens: int = Field(ge=0, le=MAX_TOKENS, description="Every output token (reasoning, audio included).")
    cachedInputTokens: int = Field(default=0, ge=0, le=MAX_TOKENS, description="Input tokens read from the cache.")
    batch: bool = Field(default=False, description="Sent through the batch API: its prices where the model has them.")
    at: AwareDatetime | None = Field(
        default=None,
        description="Price the call as billed at this time (ISO 8601 with an offset, e.g. 2027-01-02T00:00:00Z): "
        "a past price from the ledger or a scheduled one. Omitted: the current stored price.",
    )


def _usage_description(key: str) -> str:
    units = [unit for unit in UNITS_ORDERED if unit.usage == key]
    priced = "; ".join(f"priced {unit.label} ({unit.name})" for unit in units)
    if key == "requests":
        return f"Requests this usage is for (default 1); {priced}."
    return f"How many; {priced}."


# The seed's three counts, then every other quantity a price can be quoted for (pricing.UNITS).
CostRequest = create_model(
    "CostRequest",
    __base__=_CostBase,
    __doc__="Price one call of a stored model: its token counts and any per-unit quantities (images, audio, ...).",
    **{
        key: (int, Field(default=int(key == "requests"), ge=0, le=MAX_TOKENS, description=_usage_description(key)))
        for key in USAGE_KEYS
        if key not in _CostBase.model_fields
    },  # type: ignore[call-overload]
)


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


def _view_type(field: RecordField) -> Any:
    if field.type in (FieldType.MONEY, FieldType.DATE, FieldType.TIMESTAMP):
        return str | None
    if field.type in (FieldType.NAMES, FieldType.FLAGS):
        return list[str]
    if field.type is FieldType.SOURCES:
        return dict[str, str]
    if field.type is FieldType.PRICES:
        return list[dict[str, Any]] | None
    kind = python_type(field)
    return kind | None if field.nullable else kind


def _view_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    kind: Any
    for identity in IDENTITY:
        kind = str | None if identity.nullable else str
        fields[identity.json] = (kind, Field(description=identity.description))
    for record_field in FIELDS:
        fields[record_field.json] = (_view_type(record_field), Field(description=record_field.description))
    for derived in DERIVED:
        kind = bool | None if derived.flag else str | None
        fields[derived.json] = (kind, Field(description=derived.description))
    return fields


# One model in the API's names (money as exact decimal text, USD), built from the field catalogue.
ModelOut = create_model(
    "ModelOut",
    __base__=_Out,
    __doc__="One model in the original schema's camelCase names (money as exact decimal text, USD).",
    **_view_fields(),
)


class ModelPage(_Out):
    """One page of models; pass `nextCursor` as `cursor` for the next (null on the last page)."""

    data: list[ModelOut]  # type: ignore[valid-type]  # a class built from the field catalogue at import
    nextCursor: str | None


class ModelLink(_Out):
    """A stored model named by reference."""

    provider: str
    id: str
    displayName: str | None
    status: str


class FamilyMember(_Out):
    """One model of a family and how it is related (base, snapshot of X, alias of X, fine-tune of X)."""

    id: str
    relation: str
    status: str


class FamilyOut(_Out):
    """A family: the model its members resolve to, and every stored member."""

    root: str
    members: list[FamilyMember]


class ResolveMatch(_Out):
    """What an id means at one provider: the model (an alias's target), its family, the same model elsewhere."""

    provider: str
    id: str
    via: Literal["exact", "alias"]
    aliasChain: list[str] = Field(description="The ids followed from the id asked about to the model it means.")
    model: ModelOut  # type: ignore[valid-type]  # a class built from the field catalogue at import
    family: FamilyOut | None
    elsewhere: list[ModelLink] = Field(description="The same model at other providers (OpenRouter and its author).")


class ResolveOut(_Out):
    """Every stored model an id means (one per provider that has it)."""

    query: str
    provider: str | None
    matches: list[ResolveMatch]


class ChangeOut(_Out):
    """One history entry: the old and new value of each changed field.

    A scheduled price (`price_scheduled` when first seen, `price_effective` when it takes effect) is derived from
    the price ledger, not stored: it has no `id` and carries `effectiveFrom` and the `source` that announced it.
    """

    id: int | None
    runId: int | None
    provider: str
    model: str
    kind: str
    changes: dict[str, Any]
    actor: str | None
    at: str
    effectiveFrom: str | None = None
    source: str | None = None


class ChangeFeed(_Out):
    """Changes after `since`, oldest first; poll again with `since=nextSince`."""

    data: list[ChangeOut]
    nextSince: str | None
    hasMore: bool


class DecisionOut(_Out):
    """What an admin decision changed ({field: [old, new]}) and the model as it is now."""

    changes: dict[str, list[Any]]
    model: ModelOut  # type: ignore[valid-type]  # a class built from the field catalogue at import


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
    usage: dict[str, int] = Field(description="The quantities priced (those not 0).")
    batch: bool = Field(description="Whether batch prices were used where the model has them.")
    lines: list[dict[str, Any]] = Field(
        description="One line per charged unit: unit, quantity, usd (price per `per` of the unit), per, cost, "
        "source, and `above` (the context tier used) or `batch` when they apply."
    )
    unpriced: list[str] = Field(
        description="Usage quantities the model has no price for: never charged 0; totalCost is then null."
    )
    at: str | None = Field(default=None, description="The time the call was priced at, when one was asked for.")


class LedgerEntryOut(_Out):
    """One list price of the ledger and when it applies."""

    effectiveFrom: str = Field(description="When this price took (or takes) effect.")
    effectiveTo: str | None = Field(description="When the next price took (or takes) over; null while open.")
    firstObserved: str = Field(description="When modelsync first observed this price.")
    source: str = Field(description="`observed` (a sync stored it) or the catalog that announced the date.")
    prices: list[dict[str, Any]] | None = Field(description="Its price components; null = unknown, [] = free.")


class PriceLedgerOut(_Out):
    """A model's past, current and scheduled list prices."""

    provider: str
    model: str
    past: list[LedgerEntryOut]
    current: LedgerEntryOut | None
    scheduled: list[LedgerEntryOut]


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
    warnings: list[str] = Field(description="Values dropped while reading the listing (the first 100).")
    warningCount: int = Field(description="How many values were dropped in all.")
    quarantined: int = Field(default=0, description="Changes held for an admin (see /api/admin/quarantine).")
    held: list[dict[str, Any]] | None = Field(
        default=None, description="Dry runs only: the first 500 changes the quarantine holds (model, field, rule)."
    )
    changes: list[dict[str, Any]] | None = Field(
        default=None,
        description="Dry runs only: the first 500 planned changes (model, kind, fields with old and new values).",
    )
    changesOmitted: int | None = Field(default=None, description="Dry runs only: planned changes not listed.")


class CatalogUseOut(BaseModel):
    """Which copy of a catalog a sync read, and what became of its feed."""

    source: str = Field(description="feed, package (the installed one), or none")
    version: str | None = Field(description="The package version, or the start of the feed copy's digest.")
    date: str | None = Field(description="The date of the data (see README, Catalogs and feeds).")
    models: int | None
    fetch: str = Field(description="fetched, not_modified, failed, refused, offline, or off")
    warning: str | None = Field(description="Why a feed was not used this time (the stored copy or package was).")


class SyncSummaryOut(BaseModel):
    """The summary `modelsync sync --json` prints; `runId` is null for a dry run (nothing is recorded)."""

    runId: int | None
    dryRun: bool
    status: str
    startedAt: str
    finishedAt: str | None
    providers: dict[str, SyncOutcomeOut]
    totals: dict[str, int]
    catalogs: dict[str, CatalogUseOut] = Field(
        default_factory=dict, description="Per catalog (models-dev, genai-prices, litellm): the copy the sync read."
    )


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


class ScheduleOut(_Out):
    """The scheduled sync this server runs: its cron expression (UTC) and next fire time."""

    cron: str
    nextRun: str | None


class HealthOut(_Out):
    """Whether the service can answer: the database is reachable; the last sync; the next scheduled one."""

    status: str
    database: str
    lastSync: RunOut | None
    models: int | None
    schedule: ScheduleOut | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document error responses for a route; a route that may answer 401 may also answer 429 (too many denials)."""
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    return {status: {"model": ErrorOut} for status in sorted(statuses)}
