"""Per-record validation at the source boundary: every value a source gives is checked before it can reach the
merge or the database, with the same rules whatever the database. Pure.

Rules (driven by the field catalogue, fieldspec.py, so a new field is checked by its type with no new code):
- Ids: text of 1 to 512 characters (the column's width), no control characters, NUL or lone surrogates. A record
  without a usable id is skipped with a warning; it never fails its provider.
- TEXT: stripped; at most the field's `max_length`; no control characters (C0, DEL, C1: so no NUL, no terminal
  escape, no newline) nor line separators or lone surrogates. Long text (over 512 characters, a TEXT column:
  the description) may hold tabs and line breaks. `release_date` must read as YYYY, YYYY-MM or YYYY-MM-DD.
- CHOICE: one of the field's choices. BOOL: a real boolean.
- COUNT (token limits): a whole number from 1 to `COUNT_CEILING` (10^9 tokens: a hundred times the largest
  context window published in 2026, 10M, and far inside 64 bits).
- MONEY (USD per 1M tokens): finite, not negative, at most `PRICE_CEILING` (100,000 USD per 1M tokens, over a
  hundred times the dearest published list price, o1-pro's 600 USD output). Kept to 12 decimal places, rounded
  half up: the precision PostgreSQL's NUMERIC(28, 12) column keeps, so both databases store the same value.
- DATE and TIMESTAMP: a real date (an aware datetime) from 1970 to 2199.
- PRICES: a list of known price components (`pricing.check_schedule`), each amount held to the MONEY limits.
- NAMES: at most `MAX_ITEMS` names, each single-line text within the field's `max_length`. FLAGS: at most
  `MAX_ITEMS` entries, name (single-line, at most 64 characters) -> boolean.
- `Unreadable` (a value an adapter was given but could not read) is dropped like an invalid value.
- A model named as its own replacement loses the replacement. A field no source may set is dropped.
- Extras (kept upstream facts): single-line text of at most 512 characters, integers within 64 bits, finite
  floats, booleans, and lists / objects of those (at most `EXTRA_ITEMS` entries, keys single-line of at most
  64 characters, nested at most `EXTRA_DEPTH` deep); anything else is dropped.
- An invalid value is dropped, never the record: the other fields stay, and a warning names the model, the field,
  the value (escaped and shortened) and why. Every dropped field is reported as unknown (`Checked.dropped`), so
  a caller can keep what it knew instead of treating the field as absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from modelsync.fieldspec import DEPRECATED, FIELDS, SOURCE, FieldType, RecordField
from modelsync.pricing import FLAT_UNITS, check_schedule
from modelsync.records import SourceRecord, money, money_text
from modelsync.sources.listing import Listing, Unreadable, WarningLog, escape, show

ID_MAX: Final = 512
COUNT_CEILING: Final = 10**9
PRICE_CEILING: Final = Decimal(100_000)
PRICE_PLACES: Final = 12
EARLIEST: Final = date(1970, 1, 1)
LATEST: Final = date(2199, 12, 31)
MAX_ITEMS: Final = 64
FLAG_NAME_MAX: Final = 64
EXTRA_TEXT_MAX: Final = 512
EXTRA_DEPTH: Final = 4
EXTRA_ITEMS: Final = 256
INT64_MAX: Final = 2**63 - 1
# Columns up to 512 characters are VARCHARs holding one line; longer text fields are TEXT (prose).
SINGLE_LINE_MAX: Final = 512

_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# C0 controls, DEL, C1 controls, line/paragraph separators and lone surrogates (which no database can store).
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The same, less tab, line feed and carriage return.
_NOT_IN_PROSE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class InvalidValue(ValueError):
    """A value outside its field's limits; the message says why (pydantic shows it for the overrides file)."""


def _control(value: str, pattern: re.Pattern[str]) -> None:
    found = pattern.search(value)
    if found is not None:
        raise InvalidValue(f"contains a control character ({escape(found.group())})")


