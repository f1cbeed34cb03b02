"""The field catalogue: one table of the model record's fields, from which every field list is derived.

Rules:
- Each stored field is one `RecordField`: its internal name (the column and the key in records, overrides and
  history), its JSON name (the one name the API uses for it everywhere: record, sort key, filter, provenance and
  history keys), its type, who may set it, whether it can be filtered or sorted, a CLI label and a description.
- Adding a field to the record is a row here, a source mapping that fills it and a migration that adds the column;
  the database table, canonical rows and fingerprints, the overrides file, the API's response model and OpenAPI
  text, the view, the sort and filter maps, `models show` and history labels all read this table.
- The order of `FIELDS` is the order of the canonical row, so fingerprints depend on it: new fields go at the end.
- `DERIVED` are read-only views of stored fields (per-1K prices, the `supports*` flags); `IDENTITY` are the
  bookkeeping fields every model has (id, provider, timestamps). Neither is ever written by a source.
- Filters and sorts use JSON names; names an earlier release used are kept in `LEGACY_PARAMS` as deprecated
  aliases for one release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal, cast

# `agent`: the provider runs a multi-step task with its own tools (web research, an agent product) behind one
# request, so a chat client cannot use it as a chat turn; a model the client drives tool call by tool call
# (computer use) stays `chat`.
KINDS: Final = ("chat", "embedding", "image", "audio", "video", "moderation", "rerank", "agent", "other")
STATUSES: Final = ("active", "deprecated")
TIERS: Final = ("free", "affordable", "premium")


class FieldType(Enum):
    """How a field's value is held, stored, compared and shown."""

    TEXT = "text"  # str
    CHOICE = "choice"  # str from a fixed set
    COUNT = "count"  # positive int (token limits)
    MONEY = "money"  # Decimal, USD per 1M tokens
    BOOL = "bool"
    DATE = "date"  # datetime.date
    TIMESTAMP = "timestamp"  # aware UTC datetime
    NAMES = "names"  # sorted list of str
    FLAGS = "flags"  # dict name -> bool; an absent name is unknown
    SOURCES = "sources"  # dict field -> source name (provenance)
    PRICES = "prices"  # list of price components (pricing.py); [] = free


# Who may set a field. A sync computes the rest (status, tier, tags, provenance) by policy.
SOURCE: Final = "source"  # a provider listing or a catalog
OVERRIDE: Final = "override"  # the local overrides file
DECISION: Final = "decision"  # an admin decision (CLI `models set`, API PATCH), pinned against every sync

# Filter kinds: equality (repeatable = any of), all-of for names/flags, upper and lower bounds.
EQUALS: Final = "equals"
ALL_OF: Final = "all_of"
AT_MOST: Final = "at_most"
AT_LEAST: Final = "at_least"


@dataclass(frozen=True, slots=True)
class RecordField:
    """One field of the model record."""

    name: str
    json: str
    type: FieldType
    label: str
    description: str
    set_by: frozenset[str] = frozenset()
    choices: tuple[str, ...] = ()
    max_length: int = 512
    nullable: bool = True
    stored: bool = True
    sortable: bool = False
    filters: tuple[str, ...] = ()
    # A snapshot, alias or fine-tune without a value of its own takes its parent's (sync/inherit.py).
    inherits: bool = False

    @property
    def is_json(self) -> bool:
        """Whether the value is a JSON document (list or dict) in storage."""
        return self.type in (FieldType.NAMES, FieldType.FLAGS, FieldType.SOURCES, FieldType.PRICES)


def _f(
    name: str, json: str, type_: FieldType, label: str, description: str, *set_by: str, **options: Any
) -> RecordField:
    return RecordField(name, json, type_, label, description, frozenset(set_by), **options)


T = FieldType
PRICE_NOTE = "USD per 1M tokens, exact decimal text; null when unknown."
PRICES_NOTE = (
    "Every price of the model, null when unknown, [] when a source says it is free: a list of components "
    '{"unit", "usd", "source", "above"?, "batch"?}. `unit` is what is counted (input_tokens, output_tokens, '
    "cache_read_tokens, cache_write_tokens, audio_input_tokens, image_input_tokens, images, audio_hours, "
    "input_characters, web_searches, requests, ...; see the README), `usd` exact decimal text per the unit's "
    "quantity (1M tokens, one image, one hour, 1K requests or searches), `above` a prompt size in tokens above "
    "which this price applies to the whole request, `batch` true for the batch API's rate, `source` where the "
    "component came from. The flat *CostPer1M fields are the base input/output/cache prices of this list."
)

