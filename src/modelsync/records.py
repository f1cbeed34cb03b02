"""The normalized contract between sources, the sync core and storage.

Rules:
- A source says what it knows about a model as a `SourceRecord`: a flat dict of field -> value using the names
  in `SOURCE_FIELDS`. A missing or None value means "this source does not know", never "no" or "zero".
- `model_id` is exactly what the provider's API accepts and is never rewritten.
- Money is `Decimal` in USD per 1M tokens, canonicalized with `money()` so that equal prices compare and hash
  equal whatever their spelling ("2.50", 2.5, "2.5e0").
- Capabilities are a dict name -> bool; a name that is absent is unknown. The `supports*` flags of the API are
  read from this dict, so they are tri-state too.
- Times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from modelsync import fieldspec
from modelsync.fieldspec import FieldType

# Field lists, all derived from the field catalogue (fieldspec.py).
PRICE_FIELDS: Final = fieldspec.PRICES
# Fields a source may supply. `deprecated` is the provider's own announcement (bool); `status` is decided by the
# sync core from it and from disappearance.
SOURCE_FIELDS: Final = fieldspec.SOURCE_NAMES
# Fields an admin decision may pin; a sync never overwrites them.
MANUAL_FIELDS: Final = fieldspec.DECISION_NAMES
# Every column a sync writes and compares, in a fixed order (the fingerprint depends on it).
SYNCED_FIELDS: Final = fieldspec.STORED
# `extra["output"]` of a listing that says the model writes files, not text (Replicate's output schema): the
# policy never guesses such a model is a chat model.
OUTPUT_EXTRA: Final = "output"
WRITES_FILES: Final = "file"
# The extra key under which a catalog hints at a kind (LiteLLM's `mode`): used only when no source or rule decides.
KIND_HINT: Final = "kind_hint"


# Listings repeat the same few price strings thousands of times; parsing each once keeps normalize cheap.
_MONEY_CACHE: dict[str, Decimal] = {}
_MONEY_CACHE_SIZE = 65536


def money(value: Any) -> Decimal | None:
    """Return a canonical Decimal for a price, None for unknown; floats go through str to stay exact."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a price: {value!r}")
    cached = _MONEY_CACHE.get(value) if isinstance(value, str) else None
    if cached is not None:
        return cached
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a price: {value!r}")
    amount = amount.normalize()
    if amount.as_tuple().exponent > 0:  # type: ignore[operator]
        amount = amount.quantize(Decimal(1))
    amount = amount + Decimal(0)  # turns -0 into 0
    if isinstance(value, str) and len(_MONEY_CACHE) < _MONEY_CACHE_SIZE:
        _MONEY_CACHE[value] = amount
    return amount


# A catalog repeats a few hundred distinct prices; formatting each once keeps canonical rows cheap.
_MONEY_TEXT: dict[Decimal, str] = {}


def money_text(value: Decimal | None) -> str | None:
    """Format a canonical price as plain decimal text (never exponent notation)."""
    if value is None:
        return None
    text = _MONEY_TEXT.get(value)
    if text is None:
        text = format(value, "f")
        if len(_MONEY_TEXT) < _MONEY_CACHE_SIZE:
            _MONEY_TEXT[value] = text
    return text


def per_1k(value: Decimal | None) -> Decimal | None:
    """Derive the per-1K-token price from the per-1M price."""
    return None if value is None else money(value / 1000)


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC, at microsecond precision."""
    return datetime.now(UTC)


def parse_date(value: Any) -> date | None:
    """Parse YYYY-MM-DD (or a longer ISO timestamp) into a date; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(f"not a date: {value!r}") from exc


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO-8601 / RFC 3339 timestamp or unix seconds into an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(slots=True)
class SourceRecord:
    """What one source says about one model."""

    model_id: str
    fields: dict[str, Any]
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ModelRecord:
    """A merged model: every synced field, with the source that won each one."""

    provider: str
    model_id: str
    values: dict[str, Any]
    extra: dict[str, Any] | None = None
    manual: dict[str, Any] | None = None
    canonical: tuple[Any, ...] = ()
    fingerprint: str = field(default="")
    # Every source's value of the prices and limits ({field: {source: value}}): bookkeeping, not a synced field.
    candidates: dict[str, dict[str, Any]] | None = None


