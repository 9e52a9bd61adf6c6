"""SQLite: rows bound as SQLAlchemy binds them, inserted many rows per statement.

pysqlite releases the GIL around every `sqlite3_step`, and `executemany` steps once per row:
while another thread (the page fetcher) runs Python, each row then waits to get the GIL back.
One `INSERT ... VALUES (...), (...), ...` of up to 128 rows steps once for all of them.
Ids are assigned up front (`MAX(id) + 1 ...`), safe because a write transaction holds
SQLite's only write lock. Secondary indexes may be built after a first load.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from typing import Any

from sqlalchemy import Connection

name = "sqlite"
defers_indexes = True
_MAX_VARIABLES = 32_766  # SQLite's limit on parameters per statement since 3.32
_ROWS_PER_STATEMENT = 128

# One write lock for the whole file: accounts are synced one at a time.
binds_python_values = False
# No array binding: fingerprints are matched in Python.
any_of: str | None = None
max_writers: int | None = 1


def placeholder() -> str:
    return "?"


def account_rows(where: str) -> str:
    """`phone_numbers` and the condition `where` on its key's columns (provider, account),
    as a query's `FROM ...`: the ids found in the key index first, then their rows in id
    order. Through the index alone, SQLite reads the rows in key order, a page of the table
    for nearly every row (an account's 80,000 rows: about 2.5 times the time)."""
    return f"phone_numbers WHERE id IN (SELECT id FROM phone_numbers WHERE {where})"


def time(value: datetime | None) -> str | None:
    """An aware time as `UTCDateTime` stores it on SQLite: UTC `YYYY-MM-DD HH:MM:SS.ffffff`."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: syncer stores only aware UTC times")
        value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the fastest way
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def money(value: Decimal | None) -> float | None:
    """What SQLAlchemy binds for `NUMERIC` on SQLite (the column keeps a number)."""
    return None if value is None else float(value)


def insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    _insert_many(connection, table, columns, rows, "")


def overwrite(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    updated: Sequence[str],
) -> None:
    """Overwrite `updated` in the rows of `table` with the rows' ids (the first column)."""
    assignments = ", ".join(f"{column} = excluded.{column}" for column in updated)
    _insert_many(connection, table, columns, rows, f" ON CONFLICT (id) DO UPDATE SET {assignments}")


def close_open(connection: Connection, table: str, pairs: list[tuple[int, Any]]) -> None:
    """End the open row of `table` (versions, rate spans) of each number id at its time: one
    statement per time."""
    by_time: dict[Any, list[int]] = {}
    for number_id, at in pairs:
        by_time.setdefault(at, []).append(number_id)
    for at, ids in by_time.items():
        for start, size in _statements(len(ids), _ROWS_PER_STATEMENT):
            connection.exec_driver_sql(
                f"UPDATE {table} SET valid_to = ? WHERE number_id IN "
                f"({', '.join('?' * size)}) AND valid_to IS NULL",
                (at, *ids[start : start + size]),
            )


def _insert_many(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    suffix: str,
) -> None:
    width = len(columns)
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    one = "(" + ", ".join("?" * width) + ")"
    most = max(1, min(_ROWS_PER_STATEMENT, _MAX_VARIABLES // width))
    for start, size in _statements(len(rows), most):
        connection.exec_driver_sql(
            head + ", ".join([one] * size) + suffix,
            tuple(chain.from_iterable(rows[start : start + size])),
        )


def _statements(count: int, most: int) -> Iterator[tuple[int, int]]:
    """(start, size) of the statements that take `count` rows, at most `most` at a time: as
    many as allowed, then the rest in powers of two, so that a few statement shapes serve
    every batch. (pysqlite keeps each distinct statement prepared, up to 128 of them; a
    wide multi-row insert holds a few hundred KB prepared, and one shape per remainder held
    some 30 MB in a 5% change of 200,000 numbers.)"""
    start = 0
    while start < count:
        left = count - start
        size = most if left >= most else 1 << (left.bit_length() - 1)
        yield start, size
        start += size


def reserve_ids(connection: Connection, table: str, count: int) -> list[int]:
    start = connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").scalar()
    first = int(start or 0) + 1
    return list(range(first, first + count))


def execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        connection.exec_driver_sql(sql, rows)


def after_load(connection: Connection, tables: Sequence[str]) -> None:
    """Nothing: SQLite's planner uses the indexes without statistics."""