FIELDS: Final[tuple[RecordField, ...]] = (
    _f("display_name", "displayName", T.TEXT, "name", "Human-readable name.", SOURCE, OVERRIDE, DECISION,
       sortable=True, inherits=True),
    _f("kind", "kind", T.CHOICE, "kind", f"What the model does: {', '.join(KINDS)}.", SOURCE, OVERRIDE,
       choices=KINDS, max_length=32, nullable=False, filters=(EQUALS,), inherits=True),
    _f("status", "status", T.CHOICE, "status", "active, or deprecated (announced, or gone from the listing).",
       choices=STATUSES, max_length=16, nullable=False, filters=(EQUALS,)),
    _f("deprecated_at", "deprecatedAt", T.TIMESTAMP, "deprecated at", "When the model became deprecated (UTC).",
       SOURCE),
    _f("replacement_model", "replacementModel", T.TEXT, "replacement", "The model id that replaces this one.",
       SOURCE, OVERRIDE, DECISION),
    _f("shutdown_date", "shutdownDate", T.DATE, "shutdown date", "The day the model stops working, if announced.",
       SOURCE, OVERRIDE),
    _f("context_window", "contextWindow", T.COUNT, "context window", "Largest prompt, in tokens.", SOURCE,
       OVERRIDE, DECISION, sortable=True, filters=(AT_LEAST,), inherits=True),
    _f("max_output_tokens", "maxOutputTokens", T.COUNT, "max output", "Largest completion, in tokens.", SOURCE,
       OVERRIDE, DECISION, sortable=True, inherits=True),
    _f("input_price", "inputCostPer1M", T.MONEY, "input $/1M", f"Input tokens, {PRICE_NOTE}", SOURCE, OVERRIDE,
       DECISION, sortable=True, filters=(AT_MOST,)),
    _f("output_price", "outputCostPer1M", T.MONEY, "output $/1M", f"Output tokens, {PRICE_NOTE}", SOURCE, OVERRIDE,
       DECISION, sortable=True, filters=(AT_MOST,)),
    _f("cache_read_price", "cacheReadCostPer1M", T.MONEY, "cache read $/1M", f"Cached input tokens, {PRICE_NOTE}",
       SOURCE, OVERRIDE, DECISION),
    _f("cache_write_price", "cacheWriteCostPer1M", T.MONEY, "cache write $/1M",
       f"Tokens written to the cache, {PRICE_NOTE}", SOURCE, OVERRIDE, DECISION),
    _f("capabilities", "capabilities", T.FLAGS, "capabilities",
       "Capabilities known to be present (an unknown one is left out, never listed as absent).", SOURCE, OVERRIDE,
       nullable=False, filters=(ALL_OF,), inherits=True),
    _f("modalities_in", "inputModalities", T.NAMES, "input modalities", "What the model reads (text, image, ...).",
       SOURCE, OVERRIDE, nullable=False, inherits=True),
    _f("modalities_out", "outputModalities", T.NAMES, "output modalities", "What the model writes.", SOURCE,
       OVERRIDE, nullable=False, inherits=True),
    _f("release_date", "releaseDate", T.TEXT, "released", "Release date, YYYY-MM-DD.", SOURCE, OVERRIDE,
       max_length=10, sortable=True),
    _f("knowledge_cutoff", "knowledgeCutoff", T.TEXT, "knowledge cutoff", "Training data cutoff, as published.",
       SOURCE, OVERRIDE, max_length=32, inherits=True),
    _f("recommended", "recommended", T.BOOL, "recommended", "Recommended to app teams (policy or an admin).",
       DECISION, nullable=False, filters=(EQUALS,)),
    _f("tier", "tier", T.CHOICE, "tier", f"Price tier from the prices: {', '.join(TIERS)}; null when unpriced.",
       choices=TIERS, max_length=16, filters=(EQUALS,)),
    _f("is_allowed", "isAllowed", T.BOOL, "allowed", "Allowed for app teams (policy or an admin).", DECISION,
       nullable=False, filters=(EQUALS,)),
    _f("tags", "tags", T.NAMES, "tags", "Tags derived from the data (fast, affordable, reasoning, latest, ...).",
       nullable=False, filters=(ALL_OF,)),
    _f("provenance", "provenance", T.SOURCES, "provenance",
       "Which source each field's value came from, by JSON field name (capabilities per name).", nullable=False),
    _f("description", "description", T.TEXT, "description", "What the provider says the model is for.", SOURCE,
       OVERRIDE, max_length=4000),
    _f("prices", "prices", T.PRICES, "prices", PRICES_NOTE, SOURCE, OVERRIDE, DECISION),
    # Identities, decided by the sync from the provider's ids and listing (sync/identity.py); a model without a
    # fact of its own inherits it through them (provenance `inherited:<id>`).
    _f("family", "family", T.TEXT, "family",
       "The model its snapshots, aliases and fine-tunes resolve to, at the end of the chain; null for a model "
       "that stands alone.", filters=(EQUALS,)),
    _f("alias_of", "aliasOf", T.TEXT, "alias of",
       "The id this alias resolves to (a `-latest` id, an alias the listing names); it carries the target's price."),
    _f("snapshot_of", "snapshotOf", T.TEXT, "snapshot of",
       "The base model of a dated snapshot (`gpt-4o` for `gpt-4o-2024-08-06`)."),
    _f("base_model", "baseModel", T.TEXT, "base model",
       "The model a fine-tune was trained from (`ft:` ids); its facts, never its price, describe the fine-tune."),
    _f("price_note", "priceNote", T.TEXT, "price note",
       "Why the model has no price, when it has none and the reason is known (a router, a self-hosted server, a "
       "fine-tune without a published price); an override or an admin decision may state one.", SOURCE, OVERRIDE,
       DECISION),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DerivedField:
    """A read-only view of a stored field: a price per 1K tokens from a per-1M price, or one capability flag."""

    json: str
    source: str
    flag: str | None
    description: str


@dataclass(frozen=True, slots=True)
class IdentityField:
    """A bookkeeping field every model has; sortable or filterable where marked."""

    json: str
    column: str
    python_type: type
    description: str
    sortable: bool = False
    nullable: bool = False


IDENTITY: Final[tuple[IdentityField, ...]] = (
    IdentityField("id", "model_id", str, "The exact id the provider's API accepts.", sortable=True),
    IdentityField("provider", "provider", str, "The provider (openai, anthropic, google, ...).", sortable=True),
    IdentityField("name", "model_id", str, "The model id again (the original schema's `name`)."),
    IdentityField("lastVerified", "last_verified", datetime, "Last time a sync saw the model.", nullable=True),
    IdentityField("createdAt", "created_at", datetime, "When modelsync first stored the model.", sortable=True),
    IdentityField("updatedAt", "updated_at", datetime, "When a field of the model last changed.", sortable=True),
)

BY_NAME: Final[dict[str, RecordField]] = {field.name: field for field in FIELDS}
BY_JSON: Final[dict[str, RecordField]] = {field.json: field for field in FIELDS}


def fields_set_by(who: str) -> tuple[RecordField, ...]:
    """The fields `who` (SOURCE, OVERRIDE or DECISION) may set, in catalogue order."""
    return tuple(field for field in FIELDS if who in field.set_by)


def of_type(*types: FieldType) -> tuple[str, ...]:
    """Internal names of the stored fields of the given types."""
    return tuple(field.name for field in FIELDS if field.type in types)


def json_name(name: str) -> str:
    """The JSON name of an internal field name; a `capabilities.<x>` key keeps its suffix; unknown names pass."""
    head, dot, rest = name.partition(".")
    field = BY_NAME.get(head)
    if field is None:
        return name
    return f"{field.json}{dot}{rest}"


def label(name: str) -> str:
    """The CLI label of an internal (or JSON) field name; unknown names are shown as they are."""
    field = BY_NAME.get(name) or BY_JSON.get(name)
    return field.label if field is not None else name


# --- fields every layer derives its lists from -----------------------------------------------------------------

# The signal a source gives about deprecation; the sync turns it into `status`. Not a stored column.
DEPRECATED: Final = RecordField(
    "deprecated",
    "deprecated",
    FieldType.BOOL,
    "deprecated",
    "The source's own announcement that the model is deprecated.",
    frozenset({SOURCE, OVERRIDE}),
    stored=False,
)

STORED: Final[tuple[str, ...]] = tuple(field.name for field in FIELDS)
PRICES: Final[tuple[str, ...]] = of_type(FieldType.MONEY)
# The record's price components, the field the flat PRICES are derived from.
PRICE_LIST: Final = "prices"
# Every field that states a price: what an alias takes from its target as one group.
PRICE_GROUP: Final[tuple[str, ...]] = (PRICE_LIST, *PRICES)
# Facts a snapshot, alias or fine-tune without its own takes from the model it resolves to (never a price).
INHERITED: Final[tuple[str, ...]] = tuple(field.name for field in FIELDS if field.inherits)
IDENTITIES: Final[tuple[str, ...]] = ("family", "alias_of", "snapshot_of", "base_model")
SOURCE_NAMES: Final[frozenset[str]] = frozenset(
    field.name for field in (*FIELDS, DEPRECATED) if SOURCE in field.set_by
)
DECISION_NAMES: Final[tuple[str, ...]] = tuple(field.name for field in fields_set_by(DECISION))
OVERRIDE_FIELDS: Final[tuple[RecordField, ...]] = tuple(
    field for field in (*FIELDS, DEPRECATED) if OVERRIDE in field.set_by
)


DERIVED: Final[tuple[DerivedField, ...]] = (
    DerivedField("costPer1kInputTokens", "input_price", None, "Input price per 1K tokens (derived)."),
    DerivedField("costPer1kOutputTokens", "output_price", None, "Output price per 1K tokens (derived)."),
    DerivedField("supportsStreaming", "capabilities", "streaming", "Streams; null when unknown."),
    DerivedField("supportsJSON", "capabilities", "json", "Structured JSON output; null when unknown."),
    DerivedField("supportsVision", "capabilities", "vision", "Reads images; null when unknown."),
    DerivedField("supportsTools", "capabilities", "tools", "Calls tools; null when unknown."),
    DerivedField("supportsReasoning", "capabilities", "reasoning", "Reasons before answering; null when unknown."),
)

# Query parameter names of the previous release, still accepted for one release (the README says which).
LEGACY_PARAMS: Final[dict[str, str]] = {
    "capability": "capabilities",
    "tag": "tags",
    "allowed": "isAllowed",
    "maxInputPrice": "maxInputCostPer1M",
    "maxOutputPrice": "maxOutputCostPer1M",
    "minContext": "minContextWindow",
}
LEGACY_SORTS: Final[dict[str, str]] = {"inputPrice": "inputCostPer1M", "outputPrice": "outputCostPer1M"}


def filter_param(field: RecordField, kind: str) -> str:
    """The query parameter name of one filter of a field: the JSON name, or min/max + the JSON name for bounds."""
    if kind == AT_MOST:
        return "max" + field.json[0].upper() + field.json[1:]
    if kind == AT_LEAST:
        return "min" + field.json[0].upper() + field.json[1:]
    return field.json


def choice_type(choices: tuple[str, ...]) -> Any:
    """A `Literal` of the given strings, for models built from the catalogue at run time."""
    return cast(Any, Literal)[choices]


def python_type(field: RecordField) -> Any:
    """The Python type of a field's value (for typed models built from the catalogue)."""
    return {
        FieldType.TEXT: str,
        FieldType.CHOICE: str,
        FieldType.COUNT: int,
        FieldType.MONEY: Decimal,
        FieldType.BOOL: bool,
        FieldType.DATE: date,
        FieldType.TIMESTAMP: datetime,
        FieldType.NAMES: list[str],
        FieldType.FLAGS: dict[str, bool],
        FieldType.SOURCES: dict[str, str],
        FieldType.PRICES: list[dict[str, Any]],
    }[field.type]
