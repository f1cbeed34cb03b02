"""Ollama: `GET {base}/api/tags`, then `POST {base}/api/show {"model": tag}` for each model -> SourceRecords.

Rules:
- The id is the model tag (`model`, else `name`), exactly as `ollama run` and the chat API take it.
- Each model's `show` answer is fetched (a few at a time) for what the tags listing lacks: `capabilities`
  (completion -> chat, embedding -> embedding kind, vision, tools, thinking -> reasoning, insert -> fim) and the
  context window, `model_info["<general.architecture>.context_length"]`. A failed `show` fails the provider: a
  listing with some models' facts missing would make those facts flap between syncs.
- Local models are free to run: no prices are set (unknown, not zero). Extras: family, parameter size,
  quantization, and the remote host of cloud entries.
- No key: Ollama has no authentication (a key variable, if configured, is sent as a Bearer token).
- An entry without a tag is skipped and a repeated tag keeps its first entry, both with a warning. The number of
  tags is checked against MODELSYNC_MAX_MODELS_PER_PROVIDER before any `show` is asked for, and a tag that
  validation would refuse (control characters, too long) is never sent to `show`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from modelsync.records import SourceRecord
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.fields import compact, count, entries, strings, text
from modelsync.sources.http import ProviderSession, bearer
from modelsync.sources.listing import Listing, escape
from modelsync.sources.validate import id_problem

auth = bearer
CONCURRENCY = 16

_CAPABILITIES = {"vision": "vision", "tools": "tools", "thinking": "reasoning", "insert": "fim"}


def tag_of(item: dict[str, Any]) -> str | None:
    """A tags entry's model tag."""
    return text(item.get("model")) or text(item.get("name"))


def tags(page: Any) -> list[str]:
    """The model tags of a `/api/tags` answer, in order, each once (entries without a tag are left out)."""
    found = (tag_of(item) for item in entries(page, "models", "the model list"))
    return list(dict.fromkeys(tag for tag in found if tag is not None))


def _context(info: Any) -> int | None:
    if not isinstance(info, dict):
        return None
    architecture = info.get("general.architecture")
    if isinstance(architecture, str):
        return count(info.get(f"{architecture}.context_length"))
    return None


def _record(tag: str, item: dict[str, Any], show: Any) -> SourceRecord:
    show = show if isinstance(show, dict) else {}
    reported = set(strings(show.get("capabilities")))
    capabilities = {name: key in reported for key, name in _CAPABILITIES.items()} if reported else {}
    kind = "embedding" if "embedding" in reported else ("chat" if "completion" in reported else None)
    fields: dict[str, Any] = {
        "kind": kind,
        "capabilities": capabilities,
        "context_window": _context(show.get("model_info")),
    }
    details = item.get("details")
    details = details if isinstance(details, dict) else {}
    extra = compact(
        {
            "family": text(details.get("family")),
            "parameter_size": text(details.get("parameter_size")),
            "quantization": text(details.get("quantization_level")),
            "remote_host": text(item.get("remote_host")),
        }
    )
    return SourceRecord(tag, fields, extra)


def normalize(tags_page: Any, shows: Mapping[str, Any]) -> Listing:
    """Map the tags answer and each model's show answer (by tag) to records by exact tag."""
    records = Listing()
    where = "the model list"
    for index, item in enumerate(entries(tags_page, "models", where), 1):
        tag = tag_of(item)
        if tag is None:
            records.skip(f"{where}, entry #{index}", "it has no `model` or `name`")
        elif tag in records:
            records.repeated(tag, where)
        else:
            records[tag] = _record(tag, item, shows.get(tag))
    return records


async def fetch(session: ProviderSession) -> Listing:
    """Fetch the tags, then every model's details; any failure fails the provider."""
    page = await session.http.get_json(session.url("api/tags"))
    names = tags(page)
    session.check_count(len(names))
    names = [tag for tag in names if id_problem(tag) is None]
    limit = asyncio.Semaphore(CONCURRENCY)

    async def show(tag: str) -> Any:
        async with limit:
            return await session.http.post_json(
                session.url("api/show"), {"model": tag}, what=f"details of {escape(tag)}"
            )

    answers = await asyncio.gather(*(show(tag) for tag in names), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return normalize(page, dict(zip(names, answers, strict=True)))


ADAPTER = ListingAdapter(auth=auth, fetch=fetch, normalize=normalize)
