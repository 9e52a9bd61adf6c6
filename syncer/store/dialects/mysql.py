"""MariaDB/MySQL: PyMySQL's `executemany`, which sends one multi-row `INSERT`; the database
assigns ids (looked up by key afterwards). Indexes are never dropped: InnoDB needs those
behind its foreign keys, and refuses to drop them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

name = "mysql"
defers_indexes = False

# Accounts write concurrently (`parallel_accounts`).
binds_python_values = False
# No array binding: fingerprints are matched in Python.
any_of: str | None = None
max_writers: int | None = None


def placeholder() -> str:
    return "%s"


def account_rows(where: str) -> str:
    """`phone_numbers` and the condition `where` on its key's columns, as a query's
    `FROM ...` (see the SQLite dialect's)."""
    return f"phone_numbers WHERE {where}"


def time(value: datetime | None) -> datetime | None:
    """UTC without an offset, as `UTCDateTime` stores it in a `DATETIME(6)`."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: syncer stores only aware UTC times")
    return value.astimezone(UTC).replace(tzinfo=None)


def money(value: Decimal | None) -> Decimal | None:
    return value


def insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        marks = ", ".join(["%s"] * len(columns))
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )


def overwrite(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    updated: Sequence[str],
) -> None:
    """Overwrite `updated` in the rows of `table` with the rows' ids (the first column)."""
    if rows:
        marks = ", ".join(["%s"] * len(columns))
        assignments = ", ".join(f"{column} = VALUES({column})" for column in updated)
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
            f"ON DUPLICATE KEY UPDATE {assignments}",
            rows,
        )


def close_open(connection: Connection, table: str, pairs: list[tuple[int, Any]]) -> None:
    """End the open row of `table` (versions, rate spans) of each number id at its time."""
    if pairs:
        connection.exec_driver_sql(
            f"UPDATE {table} SET valid_to = %s WHERE number_id = %s AND valid_to IS NULL",
            [(at, number_id) for number_id, at in pairs],
        )


def reserve_ids(connection: Connection, table: str, count: int) -> None:
    return None


def execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        connection.exec_driver_sql(sql, rows)


def after_load(connection: Connection, tables: Sequence[str]) -> None:
    """Nothing: indexes are never deferred here (see the module doc)."""
