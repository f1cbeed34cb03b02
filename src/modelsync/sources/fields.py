"""Readers for the fields of provider listings, shared by the adapters' normalize functions. Pure.

Rules:
- Shape is strict: a page without its list, or an entry that is not an object, is a `ListingFormatError` (the
  whole listing is refused, never applied in part).
- Identity is per entry: an entry without a usable id is an `EntryError`; the readers of pages skip that entry
  with a warning (on the `Listing` they return) and keep the others. A repeated id keeps its first entry, warned.
- Every other field is optional and tolerant: a value of the wrong type or shape reads as None (unknown), never
  as zero, False or an error. Limits (ranges, lengths, characters) are not checked here but in `validate.py`,
  which warns about what it drops: a reader passes an out-of-range number through for it to see.
- A value a provider sent but that cannot be read, where reading it as None would say something (a lifecycle
  date: null means "not deprecated"), is `Unreadable`: unknown, never absent (`read_day`, `read_moment`).
- Prices are exact: they are read as text into `Decimal` and scaled with Decimal arithmetic, never floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, Overflow, localcontext
from typing import Any

from modelsync import pricing
from modelsync.records import SourceRecord, money, parse_date, parse_datetime
from modelsync.sources.listing import Listing, Unreadable

PER_TOKEN_TO_PER_MILLION = Decimal(1_000_000)


class ListingFormatError(ValueError):
    """A listing body has a shape modelsync cannot read safely."""


class EntryError(ListingFormatError):
    """One entry of a listing cannot be read (it has no usable id): that entry is skipped, not the listing."""


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
) -> Listing:
    """Map every entry of one page (`page[key]`) to a record by exact id; see `read_entries`."""
    return read_entries(entries(page, key, page_name(number)), to_record, page_name(number))


def read_entries(
    items: Iterable[dict[str, Any]], to_record: Callable[[dict[str, Any], str], SourceRecord], where: str
) -> Listing:
    """Map entries to records by exact id: an entry without a usable id is skipped, a repeated id keeps its first."""
    records = Listing()
    for index, item in enumerate(items, 1):
        try:
            record = to_record(item, where)
        except EntryError as exc:
            records.skip(f"{where}, entry #{index}", str(exc))
            continue
        records.add(record, where)
    return records


def normalize_pages(pages: Iterable[Any], normalize_page: PageNormalizer) -> Listing:
    """Normalize pages in order (numbered from 1) into one listing; the first record of an id wins."""
    records = Listing()
    for number, page in enumerate(pages, 1):
        records.absorb(normalize_page(page, number), page_name(number))
    return records


def records_from_pages(
    pages: Iterable[Any], key: str, to_record: Callable[[dict[str, Any], str], SourceRecord]
) -> Listing:
    """Map every entry of every page (`page[key]`) to a record by exact id; the first entry of an id wins."""
    return normalize_pages(pages, lambda page, number: page_records(page, key, to_record, number))


def identity(item: dict[str, Any], key: str) -> str:
    """Return an entry's id field, which must be a non-empty string (else EntryError: the entry is skipped)."""
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EntryError(f"it has no `{key}`")
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
    """A non-negative price times `scale`, canonical; unknown (None) for missing, negative or unreadable values.

    A price too large to canonicalize comes back as it is, for `validate.py` to refuse with a warning.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    with localcontext() as context:
        context.traps[Overflow] = False  # an absurd exponent becomes Infinity, refused by validation
        scaled = amount * scale
    try:
        return money(scaled)
    except (ValueError, ArithmeticError):
        return scaled


def priced(
    unit: str, value: Any, source: str, scale: Decimal = Decimal(1), above: int | None = None, batch: bool = False
) -> dict[str, Any] | None:
    """A price component (pricing.py) from a listed price times `scale`; None when unknown or unreadable."""
    amount = price(value, scale)
    if amount is None:
        return None
    try:
        return pricing.component(unit, amount, source, above, batch)
    except (ValueError, ArithmeticError):
        if not amount.is_finite():
            return None
        # Absurdly large: kept as it came, for validation to drop with a warning that names it.
        found: dict[str, Any] = {"unit": unit, "usd": format(amount, "f"), "source": source}
        if above is not None:
            found["above"] = above
        if batch:
            found["batch"] = True
        return found


def day(value: Any) -> date | None:
    """A calendar date from YYYY-MM-DD or an ISO timestamp, else None."""
    try:
        return parse_date(value) if isinstance(value, str | date) else None
    except (ValueError, OverflowError):
        return None


def moment(value: Any) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 timestamp, else None."""
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except (ValueError, OverflowError):
        return None


def read_day(value: Any) -> date | Unreadable | None:
    """A date; None for null (or empty); `Unreadable` for anything else that does not read as a date."""
    if value is None or value == "":
        return None
    return day(value) or Unreadable(value, "not a date")


def read_moment(value: Any) -> datetime | Unreadable | None:
    """A timestamp; None for null (or empty); `Unreadable` for anything else that does not read as one."""
    if value is None or value == "":
        return None
    return moment(value) or Unreadable(value, "not a timestamp")


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
