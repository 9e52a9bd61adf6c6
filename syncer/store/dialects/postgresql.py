"""PostgreSQL: `COPY` for inserts, ids from the table's sequence, psycopg's own binding.

`COPY ... FROM STDIN` moves a batch in one stream, without a statement per row or the array
text the `unnest` form needed. SQLAlchemy does not see a `COPY`, so its
`after_cursor_execute` event is fired by hand (what observes writes, such as the crash
tests' injector, sees it like any statement). Aware datetimes, Decimals, booleans and bytes
are bound by psycopg as they are; changed rows are overwritten with each column bound as one
array. Secondary indexes may be built after a first load.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Dialect

name = "postgresql"
defers_indexes = True

# Accounts write concurrently (`parallel_accounts`).
# psycopg binds aware datetimes and Decimals as they are.
binds_python_values = True
# `fingerprint = ANY(%s)` binds a list of fingerprints as one array.
any_of: str | None = "= ANY(%s)"
max_writers: int | None = None


def placeholder() -> str:
    return "%s"


def account_rows(where: str) -> str:
    """`phone_numbers` and the condition `where` on its key's columns, as a query's
    `FROM ...` (see the SQLite dialect's)."""
    return f"phone_numbers WHERE {where}"


def time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: syncer stores only aware UTC times")
    return value


def money(value: Decimal | None) -> Decimal | None:
    return value


def insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        if connection.dispatch.after_cursor_execute:
            connection.dispatch.after_cursor_execute(
                connection, cursor, statement, rows, None, True
            )


def overwrite(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    updated: Sequence[str],
) -> None:
    """Overwrite `updated` in the rows of `table` with the rows' ids (the first column): one
    `UPDATE ... FROM unnest(...)`, each column bound as one array. (A multi-row `INSERT ...
    ON CONFLICT DO UPDATE` has thousands of placeholders, which psycopg parses in Python for
    every statement: about two and a half times the time.)"""
    if not rows:
        return
    types = _column_types(table, connection.dialect)
    arrays = ", ".join(f"%s::{types[column]}[]" for column in columns)
    assignments = ", ".join(f"{column} = given.{column}" for column in updated)
    connection.exec_driver_sql(
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS given({', '.join(columns)}) "
        f"WHERE {table}.id = given.id",
        tuple(list(values) for values in zip(*rows, strict=True)),
    )


@functools.cache
def _column_types(table: str, dialect: Dialect) -> dict[str, str]:
    """The SQL type of each column of `table`, as PostgreSQL spells it, without a length or
    precision: an explicit cast to `VARCHAR(16)` would cut a longer text short where the
    column's own assignment refuses it."""
    from syncer.store.models import Base

    return {
        column.name: column.type.compile(dialect=dialect).split("(")[0]
        for column in Base.metadata.tables[table].columns
    }


def close_open(connection: Connection, table: str, pairs: list[tuple[int, Any]]) -> None:
    """End the open row of `table` (versions, rate spans) of each number id at its time: one
    statement, the pairs bound as two arrays."""
    if pairs:
        connection.exec_driver_sql(
            f"UPDATE {table} SET valid_to = closing.at "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) AS closing(number_id, at) "
            f"WHERE {table}.number_id = closing.number_id AND {table}.valid_to IS NULL",
            ([number_id for number_id, _ in pairs], [at for _, at in pairs]),
        )


def reserve_ids(connection: Connection, table: str, count: int) -> list[int]:
    if count == 0:
        return []
    result = connection.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
        (count,),
    )
    return [row[0] for row in result]


def execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        connection.exec_driver_sql(sql, rows)


def after_load(connection: Connection, tables: Sequence[str]) -> None:
    """`ANALYZE` the loaded tables: until autovacuum gets to them, the planner would plan
    the next run's statements for the empty tables it last saw."""
    connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
