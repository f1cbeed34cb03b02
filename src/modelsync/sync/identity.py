"""Model identities, from one provider's ids and listing extras: snapshot -> base, alias -> target, fine-tune -> base.
Pure.

Rules:
- A fine-tune names its base: an `ft:` id (`ft:<base>:<org>:<name>:<job>`), or the listing's `base_model` extra
  (OpenAI, vLLM's `parent`, Mistral's `root`). The base need not be listed (the catalogs are still consulted under
  it, for facts), but only a listed base lends its merged facts.
- An alias names its target: the listing's `alias_of` extra (Mistral's `aliases` groups, OpenRouter's
  `alias_target`); an OpenRouter variant (`:free`, `:thinking`) of the plain id with the same `canonical_slug`; or a
  `<stem>-latest` id: the listed `<stem>`, else the newest listed dated snapshot of `<stem>`.
- A snapshot is an id ending in a date or version stamp (`-2024-08-06`, `-20241022`, `-0125`, Mistral's `-2512`,
  Gemini's `-001` and `-09-2025`) whose base, the id without the stamp, is itself a listed model: a stamp alone
  proves nothing (`mistral-large-2512` has no `mistral-large` to belong to).
- Each model has at most one parent, taken in the order fine-tune base, alias target, snapshot base. An edge that
  would close a cycle is dropped and not recorded (Mistral lists `mistral-embed` as an alias of
  `mistral-embed-2312`, whose base by its stamp would be `mistral-embed`), so chains always end.
- `family` is the root of a model's chain, set on every member of a chain (the root too); a model alone has none.
- `ordered` puts parents before their children, so the merge can hand facts down in one pass.
- A parent gone from the listing is still a parent: the ids the listed models would point at (`wanted_parents`)
  that the database still holds are passed back in as `stored`, so a snapshot keeps its base (and what it inherits
  from it) when the base is deprecated or vanishes. Stored ids are parents only, never children.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

FINE_TUNE: Final = "fine-tune"
ALIAS: Final = "alias"
SNAPSHOT: Final = "snapshot"
# Provenance of an identity the sync decided from the id alone (the listing's own word is named by the provider).
RULE: Final = "identity"

_ISO_DATE = re.compile(r"^(?P<base>.+)-(?P<y>(?:19|20)\d{2})-(?P<m>[01]\d)-(?P<d>[0-3]\d)$")
_COMPACT_DATE = re.compile(r"^(?P<base>.+)-(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)$")
_MONTH_YEAR = re.compile(r"^(?P<base>.+)-(?P<m>[01]\d)-(?P<y>20\d{2})$")
_MONTH_DAY = re.compile(r"^(?P<base>.+)-(?P<m>[01]\d)-(?P<d>[0-3]\d)$")
_FOUR = re.compile(r"^(?P<base>.+)-(?P<n>\d{4})$")
_THREE = re.compile(r"^(?P<base>.+)-(?P<n>\d{3})$")
_LATEST = "-latest"


@dataclass(frozen=True, slots=True)
class Stamp:
    """The date or version an id ends in: the id without it, the stamp as shown, and a key that sorts by age."""

    base: str
    shown: str
    key: str


def split_stamp(model_id: str) -> Stamp | None:
    """The dated or versioned suffix of an id, or None when it ends in none."""
    if found := _ISO_DATE.match(model_id) or _COMPACT_DATE.match(model_id):
        y, m, d = found["y"], found["m"], found["d"]
        return Stamp(found["base"], f"{y}-{m}-{d}", f"{y}{m}{d}")
    if found := _MONTH_YEAR.match(model_id):
        return Stamp(found["base"], f"{found['m']}-{found['y']}", f"{found['y']}{found['m']}00")
    if found := _MONTH_DAY.match(model_id):
        return Stamp(found["base"], f"{found['m']}-{found['d']}", f"0000{found['m']}{found['d']}")
    if found := _FOUR.match(model_id):
        digits = found["n"]
        # OpenAI's four digits are month and day (`-0125`, `-1106`); Mistral's are year and month (`-2512`): a first
        # pair above 12 cannot be a month.
        key = f"20{digits}00" if int(digits[:2]) > 12 else f"0000{digits}"
        return Stamp(found["base"], digits, key)
    if found := _THREE.match(model_id):
        return Stamp(found["base"], found["n"], f"00000{found['n']}")
    return None


def fine_tune_base(model_id: str, extra: Mapping[str, Any] | None) -> str | None:
    """The model a fine-tune was trained from: the listing's `base_model`, else the second part of an `ft:` id."""
    base = (extra or {}).get("base_model")
    if isinstance(base, str) and base and base != model_id:
        return base
    if model_id.startswith("ft:"):
        part = model_id.split(":")[1]
        return part or None
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    """Where one model sits: its parent (if any) and how it is related to it, and the root of its chain."""

    parent: str | None = None
    relation: str | None = None
    source: str = RULE
    family: str | None = None
    base_model: str | None = None
    stamp: str | None = None  # a snapshot's date or version as shown in its display name

    @property
    def alias_of(self) -> str | None:
        """The target, when the model is an alias."""
        return self.parent if self.relation == ALIAS else None

    @property
    def snapshot_of(self) -> str | None:
        """The base, when the model is a dated snapshot."""
        return self.parent if self.relation == SNAPSHOT else None

    def fields(self) -> dict[str, str | None]:
        """The identity fields of the record."""
        return {
            "family": self.family,
            "alias_of": self.alias_of,
            "snapshot_of": self.snapshot_of,
            "base_model": self.base_model,
        }


