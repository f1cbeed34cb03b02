"""Tables as JSON values and back: the database half of `modelsync db backup --format json` and `db restore`.

Rules:
- Generic over `tables.metadata`: every table, every column, in dependency order (`metadata.sorted_tables`), so a
  table added by a later migration is dumped and restored with no change here.
- A value becomes JSON by its column's type and comes back by the same type: money and other decimals as exact
  strings, timestamps as ISO 8601 UTC, dates as ISO dates, binary as base64, JSON columns as JSON; integers,
  booleans and text as themselves. A JSON column's SQL NULL is JSON null, and is restored as SQL NULL (modelsync
  never stores a JSON `null` document, so the two are not told apart).
- JSON columns are copied as the JSON text the database holds.
- Rows are read in primary-key order in chunks (keyset pagination inside one read transaction: one consistent
  state, never a whole table in memory) and inserted in chunks with `executemany`.
- Explicit ids are inserted as they were; on PostgreSQL each id sequence is then moved past the largest id, so the
  next insert does not collide.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from modelsync.db.tables import metadata
from modelsync.db.types import Money, UTCDateTime
from modelsync.records import money_text

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]
CHUNK_ROWS = 1000

# JSON columns written back with None as SQL NULL (the default would store the JSON document `null`).
_JSON_NULL_AS_SQL_NULL = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


# Most specific first: the first class a column's type is an instance of names it (Float is a Numeric).
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (Money, "money"),
    (UTCDateTime, "timestamp"),
    (sa.JSON, "json"),
    (sa.LargeBinary, "binary"),
    (sa.Boolean, "boolean"),
    (sa.Integer, "integer"),
    (sa.Float, "float"),
    (sa.Numeric, "decimal"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Time, "time"),
    (sa.String, "text"),
)


def type_name(column: sa.Column[Any]) -> str:
    """How the dump names a column's type (informational: decoding goes by this modelsync's own schema)."""
    return next((name for kind, name in _TYPE_NAMES if isinstance(column.type, kind)), "other")


def _optional(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return None if value is None else function(value)

    return convert


def _same(value: Any) -> Any:
    return value


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value.astimezone(UTC)


_CODECS: dict[str, tuple[Encode, Decode]] = {
    "money": (_optional(money_text), _optional(Decimal)),
    "decimal": (_optional(str), _optional(Decimal)),
    "timestamp": (_optional(_utc_iso), _optional(_aware)),
    "datetime": (_optional(datetime.isoformat), _optional(datetime.fromisoformat)),
    "date": (_optional(date.isoformat), _optional(date.fromisoformat)),
    "time": (_optional(time.isoformat), _optional(time.fromisoformat)),
    "binary": (_optional(lambda raw: base64.b64encode(raw).decode("ascii")), _optional(base64.b64decode)),
}


def _fragment(text: str | None) -> orjson.Fragment | None:
    return None if text is None else orjson.Fragment(text)


def codec(column: sa.Column[Any]) -> tuple[Encode, Decode]:
    """The functions that turn one column's values into JSON values and back."""
    return _CODECS.get(type_name(column), (_same, _same))


def tables() -> list[sa.Table]:
    """Every table modelsync has, parents before children."""
    return list(metadata.sorted_tables)


def describe_tables() -> list[dict[str, Any]]:
    """The tables and their columns, as a dump's header lists them."""
    return [
        {"name": str(table.name), "columns": [{"name": str(c.name), "type": type_name(c)} for c in table.columns]}
        for table in tables()
    ]


def read_chunks(conn: Connection, table: sa.Table, size: int = CHUNK_ROWS) -> Iterator[list[list[Any]]]:
    """The table's rows as lists of JSON values, `size` at a time, in primary-key order."""
    # JSON columns are read as their stored text and embedded in the dump as it is (orjson.Fragment): parsing every
    # document only to serialize it again was half the time of a dump. The database wrote that text as JSON
    # (PostgreSQL checks it; SQLite holds what SQLAlchemy serialized), and a restore parses every line anyway.
    encoders = [_fragment if isinstance(column.type, sa.JSON) else codec(column)[0] for column in table.columns]
    selected = [sa.cast(column, sa.Text) if isinstance(column.type, sa.JSON) else column for column in table.columns]
    key = list(table.primary_key.columns)
    positions = [list(table.columns).index(column) for column in key]
    query = sa.select(*selected).order_by(*key).limit(size)
    last: tuple[Any, ...] | None = None
    while True:
        page = query if last is None else query.where(sa.tuple_(*key) > sa.tuple_(*last))
        rows = conn.execute(page).all()
        if not rows:
            return
        yield [[encode(value) for encode, value in zip(encoders, row, strict=True)] for row in rows]
        if len(rows) < size:
            return
        last = tuple(rows[-1][index] for index in positions)


class ChunkWriter:
    """Inserts one table's dumped rows (lists of JSON values in its column order) as they come."""

    def __init__(self, table: sa.Table, columns: list[str]) -> None:
        known = {column.name: column for column in table.columns}
        unknown = [name for name in columns if name not in known]
        if unknown or len(columns) != len(known):
            raise ValueError(f"table {table.name} has columns {', '.join(known)}; the dump has {', '.join(columns)}")
        self.table = table
        self.columns = columns
        self._decoders = [codec(known[name])[1] for name in columns]
        types = {name: _JSON_NULL_AS_SQL_NULL if isinstance(known[name].type, sa.JSON) else known[name].type
                 for name in columns}  # fmt: skip
        target = sa.table(table.name, *(sa.column(name, types[name]) for name in columns))
        self._insert = sa.insert(target)

    def write(self, conn: Connection, rows: list[list[Any]]) -> int:
        """Insert the rows; return how many."""
        records = []
        width = len(self.columns)
        for row in rows:
            if not isinstance(row, list) or len(row) != width:
                raise ValueError(f"a row of {self.table.name} does not have its {width} columns")
            records.append(
                {name: decode(value) for name, decode, value in zip(self.columns, self._decoders, row, strict=True)}
            )
        if records:
            conn.execute(self._insert, records)
        return len(records)


def reset_sequences(conn: Connection) -> None:
    """Move every id sequence past the largest stored id (PostgreSQL; SQLite takes max(rowid) + 1 by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            if not (isinstance(column.type, sa.Integer) and column.autoincrement is True):
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": f'"{table.name}"', "column": column.name},
            ).scalar_one_or_none()
            if sequence is None:
                continue
            conn.execute(
                sa.text(
                    f'SELECT setval(:sequence, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, '
                    "false)"
                ),
                {"sequence": sequence},
            )


def row_counts(conn: Connection) -> dict[str, int]:
    """How many rows each table holds."""
    return {
        table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()) for table in tables()
    }
