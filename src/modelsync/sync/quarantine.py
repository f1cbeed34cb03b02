"""The quarantine: which changes a sync would make look like an error, and what holding one means. Pure.

Rules:
- `judge` compares a stored model with its newly merged record and returns the suspicious changes, each with its
  evidence. A change is suspicious when:
  - `factor`: a price (any component: base, batch, context tier, per unit) moves by more than the factor
    (default 3) either way; exactly x3 is not held;
  - `free`: a price goes from a value to 0, or the whole schedule to explicitly free (`[]`); `priced`: the reverse
    (a free model, or a 0 component, becomes paid). A model that turns free makes every cost answer 0 and one that
    turns paid starts billing its users: both are worth a look, and no ratio can measure them;
  - `max_price`: a token price above the maximum (default $1,000 per 1M) that the model did not already have;
  - `unit_change`: a per-token price appears on a model priced only per non-token unit (per image, per hour);
  - `context_shrink`: the context window shrinks to less than half.
  A price that appears where none was known, or disappears, is not judged (nothing to compare with; the merge never
  lets a missing value erase a known one anyway), except by the `max_price` rule.
- A model stored for the first time is judged by the `max_price` rule only: there is no old value for the others.
- An admin's decision (provenance or component source `manual`) is never judged: it is the admin's own.
- A held field keeps its stored value; the model's other changes apply (`hold`). Fields are named like the record's
  (`input_price`, `context_window`); price components that are not a flat price are `prices.<unit>[.batch]
  [.above_<tokens>]`; a change to or from explicitly free is the whole schedule, `prices`.
- `settle` decides what each suspicious change becomes against the entries already open for the model: one pending
  entry per (model, field). The same proposal keeps it; another proposal supersedes it with a new entry; a field no
  longer suspicious (the sources went back to the stored value, or to an unsuspicious one) withdraws it. A proposal
  an admin rejected stays held silently (no new entry) until the sources propose something else. A proposal two
  independent sources agree on (`verify.agrees`) is confirmed: applied, and its entry closed as `confirmed`; an
  admin's rejection outranks that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from modelsync import pricing
from modelsync.fieldspec import PRICE_LIST
from modelsync.records import money_text
from modelsync.sync.merge import set_prices
from modelsync.sync.verify import CANDIDATE_FIELDS, agrees, independent

PENDING: Final = "pending"
APPROVED: Final = "approved"
REJECTED: Final = "rejected"
CONFIRMED: Final = "confirmed"
SUPERSEDED: Final = "superseded"
WITHDRAWN: Final = "withdrawn"
STATUSES: Final = (PENDING, APPROVED, REJECTED, CONFIRMED, SUPERSEDED, WITHDRAWN)
# Who closes an entry that no admin decided.
SYNC_ACTOR: Final = "sync"
CONTEXT: Final = "context_window"
_MANUAL: Final = "manual"

Key = tuple[str, bool, int]


@dataclass(frozen=True, slots=True)
class Limits:
    """What counts as suspicious: the factor a price may move by and the highest believable token price per 1M."""

    factor: Decimal = Decimal(3)
    max_price: Decimal = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Suspect:
    """One suspicious field change: the stored and proposed values (JSON), why, and what approving it would set."""

    field: str
    old: Any
    new: Any
    rule: str
    source: str | None
    # The value approving it sets: a price component (None removes it), the whole schedule, or the context window.
    proposal: Any = None
    factor: str | None = None

    def evidence(
        self, candidates: Mapping[str, Any] | None, limits: Limits, prices_source: str | None = None
    ) -> dict[str, Any]:
        """The entry's evidence: the rule, the factor, who proposed it and every source's value of the field."""
        found: dict[str, Any] = {"rule": self.rule, "source": self.source, "proposal": self.proposal}
        if self.field != CONTEXT and prices_source is not None:
            found["pricesSource"] = prices_source
        if self.factor is not None:
            found["factor"] = self.factor
        found["limit"] = money_text(limits.max_price if self.rule == "max_price" else limits.factor)
        if self.field in CANDIDATE_FIELDS and candidates and candidates.get(self.field):
            found["candidates"] = dict(candidates[self.field])
        return found


@dataclass(frozen=True, slots=True)
class Open:
    """An entry already stored for a model's field: its id, its proposed value and its status."""

    id: int
    field: str
    proposed: Any
    status: str
    rule: str = ""


