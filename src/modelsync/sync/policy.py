"""Policy: kind, status, tier, tags, recommended and allowed, from rules in configuration. Pure.

Rules:
- Every value decided here is recorded in provenance as "policy" (or "manual" for an admin's decision), so a
  reader can tell a rule's guess from a source's fact.
- An admin's decision (`is_allowed`, `recommended`) always wins over the rules.
- Tier needs prices: free when both are 0 and nothing is charged per unit, premium at or above the configured
  thresholds, affordable otherwise, unknown (None) when no price is known.
- Kind, when no source states one: the first matching `kind_rules` pattern, else a catalog's kind hint (LiteLLM's
  `mode`, `extra["kind_hint"]`), else what the output modalities say, else `other` for a model its listing says
  writes files (Replicate's output schema), else `chat`.
- A capability is set here only by a `capability_rules` entry, and only when no source states it: each rule names
  its reason, and provenance records it as "policy: <reason>", so a rule's claim is never mistaken for a source's.
  Otherwise a capability nobody states stays unknown (an embedding model is the one exception: it embeds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from modelsync.fieldspec import KINDS
from modelsync.pricing import paid_per_unit, priced_only_in
from modelsync.records import KIND_HINT, OUTPUT_EXTRA, WRITES_FILES, ModelRecord
from modelsync.settings import PolicySettings
from modelsync.sync.literals import Prefiltered

POLICY = "policy"
MANUAL = "manual"
_MEDIA = frozenset({"image", "audio", "video"})


@dataclass(frozen=True, slots=True)
class _CapabilityRule:
    capability: str
    value: bool
    source: str  # what provenance records: "policy: <reason>"
    providers: frozenset[str]
    kinds: frozenset[str]
    regex: re.Pattern[str] | None

    def matches(self, model_id: str, kind: str) -> bool:
        """Whether the rule covers a model of its provider (providers are matched when rules are chosen)."""
        return (not self.kinds or kind in self.kinds) and (self.regex is None or bool(self.regex.search(model_id)))


@dataclass(frozen=True, slots=True)
class _Compiled:
    kind_rules: tuple[tuple[str, re.Pattern[str]], ...]
    any_kind_rule: Prefiltered | None
    fast: Prefiltered | None
    highest_quality: Prefiltered | None
    recommended: frozenset[str]
    capability_rules: tuple[_CapabilityRule, ...]

    def capability_rules_for(self, provider: str) -> tuple[_CapabilityRule, ...]:
        """The capability rules that may match a model of `provider`, in order."""
        return tuple(rule for rule in self.capability_rules if not rule.providers or provider in rule.providers)


def _capability_rules(policy: PolicySettings) -> tuple[_CapabilityRule, ...]:
    rules = [
        _CapabilityRule(
            rule.capability,
            rule.value,
            f"{POLICY}: {rule.reason}",
            frozenset(rule.provider),
            frozenset(rule.kind),
            re.compile(rule.pattern, re.IGNORECASE) if rule.pattern else None,
        )
        for rule in policy.capability_rules
    ]
    if policy.streaming_kinds:
        # The deprecated setting keeps its meaning, but provenance says which setting made the claim.
        reason = f"{POLICY}: streaming_kinds setting (deprecated)"
        rules.append(_CapabilityRule("streaming", True, reason, frozenset(), frozenset(policy.streaming_kinds), None))
    return tuple(rules)


@cache
def _compile(policy: PolicySettings) -> _Compiled:
    def pattern(text: str) -> Prefiltered | None:
        return Prefiltered.compile(text) if text else None

    # Most ids match no kind rule (chat models): one search of all rules joined answers that (and its literal
    # prefilter rules most ids out without running it); only ids that match something try the rules in order,
    # so the first rule still wins.
    combined = "|".join(f"(?:{rule.pattern})" for rule in policy.kind_rules)
    return _Compiled(
        kind_rules=tuple((rule.kind, re.compile(rule.pattern, re.IGNORECASE)) for rule in policy.kind_rules),
        any_kind_rule=pattern(combined),
        fast=pattern(policy.tags.fast),
        highest_quality=pattern(policy.tags.highest_quality),
        recommended=frozenset(policy.recommended),
        capability_rules=_capability_rules(policy),
    )


def _infer_kind(
    model_id: str, values: Mapping[str, Any], rules: _Compiled, lowered: str, writes_files: bool, hint: Any = None
) -> str:
    if rules.any_kind_rule is not None and rules.any_kind_rule.search(model_id, lowered):
        for kind, regex in rules.kind_rules:
            if regex.search(model_id):
                return kind
    if hint in KINDS:
        return str(hint)
    outputs = values.get("modalities_out") or ()
    if outputs and "text" not in outputs:
        for kind in ("image", "audio", "video"):
            if kind in outputs:
                return kind
    # Priced only by audio (per hour of audio, per audio token: a realtime voice or transcription model) is an
    # audio model even when its id and listing say nothing; a chat model is always priced for text.
    if priced_only_in(values.get("prices"), "audio"):
        return "audio"
    # A model that writes files is not a chat model, though nothing says which kind of file it writes.
    return "other" if writes_files else "chat"


def tier_for(
    input_price: Decimal | None,
    output_price: Decimal | None,
    policy: PolicySettings,
    prices: Sequence[Mapping[str, Any]] | None = None,
) -> str | None:
    """Return free, affordable or premium from the prices per 1M tokens, or None when no price is known.

    A model charged per unit (per hour, per image, per request) is never free, even at 0 per token.
    """
    if input_price is None and output_price is None:
        return None
    if input_price == 0 and output_price == 0:
        return None if paid_per_unit(prices) else "free"
    if (input_price is not None and input_price >= policy.premium_threshold) or (
        output_price is not None and output_price >= policy.output_premium_threshold
    ):
        return "premium"
    return "affordable"


def tags_for(model_id: str, values: Mapping[str, Any], policy: PolicySettings, latest: bool) -> list[str]:
    """Derive a model's tags from its merged values; `latest` says whether it is the newest of its family."""
    return _tags(model_id, values, _compile(policy), latest, model_id.lower())


