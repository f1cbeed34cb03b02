"""Render stored rows in the original schema's camelCase names, for `--json` output and the API.

Rules: money is exact decimal text in USD ("2.5"), per 1M tokens as stored, per 1K derived; a capability
that is unknown renders as null in the `supports*` flags and is left out of `capabilities`, never False;
times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from modelsync.records import money_text, per_1k


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def model_view(row: dict[str, Any], verified_at: datetime | None = None) -> dict[str, Any]:
    """Render one `ai_model` row; `verified_at` is the provider's last good sync (for active models)."""
    capabilities: dict[str, bool] = row["capabilities"] or {}
    last_verified = row["last_verified"]
    if row["status"] == "active" and verified_at is not None and (last_verified is None or verified_at > last_verified):
        last_verified = verified_at
    return {
        "id": row["model_id"],
        "provider": row["provider"],
        "name": row["model_id"],
        "displayName": row["display_name"],
        "kind": row["kind"],
        "status": row["status"],
        "capabilities": sorted(name for name, flag in capabilities.items() if flag),
        "contextWindow": row["context_window"],
        "maxOutputTokens": row["max_output_tokens"],
        "costPer1kInputTokens": money_text(per_1k(row["input_price"])),
        "costPer1kOutputTokens": money_text(per_1k(row["output_price"])),
        "inputCostPer1M": money_text(row["input_price"]),
        "outputCostPer1M": money_text(row["output_price"]),
        "cacheReadCostPer1M": money_text(row["cache_read_price"]),
        "cacheWriteCostPer1M": money_text(row["cache_write_price"]),
        "supportsStreaming": capabilities.get("streaming"),
        "supportsJSON": capabilities.get("json"),
        "supportsVision": capabilities.get("vision"),
        "supportsTools": capabilities.get("tools"),
        "supportsReasoning": capabilities.get("reasoning"),
        "recommended": row["recommended"],
        "tier": row["tier"],
        "isAllowed": row["is_allowed"],
        "tags": row["tags"] or [],
        "replacementModel": row["replacement_model"],
        "deprecatedAt": _iso(row["deprecated_at"]),
        "shutdownDate": _iso(row["shutdown_date"]),
        "inputModalities": row["modalities_in"] or [],
        "outputModalities": row["modalities_out"] or [],
        "releaseDate": row["release_date"],
        "knowledgeCutoff": row["knowledge_cutoff"],
        "provenance": row["provenance"] or {},
        "lastVerified": _iso(last_verified),
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }


def change_view(row: dict[str, Any]) -> dict[str, Any]:
    """Render one `model_change` row."""
    return {
        "id": row["id"],
        "runId": row["run_id"],
        "provider": row["provider"],
        "model": row["model_id"],
        "kind": row["kind"],
        "changes": row["changes"],
        "actor": row["actor"],
        "at": _iso(row["created_at"]),
    }