def id_problem(model_id: Any) -> str | None:
    """Why a model id is unusable (empty, too long, control characters), or None when it is fine."""
    if not isinstance(model_id, str) or not model_id.strip():
        return "is empty"
    if len(model_id) > ID_MAX:
        return f"is longer than {ID_MAX} characters"
    found = _NOT_IN_A_LINE.search(model_id)
    if found is not None:
        return f"contains a control character ({escape(found.group())})"
    return None


def check_id(model_id: Any) -> str:
    """Return a usable model id, or raise InvalidValue saying what is wrong with it."""
    problem = id_problem(model_id)
    if problem is not None:
        raise InvalidValue(f"the id {problem}")
    return str(model_id)


def _partial_date(text: str) -> bool:
    match = _PARTIAL_DATE.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return EARLIEST <= date(year, month, day) <= LATEST
    except ValueError:
        return False


# Text fields whose value has a format (beyond the length and character rules).
_TEXT_FORMATS: Final[dict[str, tuple[Callable[[str], bool], str]]] = {
    "release_date": (_partial_date, "not a date (YYYY-MM-DD, YYYY-MM or YYYY)"),
}


def _text(spec: RecordField, value: Any) -> str | None:
    if not isinstance(value, str):
        raise InvalidValue("not text")
    value = value.strip()
    if not value:
        return None
    if len(value) > spec.max_length:
        raise InvalidValue(f"longer than {spec.max_length:,} characters")
    _control(value, _NOT_IN_A_LINE if spec.max_length <= SINGLE_LINE_MAX else _NOT_IN_PROSE)
    rule = _TEXT_FORMATS.get(spec.name)
    if rule is not None and not rule[0](value):
        raise InvalidValue(rule[1])
    return value


def _choice(spec: RecordField, value: Any) -> str:
    if value not in spec.choices:
        raise InvalidValue(f"not one of {', '.join(spec.choices)}")
    return str(value)


