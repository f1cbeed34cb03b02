"""The local overrides file: a team's own prices, limits, names, replacements and custom models.

Rules: the file is TOML with one `[[model]]` table per entry, whose keys are the fields the field catalogue
(fieldspec.py) lets an override set; an unknown key, a wrong type or a duplicate entry
is an error that names the entry, so a typo never silently stops an override from applying. Every value is also
held to the limits a provider's value is held to (`validate.py`: ids and text without control characters and
within their length, token limits up to 10^9, prices finite, not negative and at most 100,000 USD per 1M tokens,
dates from 1970 to 2199; a model is never its own replacement). Unlike a listing's bad value, which is dropped
with a warning, a bad value here is the team's own typo, so it stops the sync (a ConfigError naming the entry,
exit 4). Messages quote the entry's provider and id escaped and shortened. Overrides win over every other
source. An entry with `custom = true` creates the model even when no source lists it. The file is read and
validated before the sync touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from modelsync.errors import ConfigError
from modelsync.fieldspec import OVERRIDE_FIELDS, FieldType, RecordField, choice_type, of_type, python_type
from modelsync.records import SourceRecord
from modelsync.settings import DEFAULT_OVERRIDES_FILE, read_toml
from modelsync.sources.listing import escape
from modelsync.sources.validate import check, check_id, parse_price

OVERRIDES = "overrides"


def _price(value: Any) -> Decimal | None:
    return None if value is None or value == "" else parse_price(value)


Price = Annotated[Decimal | None, BeforeValidator(_price)]


def _own_prices(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The file's components are the team's own: provenance names the overrides file, whatever an entry says.
    return [{**item, "source": OVERRIDES} for item in value]


def _limits(field: RecordField) -> AfterValidator:
    """The field's source limits (validate.check), applied once pydantic has the value's type right."""
    return AfterValidator(lambda value: check(field, value))


def _entry_type(field: RecordField) -> Any:
    """The type an overrides file value of a catalogue field must have."""
    if field.type is FieldType.MONEY:
        return Price
    if field.type is FieldType.COUNT:
        return Annotated[int, Field(gt=0), _limits(field)] | None
    if field.type is FieldType.CHOICE:
        return choice_type(field.choices) | None
    if field.type is FieldType.TEXT:
        return Annotated[str, Field(max_length=field.max_length), _limits(field)] | None
    if field.type is FieldType.PRICES:
        return Annotated[list[dict[str, Any]], AfterValidator(_own_prices), _limits(field)] | None
    return Annotated[python_type(field), _limits(field)] | None


class _EntryBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=1)
    id: Annotated[str, Field(min_length=1), AfterValidator(check_id)]
    custom: bool = False


# One `[[model]]` entry of the overrides file: the keys are the catalogue fields an override may set.
_ENTRY_FIELDS: dict[str, Any] = {field.name: (_entry_type(field), None) for field in OVERRIDE_FIELDS}
OverrideEntry = create_model("OverrideEntry", __base__=_EntryBase, **_ENTRY_FIELDS)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Validated overrides, by provider then model id."""

    path: Path | None
    by_provider: dict[str, dict[str, SourceRecord]]
    custom: dict[str, frozenset[str]]

    def for_provider(self, provider: str) -> dict[str, SourceRecord]:
        """Return the provider's override records ({} when it has none)."""
        return self.by_provider.get(provider, {})


NO_OVERRIDES = Overrides(path=None, by_provider={}, custom={})


def resolve_overrides_path(configured: Path | None) -> Path | None:
    """Return the file to read: the configured one (which must exist), else ./modelsync.overrides.toml if present."""
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(
                f"the overrides file {configured} does not exist. Create it or unset MODELSYNC_OVERRIDES_FILE."
            )
        return configured
    default = Path(DEFAULT_OVERRIDES_FILE)
    return default if default.is_file() else None


def parse_overrides(data: dict[str, Any], path: Path | None, known_providers: set[str]) -> Overrides:
    """Validate parsed TOML into Overrides; every problem names the entry it is in."""
    unknown_top = set(data) - {"model"}
    if unknown_top:
        raise ConfigError(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; entries go in [[model]] tables."
        )
    entries = data.get("model", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: `model` must be an array of tables, written as [[model]].")
    by_provider: dict[str, dict[str, SourceRecord]] = {}
    custom: dict[str, set[str]] = {}
    for index, raw in enumerate(entries, start=1):
        label = f"{path}: entry #{index}"
        if isinstance(raw, dict) and "provider" in raw and "id" in raw:
            label += f" ({escape(str(raw['provider']), 40)}/{escape(str(raw['id']))})"
        try:
            entry = OverrideEntry.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"{label} is invalid: {problems}.") from exc
        if entry.provider not in known_providers:
            raise ConfigError(
                f"{label} names unknown provider '{escape(entry.provider, 40)}'; "
                f"known: {', '.join(sorted(known_providers))}."
            )
        records = by_provider.setdefault(entry.provider, {})
        if entry.id in records:
            raise ConfigError(f"{label} repeats {entry.provider}/{entry.id}; merge the two entries into one.")
        fields = entry.model_dump(exclude={"provider", "id", "custom"}, exclude_none=True)
        if fields.get("replacement_model") == entry.id:
            raise ConfigError(f"{label} names the model as its own replacement_model; name another model.")
        for key in of_type(FieldType.NAMES):
            if key in fields:
                fields[key] = sorted(set(fields[key]))
        records[entry.id] = SourceRecord(model_id=entry.id, fields=fields)
        if entry.custom:
            custom.setdefault(entry.provider, set()).add(entry.id)
    return Overrides(path=path, by_provider=by_provider, custom={p: frozenset(ids) for p, ids in custom.items()})


def load_overrides(configured: Path | None, known_providers: set[str]) -> Overrides:
    """Read and validate the overrides file, or return no overrides when there is none."""
    path = resolve_overrides_path(configured)
    if path is None:
        return NO_OVERRIDES
    return parse_overrides(read_toml(path), path, known_providers)
