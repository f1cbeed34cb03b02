"""Render stored rows in the API's camelCase names, for `--json` output and the API; derived from the field catalogue.

Rules: every name is the field's JSON name from fieldspec.py (record fields, provenance keys and history keys
alike); money is exact decimal text in USD ("2.5"), per 1M tokens as stored, per 1K derived; a capability that is
unknown renders as null in the `supports*` flags and is left out of `capabilities`, never False; times are ISO
8601 UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from modelsync.fieldspec import DERIVED, FIELDS, IDENTITY, FieldType, json_name
from modelsync.records import money, money_text


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return money_text(value)


def _names(value: list[str] | None) -> list[str]:
    return value or []


def _flags(value: dict[str, bool] | None) -> list[str]:
    return sorted(name for name, flag in (value or {}).items() if flag)


def _sources(value: dict[str, str] | None) -> dict[str, str]:
    return {json_name(name): source for name, source in (value or {}).items()}


def _same(value: Any) -> Any:
    return value


_RENDER: Final[dict[FieldType, Callable[[Any], Any]]] = {
    FieldType.MONEY: _money,
    FieldType.DATE: _iso,
    FieldType.TIMESTAMP: _iso,
    FieldType.NAMES: _names,
    FieldType.FLAGS: _flags,
    FieldType.SOURCES: _sources,
}


def _per_1k(value: Decimal | None) -> str | None:
    return None if value is None else money_text(money(value / 1000))


def _flag(name: str) -> Callable[[dict[str, bool] | None], bool | None]:
    def read(capabilities: dict[str, bool] | None) -> bool | None:
        return (capabilities or {}).get(name)

    return read


# (JSON name, column, render) for every field of the view, in the order the API shows them.
_VIEW: Final[tuple[tuple[str, str, Callable[[Any], Any]], ...]] = (
    *((field.json, field.column, _same) for field in IDENTITY if field.python_type is not datetime),
    *((field.json, field.name, _RENDER.get(field.type, _same)) for field in FIELDS),
    *((field.json, field.source, _flag(field.flag) if field.flag else _per_1k) for field in DERIVED),
    *((field.json, field.column, _iso) for field in IDENTITY if field.python_type is datetime),
)
VIEW_NAMES: Final[tuple[str, ...]] = tuple(name for name, _, _ in _VIEW)
_LAST_VERIFIED: Final = "lastVerified"


def model_view(row: dict[str, Any], verified_at: datetime | None = None) -> dict[str, Any]:
    """Render one `ai_model` row; `verified_at` is the provider's last good sync (for active models)."""
    view = {name: render(row[column]) for name, column, render in _VIEW}
    last_verified = row["last_verified"]
    if row["status"] == "active" and verified_at is not None and (last_verified is None or verified_at > last_verified):
        view[_LAST_VERIFIED] = verified_at.isoformat()
    return view


def change_view(row: dict[str, Any]) -> dict[str, Any]:
    """Render one `model_change` row, its field diffs keyed by JSON names."""
    return {
        "id": row["id"],
        "runId": row["run_id"],
        "provider": row["provider"],
        "model": row["model_id"],
        "kind": row["kind"],
        "changes": {json_name(name): diff for name, diff in (row["changes"] or {}).items()},
        "actor": row["actor"],
        "at": _iso(row["created_at"]),
    }