def json_default(value: Any) -> Any:
    """Render the non-JSON types of a record for JSON: exact money text, ISO dates and UTC timestamps."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def json_text(value: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces, exact money, ISO times)."""
    return orjson.dumps(value, default=json_default, option=orjson.OPT_SORT_KEYS).decode()


def utc_text(value: datetime) -> str:
    """Canonical text of a timestamp: naive UTC with microseconds, sortable (what SQLite stores)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# How each synced field is written in canonical form; fields not listed are str/int/bool and stay as they are.
_CANONICAL_BY_TYPE: Final[dict[FieldType, Callable[[Any], Any]]] = {
    FieldType.NAMES: json_text,
    FieldType.FLAGS: json_text,
    FieldType.SOURCES: json_text,
    FieldType.PRICES: json_text,
    FieldType.MONEY: money_text,
    FieldType.TIMESTAMP: utc_text,
    FieldType.DATE: date.isoformat,
}
_CONVERSIONS: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
    (index, _CANONICAL_BY_TYPE[field.type])
    for index, field in enumerate(fieldspec.FIELDS)
    if field.type in _CANONICAL_BY_TYPE
)


def canonical_row(values: dict[str, Any]) -> tuple[Any, ...]:
    """The synced fields as plain text/int/bool/None in SYNCED_FIELDS order: what is hashed and what is stored."""
    # One representation serves the fingerprint and the bulk write path, so each value is converted once per
    # sync; it is a pure function of the values, so a row read back from the database gives the same tuple.
    # Prices must already be canonical (money()): every source, the merge and the database reads make them so.
    row = list(map(values.get, SYNCED_FIELDS))
    for index, convert in _CONVERSIONS:
        value = row[index]
        if value is not None:
            row[index] = convert(value)
    return tuple(row)


def _decode_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_DECODE_BY_TYPE: Final = {
    FieldType.MONEY: money,
    FieldType.DATE: date.fromisoformat,
    FieldType.TIMESTAMP: _decode_timestamp,
    FieldType.NAMES: orjson.loads,
    FieldType.FLAGS: orjson.loads,
    FieldType.SOURCES: orjson.loads,
    FieldType.PRICES: orjson.loads,
}
_DECODERS: tuple[Callable[[Any], Any] | None, ...] = tuple(
    _DECODE_BY_TYPE.get(field.type) for field in fieldspec.FIELDS
)


def decode_canonical(canonical: tuple[Any, ...] | list[Any]) -> list[Any]:
    """Typed values from a canonical row, in SYNCED_FIELDS order (the inverse of canonical_row)."""
    return [
        value if value is None or decode is None else decode(value)
        for decode, value in zip(_DECODERS, canonical, strict=True)
    ]


def fingerprint_row(
    canonical: tuple[Any, ...], extra: dict[str, Any] | None = None, candidates: dict[str, Any] | None = None
) -> str:
    """Digest of a canonical row, the model's extras (upstream fields kept as they came) and its candidates."""
    # The row's values are text, int, bool or None, so JSON spells each one way; extras are JSON with sorted keys.
    # Extras count: a change to them alone (Replicate's is_official) must be written too.
    data = orjson.dumps(canonical)
    if extra:
        data += b"\x1f" + json_text(extra).encode()
    if candidates:
        # A changed candidate moves the digest so the sync stores it, though it writes no history by itself.
        data += b"\x1e" + json_text(candidates).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def fingerprint(values: dict[str, Any]) -> str:
    """Return a stable digest of the synced fields, equal for equal data however it was read or written."""
    return fingerprint_row(canonical_row(values))
