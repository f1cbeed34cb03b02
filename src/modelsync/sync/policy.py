"""Policy: kind, status, tier, tags, recommended and allowed, from rules in configuration. Pure.

Rules:
- Every value decided here is recorded in provenance as "policy" (or "manual" for an admin's decision), so a
  reader can tell a rule's guess from a source's fact.
- An admin's decision (`is_allowed`, `recommended`) always wins over the rules.
- Tier needs prices: free when both are 0, premium at or above the configured thresholds, affordable otherwise,
  unknown (None) when no price is known.
- A capability is only set here when the rules are sure (chat APIs stream); otherwise it stays unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from modelsync.records import ModelRecord
from modelsync.settings import PolicySettings

POLICY = "policy"
MANUAL = "manual"
_MEDIA = frozenset({"image", "audio", "video"})


@dataclass(frozen=True, slots=True)
class _Compiled:
    kind_rules: tuple[tuple[str, re.Pattern[str]], ...]
    any_kind_rule: re.Pattern[str] | None
    fast: re.Pattern[str] | None
    highest_quality: re.Pattern[str] | None
    recommended: frozenset[str]


@cache
def _compile(policy: PolicySettings) -> _Compiled:
    def pattern(text: str) -> re.Pattern[str] | None:
        return re.compile(text, re.IGNORECASE) if text else None

    # Most ids match no kind rule (chat models): one search of all rules joined answers that; only ids that match
    # something try the rules in order, so the first rule still wins.
    combined = "|".join(f"(?:{rule.pattern})" for rule in policy.kind_rules)
    return _Compiled(
        kind_rules=tuple((rule.kind, re.compile(rule.pattern, re.IGNORECASE)) for rule in policy.kind_rules),
        any_kind_rule=re.compile(combined, re.IGNORECASE) if combined else None,
        fast=pattern(policy.tags.fast),
        highest_quality=pattern(policy.tags.highest_quality),
        recommended=frozenset(policy.recommended),
    )


def _infer_kind(model_id: str, values: Mapping[str, Any], rules: _Compiled) -> str:
    if rules.any_kind_rule is not None and rules.any_kind_rule.search(model_id):
        for kind, regex in rules.kind_rules:
            if regex.search(model_id):
                return kind
    outputs = values.get("modalities_out") or ()
    if outputs and "text" not in outputs:
        for kind in ("image", "audio", "video"):
            if kind in outputs:
                return kind
    return "chat"


def tier_for(input_price: Decimal | None, output_price: Decimal | None, policy: PolicySettings) -> str | None:
    """Return free, affordable or premium from the prices per 1M tokens, or None when no price is known."""
    if input_price is None and output_price is None:
        return None
    if input_price == 0 and output_price == 0:
        return "free"
    if (input_price is not None and input_price >= policy.premium_threshold) or (
        output_price is not None and output_price >= policy.output_premium_threshold
    ):
        return "premium"
    return "affordable"


def tags_for(model_id: str, values: Mapping[str, Any], policy: PolicySettings, latest: bool) -> list[str]:
    """Derive a model's tags from its merged values; `latest` says whether it is the newest of its family."""
    return _tags(model_id, values, _compile(policy), latest)


def _tags(model_id: str, values: Mapping[str, Any], rules: _Compiled, latest: bool) -> list[str]:
    capabilities = values["capabilities"]
    is_chat = values["kind"] == "chat"
    tags: set[str] = set()
    fast = bool(rules.fast and rules.fast.search(model_id))
    best = is_chat and bool(rules.highest_quality and rules.highest_quality.search(model_id))
    if values["recommended"]:
        tags.add("recommended")
    if values["tier"] in ("free", "affordable"):
        tags.add("affordable")
    if values["tier"] == "premium":
        tags.add("expensive")
    if _MEDIA.intersection(values["modalities_in"]) or _MEDIA.intersection(values["modalities_out"]):
        tags.add("multimodal")
    if capabilities.get("reasoning"):
        tags.add("reasoning")
    if fast:
        tags.add("fast")
    if best:
        tags.add("highest-quality")
    if best or (is_chat and capabilities.get("reasoning") and not fast):
        tags.add("smart")
    if is_chat and not fast and not best and values["tier"] == "affordable":
        tags.add("balanced")
    if latest:
        tags.add("latest")
    return sorted(tags)


def _latest_ids(records: list[ModelRecord]) -> set[str]:
    """Ids tagged latest: `*-latest` aliases, and the newest release of each model family."""
    newest: dict[str, tuple[str, str]] = {}
    latest: set[str] = set()
    for record in records:
        if "latest" in record.model_id:
            latest.add(record.model_id)
        family = (record.extra or {}).get("family")
        released = record.values.get("release_date")
        if not family or not released or record.values["status"] != "active":
            continue
        best = newest.get(family)
        if best is None or released > best[0]:
            newest[family] = (released, record.model_id)
    latest.update(model_id for _, model_id in newest.values())
    return latest


def apply_policy(
    records: list[ModelRecord], policy: PolicySettings, manual: Mapping[str, Mapping[str, Any]]
) -> list[ModelRecord]:
    """Complete each merged record with the policy fields; `manual` maps model id -> the admin's decisions."""
    rules = _compile(policy)
    for record in records:
        values = record.values
        provenance = values["provenance"]
        decisions = manual.get(record.model_id) or {}
        record.manual = dict(decisions) or None
        if values.get("kind") is None:
            values["kind"] = _infer_kind(record.model_id, values, rules)
            provenance["kind"] = POLICY
        if values.get("display_name") is None:
            values["display_name"] = record.model_id
            provenance["display_name"] = POLICY
        deprecated = values.pop("deprecated", None)
        source_of_deprecation = provenance.pop("deprecated", None)
        values["status"] = "deprecated" if deprecated else "active"
        if deprecated:
            provenance["status"] = source_of_deprecation or POLICY
        capabilities = values["capabilities"]
        if values["kind"] in policy.streaming_kinds and "streaming" not in capabilities:
            capabilities["streaming"] = True
            provenance["capabilities.streaming"] = POLICY
        if values["kind"] == "embedding" and "embedding" not in capabilities:
            capabilities["embedding"] = True
            provenance["capabilities.embedding"] = POLICY
        values.setdefault("modalities_in", [])
        values.setdefault("modalities_out", [])
        values["tier"] = tier_for(values.get("input_price"), values.get("output_price"), policy)
        for name, default in (
            ("is_allowed", policy.default_allowed),
            ("recommended", f"{record.provider}/{record.model_id}" in rules.recommended),
        ):
            if name in decisions:
                values[name] = bool(decisions[name])
                provenance[name] = MANUAL
            else:
                values[name] = default
                provenance[name] = POLICY
    latest = _latest_ids(records)
    for record in records:
        record.values["tags"] = _tags(record.model_id, record.values, rules, record.model_id in latest)
    return records
