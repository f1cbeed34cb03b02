"""Readers for the fields of provider listings, shared by the adapters' normalize functions. Pure.

Rules:
- Identity is strict: a listing entry without a usable id, or a page without its list, is a `ListingFormatError`
  (the whole listing is refused, never applied in part).
- Every other field is optional and tolerant: a value of the wrong type or shape reads as None (unknown), never
  as zero, False or an error.
- Prices are exact: they are read as text into `Decimal` and scaled with Decimal arithmetic, never floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from modelsync.records import SourceRecord, money, parse_date, parse_datetime

PER_TOKEN_TO_PER_MILLION = Decimal(1_000_000)


class ListingFormatError(ValueError):
    """A listing body has a shape modelsync cannot read safely."""


def entries(page: Any, key: str | None, where: str) -> list[dict[str, Any]]:
    """Return the list of entries of a page (`page[key]`, or the page itself when key is None)."""
    if key is not None and not isinstance(page, dict):
        raise ListingFormatError(f"{where} is not an object with a `{key}` list")
    found = page.get(key) if key is not None else page
    if key is not None and key not in page:
        raise ListingFormatError(f"{where} has no `{key}` list")
    if not isinstance(found, list):
        raise ListingFormatError(f"{where}: `{key or 'body'}` is not a list")
    for index, item in enumerate(found):
        if not isinstance(item, dict):
            raise ListingFormatError(f"{where}: entry #{index + 1} is not an object")
    return found


# A paged listing's reader of one page: (page body, page number) -> that page's records by exact id.
PageNormalizer = Callable[[Any, int], dict[str, SourceRecord]]


def page_name(number: int) -> str:
    """How messages name a page of a listing."""
    return f"page {number} of the model listing"


def page_records(
    page: Any, key: str, to_record: Callable[[dict[str, Any], str], SourceRecord], number: int = 1
) -> dict[str, SourceRecord]:
    """Map every entry of one page (`page[key]`) to a record by exact id; the first entry of an id wins."""
    where = page_name(number)
    records: dict[str, SourceRecord] = {}
    for item in entries(page, key, where):
        record = to_record(item, where)
        records.setdefault(record.model_id, record)
    return records


def add_records(records: dict[str, SourceRecord], found: dict[str, SourceRecord]) -> None:
    """Add one page's records to a listing's; an id already listed keeps its first record."""
    for model_id, record in found.items():
        records.setdefault(model_id, record)


def normalize_pages(pages: Iterable[Any], normalize_page: PageNormalizer) -> dict[str, SourceRecord]:
    """Normalize pages in order (numbered from 1) into one listing; the first record of an id wins."""
    records: dict[str, SourceRecord] = {}
    for number, page in enumerate(pages, 1):
        add_records(records, normalize_page(page, number))
    return records


def records_from_pages(
    pages: Iterable[Any], key: str, to_record: Callable[[dict[str, Any], str], SourceRecord]
) -> dict[str, SourceRecord]:
    """Map every entry of every page (`page[key]`) to a record by exact id; the first entry of an id wins."""
    return normalize_pages(pages, lambda page, number: page_records(page, key, to_record, number))


def identity(item: dict[str, Any], key: str, where: str) -> str:
    """Return an entry's id field, which must be a non-empty string."""
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ListingFormatError(f"{where}: an entry has no `{key}`")
    return value


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value.strip() or None if isinstance(value, str) else None


def count(value: Any) -> int | None:
    """A positive integer (token limits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def flag(value: Any) -> bool | None:
    """A real boolean, else None."""
    return value if isinstance(value, bool) else None


def price(value: Any, scale: Decimal = Decimal(1)) -> Decimal | None:
    """A non-negative price times `scale`, canonical; unknown (None) for missing, negative or unreadable values."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return money(amount * scale)


def day(value: Any) -> date | None:
    """A calendar date from YYYY-MM-DD or an ISO timestamp, else None."""
    try:
        return parse_date(value) if isinstance(value, str | date) else None
    except ValueError:
        return None


def moment(value: Any) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 timestamp, else None."""
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


def modalities(values: Any, rename: dict[str, str] | None = None) -> list[str] | None:
    """A sorted, de-duplicated list of modality names, else None."""
    if not isinstance(values, list):
        return None
    names = {(rename or {}).get(item, item) for item in values if isinstance(item, str) and item}
    return sorted(names) or None


def strings(values: Any) -> list[str]:
    """The non-empty strings of a list, in order, de-duplicated."""
    if not isinstance(values, list):
        return []
    return list(dict.fromkeys(item for item in values if isinstance(item, str) and item))


def compact(values: dict[str, Any]) -> dict[str, Any] | None:
    """Drop None/empty values; None when nothing is left (extras stay small)."""
    kept = {key: value for key, value in values.items() if value not in (None, "", [], {})}
    return kept or None


def kind_from_outputs(outputs: Iterable[str] | None) -> str | None:
    """The kind a model's output modalities imply when it does not output text; None when it does or is unknown."""
    names = set(outputs or ())
    if not names or "text" in names:
        return None
    if "embeddings" in names or "embedding" in names:
        return "embedding"
    for kind in ("image", "video", "audio"):
        if kind in names:
            return kind
    return None
