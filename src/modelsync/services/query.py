"""Catalog queries for the API: filtered, sorted, cursor-paged model lists, and the change feed.

Rules:
- Filters combine with AND. A filter on a value the catalog does not know (no price, no context window) never
  matches: unknown is not cheap and not large.
- Sorting puts unknown values last in both directions and breaks ties by (provider, model id), so every order is
  total and a page boundary is exact.
- Pages are keyset pages: the cursor holds the last row's sort key, so a page costs the same at any depth and rows
  written between two requests neither repeat nor vanish. A cursor is only valid for the filters and sort it was
  made with; reusing it with others is a usage error, not a silently wrong page.
- Prices are compared as numbers: NUMERIC on PostgreSQL; on SQLite (which stores exact decimal text) cast to REAL,
  with the cursor's value cast the same way so that a boundary row compares equal to itself.
- The change feed pages forward by change id. Every history row is written under the catalog write lock, so ids
  become visible in increasing order and `since=<last id seen>` never skips a change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from modelsync.db.tables import ai_model, model_change, provider_state
from modelsync.db.types import UTCDateTime
from modelsync.errors import UsageError
from modelsync.records import KINDS, STATUSES, TIERS, money, money_text, parse_datetime
from modelsync.services.views import change_view, model_view

SORTS: Final = (
    "provider",
    "id",
    "displayName",
    "inputPrice",
    "outputPrice",
    "contextWindow",
    "maxOutputTokens",
    "releaseDate",
    "createdAt",
    "updatedAt",
)
CHANGE_KINDS: Final = ("created", "updated", "deprecated", "reactivated", "manual")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class ModelFilters:
    """What a model list is narrowed to; empty tuples and None mean no filter."""

    providers: tuple[str, ...] = ()
    status: str | None = None
    kinds: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tier: str | None = None
    recommended: bool | None = None
    allowed: bool | None = None
    max_input_price: Decimal | None = None
    max_output_price: Decimal | None = None
    min_context: int | None = None
    q: str | None = None

    def validate(self) -> ModelFilters:
        """Refuse values no model can have, with the values that exist."""
        for label, value, allowed in (("status", self.status, STATUSES), ("tier", self.tier, TIERS)):
            if value is not None and value not in allowed:
                raise UsageError(f"unknown {label} {value!r}; use one of {', '.join(allowed)}.")
        for kind in self.kinds:
            if kind not in KINDS:
                raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
        for label, names in (("provider", self.providers), ("capability", self.capabilities), ("tag", self.tags)):
            for name in names:
                if not _NAME.fullmatch(name):
                    raise UsageError(f"{label} {name!r} is not a valid name (lower-case letters, digits, _ . -).")
        return self

    def digest(self) -> str:
        """A short stable digest, stored in cursors to tie them to the query that made them."""
        data = {key: str(value) if isinstance(value, Decimal) else value for key, value in asdict(self).items()}
        return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class _SortKey:
    expr: Callable[[str], ColumnElement[Any]]
    nullable: bool
    encode: Callable[[Any], Any]
    bind: Callable[[Any, str], ColumnElement[Any]]


def _price_expr(column: sa.Column[Any]) -> Callable[[str], ColumnElement[Any]]:
    return lambda dialect: sa.cast(column, sa.Float) if dialect == "sqlite" else column


def _price_bind(value: Any, dialect: str) -> ColumnElement[Any]:
    if not isinstance(value, str) or money(value) is None:
        raise ValueError("price")
    if dialect == "sqlite":
        return sa.cast(sa.literal(value, sa.String), sa.Float)
    return sa.literal(money(value), sa.Numeric(28, 12))


def _int_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("int")
    return sa.literal(value, sa.BigInteger)


def _str_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    if not isinstance(value, str):
        raise ValueError("str")
    return sa.literal(value, sa.String)


def _time_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise ValueError("time")
    return sa.literal(moment, UTCDateTime())


def _column(column: sa.Column[Any]) -> Callable[[str], ColumnElement[Any]]:
    return lambda _dialect: column


def _same(value: Any) -> Any:
    return value


def _iso(value: datetime) -> str:
    return value.isoformat()


_SORT_KEYS: Final[dict[str, _SortKey | None]] = {
    "provider": None,
    "id": _SortKey(_column(ai_model.c.model_id), False, _same, _str_bind),
    "displayName": _SortKey(_column(ai_model.c.display_name), True, _same, _str_bind),
    "inputPrice": _SortKey(_price_expr(ai_model.c.input_price), True, money_text, _price_bind),
    "outputPrice": _SortKey(_price_expr(ai_model.c.output_price), True, money_text, _price_bind),
    "contextWindow": _SortKey(_column(ai_model.c.context_window), True, _same, _int_bind),
    "maxOutputTokens": _SortKey(_column(ai_model.c.max_output_tokens), True, _same, _int_bind),
    "releaseDate": _SortKey(_column(ai_model.c.release_date), True, _same, _str_bind),
    "createdAt": _SortKey(_column(ai_model.c.created_at), False, _iso, _time_bind),
    "updatedAt": _SortKey(_column(ai_model.c.updated_at), False, _iso, _time_bind),
}
_ROW_FIELDS: Final = {
    "id": "model_id",
    "displayName": "display_name",
    "inputPrice": "input_price",
    "outputPrice": "output_price",
    "contextWindow": "context_window",
    "maxOutputTokens": "max_output_tokens",
    "releaseDate": "release_date",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}


# What the model view shows: the row minus `extra` (raw upstream fields, often large), `manual` and the fingerprint,
# which would only cost JSON decoding on every page.
_VIEW_COLUMNS: Final = tuple(
    column for column in ai_model.columns if column.name not in ("extra", "manual", "content_hash")
)


def parse_sort(sort: str) -> tuple[str, bool]:
    """Split `name` or `-name` into the sort name and whether it is descending."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name not in _SORT_KEYS:
        raise UsageError(f"cannot sort by {name!r}; use one of {', '.join(SORTS)} (prefix - for descending).")
    return name, descending


