"""Inheritance through identities: a snapshot, alias or fine-tune without a fact of its own takes its parent's. Pure.

Rules:
- Runs on merged records before the policy, parents first (`identity.ordered`), so a parent is complete (with what
  it inherited itself) when its children read it: chains resolve (alias -> snapshot -> base, fine-tune -> snapshot
  -> base), across the engine's chunks.
- It is the lowest layer but one: any source's value for the model itself wins; only facts the model lacks
  (`fieldspec.INHERITED`; capabilities name by name) are taken, with provenance `inherited:<parent id>`. Below it
  only the fallback layers (genai-prices' context windows, matched by its rules, then LiteLLM's limits) fill what
  is still missing, in that order; a limit a fallback layer supplies is also a candidate of that layer.
- Display names: a model whose name is missing or is its raw id takes the name a source gave its parent: a
  snapshot as "<parent name> (<stamp>)", a fine-tune as "<parent name> fine-tune (<its own part>)", an alias as it
  is.
- Prices are never inherited by snapshots or fine-tunes (an older snapshot or a fine-tune is priced differently;
  unknown is better than wrong). An alias carries its target's prices (the price list and the flat prices,
  `fieldspec.PRICE_GROUP`, as one group) unless a source prices the alias itself (an admin decision, the
  overrides file, the provider's listing for that id): catalog prices found for the alias id by fuzzy matching
  are replaced by the target's, and an alias of an unpriced target is unpriced.
- A model left without any price says why in `price_note` (what bench/truth.py counts as a stated reason) when
  one is known: an admin's or the overrides file's, a source's own (an OpenRouter router is billed at the routed
  model's price), a fine-tune's (no fine-tuned inference price is known, and its base model's would be wrong),
  else the provider row's `unpriced_reason` (a self-hosted server has no per-token price). A priced model keeps
  only a note an admin or the overrides file stated.
- Parents are lent as they are before the policy fills defaults (a display name equal to the id, a guessed kind),
  so children inherit facts, never guesses. A parent the listing no longer has is lent from its stored row, less
  what the policy decided there (`lend_stored`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from modelsync.fieldspec import INHERITED, PRICE_GROUP, FieldType, of_type
from modelsync.records import ModelRecord
from modelsync.sources.overrides import OVERRIDES
from modelsync.sync.identity import ALIAS, FINE_TUNE, RULE, SNAPSHOT, Identity, parent_ids
from modelsync.sync.merge import Layer
from modelsync.sync.policy import MANUAL, POLICY
from modelsync.sync.verify import LIMIT_CANDIDATES

INHERITED_FROM: Final = "inherited"
PRICE_NOTE: Final = "price_note"
# Who may keep a price note on a model that is priced: the reason is theirs to withdraw.
_NOTE_KEEPERS: Final = frozenset({MANUAL, OVERRIDES})
_FLAG_FIELDS: Final = frozenset(of_type(FieldType.FLAGS))
_FACTS: Final = tuple(name for name in INHERITED if name != "display_name")
_LENT: Final = (*INHERITED, *PRICE_GROUP)


def _fine_tune_part(model_id: str, base: str) -> str:
    # `ft:gpt-4o-mini-2024-07-18:acme::7XSv` -> "acme:7XSv": what tells this fine-tune from the others.
    if model_id.startswith(f"ft:{base}:"):
        return ":".join(part for part in model_id[len(base) + 4 :].split(":") if part)
    return model_id


def _display_name(record: ModelRecord, identity: Identity, parent: Mapping[str, Any]) -> str | None:
    # The parent is lent before the policy names unnamed models after their ids, so a name here is a source's.
    name = parent.get("display_name")
    if not name:
        return None
    if identity.relation == SNAPSHOT and identity.stamp:
        return f"{name} ({identity.stamp})"
    if identity.relation == FINE_TUNE and identity.parent:
        return f"{name} fine-tune ({_fine_tune_part(record.model_id, identity.parent)})"
    return str(name)


def inherit(record: ModelRecord, identity: Identity, parent: Mapping[str, Any], own_sources: frozenset[str]) -> None:
    """Fill the facts (and, for an alias, the prices) a record lacks from its parent's merged values."""
    values = record.values
    provenance = values["provenance"]
    source = f"{INHERITED_FROM}:{identity.parent}"
    for name in _FACTS:
        lent = parent.get(name)
        if not lent:
            continue
        if name in _FLAG_FIELDS:
            mine = values.setdefault(name, {})
            for flag_name, flag in lent.items():
                if flag_name not in mine:
                    mine[flag_name] = flag
                    provenance[f"{name}.{flag_name}"] = source
        elif not values.get(name):
            values[name] = list(lent) if isinstance(lent, list) else lent
            provenance[name] = source
    own_name = values.get("display_name")
    if own_name is None or own_name == record.model_id:
        shown = _display_name(record, identity, parent)
        if shown is not None:
            values["display_name"] = shown
            provenance["display_name"] = source
    if identity.relation == ALIAS:
        priced_itself = any(values.get(n) is not None and provenance.get(n) in own_sources for n in PRICE_GROUP)
        if not priced_itself:
            for price in PRICE_GROUP:
                amount = parent.get(price)
                if amount is None:
                    values.pop(price, None)
                    provenance.pop(price, None)
                else:
                    values[price] = amount
                    provenance[price] = source


