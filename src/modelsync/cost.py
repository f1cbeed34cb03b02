"""The cost of one request from a model's price components (pricing.py) and its usage. Pure.

Rules:
- Usage is counted per unit's quantity (`pricing.UNITS[...].usage`): `inputTokens` is every prompt token, cached,
  cache-write, audio and image input tokens included (the prompt size, as providers bill it); the more specific
  counts are parts of it. `requests` is 1 unless said otherwise.
- Each count is charged at the most specific unit the model has a price for: cached tokens at the cache-read
  price, else at the input price (and a note says so); what is left of the input tokens at the input price.
- Context tiers: the whole request is charged at the tier its prompt size reaches (the largest `above` the
  input tokens exceed), for every unit that has tiers.
- Batch: a unit's batch price when the model has one, else its standard price.
- A count the model has no price for (not even a broader unit) is unpriced, never charged 0: the total is then
  unknown (None), and the lines show what is priced. A free model (`[]`) costs 0 whatever the usage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from modelsync.errors import UsageError
from modelsync.pricing import UNITS, UNITS_ORDERED, Unit, amount
from modelsync.records import money

# Every usage quantity a request may report, in unit order (each unit's `usage`).
USAGE_KEYS: Final[tuple[str, ...]] = tuple(dict.fromkeys(unit.usage for unit in UNITS_ORDERED))
_BY_USAGE: Final[dict[str, Unit]] = {unit.usage: unit for unit in UNITS_ORDERED}
REQUESTS: Final = "requests"
_KNOWN: Final = frozenset(USAGE_KEYS)
_ZERO: Final = Decimal(0)
# (part, whole) token counts: a part can never be more than the whole it is part of.
_TOKEN_PARTS: Final[dict[str, list[tuple[Unit, Unit]]]] = {}
for _child in UNITS_ORDERED:
    for _parent in UNITS_ORDERED:
        if _child.is_token and _parent.dims < _child.dims:
            _TOKEN_PARTS.setdefault(_child.usage, []).append((_child, _parent))


@dataclass(frozen=True, slots=True)
class Line:
    """One charged unit: how many, at which price (and tier), for how much."""

    unit: str
    quantity: Decimal
    usd: Decimal
    cost: Decimal
    source: str
    above: int | None = None
    batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Render for JSON output (money as exact decimal text)."""
        found: dict[str, Any] = {
            "unit": self.unit,
            "quantity": format(self.quantity, "f"),
            "usd": format(self.usd, "f"),
            "per": UNITS[self.unit].per,
            "cost": format(money(self.cost), "f"),
            "source": self.source,
        }
        if self.above is not None:
            found["above"] = self.above
        if self.batch:
            found["batch"] = True
        return found


@dataclass(frozen=True, slots=True)
class Cost:
    """What a request costs: the lines, what could not be priced, and the total (None when anything is unpriced)."""

    lines: tuple[Line, ...]
    unpriced: tuple[str, ...]
    notes: tuple[str, ...] = ()
    free: bool = False
    parts: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def total(self) -> Decimal | None:
        """The sum of the lines, or None when some usage has no price."""
        if self.unpriced:
            return None
        return money(sum((line.cost for line in self.lines), Decimal(0)))


def _count(usage: Mapping[str, Any], key: str) -> Decimal:
    value = usage.get(key)
    if value is None:
        return Decimal(1) if key == REQUESTS else Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UsageError(f"{key} must be a whole or decimal number, not {value!r}.")
    if value < 0:
        raise UsageError(f"{key} must be >= 0.")
    return Decimal(value)


def _part(unit: Unit) -> str | None:
    # The seed's three cost fields: uncached input, cached input and output tokens.
    if not unit.is_token:
        return None
    if "cache_read" in unit.dims:
        return "cachedInputCost"
    return "inputCost" if "input" in unit.dims else "outputCost"


def _rates(schedule: Sequence[Mapping[str, Any]], batch: bool) -> dict[str, list[Mapping[str, Any]]]:
    """Per unit, the components that apply: its batch prices for a batch request when it has them."""
    standard: dict[str, list[Mapping[str, Any]]] = {}
    batched: dict[str, list[Mapping[str, Any]]] = {}
    for item in schedule:
        (batched if item.get("batch") else standard).setdefault(item["unit"], []).append(item)
    if batch:
        return {**standard, **batched}
    return standard


