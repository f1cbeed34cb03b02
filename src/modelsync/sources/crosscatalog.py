"""A second source of capabilities: the models-dev catalog's OpenRouter entries for a provider's own models.

Rules:
- OpenRouter lists a provider's own models under the provider's author id (`openai/gpt-5.4` is OpenAI's
  `gpt-5.4`) and serves them through that provider, so a capability the catalog states for that entry is one the
  provider's API has. The author comes from the registry row (`openrouter_author`); only the exact id
  `<author>/<model id>` is looked up, never a guessed spelling.
- Only capabilities are taken (OpenRouter's prices, limits and names are OpenRouter's own), and only those stated
  True: OpenRouter not routing a parameter does not prove the model lacks the ability (the rule of the OpenRouter
  adapter too).
- Nothing is taken for models a provider hosts for another author (Groq's or Together's open models): whether a
  host's API accepts structured output or tools is that host's to say, not another host's.
- The layer sits below the provider's own catalog entries; provenance names it `models-dev:openrouter`.
"""

from __future__ import annotations

from modelsync.records import SourceRecord
from modelsync.sources.catalogs import MODELS_DEV, models_dev_lookup

OPENROUTER = "openrouter"
MODELS_DEV_OPENROUTER = f"{MODELS_DEV}:{OPENROUTER}"


def openrouter_capabilities(author: str, model_ids: list[str]) -> dict[str, SourceRecord]:
    """The capabilities models-dev states True for `<author>/<id>` on OpenRouter, keyed by the provider's own id."""
    if not author:
        return {}
    prefix = f"{author}/"
    found: dict[str, SourceRecord] = {}
    for other_id, record in models_dev_lookup(OPENROUTER, [prefix + model_id for model_id in model_ids]).items():
        stated = {name: True for name, value in (record.fields.get("capabilities") or {}).items() if value is True}
        if stated:
            model_id = other_id.removeprefix(prefix)
            found[model_id] = SourceRecord(model_id=model_id, fields={"capabilities": stated})
    return found
