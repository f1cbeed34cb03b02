"""OpenRouter's listing of a provider's own model as one more candidate source for that model. Pure.

Rules:
- OpenRouter lists a provider's models under the provider's author (`openrouter_author` of the registry row):
  `openai/gpt-4o` is OpenAI's `gpt-4o`. Ids are compared by `match_key` (lower case, `.` as `-`, no `~` or
  `:variant`, a dashed date compacted), first OpenRouter's id, then its `canonical_slug`: `openai/gpt-5.4`
  (canonical `openai/gpt-5.4-20260305`) is also OpenAI's `gpt-5.4-2026-03-05`.
- Only plain ids count: a `:free` or `:thinking` variant is priced differently and a `~` id is an alias of a
  moving target, so neither is evidence of the provider's own price.
- What OpenRouter says is evidence (a candidate named `openrouter`), never a value: the merge's precedence is not
  touched, so it can only add an agreeing source or a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

OPENROUTER: Final = "openrouter"
_DASHED_DATE = re.compile(r"-(\d{4})-(\d{2})-(\d{2})$")

# One OpenRouter model as evidence: its extras (for the canonical slug) and its own candidate values.
Listed = tuple[Mapping[str, Any] | None, Mapping[str, Any]]


def match_key(model_id: str) -> str:
    """How an id is compared across providers: lower case, `.` as `-`, no `~` or `:variant`, dates compacted."""
    key = model_id.lower().lstrip("~").split(":", 1)[0].replace(".", "-")
    return _DASHED_DATE.sub(r"-\1\2\3", key)


def listed_candidates(
    author: str, model_ids: Iterable[str], listing: Mapping[str, Listed]
) -> dict[str, dict[str, Any]]:
    """Per provider model id, the candidate values of OpenRouter's listing of it (`{field: value}`)."""
    if not author:
        return {}
    by_id: dict[str, str] = {}
    by_slug: dict[str, str] = {}
    for listed_id in sorted(listing):
        head, _, rest = listed_id.partition("/")
        if head != author or not rest or ":" in rest or listed_id.startswith("~"):
            continue
        by_id.setdefault(match_key(rest), listed_id)
        slug = (listing[listed_id][0] or {}).get("canonical_slug")
        if isinstance(slug, str) and slug.startswith(f"{author}/"):
            by_slug.setdefault(match_key(slug.partition("/")[2]), listed_id)
    found: dict[str, dict[str, Any]] = {}
    for model_id in model_ids:
        key = match_key(model_id)
        chosen = by_id.get(key) or by_slug.get(key)
        if chosen is not None and listing[chosen][1]:
            found[model_id] = dict(listing[chosen][1])
    return found