def _tier(items: list[Mapping[str, Any]], prompt: Decimal) -> Mapping[str, Any] | None:
    chosen: Mapping[str, Any] | None = None
    reached = -1
    for item in items:
        above = int(item.get("above") or 0)
        if (not above or prompt > above) and above > reached:
            chosen, reached = item, above
    return chosen


def price_usage(schedule: Sequence[Mapping[str, Any]] | None, usage: Mapping[str, Any], batch: bool = False) -> Cost:
    """The cost of one request with `usage` (counts by usage key) at a schedule's prices; see the module rules."""
    unknown = sorted(set(usage) - _KNOWN)
    if unknown:
        raise UsageError(f"unknown usage {', '.join(unknown)}; known: {', '.join(USAGE_KEYS)}.")
    counts = dict.fromkeys(USAGE_KEYS, _ZERO)
    counts[REQUESTS] = Decimal(1)
    for key in usage:
        counts[key] = _count(usage, key)
    for key in usage:
        for child, parent in _TOKEN_PARTS.get(key, ()):
            if counts[child.usage] <= counts[parent.usage]:
                continue
            raise UsageError(
                f"{child.usage} ({counts[child.usage]}) cannot exceed {parent.usage} ({counts[parent.usage]}): "
                "cached input tokens (and audio, image input tokens) are part of the input tokens."
            )
    if schedule is not None and not schedule:
        return Cost((), (), ("the model is free",), free=True, parts=dict.fromkeys(_PARTS, Decimal(0)))
    rates = _rates(schedule or (), batch)
    priced = [UNITS[name] for name in rates if name != REQUESTS]
    # Most specific first, so each count is what is left once its more specific parts are taken out.
    priced.sort(key=lambda unit: -len(unit.dims))
    leaves: dict[str, Decimal] = {}
    for unit in priced:
        parts = sum((leaves[other.name] for other in priced if other is not unit and other.dims > unit.dims),
                    Decimal(0))  # fmt: skip
        leaf = counts[unit.usage] - parts
        if leaf < 0:
            raise UsageError(
                f"{unit.usage} ({counts[unit.usage]}) is less than its parts ({parts}) together: "
                "cached input tokens (and audio, image input tokens) are part of the input tokens."
            )
        leaves[unit.name] = leaf
    if REQUESTS in rates:
        leaves[REQUESTS] = counts[REQUESTS]
    prompt = counts["inputTokens"]
    lines: list[Line] = []
    unpriced = []
    for name, leaf in leaves.items():
        if leaf == 0:
            continue
        item = _tier(rates[name], prompt)
        if item is None:  # only tiers this prompt does not reach, no base price: unknown, never 0
            unpriced.append(UNITS[name].usage)
            continue
        rate = amount(item)
        cost = rate * leaf / UNITS[name].per
        lines.append(Line(name, leaf, rate, cost, str(item["source"]), item.get("above"), bool(item.get("batch"))))
    notes = []
    for key in USAGE_KEYS:
        if not counts[key] or key == REQUESTS:
            continue
        unit = _BY_USAGE[key]
        covering = [other for other in priced if other.dims <= unit.dims]
        if not covering and key not in unpriced:
            unpriced.append(key)
        elif unit.name not in rates and "cache_read" in unit.dims:
            notes.append(f"no cache read price known; {key} charged at the {covering[-1].name} price")
    lines.sort(key=lambda line: _ORDER[line.unit])
    return Cost(tuple(lines), tuple(unpriced), tuple(notes), parts=_parts(lines, unpriced))


_ORDER: Final = {unit.name: index for index, unit in enumerate(UNITS_ORDERED)}
_PARTS: Final = ("inputCost", "cachedInputCost", "outputCost")


def _parts(lines: list[Line], unpriced: list[str]) -> dict[str, Decimal | None]:
    found: dict[str, Decimal | None] = dict.fromkeys(_PARTS, Decimal(0))
    for line in lines:
        part = _part(UNITS[line.unit])
        current = found.get(part) if part else None
        if part is not None and current is not None:
            found[part] = current + line.cost
    for key in unpriced:
        part = _part(_BY_USAGE[key])
        if part is not None:
            found[part] = None
    return found