def component_key(item: Mapping[str, Any]) -> Key:
    """Which price a component is: its unit, batch or not, and its context tier (0 = base)."""
    return str(item["unit"]), bool(item.get("batch")), int(item.get("above") or 0)


def field_of(key: Key) -> str:
    """The quarantine's name for a price component: the flat field it is, or `prices.<unit>[.batch][.above_N]`."""
    unit, batch, above = key
    if not batch and not above:
        for name, flat_unit in pricing.FLAT_UNITS.items():
            if flat_unit == unit:
                return name
    name = f"{PRICE_LIST}.{unit}"
    if batch:
        name += ".batch"
    if above:
        name += f".above_{above}"
    return name


def key_of(field_name: str) -> Key | None:
    """The component a quarantine field name means (the inverse of `field_of`); None for other fields."""
    if field_name in pricing.FLAT_UNITS:
        return pricing.FLAT_UNITS[field_name], False, 0
    head, dot, rest = field_name.partition(".")
    if head != PRICE_LIST or not dot:
        return None
    unit, *flags = rest.split(".")
    above = next((int(flag.removeprefix("above_")) for flag in flags if flag.startswith("above_")), 0)
    return unit, "batch" in flags, above


def stored_schedule(row: Mapping[str, Any]) -> pricing.Schedule | None:
    """A stored model's schedule; a row stored before components existed reads its flat prices as components."""
    schedule = row.get(PRICE_LIST)
    if schedule is not None:
        return list(schedule)
    provenance = row.get("provenance") or {}
    return pricing.from_flat(row, provenance.get("input_price") or "stored")


def _paid(schedule: Sequence[Mapping[str, Any]]) -> bool:
    return any(pricing.amount(item) > 0 for item in schedule)


def _per_unit_only(schedule: Sequence[Mapping[str, Any]] | None) -> bool:
    items = schedule or ()
    return pricing.paid_per_unit(items) and not any(
        pricing.UNITS[item["unit"]].is_token and pricing.amount(item) > 0 for item in items
    )


def _ratio(old: Decimal, new: Decimal) -> Decimal:
    return new / old if new >= old else old / new