def _filter_clauses(filters: ModelFilters, dialect: str) -> list[ColumnElement[bool]]:
    c = ai_model.c
    clauses: list[ColumnElement[bool]] = []
    if filters.providers:
        clauses.append(c.provider.in_(filters.providers))
    if filters.status:
        clauses.append(c.status == filters.status)
    if filters.kinds:
        clauses.append(c.kind.in_(filters.kinds))
    if filters.tier:
        clauses.append(c.tier == filters.tier)
    if filters.recommended is not None:
        clauses.append(c.recommended.is_(filters.recommended))
    if filters.allowed is not None:
        clauses.append(c.is_allowed.is_(filters.allowed))
    for column, bound in ((c.input_price, filters.max_input_price), (c.output_price, filters.max_output_price)):
        if bound is not None:
            clauses.append(_price_expr(column)(dialect) <= _price_bind(money_text(money(bound)), dialect))
    if filters.min_context is not None:
        clauses.append(c.context_window >= filters.min_context)
    if filters.q:
        # SQLite's LIKE already ignores ASCII case (as its lower() only folds ASCII), so it needs no lower() per row,
        # which makes a search over every row about a third cheaper; PostgreSQL needs ILIKE.
        if dialect == "sqlite":
            search = [column.contains(filters.q, autoescape=True) for column in (c.model_id, c.display_name)]
        else:
            search = [column.icontains(filters.q, autoescape=True) for column in (c.model_id, c.display_name)]
        clauses.append(sa.or_(*search))
    for name in filters.capabilities:
        if dialect == "postgresql":
            clauses.append(sa.type_coerce(c.capabilities, JSONB).contains({name: True}))
        else:
            clauses.append(sa.func.json_extract(c.capabilities, f'$."{name}"') == 1)
    for tag in filters.tags:
        if dialect == "postgresql":
            clauses.append(sa.type_coerce(c.tags, JSONB).contains([tag]))
        else:
            each = sa.func.json_each(c.tags).table_valued("value")
            clauses.append(sa.exists(sa.select(1).select_from(each).where(each.c.value == tag)))
    return clauses


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, digest: str) -> dict[str, Any]:
    invalid = UsageError("the cursor is not valid; start again without `cursor` and follow `nextCursor`.")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), str) or not isinstance(data.get("m"), str):
        raise invalid
    if data.get("s") != sort or data.get("f") != digest:
        raise UsageError(
            "the cursor belongs to a query with other filters or another sort; start again without `cursor`."
        )
    return data