def _latest_target(model_id: str, listed: set[str], newest: Mapping[str, tuple[str, str]]) -> str | None:
    stem = model_id[: -len(_LATEST)]
    if stem in listed:
        return stem
    found = newest.get(stem)
    return found[1] if found is not None else None


def _variant_targets(model_ids: list[str], extras: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """OpenRouter: ids sharing a canonical slug point at the slug when it is listed, else at their plain id."""
    groups: dict[str, list[str]] = {}
    for model_id in model_ids:
        slug = (extras.get(model_id) or {}).get("canonical_slug")
        if isinstance(slug, str) and slug:
            groups.setdefault(slug, []).append(model_id)
    listed = set(model_ids)
    targets: dict[str, str] = {}
    for slug, members in groups.items():
        plain = sorted(member for member in members if ":" not in member)
        target = slug if slug in listed else (plain[0] if plain else None)
        if target is None:
            continue
        for member in members:
            if member != target and (slug in listed or ":" in member):
                targets[member] = target
    return targets


def wanted_parents(model_ids: Iterable[str], extras: Mapping[str, Mapping[str, Any] | None]) -> frozenset[str]:
    """The ids the given models would inherit from, were they models of the provider (listed or not)."""
    wanted: set[str] = set()
    for model_id in model_ids:
        extra = extras.get(model_id) or {}
        base = fine_tune_base(model_id, extra)
        stated = extra.get("alias_of")
        stamp = split_stamp(model_id)
        for parent in (
            base,
            stated if isinstance(stated, str) else None,
            model_id[: -len(_LATEST)] if model_id.endswith(_LATEST) else None,
            stamp.base if stamp is not None else None,
        ):
            if parent:
                wanted.add(parent)
    return frozenset(wanted)


def identities(
    model_ids: Iterable[str],
    extras: Mapping[str, Mapping[str, Any] | None],
    listing_source: str = RULE,
    stored: Iterable[str] = (),
) -> dict[str, Identity]:
    """Every model's identity, from the provider's ids and extras; `listing_source` names the listing in provenance.

    `stored` are ids the database holds that the listing no longer has: they may be parents, and get an identity.
    """
    ids = list(dict.fromkeys(model_ids))
    children = set(ids)
    ids.extend(model_id for model_id in dict.fromkeys(stored) if model_id not in children)
    listed = set(ids)
    stamps = {model_id: stamp for model_id in ids if (stamp := split_stamp(model_id)) is not None}
    newest: dict[str, tuple[str, str]] = {}
    for model_id, stamp in stamps.items():
        if model_id not in children:
            continue  # a `-latest` alias means the newest model the provider still lists
        best = newest.get(stamp.base)
        if best is None or stamp.key > best[0]:
            newest[stamp.base] = (stamp.key, model_id)
    variants = _variant_targets(ids, extras)
    parents: dict[str, tuple[str, str, str]] = {}  # id -> (parent, relation, source)

    def closes_cycle(child: str, parent: str) -> bool:
        node: str | None = parent
        while node is not None:
            if node == child:
                return True
            node = parents[node][0] if node in parents else None
        return False

    def link(child: str, parent: str | None, relation: str, source: str) -> None:
        if parent is None or parent == child or parent not in listed or child in parents or child not in children:
            return
        if not closes_cycle(child, parent):
            parents[child] = (parent, relation, source)

    bases = {model_id: fine_tune_base(model_id, extras.get(model_id)) for model_id in ids}
    for model_id in ids:
        link(model_id, bases[model_id], FINE_TUNE, listing_source if not model_id.startswith("ft:") else RULE)
    for model_id in ids:
        stated = (extras.get(model_id) or {}).get("alias_of")
        if isinstance(stated, str) and stated:
            link(model_id, stated, ALIAS, listing_source)
        elif model_id in variants:
            link(model_id, variants[model_id], ALIAS, listing_source)
        elif model_id.endswith(_LATEST):
            link(model_id, _latest_target(model_id, listed, newest), ALIAS, RULE)
    for model_id, stamp in stamps.items():
        link(model_id, stamp.base, SNAPSHOT, RULE)

    def root(model_id: str) -> str:
        while model_id in parents:
            model_id = parents[model_id][0]
        return model_id

    in_chain = set(parents) | {parent for parent, _, _ in parents.values()}
    found: dict[str, Identity] = {}
    for model_id in ids:
        parent, relation, source = parents.get(model_id, (None, None, RULE))
        stamp = stamps.get(model_id)
        found[model_id] = Identity(
            parent=parent,
            relation=relation,
            source=source,
            family=root(model_id) if model_id in in_chain else None,
            base_model=bases[model_id],
            stamp=stamp.shown if stamp is not None and relation == SNAPSHOT else None,
        )
    return found


def depth(model_id: str, found: Mapping[str, Identity]) -> int:
    """How many parents a model has above it."""
    steps = 0
    parent = found[model_id].parent if model_id in found else None
    while parent is not None:
        steps += 1
        parent = found[parent].parent if parent in found else None
    return steps


def ordered(model_ids: list[str], found: Mapping[str, Identity]) -> list[str]:
    """The ids with every parent before its children, otherwise in the order given."""
    if not any(identity.parent for identity in found.values()):
        return model_ids
    return sorted(model_ids, key=lambda model_id: depth(model_id, found))


def parent_ids(found: Mapping[str, Identity]) -> frozenset[str]:
    """The ids some model inherits from."""
    return frozenset(identity.parent for identity in found.values() if identity.parent is not None)