def _count(spec: RecordField, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue("not a whole number")
    if value < 1:
        raise InvalidValue("not positive")
    if value > COUNT_CEILING:
        raise InvalidValue(f"above the ceiling of {COUNT_CEILING:,} tokens")
    return value


# Listings repeat a few prices thousands of times: each distinct valid one is checked once (bounded cache).
_GOOD_PRICES: dict[Decimal, Decimal] = {}
_GOOD_NAMES: set[str] = set()
_CACHE_SIZE = 65536


def parse_price(value: Any) -> Decimal:
    """A price (USD per 1M tokens) within the limits, canonical; InvalidValue for anything else."""
    if isinstance(value, Decimal) and value.is_finite():
        known = _GOOD_PRICES.get(value)
        if known is not None:
            return known
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidValue("not a number")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidValue("not a number") from None
    if not amount.is_finite():
        raise InvalidValue("not a finite number")
    if amount < 0:
        raise InvalidValue("negative")
    if amount > PRICE_CEILING:
        raise InvalidValue(f"above the ceiling of {PRICE_CEILING} USD per 1M tokens")
    if amount.as_tuple().exponent < -PRICE_PLACES:  # type: ignore[operator]  # finite: an int exponent
        amount = amount.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    canonical = money(amount)
    assert canonical is not None  # a finite Decimal is never unknown
    if len(_GOOD_PRICES) < _CACHE_SIZE:
        _GOOD_PRICES[amount] = canonical
    return canonical


def price_problem(value: Any) -> str | None:
    """Why a value is not a valid price, or None when it is one."""
    try:
        parse_price(value)
    except InvalidValue as exc:
        return str(exc)
    return None


def _money(spec: RecordField, value: Any) -> Decimal:
    return parse_price(value)


def _bool(spec: RecordField, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue("not true or false")
    return value


def _in_range(day: date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise InvalidValue(f"outside {EARLIEST.year}-{LATEST.year}")


def _date(spec: RecordField, value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue("not a date")
    _in_range(value)
    return value


def _timestamp(spec: RecordField, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue("not a UTC timestamp")
    _in_range(value.date())
    return value


def _names(spec: RecordField, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidValue("not a list of names")
    if len(value) > MAX_ITEMS:
        raise InvalidValue(f"more than {MAX_ITEMS} names")
    for item in value:
        if item in _GOOD_NAMES:
            continue
        if not item or len(item) > spec.max_length:
            raise InvalidValue(f"has a name that is empty or longer than {spec.max_length} characters")
        _control(item, _NOT_IN_A_LINE)
        if len(_GOOD_NAMES) < _CACHE_SIZE and len(item) <= FLAG_NAME_MAX:
            _GOOD_NAMES.add(item)
    return value


def _flags(spec: RecordField, value: Any) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise InvalidValue("not a table of flags")
    if len(value) > MAX_ITEMS:
        raise InvalidValue(f"more than {MAX_ITEMS} flags")
    for name, flag in value.items():
        if name not in _GOOD_NAMES:
            if not isinstance(name, str) or not name or len(name) > FLAG_NAME_MAX:
                raise InvalidValue(f"has a flag name that is not text of 1 to {FLAG_NAME_MAX} characters")
            _control(name, _NOT_IN_A_LINE)
            if len(_GOOD_NAMES) < _CACHE_SIZE:
                _GOOD_NAMES.add(name)
        if flag is not None and not isinstance(flag, bool):
            raise InvalidValue(f"flag {escape(name)} is not true or false")
    return value


def _prices(spec: RecordField, value: Any) -> Any:
    if isinstance(value, list):
        for item in value:
            problem = price_problem(item.get("usd")) if isinstance(item, Mapping) else None
            if problem is not None:
                raise InvalidValue(f"{item.get('unit')} {show(item.get('usd'))}: {problem}")
    try:
        schedule = check_schedule(value)
    except (ValueError, ArithmeticError) as exc:
        raise InvalidValue(str(exc)) from None
    for item in schedule:
        item["usd"] = money_text(parse_price(item["usd"]))
    return schedule


def _usable_components(model_id: str, value: Any, fields: Mapping[str, Any], warnings: WarningLog) -> Any:
    """A source's components without those whose amount is out of range (each warned about): the rest stand."""
    if not isinstance(value, list):
        return value
    # A base price the record also gives as a flat field is warned about once, under the flat field's name.
    flat = {unit for name, unit in FLAT_UNITS.items() if fields.get(name) is not None}
    kept = []
    for item in value:
        problem = price_problem(item.get("usd")) if isinstance(item, Mapping) else None
        if problem is None:
            kept.append(item)
        elif not (item.get("unit") in flat and not item.get("above") and not item.get("batch")):
            shown = f"{item.get('unit')} {show(item.get('usd'))}"
            warnings.add(f"model {escape(model_id)}: prices {escape(shown)} dropped: {problem}")
    return kept


_CHECKS: Final[dict[FieldType, Callable[[RecordField, Any], Any]]] = {
    FieldType.TEXT: _text,
    FieldType.CHOICE: _choice,
    FieldType.COUNT: _count,
    FieldType.MONEY: _money,
    FieldType.BOOL: _bool,
    FieldType.DATE: _date,
    FieldType.TIMESTAMP: _timestamp,
    FieldType.NAMES: _names,
    FieldType.FLAGS: _flags,
    FieldType.PRICES: _prices,
}


def check(spec: RecordField, value: Any) -> Any:
    """Return `value` checked (and canonical) for its field; None stays None; InvalidValue says what is wrong."""
    if value is None:
        return None
    if isinstance(value, Unreadable):
        raise InvalidValue(value.reason)
    checker = _CHECKS.get(spec.type)
    if checker is None:
        raise InvalidValue("not a field a source may set")
    return checker(spec, value)


# The fields a source may set, by name (the catalogue's, and the `deprecated` announcement).
SOURCE_SPECS: Final[dict[str, RecordField]] = {
    spec.name: spec for spec in (*FIELDS, DEPRECATED) if SOURCE in spec.set_by
}


def clean_extra(value: Any, depth: int = 0) -> Any:
    """Return an extra value within the extras' limits, or raise InvalidValue."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > INT64_MAX:
            raise InvalidValue("outside the 64-bit integer range")
        return value
    if isinstance(value, float | Decimal):
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise InvalidValue("not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > EXTRA_TEXT_MAX:
            raise InvalidValue(f"longer than {EXTRA_TEXT_MAX} characters")
        _control(value, _NOT_IN_A_LINE)
        return value
    if depth >= EXTRA_DEPTH:
        raise InvalidValue(f"nested more than {EXTRA_DEPTH} deep")
    if isinstance(value, list | tuple):
        if len(value) > EXTRA_ITEMS:
            raise InvalidValue(f"more than {EXTRA_ITEMS} items")
        return [clean_extra(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if len(value) > EXTRA_ITEMS:
            raise InvalidValue(f"more than {EXTRA_ITEMS} entries")
        for key in value:
            if not isinstance(key, str) or len(key) > FLAG_NAME_MAX:
                raise InvalidValue(f"has a key that is not text of at most {FLAG_NAME_MAX} characters")
            _control(key, _NOT_IN_A_LINE)
        return {key: clean_extra(item, depth + 1) for key, item in value.items()}
    raise InvalidValue(f"of an unsupported type ({type(value).__name__})")


@dataclass(slots=True)
class Checked:
    """A source's records after validation, and the fields dropped from each (unknown, not absent)."""

    records: dict[str, SourceRecord]
    dropped: dict[str, tuple[str, ...]] = field(default_factory=dict)


def check_record(record: SourceRecord, warnings: WarningLog) -> tuple[SourceRecord | None, tuple[str, ...]]:
    """Validate one record: (the record with its valid values, the names of the fields dropped); None: skipped."""
    model_id = record.model_id
    problem = id_problem(model_id)
    if problem is not None:
        shown = escape(model_id) if isinstance(model_id, str) else show(model_id)
        warnings.add(f"model {shown} skipped: its id {problem}")
        return None, ()
    fields: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in record.fields.items():
        if value is None:  # unknown: nothing to check (most fields of most records)
            fields[name] = None
            continue
        spec = SOURCE_SPECS.get(name)
        try:
            if spec is None:
                raise InvalidValue("not a field a source may set")
            if spec.type is FieldType.PRICES:
                value = _usable_components(model_id, value, record.fields, warnings)
            fields[name] = check(spec, value)
        except InvalidValue as exc:
            raw = value.value if isinstance(value, Unreadable) else value
            warnings.add(f"model {escape(model_id)}: {escape(name)} {show(raw)} dropped: {exc}")
            dropped.append(name)
    if fields.get("replacement_model") == model_id:
        warnings.add(f"model {escape(model_id)}: replacement_model dropped: a model cannot replace itself")
        del fields["replacement_model"]
        dropped.append("replacement_model")
    extra = _checked_extra(model_id, record.extra, warnings)
    return SourceRecord(model_id, fields, extra), tuple(dropped)


def _checked_extra(model_id: str, extra: Mapping[str, Any] | None, warnings: WarningLog) -> dict[str, Any] | None:
    if not extra:
        return None
    kept: dict[str, Any] = {}
    for key, value in extra.items():
        try:
            if not isinstance(key, str) or len(key) > FLAG_NAME_MAX or _NOT_IN_A_LINE.search(key):
                raise InvalidValue("has an unusable name")
            kept[key] = clean_extra(value, 1)
        except InvalidValue as exc:
            shown = escape(key) if isinstance(key, str) else show(key)
            warnings.add(f"model {escape(model_id)}: extra {shown} {show(value)} dropped: {exc}")
    return kept or None


def check_records(records: Mapping[str, SourceRecord], warnings: WarningLog) -> Checked:
    """Validate every record of a source; records keep their order, skipped ones are left out."""
    checked: dict[str, SourceRecord] = {}
    dropped: dict[str, tuple[str, ...]] = {}
    for record in records.values():
        kept, lost = check_record(record, warnings)
        if kept is None:
            continue
        checked[kept.model_id] = kept
        if lost:
            dropped[kept.model_id] = lost
    return Checked(checked, dropped)


def checked_listing(records: Mapping[str, SourceRecord], warnings: WarningLog) -> Checked:
    """Validate a listing, first taking over the warnings the listing itself carries (skipped, repeated entries)."""
    if isinstance(records, Listing):
        warnings.extend(records.warnings)
    return check_records(records, warnings)