def _keyset(sort_key: _SortKey | None, descending: bool, cursor: dict[str, Any], dialect: str) -> ColumnElement[bool]:
    def after(left: Sequence[ColumnElement[Any]], right: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        return sa.tuple_(*left) < sa.tuple_(*right) if descending else sa.tuple_(*left) > sa.tuple_(*right)

    tie = [ai_model.c.provider, ai_model.c.model_id]
    tie_values = [sa.literal(cursor["p"], sa.String), sa.literal(cursor["m"], sa.String)]
    if sort_key is None:
        return after(tie, tie_values)
    expr = sort_key.expr(dialect)
    if cursor.get("n"):
        return sa.and_(expr.is_(None), after(tie, tie_values))
    try:
        value = sort_key.bind(cursor.get("v"), dialect)
    except ValueError:
        raise UsageError("the cursor is not valid; start again without `cursor` and follow `nextCursor`.") from None
    ordered = after([expr, *tie], [value, *tie_values])
    return sa.or_(expr.is_(None), ordered) if sort_key.nullable else ordered


def list_page(
    engine: Engine, filters: ModelFilters, sort: str = "provider", limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Return one page of models in the API's shape and the cursor of the next page (None on the last)."""
    filters.validate()
    name, descending = parse_sort(sort)
    sort_key = _SORT_KEYS[name]
    dialect = engine.dialect.name
    digest = filters.digest()
    query = sa.select(*_VIEW_COLUMNS).where(*_filter_clauses(filters, dialect))
    if cursor:
        query = query.where(_keyset(sort_key, descending, _decode_cursor(cursor, sort, digest), dialect))
    order: list[ColumnElement[Any]] = []
    if sort_key is not None:
        expr = sort_key.expr(dialect)
        if sort_key.nullable:
            order.append(sa.case((expr.is_(None), 1), else_=0))
        order.append(expr.desc() if descending else expr.asc())
    order += [col.desc() if descending else col.asc() for col in (ai_model.c.provider, ai_model.c.model_id)]
    query = query.order_by(*order).limit(limit + 1)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
        verified = dict(conn.execute(sa.select(provider_state.c.provider, provider_state.c.verified_at)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        data: dict[str, Any] = {"s": sort, "f": digest, "p": last["provider"], "m": last["model_id"]}
        if sort_key is not None:
            value = last[_ROW_FIELDS[name]]
            data["n"] = value is None
            data["v"] = None if value is None else sort_key.encode(value)
        next_cursor = _encode_cursor(data)
    return [model_view(row, verified.get(row["provider"])) for row in rows], next_cursor


def parse_since(since: str | None) -> tuple[int | None, datetime | None]:
    """Read `since` as a change id (digits) or an ISO 8601 time (UTC when no offset is given)."""
    if since is None or since == "":
        return None, None
    if since.isdigit():
        return int(since), None
    try:
        return None, parse_datetime(since)
    except ValueError:
        raise UsageError(
            f"since={since!r} is neither a change id nor an ISO 8601 time; pass the `nextSince` of the last "
            "response, or a time such as 2025-01-31T00:00:00Z."
        ) from None


def list_changes(
    engine: Engine,
    since: str | None,
    limit: int = 100,
    providers: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Return the changes after `since` (a change id or a time), oldest first, and where to continue."""
    for kind in kinds:
        if kind not in CHANGE_KINDS:
            raise UsageError(f"unknown change kind {kind!r}; use one of {', '.join(CHANGE_KINDS)}.")
    since_id, since_time = parse_since(since)
    query = sa.select(model_change).order_by(model_change.c.id).limit(limit + 1)
    if since_id is not None:
        query = query.where(model_change.c.id > since_id)
    if since_time is not None:
        query = query.where(model_change.c.created_at > since_time)
    if providers:
        query = query.where(model_change.c.provider.in_(providers))
    if kinds:
        query = query.where(model_change.c.kind.in_(kinds))
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_since = str(rows[-1]["id"]) if rows else (str(since_id) if since_id is not None else since)
    return {"data": [change_view(row) for row in rows], "nextSince": next_since, "hasMore": more}
