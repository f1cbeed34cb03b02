"""Column types that behave the same on SQLite and PostgreSQL.

Rules: money is exact (TEXT on SQLite, NUMERIC on PostgreSQL) and always read back as a canonical Decimal;
timestamps are stored as UTC and always read back timezone-aware; JSON is JSONB on PostgreSQL.
The bulk write path in `repo.py` bypasses these processors for speed and must encode values the same way
(`records.canonical_row`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from modelsync.records import money, money_text, utc_text


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamp: TIMESTAMPTZ on PostgreSQL, sortable ISO text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Pick the storage type for the dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return utc_text(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(sa.TypeDecorator[Decimal]):
    """USD amount: NUMERIC(28, 12) on PostgreSQL, exact decimal text on SQLite."""

    impl = sa.Numeric(28, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Pick the storage type for the dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(28, 12, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Store the canonical value."""
        amount = money(value)
        if amount is None:
            return None
        return money_text(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Read back a canonical Decimal (no trailing zeros from NUMERIC scale)."""
        return money(value)


# JSON documents: JSONB on PostgreSQL so that tags and capabilities can be filtered with operators.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Surrogate keys: BIGINT identity on PostgreSQL, INTEGER (rowid alias) on SQLite.
PrimaryKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
