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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from modelsync.changes import CHANGE_KINDS
from modelsync.db.tables import ai_model, model_change, provider_state
from modelsync.db.types import UTCDateTime
from modelsync.errors import UsageError
from modelsync.fieldspec import (
    ALL_OF,
    AT_LEAST,
    AT_MOST,
    EQUALS,
    FIELDS,
    IDENTITY,
    LEGACY_PARAMS,
    LEGACY_SORTS,
    FieldType,
    filter_param,
)
from modelsync.records import money, money_text, parse_datetime, utc_now
from modelsync.services import ledger
from modelsync.services.views import change_view, model_view

__all__ = ["CHANGE_KINDS", "FEED_KINDS", "FILTERS", "SORTS", "Condition", "ModelFilters", "list_changes", "list_page"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_MAX_BIGINT = 2**63 - 1
_PRICE_LIMIT = 10**16  # the NUMERIC(28, 12) price columns hold less


def _storable(text: str) -> bool:
    """Whether both backends can bind the text (PostgreSQL refuses NUL; neither driver encodes lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """One query parameter that narrows the model list: the field it reads and how it compares."""

    param: str
    column: str
    op: str
    type: FieldType
    choices: tuple[str, ...] = ()
    description: str = ""


# Every filter, by query parameter name, derived from the field catalogue (plus the provider, which every model has).
FILTERS: Final[dict[str, FilterSpec]] = {
    "provider": FilterSpec("provider", "provider", EQUALS, FieldType.TEXT, description="Only these providers."),
    **{
        filter_param(field, op): FilterSpec(
            filter_param(field, op), field.name, op, field.type, field.choices, field.description
        )
        for field in FIELDS
        for op in field.filters
    },
}
_SORT_FIELDS: Final[dict[str, tuple[str, FieldType, bool]]] = {
    **{
        field.json: (field.column, FieldType.TIMESTAMP if field.python_type is datetime else FieldType.TEXT, False)
        for field in IDENTITY
        if field.sortable
    },
    **{field.json: (field.name, field.type, field.nullable) for field in FIELDS if field.sortable},
}
SORTS: Final[tuple[str, ...]] = tuple(_SORT_FIELDS)


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter with its values (several values of an equality filter match any; of an all-of filter, all)."""

    param: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ModelFilters:
    """What a model list is narrowed to: conditions by query parameter name, and a text search."""

    conditions: tuple[Condition, ...] = ()
    q: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any], q: str | None = None) -> ModelFilters:
        """Build filters from query parameters (a list, a scalar or None each); older names count as the new ones."""
        merged: dict[str, tuple[Any, ...]] = {}
        for name, value in params.items():
            if value is None or value == []:
                continue
            param = LEGACY_PARAMS.get(name, name)
            if param not in FILTERS:
                raise UsageError(f"cannot filter by {name!r}; use one of {', '.join(FILTERS)}.")
            values = tuple(value) if isinstance(value, list | tuple) else (value,)
            if param in merged and merged[param] != values:
                raise UsageError(f"{name} and {param} say different things; send only {param}.")
            merged[param] = values
        conditions = tuple(Condition(param, merged[param]) for param in FILTERS if param in merged)
        return cls(conditions, q)

    def validate(self) -> ModelFilters:
        """Refuse values no model can have, with the values that exist."""
        for condition in self.conditions:
            spec = FILTERS[condition.param]
            for value in condition.values:
                if spec.choices and value not in spec.choices:
                    raise UsageError(f"unknown {condition.param} {value!r}; use one of {', '.join(spec.choices)}.")
                if spec.type is FieldType.TEXT and (not isinstance(value, str) or not _storable(value)):
                    raise UsageError(f"{condition.param} must be text without NUL characters or lone surrogates.")
                named = spec.op == ALL_OF or spec.param == "provider"
                if named and (not isinstance(value, str) or not _NAME.fullmatch(value)):
                    raise UsageError(
                        f"{condition.param} {value!r} is not a valid name (lower-case letters, digits, _ . -)."
                    )
        return self

    def digest(self) -> str:
        """A short stable digest, stored in cursors to tie them to the query that made them."""
        data = [[c.param, [str(value) for value in c.values]] for c in self.conditions] + [self.q]
        return hashlib.blake2b(json.dumps(data).encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class _SortKey:
    expr: Callable[[str], ColumnElement[Any]]
    nullable: bool
    encode: Callable[[Any], Any]
    bind: Callable[[Any, str], ColumnElement[Any]]


def _price_expr(column: sa.Column[Any]) -> Callable[[str], ColumnElement[Any]]:
    return lambda dialect: sa.cast(column, sa.Float) if dialect == "sqlite" else column


def _price_bind(value: Any, dialect: str) -> ColumnElement[Any]:
    try:
        amount = money(value) if isinstance(value, str) else None
    except ArithmeticError:  # decimal's InvalidOperation for exponents such as 1e400
        raise ValueError("price") from None
    if amount is None or abs(amount) >= _PRICE_LIMIT:
        raise ValueError("price")
    if dialect == "sqlite":
        return sa.cast(sa.literal(value, sa.String), sa.Float)
    return sa.literal(money(value), sa.Numeric(28, 12))


def _int_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > _MAX_BIGINT:
        raise ValueError("int")
    return sa.literal(value, sa.BigInteger)


def _str_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    if not isinstance(value, str) or not _storable(value):
        raise ValueError("str")
    return sa.literal(value, sa.String)


def _time_bind(value: Any, _dialect: str) -> ColumnElement[Any]:
    try:
        moment = parse_datetime(value) if isinstance(value, str) and _storable(value) else None
    except OverflowError:  # a time that exists only in another time zone (0001-01-01T00:00+14:00)
        raise ValueError("time") from None
    if moment is None:
        raise ValueError("time")
    return sa.literal(moment, UTCDateTime())


def _column(column: sa.Column[Any]) -> Callable[[str], ColumnElement[Any]]:
    return lambda _dialect: column


def _same(value: Any) -> Any:
    return value


def _iso(value: datetime) -> str:
    return value.isoformat()


def _sort_key(column_name: str, kind: FieldType, nullable: bool) -> _SortKey | None:
    if column_name == "provider":
        return None  # the tie-breaker itself
    column = ai_model.c[column_name]
    if kind is FieldType.MONEY:
        return _SortKey(_price_expr(column), nullable, money_text, _price_bind)
    if kind is FieldType.COUNT:
        return _SortKey(_column(column), nullable, _same, _int_bind)
    if kind is FieldType.TIMESTAMP:
        return _SortKey(_column(column), nullable, _iso, _time_bind)
    return _SortKey(_column(column), nullable, _same, _str_bind)


_SORT_KEYS: Final[dict[str, _SortKey | None]] = {
    name: _sort_key(column, kind, nullable) for name, (column, kind, nullable) in _SORT_FIELDS.items()
}


# What the model view shows: the row minus `extra` (raw upstream fields, often large), `manual` and the fingerprint,
# which would only cost JSON decoding on every page.
_VIEW_COLUMNS: Final = tuple(
    column for column in ai_model.columns if column.name not in ("extra", "manual", "content_hash")
)


def parse_sort(sort: str) -> tuple[str, bool]:
    """Split `name` or `-name` into the sort name and whether it is descending (older names still accepted)."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    name = LEGACY_SORTS.get(name, name)
    if name not in _SORT_KEYS:
        raise UsageError(f"cannot sort by {name!r}; use one of {', '.join(SORTS)} (prefix - for descending).")
    return name, descending


def _condition_clause(condition: Condition, dialect: str) -> ColumnElement[bool]:
    spec = FILTERS[condition.param]
    column = ai_model.c[spec.column]
    values = condition.values
    if spec.op == EQUALS:
        if spec.type is FieldType.BOOL:
            return sa.and_(*(column.is_(bool(value)) for value in values))
        return column.in_(values)
    if spec.op == AT_MOST:
        bound = values[-1]
        if spec.type is FieldType.MONEY:
            return _price_expr(column)(dialect) <= _price_bind(money_text(money(bound)), dialect)
        return column <= bound
    if spec.op == AT_LEAST:
        bound = values[-1]
        if spec.type is FieldType.MONEY:
            return _price_expr(column)(dialect) >= _price_bind(money_text(money(bound)), dialect)
        return column >= bound
    clauses: list[ColumnElement[bool]] = []
    for value in values:
        if spec.type is FieldType.FLAGS:
            if dialect == "postgresql":
                clauses.append(sa.type_coerce(column, JSONB).contains({value: True}))
            else:
                clauses.append(sa.func.json_extract(column, f'$."{value}"') == 1)
        elif dialect == "postgresql":
            clauses.append(sa.type_coerce(column, JSONB).contains([value]))
        else:
            each = sa.func.json_each(column).table_valued("value")
            clauses.append(sa.exists(sa.select(1).select_from(each).where(each.c.value == value)))
    return sa.and_(*clauses)


def _filter_clauses(filters: ModelFilters, dialect: str) -> list[ColumnElement[bool]]:
    c = ai_model.c
    clauses = [_condition_clause(condition, dialect) for condition in filters.conditions]
    if filters.q:
        # SQLite's LIKE already ignores ASCII case (as its lower() only folds ASCII), so it needs no lower() per row,
        # which makes a search over every row about a third cheaper; PostgreSQL needs ILIKE.
        if dialect == "sqlite":
            search = [column.contains(filters.q, autoescape=True) for column in (c.model_id, c.display_name)]
        else:
            search = [column.icontains(filters.q, autoescape=True) for column in (c.model_id, c.display_name)]
        clauses.append(sa.or_(*search))
    return clauses


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, digest: str) -> dict[str, Any]:
    invalid = UsageError("the cursor is not valid; start again without `cursor` and follow `nextCursor`.")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), str) and _storable(data[key]) for key in "pm"):
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
    sort = f"-{name}" if descending else name
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
            value = last[_SORT_FIELDS[name][0]]
            data["n"] = value is None
            data["v"] = None if value is None else sort_key.encode(value)
        next_cursor = _encode_cursor(data)
    return [model_view(row, verified.get(row["provider"])) for row in rows], next_cursor


def parse_since(since: str | None) -> tuple[int | None, datetime | None]:
    """Read `since` as a change id (digits), an ISO 8601 time (UTC when no offset is given), or `ID@TIME`."""
    if since is None or since == "":
        return None, None
    head, at, tail = since.partition("@")
    if at and head.isascii() and head.isdigit():
        # A cursor past scheduled-price events reported after the last change: the id, and the time they reach.
        since_id, _ = parse_since(head)
        _, since_time = parse_since(tail)
        if since_time is not None:
            return since_id, since_time
    if since.isascii() and since.isdigit():
        if int(since) > _MAX_BIGINT:
            raise UsageError(f"since={since!r} is larger than any change id; pass the `nextSince` of the last reply.")
        return int(since), None
    try:
        if not _storable(since):
            raise ValueError(since)
        return None, parse_datetime(since)
    except (ValueError, OverflowError):
        raise UsageError(
            f"since={since!r} is neither a change id nor an ISO 8601 time; pass the `nextSince` of the last "
            "response, or a time such as 2025-01-31T00:00:00Z."
        ) from None


FEED_KINDS: Final[tuple[str, ...]] = (*CHANGE_KINDS, *ledger.FEED_KINDS)


def _merged(rows: list[dict[str, Any]], events: list[tuple[datetime, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Stored changes in id order with the derived events placed by time (an event after changes of its time)."""
    merged: list[dict[str, Any]] = []
    pending = list(events)
    for row in rows:
        while pending and pending[0][0] < row["created_at"]:
            merged.append(pending.pop(0)[1])
        merged.append(change_view(row))
    return merged + [event for _, event in pending]


def list_changes(
    engine: Engine,
    since: str | None,
    limit: int = 100,
    providers: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the changes after `since` (a change id or a time), oldest first, and where to continue.

    Scheduled prices are reported too, derived from the ledger (services/ledger.feed_events): those first seen or
    taking effect between the page's start and its end (the last change's time, or `now` on the last page).
    """
    for kind in kinds:
        if kind not in FEED_KINDS:
            raise UsageError(f"unknown change kind {kind!r}; use one of {', '.join(FEED_KINDS)}.")
    now = now or utc_now()
    since_id, since_time = parse_since(since)
    stored_kinds = tuple(kind for kind in kinds if kind in CHANGE_KINDS)
    query = sa.select(model_change).order_by(model_change.c.id).limit(limit + 1)
    if since_id is not None:
        query = query.where(model_change.c.id > since_id)
    if since_time is not None and since_id is None:
        query = query.where(model_change.c.created_at > since_time)
    if providers:
        query = query.where(model_change.c.provider.in_(providers))
    if kinds:
        query = query.where(model_change.c.kind.in_(stored_kinds))
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()] if not kinds or stored_kinds else []
        more = len(rows) > limit
        rows = rows[:limit]
        start = since_time
        if since_id is not None and since_time is None:
            # The events already reported are those up to the time of the change the cursor names.
            start = conn.execute(
                sa.select(model_change.c.created_at).where(model_change.c.id <= since_id)
                .order_by(model_change.c.id.desc()).limit(1)
            ).scalar()  # fmt: skip
        end = rows[-1]["created_at"] if more else now
        derived = not kinds or len(stored_kinds) < len(kinds)
        events = ledger.feed_events(conn, start, end, providers, kinds) if derived else []
        data = _merged(rows, events)
        last_id = rows[-1]["id"] if rows else since_id
        next_since = str(last_id) if rows else since
        # How far events were reported: this page's last one, or what an `ID@TIME` cursor already said.
        cursor_time = since_time if since_id is not None else None
        reached = [moment for moment in (events[-1][0] if events else None, cursor_time) if moment is not None]
        if reached and (not rows or max(reached) > rows[-1]["created_at"]):
            # Past the last change: the cursor also says how far, so no event is reported twice.
            if last_id is None:
                last_id = conn.execute(sa.select(sa.func.max(model_change.c.id))).scalar() or 0
            moment = max(reached).astimezone(UTC)
            next_since = f"{last_id}@{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    return {"data": data, "nextSince": next_since, "hasMore": more}