def reprice_policy(model_id: str, values: dict[str, Any], policy: PolicySettings, latest: bool) -> None:
    """Derive tier and tags again after a model's prices changed outside the merge (a decision, a held change)."""
    values["tier"] = tier_for(values.get("input_price"), values.get("output_price"), policy, values.get("prices"))
    values["tags"] = tags_for(model_id, values, policy, latest)


def _tags(model_id: str, values: Mapping[str, Any], rules: _Compiled, latest: bool, lowered: str) -> list[str]:
    capabilities = values["capabilities"]
    is_chat = values["kind"] == "chat"
    tier = values["tier"]
    reasoning = bool(capabilities.get("reasoning"))
    fast = bool(rules.fast and rules.fast.search(model_id, lowered))
    best = is_chat and bool(rules.highest_quality and rules.highest_quality.search(model_id, lowered))
    multimodal = bool(_MEDIA.intersection(values["modalities_in"]) or _MEDIA.intersection(values["modalities_out"]))
    # Each tag is decided once and listed in alphabetical order (what the stored, sorted list is).
    decided = (
        ("affordable", tier in ("free", "affordable")),
        ("balanced", is_chat and not fast and not best and tier == "affordable"),
        ("expensive", tier == "premium"),
        ("fast", fast),
        ("highest-quality", best),
        ("latest", latest),
        ("multimodal", multimodal),
        ("reasoning", reasoning),
        ("recommended", bool(values["recommended"])),
        ("smart", best or (is_chat and reasoning and not fast)),
    )
    return [tag for tag, present in decided if present]