def _factor_text(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def _component_rule(
    key: Key, old: Decimal | None, new: Decimal, per_unit_only: bool, limits: Limits
) -> tuple[str, str | None] | None:
    token = pricing.UNITS[key[0]].is_token
    if token and new > limits.max_price:
        return "max_price", None
    if old is None:
        return ("unit_change", None) if token and new > 0 and per_unit_only else None
    if old == 0:
        return ("priced", None) if new > 0 else None
    if new == 0:
        return "free", None
    ratio = _ratio(old, new)
    return ("factor", _factor_text(ratio)) if ratio > limits.factor else None


def _judge_prices(
    old: pricing.Schedule | None, new: pricing.Schedule | None, limits: Limits, created: bool
) -> list[Suspect]:
    if new is None:
        return []
    if old is not None and not created:
        if old and not new and _paid(old):
            return [Suspect(PRICE_LIST, old, [], "free", None, [])]
        if not old and new and _paid(new) and not any(item.get("source") == _MANUAL for item in new):
            return [Suspect(PRICE_LIST, [], new, "priced", new[0].get("source"), new)]
    found: list[Suspect] = []
    stored = {component_key(item): item for item in old or ()}
    per_unit_only = _per_unit_only(old)
    for item in new:
        if item.get("source") == _MANUAL:
            continue
        key = component_key(item)
        before = stored.get(key)
        amount, previous = pricing.amount(item), None if before is None else pricing.amount(before)
        if previous == amount:
            continue
        if created and not (pricing.UNITS[key[0]].is_token and amount > limits.max_price):
            continue
        verdict = _component_rule(key, previous, amount, per_unit_only, limits)
        if verdict is None:
            continue
        rule, factor = verdict
        shown = None if before is None else before["usd"]
        found.append(Suspect(field_of(key), shown, item["usd"], rule, item.get("source"), dict(item), factor))
    return found


def _current(values: Mapping[str, Any] | None, field_name: str) -> tuple[Any, Any, str | None]:
    """A field's value (JSON, as entries keep it), what approving it would set, and its source."""
    if values is None:
        return None, None, None
    provenance = values.get("provenance") or {}
    if field_name == CONTEXT:
        return values.get(CONTEXT), values.get(CONTEXT), provenance.get(CONTEXT)
    schedule = stored_schedule(values)
    if field_name == PRICE_LIST:
        return schedule, schedule, provenance.get(PRICE_LIST)
    key = key_of(field_name)
    item = next((part for part in schedule or () if component_key(part) == key), None)
    return (None, None, None) if item is None else (item["usd"], dict(item), item.get("source"))


def _still_held(
    found: list[Suspect], stored: Mapping[str, Any] | None, values: Mapping[str, Any], pending: Mapping[str, Open]
) -> list[Suspect]:
    # A pending proposal the sources still make stays held though the rules would pass it now (a sibling price
    # confirmed meanwhile made a per-image model a per-token one): only an admin, a confirmation or the sources
    # moving on close it.
    judged = {suspect.field for suspect in found}
    kept = []
    for name, entry in pending.items():
        if name in judged:
            continue
        new, proposal, source = _current(values, name)
        old = _current(stored, name)[0]
        if new is not None and new == entry.proposed and new != old:
            kept.append(Suspect(name, old, new, entry.rule, source, proposal))
    return found + kept


def judge(
    stored: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    limits: Limits,
    pending: Mapping[str, Open] | None = None,
) -> list[Suspect]:
    """The suspicious changes from a stored row (None: the model is new) to a merged record's values.

    `pending` are the model's open entries: a proposal still made keeps its entry's rule (see `_still_held`).
    """
    created = stored is None
    found = _judge_prices(None if stored is None else stored_schedule(stored), values.get(PRICE_LIST), limits,
                          created)  # fmt: skip
    if stored is not None:
        provenance = values.get("provenance") or {}
        old, new = stored.get(CONTEXT), values.get(CONTEXT)
        if old and new and new * 2 < old and provenance.get(CONTEXT) != _MANUAL:
            factor = _factor_text(Decimal(old) / Decimal(new))
            found.append(Suspect(CONTEXT, old, new, "context_shrink", provenance.get(CONTEXT), new, factor))
    return _still_held(found, stored, values, pending) if pending else found


def confirmed(suspect: Suspect, candidates: Mapping[str, Any] | None, tolerance: Decimal) -> bool:
    """Whether two independent sources agree on the proposed value (only prices and limits have candidates)."""
    if suspect.field not in CANDIDATE_FIELDS or suspect.new is None:
        return False
    values = independent((candidates or {}).get(suspect.field) or {})
    return sum(1 for value in values.values() if agrees(suspect.field, value, suspect.new, tolerance)) >= 2


def replace_component(schedule: pricing.Schedule | None, key: Key, item: Mapping[str, Any] | None) -> pricing.Schedule:
    """A schedule with one component replaced (or removed when `item` is None)."""
    kept = [part for part in schedule or () if component_key(part) != key]
    if item is not None:
        kept.append(dict(item))
    return pricing.canonical(kept)


def hold(values: dict[str, Any], stored: Mapping[str, Any] | None, held: Sequence[Suspect]) -> None:
    """Keep the stored value of every held field in a merged record's values (tier and tags are the caller's)."""
    if not held:
        return
    provenance = values["provenance"]
    old_provenance = (stored or {}).get("provenance") or {}
    schedule = values.get(PRICE_LIST)
    old_schedule = None if stored is None else stored_schedule(stored)
    repriced = False
    for suspect in held:
        if suspect.field == CONTEXT:
            values[CONTEXT] = None if stored is None else stored.get(CONTEXT)
            if old_provenance.get(CONTEXT) is None:
                provenance.pop(CONTEXT, None)
            else:
                provenance[CONTEXT] = old_provenance[CONTEXT]
        elif suspect.field == PRICE_LIST:
            schedule, repriced = old_schedule, True
        else:
            key = key_of(suspect.field)
            assert key is not None
            before = next((item for item in old_schedule or () if component_key(item) == key), None)
            schedule, repriced = replace_component(schedule, key, before), True
            cached = ("cache_read_tokens", key[1], 0)
            if key[0] == "input_tokens" and not key[2] and not any(component_key(i) == cached for i in schedule):
                # The merge drops a cache price above the proposed input price; with the input held, it stays.
                kept = next((item for item in old_schedule or () if component_key(item) == cached), None)
                schedule = replace_component(schedule, cached, kept) if kept is not None else schedule
    if repriced:
        same = schedule == old_schedule
        source = old_provenance.get(PRICE_LIST) if same else provenance.get(PRICE_LIST)
        if schedule == [] and not (same and old_schedule == []):
            schedule = None  # every component held and none stored: unknown, never "free"
        set_prices(values, provenance, schedule, source)


# {model_id: {field: entry}}
Entries = dict[str, dict[str, Open]]


def open_entries(rows: Iterable[Mapping[str, Any]]) -> tuple[Entries, Entries]:
    """Stored entries (oldest first) as the pending ones and, per model and field, the latest rejected one."""
    pending: Entries = {}
    rejected: Entries = {}
    for row in rows:
        target = pending if row["status"] == PENDING else rejected
        entry = Open(row["id"], row["field"], row["proposed"], row["status"], row["rule"])
        target.setdefault(row["model_id"], {})[row["field"]] = entry
    return pending, rejected


@dataclass(slots=True)
class Verdict:
    """What to do with one model's suspicious changes: hold or apply them, and which entries to open or close."""

    held: list[Suspect] = field(default_factory=list)
    # New entries: (suspect, status), pending or confirmed.
    opened: list[tuple[Suspect, str]] = field(default_factory=list)
    # Entries to close: (id, status).
    closed: list[tuple[int, str]] = field(default_factory=list)
    # Held with a pending entry (new or kept): what the sync summary counts as quarantined.
    waiting: list[Suspect] = field(default_factory=list)


def settle(
    suspects: Sequence[Suspect],
    pending: Mapping[str, Open],
    rejected: Mapping[str, Open],
    candidates: Mapping[str, Any] | None,
    tolerance: Decimal,
) -> Verdict:
    """Decide, for one model, what each suspicious change becomes given its open and rejected entries."""
    verdict = Verdict()
    judged = set()
    for suspect in suspects:
        judged.add(suspect.field)
        open_entry, refused = pending.get(suspect.field), rejected.get(suspect.field)
        same = open_entry is not None and open_entry.proposed == suspect.new
        if refused is not None and refused.proposed == suspect.new:
            verdict.held.append(suspect)  # an admin said no to this very value: held, silently
            if open_entry is not None:
                verdict.closed.append((open_entry.id, WITHDRAWN))
        elif confirmed(suspect, candidates, tolerance):
            if open_entry is not None and same:
                verdict.closed.append((open_entry.id, CONFIRMED))
            else:
                if open_entry is not None:
                    verdict.closed.append((open_entry.id, SUPERSEDED))
                verdict.opened.append((suspect, CONFIRMED))
        else:
            verdict.held.append(suspect)
            verdict.waiting.append(suspect)
            if not same:
                if open_entry is not None:
                    verdict.closed.append((open_entry.id, SUPERSEDED))
                verdict.opened.append((suspect, PENDING))
    for name, open_entry in pending.items():
        if name not in judged:
            verdict.closed.append((open_entry.id, WITHDRAWN))
    return verdict


def apply(
    values: dict[str, Any], field_name: str, proposal: Any, source: str | None, prices_source: str | None
) -> None:
    """Set an approved proposal on a stored model's values (tier and tags are the caller's), as the sync would have."""
    provenance = values["provenance"]
    if field_name == CONTEXT:
        values[CONTEXT] = proposal
        if source is None:
            provenance.pop(CONTEXT, None)
        else:
            provenance[CONTEXT] = source
        return
    if field_name == PRICE_LIST:
        schedule: pricing.Schedule | None = list(proposal) if proposal is not None else None
    else:
        key = key_of(field_name)
        if key is None:
            raise ValueError(f"not a quarantine field: {field_name!r}")
        schedule = replace_component(stored_schedule(values), key, proposal) or None
    set_prices(values, provenance, schedule, prices_source or source)