def _identity_provenance(identity: Identity) -> dict[str, str]:
    found = {}
    if identity.family is not None:
        found["family"] = RULE
    if identity.parent is not None and identity.relation != FINE_TUNE:
        found["alias_of" if identity.relation == ALIAS else "snapshot_of"] = identity.source
    if identity.base_model is not None:
        found["base_model"] = identity.source if identity.relation == FINE_TUNE else RULE
    return found


class Lender:
    """Hands each parent's facts down to its children as the engine merges a provider, chunk by chunk."""

    def __init__(
        self,
        found: Mapping[str, Identity],
        own_sources: frozenset[str],
        fallback: Layer | Sequence[Layer] | None = None,
        unpriced_reason: str = "",
    ) -> None:
        self.found = found
        self.unpriced_reason = unpriced_reason
        self.own_sources = own_sources
        layers = [fallback] if isinstance(fallback, Layer) else list(fallback or ())
        self.fallback = [layer for layer in layers if layer.records]
        self.parents = parent_ids(found)
        self.lent: dict[str, dict[str, Any]] = {}

    def apply(self, records: list[ModelRecord]) -> None:
        """Set identity fields, inherit from parents already seen, fill from the fallback, and lend to children."""
        for record in records:
            model_id = record.model_id
            values = record.values
            identity = self.found.get(model_id)
            if identity is not None:
                values.update(identity.fields())
                values["provenance"].update(_identity_provenance(identity))
                parent = self.lent.get(identity.parent) if identity.parent is not None else None
                if parent is not None:
                    inherit(record, identity, parent, self.own_sources)
            if self.fallback:
                self._fill(record)
            if all(values.get(n) is None for n in PRICE_GROUP):
                self._say_why_unpriced(record, identity)
            elif values.get(PRICE_NOTE) is not None and values["provenance"].get(PRICE_NOTE) not in _NOTE_KEEPERS:
                # A source's reason for having no price, where another source does price the model.
                values[PRICE_NOTE] = None
                values["provenance"].pop(PRICE_NOTE, None)
            if model_id in self.parents:
                self.lent[model_id] = {
                    name: dict(value) if isinstance(value, dict) else value
                    for name in _LENT
                    if (value := values.get(name)) is not None
                }

    def _say_why_unpriced(self, record: ModelRecord, identity: Identity | None) -> None:
        """Record why a model no source prices has no price, unless a source or an admin already said."""
        values = record.values
        if values.get(PRICE_NOTE) is not None:
            return
        if identity is not None and identity.base_model:
            values[PRICE_NOTE] = f"fine-tune of {identity.base_model}: no fine-tuned inference price is known"
            values["provenance"][PRICE_NOTE] = RULE
        elif self.unpriced_reason:
            values[PRICE_NOTE] = self.unpriced_reason
            values["provenance"][PRICE_NOTE] = POLICY

    def lend_stored(self, model_id: str, row: Mapping[str, Any]) -> None:
        """Lend a stored parent's values, leaving out what the policy decided (a name that is the id, a guess)."""
        provenance = row.get("provenance") or {}

        def decided(name: str) -> bool:
            return str(provenance.get(name, "")).startswith(POLICY)

        lent: dict[str, Any] = {}
        for name in _LENT:
            value = row.get(name)
            if value is None:
                continue
            if name in _FLAG_FIELDS:
                value = {key: flag for key, flag in value.items() if not decided(f"{name}.{key}")}
            elif decided(name):
                continue
            lent[name] = value
        self.lent[model_id] = lent

    def _fill(self, record: ModelRecord) -> None:
        values = record.values
        for layer in self.fallback:
            found = layer.records.get(record.model_id)
            if found is None:
                continue
            for name, value in found.fields.items():
                if value is not None and values.get(name) is None:
                    values[name] = value
                    values["provenance"][name] = layer.source
                    if name in LIMIT_CANDIDATES:
                        # The limit this layer supplies is a candidate too, so verification counts its source.
                        field = (record.candidates or {}).get(name, {})
                        record.candidates = {**(record.candidates or {}), name: {**field, layer.source: int(value)}}
