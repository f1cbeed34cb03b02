"""Candidates, verification and conflicts: every source's value of a price or limit, and where they disagree. Pure.

Rules:
- Candidates are what each layer itself says about a model (its base input/output/cache prices per 1M tokens,
  its context window and max output), `{field: {source: value}}`, before inheritance: an alias's inherited value
  is not a source. Money is exact decimal text.
- Independent sources are the provider's listing and the catalogs; manual decisions, the overrides file and the
  last known value are not evidence, they are choices.
- Prices agree within a relative tolerance (`policy.price_tolerance`, default 1%) of the larger; limits only when
  equal. A conflict is a field whose independent candidates do not all agree, unless an admin decided it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from modelsync import pricing
from modelsync.fieldspec import json_name

# The fields whose candidates are kept: the flat prices and the limits.
PRICE_CANDIDATES: Final = tuple(pricing.FLAT_UNITS)
LIMIT_CANDIDATES: Final = ("context_window", "max_output_tokens")
CANDIDATE_FIELDS: Final = (*PRICE_CANDIDATES, *LIMIT_CANDIDATES)
# Layers that choose a value rather than observe one (see merge.LAST_KNOWN, policy.MANUAL, overrides.OVERRIDES).
NOT_EVIDENCE: Final = frozenset({"manual", "overrides", "last-known"})

Candidates = dict[str, dict[str, Any]]


def layer_candidates(source: str, schedule: pricing.Schedule | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What one layer says about the candidate fields (prices as exact text, limits as ints)."""
    found: dict[str, Any] = {}
    if schedule is not None:
        if not schedule:
            # Explicitly free: 0 per token is this source's value, not an unknown.
            found["input_price"] = found["output_price"] = "0"
        for name, (amount, _) in pricing.flat_prices(schedule).items():
            if amount is not None:
                found[name] = format(amount, "f")
    for name in LIMIT_CANDIDATES:
        value = fields.get(name)
        if value is not None:
            found[name] = int(value)
    return found


def collect(claims: Iterable[tuple[str, Mapping[str, Any]]]) -> Candidates | None:
    """`{field: {source: value}}` from each layer's candidates, in layer order; None when no layer says anything."""
    result: Candidates = {}
    for source, found in claims:
        for name, value in found.items():
            result.setdefault(name, {}).setdefault(source, value)
    return result or None


def agrees(name: str, left: Any, right: Any, tolerance: Decimal) -> bool:
    """Whether two values of a field agree: prices within `tolerance` of the larger, limits exactly."""
    if left is None or right is None:
        return False
    if name in LIMIT_CANDIDATES:
        return int(left) == int(right)
    a, b = Decimal(str(left)), Decimal(str(right))
    largest = max(abs(a), abs(b))
    return largest == 0 or abs(a - b) <= largest * tolerance


def independent(values: Mapping[str, Any]) -> dict[str, Any]:
    """The candidates that are evidence (not a decision, an override or a kept value)."""
    return {source: value for source, value in values.items() if source not in NOT_EVIDENCE}


def verification(candidates: Candidates | None, stored: Mapping[str, Any], tolerance: Decimal) -> dict[str, Any]:
    """Per candidate field (JSON name): how many independent sources have a value and how many agree with `stored`."""
    result: dict[str, Any] = {}
    for name in CANDIDATE_FIELDS:
        values = independent((candidates or {}).get(name) or {})
        value = stored.get(name)
        if not values and value is None:
            continue
        agree = sum(1 for item in values.values() if agrees(name, item, value, tolerance))
        result[json_name(name)] = {"sources": len(values), "agree": agree}
    return result


def conflicting_fields(
    candidates: Candidates | None, decided: Iterable[str], tolerance: Decimal
) -> dict[str, dict[str, Any]]:
    """Fields whose independent candidates disagree beyond tolerance, with those candidates; decided ones left out."""
    pinned = set(decided)
    result: dict[str, dict[str, Any]] = {}
    for name in CANDIDATE_FIELDS:
        if name in pinned:
            continue
        values = independent((candidates or {}).get(name) or {})
        # Every pair: 1.00, 1.009 and 0.991 each agree with 1.00 but not with each other.
        items = list(values.values())
        if any(not agrees(name, a, b, tolerance) for i, a in enumerate(items) for b in items[i + 1 :]):
            result[name] = values
    return result


CONFLICT: Final = "conflict"
SINGLE_SOURCE: Final = "single source"
NO_SOURCE: Final = "no independent source"


def verdicts(
    candidates: Candidates | None, stored: Mapping[str, Any], decided: Iterable[str], tolerance: Decimal
) -> dict[str, str]:
    """Per candidate field (JSON name) one line: "conflict", "single source", or "3 sources, 3 agree"."""
    counts = verification(candidates, stored, tolerance)
    open_conflicts = {json_name(name) for name in conflicting_fields(candidates, decided, tolerance)}
    result: dict[str, str] = {}
    for name, found in counts.items():
        if name in open_conflicts:
            result[name] = CONFLICT
        elif found["sources"] == 0:
            result[name] = NO_SOURCE  # only a decision, the overrides file or a kept value says it
        elif found["sources"] == 1 and found["agree"] == 1:
            result[name] = SINGLE_SOURCE
        else:
            result[name] = f"{found['sources']} source{'' if found['sources'] == 1 else 's'}, {found['agree']} agree"
    return result
