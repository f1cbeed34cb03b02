"""Resolve an id: which stored model it means, its family, and the same model at other providers. Reads only.

Rules:
- An id is matched exactly, never by prefix or similarity: `PROVIDER/MODEL_ID`, or a bare id (at every provider
  that has it; OpenRouter's own ids hold a `/`, so `openai/gpt-4o` answers both OpenAI's `gpt-4o` and OpenRouter's
  `openai/gpt-4o`); `provider` narrows it to one provider.
- A stored alias means its target: aliases are followed to the end (`mistral-large-latest` -> `mistral-large-2512`);
  a snapshot or a fine-tune is a model of its own, and names its base.
- The family is every stored model of the provider with the same `family` (the end of the chain): snapshots,
  aliases and fine-tunes, each with how it is related.
- The same model elsewhere: OpenRouter lists a provider's own models under the provider's author
  (`openrouter_author` of the registry row). Ids are compared with `.` and `-` alike, a variant (`:free`) and an
  alias mark (`~`) left out and a dashed date compacted, and OpenRouter's `canonical_slug` is compared the same way:
  `anthropic/claude-sonnet-4.6` is Anthropic's `claude-sonnet-4-6`, `openai/gpt-5.4` (canonical
  `openai/gpt-5.4-20260305`) is OpenAI's `gpt-5.4` and `gpt-5.4-2026-03-05`. Only stored models are named.
- An id no stored model has is a NotFoundError saying how to find the right one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db.tables import ai_model
from modelsync.errors import NotFoundError, UsageError
from modelsync.services.views import model_view
from modelsync.settings import Settings
from modelsync.sync.crosslisting import match_key

OPENROUTER: Final = "openrouter"
_MAX_LINKS: Final = 16  # an alias chain longer than this is a loop in stored data; stop following it
_COLUMNS: Final = ("provider", "model_id", "status", "display_name", "family", "alias_of", "snapshot_of", "base_model")


def _valid(ref: str) -> str:
    text = ref.strip()
    if not text or len(text) > 600 or "\x00" in text:
        raise UsageError("give a model id (for example gpt-4o or openai/gpt-4o), at most 600 characters.")
    return text


def _rows(conn: Connection, provider: str | None, model_id: str) -> list[dict[str, Any]]:
    query = sa.select(ai_model).where(ai_model.c.model_id == model_id)
    if provider:
        query = query.where(ai_model.c.provider == provider)
    return [dict(row) for row in conn.execute(query.order_by(ai_model.c.provider)).mappings()]


def _found(conn: Connection, ref: str, provider: str | None) -> list[dict[str, Any]]:
    if provider:
        return _rows(conn, provider.lower(), ref)
    found = []
    head, slash, rest = ref.partition("/")
    if slash and rest:
        found.extend(_rows(conn, head.lower(), rest))
    found.extend(row for row in _rows(conn, None, ref) if all(row["id"] != seen["id"] for seen in found))
    return found


def _target(conn: Connection, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Follow a stored alias to the model it means; the ids passed on the way."""
    chain: list[str] = []
    current = row
    while current["alias_of"] and len(chain) < _MAX_LINKS:
        nxt = _rows(conn, current["provider"], current["alias_of"])
        if not nxt:
            break
        chain.append(current["model_id"])
        current = nxt[0]
    return current, chain


def _relation(row: Mapping[str, Any]) -> str:
    if row["alias_of"]:
        return f"alias of {row['alias_of']}"
    if row["snapshot_of"]:
        return f"snapshot of {row['snapshot_of']}"
    if row["base_model"]:
        return f"fine-tune of {row['base_model']}"
    return "base"


def _family(conn: Connection, target: Mapping[str, Any]) -> dict[str, Any] | None:
    root = target["family"]
    if not root:
        return None
    columns = [ai_model.c[name] for name in _COLUMNS]
    query = (
        sa.select(*columns)
        .where(ai_model.c.provider == target["provider"], ai_model.c.family == root)
        .order_by(ai_model.c.model_id)
    )
    members = [
        {"id": row["model_id"], "relation": _relation(dict(row)), "status": row["status"]}
        for row in conn.execute(query).mappings()
    ]
    return {"root": root, "members": members}


def _link(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "provider": row["provider"],
        "id": row["model_id"],
        "displayName": row["display_name"],
        "status": row["status"],
    }


def _openrouter_keys(model_id: str, extra: Mapping[str, Any] | None) -> tuple[str, set[str]]:
    """The author of an OpenRouter id and the keys its model is known by (its id and canonical slug)."""
    author, _, rest = model_id.lstrip("~").partition("/")
    keys = {match_key(rest)}
    slug = (extra or {}).get("canonical_slug")
    if isinstance(slug, str) and "/" in slug:
        keys.add(match_key(slug.partition("/")[2]))
    return author, keys


def _elsewhere(conn: Connection, settings: Settings, target: Mapping[str, Any]) -> list[dict[str, Any]]:
    authors = {name: spec.openrouter_author for name, spec in settings.registry.items() if spec.openrouter_author}
    columns = [*(ai_model.c[name] for name in _COLUMNS), ai_model.c.extra]
    found: list[dict[str, Any]] = []
    if target["provider"] == OPENROUTER:
        author, keys = _openrouter_keys(target["model_id"], target["extra"])
        providers = [name for name, known in authors.items() if known == author]
        if not providers:
            return []
        query = sa.select(*columns).where(ai_model.c.provider.in_(providers))
        found = [dict(row) for row in conn.execute(query).mappings() if match_key(row["model_id"]) in keys]
    else:
        own_author = authors.get(target["provider"])
        if not own_author:
            return []
        key = match_key(target["model_id"])
        prefix = own_author.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
        query = sa.select(*columns).where(
            ai_model.c.provider == OPENROUTER,
            sa.or_(ai_model.c.model_id.like(prefix, escape="\\"), ai_model.c.model_id.like("~" + prefix, escape="\\")),
        )
        for row in conn.execute(query).mappings():
            row_author, keys = _openrouter_keys(row["model_id"], row["extra"])
            if row_author == own_author and key in keys:
                found.append(dict(row))
    return [_link(row) for row in sorted(found, key=lambda row: (row["provider"], row["model_id"]))]


def resolve(engine: Engine, settings: Settings, ref: str, provider: str | None = None) -> dict[str, Any]:
    """Which stored model `ref` means (at each provider that has the id), its family and where else it is offered."""
    ref = _valid(ref)
    with engine.connect() as conn:
        rows = _found(conn, ref, provider)
        if not rows:
            where = f" at {provider.lower()}" if provider else ""
            raise NotFoundError(
                f"no stored model has the id {ref!r}{where}; ids are matched exactly: find the exact id with "
                "`modelsync models list` (or GET /api/ai-models?q=...), or run `modelsync sync` if it is new."
            )
        matches = []
        for row in rows:
            target, chain = _target(conn, row)
            matches.append(
                {
                    "provider": row["provider"],
                    "id": row["model_id"],
                    "via": "alias" if chain else "exact",
                    "aliasChain": [*chain, target["model_id"]] if chain else [],
                    "model": model_view(target),
                    "family": _family(conn, target),
                    "elsewhere": _elsewhere(conn, settings, target),
                }
            )
    return {"query": ref, "provider": provider.lower() if provider else None, "matches": matches}