def newest_of_families(facts: Iterable[tuple[str, str | None, str | None, bool]]) -> set[str]:
    """Ids tagged latest, from (id, family, release date, active): `*-latest` aliases and each family's newest."""
    newest: dict[str, tuple[str, str]] = {}
    latest: set[str] = set()
    for model_id, family, released, active in facts:
        if "latest" in model_id:
            latest.add(model_id)
        if not family or not released or not active:
            continue
        best = newest.get(family)
        if best is None or released > best[0]:
            newest[family] = (released, model_id)
    latest.update(model_id for _, model_id in newest.values())
    return latest


def _latest_ids(records: list[ModelRecord]) -> set[str]:
    return newest_of_families(
        (r.model_id, (r.extra or {}).get("family"), r.values.get("release_date"), r.values["status"] == "active")
        for r in records
    )


def apply_policy(
    records: list[ModelRecord],
    policy: PolicySettings,
    manual: Mapping[str, Mapping[str, Any]],
    latest: set[str] | None = None,
) -> list[ModelRecord]:
    """Complete each merged record with the policy fields; `manual` maps model id -> the admin's decisions.

    `latest` is the set of ids tagged latest when the caller knows it for the whole listing (it plans in chunks);
    otherwise it is computed from `records`.
    """
    rules = _compile(policy)
    default_allowed = policy.default_allowed
    recommended_by_provider: dict[str, frozenset[str]] = {}
    capability_rules_by_provider: dict[str, tuple[_CapabilityRule, ...]] = {}
    for record in records:
        model_id = record.model_id
        values = record.values
        provenance = values["provenance"]
        decisions = manual.get(model_id)
        record.manual = dict(decisions) if decisions else None
        if values.get("kind") is None:
            extra = record.extra or {}
            writes_files = extra.get(OUTPUT_EXTRA) == WRITES_FILES
            hint = extra.get(KIND_HINT)
            values["kind"] = _infer_kind(model_id, values, rules, model_id.lower(), writes_files, hint)
            provenance["kind"] = POLICY
        if values.get("display_name") is None:
            values["display_name"] = model_id
            provenance["display_name"] = POLICY
        deprecated = values.pop("deprecated", None)
        source_of_deprecation = provenance.pop("deprecated", None)
        values["status"] = "deprecated" if deprecated else "active"
        if deprecated:
            provenance["status"] = source_of_deprecation or POLICY
        capabilities = values["capabilities"]
        kind = values["kind"]
        capability_rules = capability_rules_by_provider.get(record.provider)
        if capability_rules is None:
            capability_rules = capability_rules_by_provider[record.provider] = rules.capability_rules_for(
                record.provider
            )
        for rule in capability_rules:
            # A source's statement (False included) always wins; of the rules, the first that matches decides.
            if rule.capability not in capabilities and rule.matches(model_id, kind):
                capabilities[rule.capability] = rule.value
                provenance[f"capabilities.{rule.capability}"] = rule.source
        if kind == "embedding" and "embedding" not in capabilities:
            capabilities["embedding"] = True
            provenance["capabilities.embedding"] = POLICY
        values.setdefault("modalities_in", [])
        values.setdefault("modalities_out", [])
        values["tier"] = tier_for(values.get("input_price"), values.get("output_price"), policy, values.get("prices"))
        recommended = recommended_by_provider.get(record.provider)
        if recommended is None:
            prefix = f"{record.provider}/"
            recommended = frozenset(ref[len(prefix) :] for ref in rules.recommended if ref.startswith(prefix))
            recommended_by_provider[record.provider] = recommended
        if decisions and "is_allowed" in decisions:
            values["is_allowed"] = bool(decisions["is_allowed"])
            provenance["is_allowed"] = MANUAL
        else:
            values["is_allowed"] = default_allowed
            provenance["is_allowed"] = POLICY
        if decisions and "recommended" in decisions:
            values["recommended"] = bool(decisions["recommended"])
            provenance["recommended"] = MANUAL
        else:
            values["recommended"] = model_id in recommended
            provenance["recommended"] = POLICY
    if latest is None:
        latest = _latest_ids(records)
    for record in records:
        model_id = record.model_id
        record.values["tags"] = _tags(model_id, record.values, rules, model_id in latest, model_id.lower())
    return records
