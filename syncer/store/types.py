"""Column types that behave the same on SQLite, PostgreSQL and MariaDB.

- `UTCDateTime`: aware UTC datetimes in and out. PostgreSQL stores `timestamptz`; MariaDB a
  `DATETIME(6)` (microseconds kept) and SQLite text, both holding UTC without an offset.
- `Money`: `NUMERIC(18, 6)`, returned as `Decimal`. Six decimal places hold every fee the
  providers quote; reports round only when rendering.
- `Fingerprint`: 16 bytes (`BLOB`, `bytea`, `VARBINARY(16)`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, LargeBinary, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from syncer.records import MONEY_SCALE

MONEY_PRECISION = 18


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql  # imported only where it is needed

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: syncer stores only aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name != "postgresql":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Money() -> Numeric[Any]:
    return Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)


def Payload() -> JSON:
    """A JSON document. The engine's serializer writes Decimals as exact JSON numbers."""
    return JSON(none_as_null=True)


FINGERPRINT_BYTES = 16


def Fingerprint() -> TypeEngine[bytes]:
    """A 16-byte digest: `BLOB` on SQLite, `bytea` on PostgreSQL, `VARBINARY(16)` on MariaDB."""
    from sqlalchemy.dialects.mysql import VARBINARY

    return LargeBinary().with_variant(VARBINARY(FINGERPRINT_BYTES), "mysql", "mariadb")
