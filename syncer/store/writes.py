"""The statements the sync engine writes with: batched, dialect-aware, one round trip each.

Every function takes an open `Connection` inside the caller's transaction and a whole batch
(a page of numbers), never one row at a time. The statements run for every page are written
for the driver directly (`exec_driver_sql`), which costs a fraction of SQLAlchemy's per-row
parameter handling:

- PostgreSQL gets each batch as one statement over arrays (`INSERT ... SELECT FROM unnest(...)`,
  `= ANY(...)`): one short statement per page instead of one per row (psycopg's
  `executemany` sends one INSERT per row).
- SQLite and MariaDB/MySQL insert through `executemany`, which their drivers run in C or
  rewrite to one multi-row `INSERT ... VALUES (...), (...)`.

The upsert is `ON CONFLICT ... DO UPDATE` on SQLite and PostgreSQL and `ON DUPLICATE KEY
UPDATE` on MariaDB/MySQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Numeric,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement

from syncer.records import TRACKED_FIELDS
from syncer.store.models import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    PhoneNumber,
    PhoneNumberVersion,
    RejectedRecord,
    StatusChange,
    SyncRun,
)
from syncer.store.types import UTCDateTime

numbers = cast(Table, PhoneNumber.__table__)
versions = cast(Table, PhoneNumberVersion.__table__)
status_changes = cast(Table, StatusChange.__table__)
rejected_records = cast(Table, RejectedRecord.__table__)
sync_runs = cast(Table, SyncRun.__table__)

# The natural key, most selective column first: a lookup of a page of keys probes the index
# per key even before the planner has statistics (a fresh table during the first sync).
KEY_COLUMNS = ("external_id", "account", "provider")
_NOT_UPDATED = {*KEY_COLUMNS, "first_seen_at"}


class StoredNumber(NamedTuple):
    """What the diff needs to know about a stored number.

    `stale`: its `last_seen_at` is at or before the `stale_before` of the lookup.
    """

    id: int
    external_id: str
    content_hash: str
    status: str
    stale: bool


def stored_numbers(
    connection: Connection,
    provider: str,
    account: str,
    keys: Sequence[str],
    stale_before: datetime | None = None,
) -> dict[str, StoredNumber]:
    """The stored numbers of the account among `keys`, by key (one query).

    The database compares `last_seen_at` with `stale_before`, so no timestamp is parsed;
    without `stale_before` no number is stale.
    """
    if not keys:
        return {}
    dialect = connection.dialect
    mark = _placeholder(dialect)
    stale: tuple[Any, ...] = ()
    stale_sql = "1 = 0"
    if stale_before is not None:
        stale = (_bind_value(dialect, numbers.c.last_seen_at, stale_before),)
        stale_sql = f"last_seen_at <= {mark}"
    select_list = f"id, external_id, content_hash, status, {stale_sql}"
    if dialect.name == "postgresql":
        sql = (
            f"SELECT {select_list} FROM phone_numbers "
            "WHERE external_id = ANY(%s) AND account = %s AND provider = %s"
        )
        params: tuple[Any, ...] = (*stale, list(keys), account, provider)
    else:
        sql = (
            f"SELECT {select_list} FROM phone_numbers WHERE external_id IN "
            f"({', '.join([mark] * len(keys))}) AND account = {mark} AND provider = {mark}"
        )
        params = (*stale, *keys, account, provider)
    rows = connection.exec_driver_sql(sql, params)
    return {row[1]: StoredNumber(row[0], row[1], row[2], row[3], bool(row[4])) for row in rows}


def ids_by_key(
    connection: Connection, provider: str, account: str, keys: Sequence[str]
) -> dict[str, int]:
    """The ids of the account's numbers among `keys`, by key (one query)."""
    if not keys:
        return {}
    mark = _placeholder(connection.dialect)
    sql = (
        f"SELECT external_id, id FROM phone_numbers WHERE external_id IN "
        f"({', '.join([mark] * len(keys))}) AND account = {mark} AND provider = {mark}"
    )
    rows = connection.exec_driver_sql(sql, (*keys, account, provider))
    return {row[0]: row[1] for row in rows}


def upsert_numbers(connection: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new numbers and overwrite changed ones (matched on provider, account, key).

    Every row must carry every column and all rows the same provider and account;
    `first_seen_at` is kept from the first insert. Returns the rows' ids by `external_id`.
    """
    if not rows:
        return {}
    dialect = connection.dialect
    columns = list(rows[0])
    if dialect.name in ("postgresql", "sqlite"):
        # Both spell the upsert the same way; only the rows' form differs (arrays, executemany).
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in _NOT_UPDATED)
        head = f"INSERT INTO phone_numbers ({', '.join(columns)}) "
        if dialect.name == "postgresql":
            sql = (
                f"{head}SELECT * FROM {_pg_unnest(dialect, numbers, columns)} "
                f"ON CONFLICT ON CONSTRAINT uq_phone_numbers_key DO UPDATE SET {updates} "
                "RETURNING external_id, id"
            )
            result = connection.exec_driver_sql(sql, _pg_arrays(numbers, rows, columns))
            return {row[0]: row[1] for row in result}
        sql = (
            f"{head}VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}"
        )
        connection.exec_driver_sql(sql, _driver_rows(dialect, numbers, columns, rows))
    elif dialect.name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        upsert = mysql_insert(numbers)
        updated = {c: upsert.inserted[c] for c in columns if c not in _NOT_UPDATED}
        connection.execute(upsert.on_duplicate_key_update(updated), rows)
    else:
        raise NotImplementedError(f"syncer does not support the {dialect.name} dialect")
    return ids_by_key(
        connection, rows[0]["provider"], rows[0]["account"], [r["external_id"] for r in rows]
    )


def close_versions(connection: Connection, number_ids: Sequence[int], at: datetime) -> None:
    """End the current version of each number at `at`."""
    if not number_ids:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "UPDATE phone_number_versions SET valid_to = %s "
            "WHERE number_id = ANY(%s) AND valid_to IS NULL",
            (at, list(number_ids)),
        )
        return
    connection.execute(
        update(versions)
        .where(
            versions.c.number_id.in_(bindparam("ids", expanding=True)),
            versions.c.valid_to.is_(None),
        )
        .values(valid_to=bindparam("at")),
        {"ids": list(number_ids), "at": at},
    )


def insert_versions(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Open versions: each row holds `number_id`, the tracked columns, `valid_from`, run id."""
    _insert(connection, versions, rows)


def insert_status_changes(connection: Connection, rows: list[dict[str, Any]]) -> None:
    _insert(connection, status_changes, rows)


def insert_rejections(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(rejected_records), rows)


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all carry the same columns: one statement over arrays on PostgreSQL."""
    if not rows:
        return
    dialect = connection.dialect
    columns = list(rows[0])
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) "
    if dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"{head}SELECT * FROM {_pg_unnest(dialect, table, columns)}",
            _pg_arrays(table, rows, columns),
        )
    elif dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"{head}VALUES ({', '.join('?' * len(columns))})",
            _driver_rows(dialect, table, columns, rows),
        )
    else:
        connection.execute(insert(table), rows)


def touch_last_seen(connection: Connection, number_ids: Sequence[int], at: datetime) -> None:
    if not number_ids:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "UPDATE phone_numbers SET last_seen_at = %s WHERE id = ANY(%s)",
            (at, list(number_ids)),
        )
        return
    connection.execute(
        update(numbers)
        .where(numbers.c.id.in_(bindparam("ids", expanding=True)))
        .values(last_seen_at=bindparam("at")),
        {"ids": list(number_ids), "at": at},
    )


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _bind_value(dialect: Dialect, column: ColumnElement[Any], value: Any) -> Any:
    """`value` as SQLAlchemy would bind it for `column` (e.g. a UTC time as SQLite's text)."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


def _driver_rows(
    dialect: Dialect, table: Table, columns: list[str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them: each value bound as SQLAlchemy would bind it.

    Only the columns whose values the driver would not store the same way are converted,
    column by column (a page's rows are many; its converted columns few).
    """
    pick = itemgetter(*columns)
    values = [list(pick(row)) for row in rows] if len(columns) > 1 else [[pick(r)] for r in rows]
    for index, convert in _conversions(dialect, table, tuple(columns)):
        for row_values in values:
            value = row_values[index]
            if value is not None:
                row_values[index] = convert(value)
    return [tuple(row_values) for row_values in values]


@lru_cache(maxsize=64)
def _conversions(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(column index, converter) for the columns whose values need converting: SQLAlchemy's
    own bind processor, except for UTC times on SQLite (a fast path giving the same text) and
    booleans (every driver binds Python's bool as the value SQLAlchemy would)."""
    conversions: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
            conversions.append((index, sqlite_utc_text))
        elif not isinstance(column_type, Boolean):
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                conversions.append((index, processor))
    return tuple(conversions)


def sqlite_utc_text(value: datetime) -> str:
    """An aware time as `UTCDateTime` stores it on SQLite: UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
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


def _pg_unnest(dialect: Dialect, table: Table, columns: list[str]) -> str:
    """`unnest(%(a)s::type[], ...)`: the rows of a batch as one array parameter per column."""
    arrays = (f"%({c})s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
    return f"unnest({', '.join(arrays)})"


def _pg_arrays(table: Table, rows: list[dict[str, Any]], columns: list[str]) -> dict[str, str]:
    """The batch by column, each column as the text of a PostgreSQL array.

    Written here rather than by psycopg's list adapter, which costs three times as much
    (it looks up a dumper for every element); the text goes through the column's cast.
    """
    arrays = {}
    for name in columns:
        encode = _pg_element_encoder(table.c[name].type)
        values = [row[name] for row in rows]
        arrays[name] = "{" + ",".join(["NULL" if v is None else encode(v) for v in values]) + "}"
    return arrays


def _pg_element_encoder(column_type: Any) -> Callable[[Any], str]:
    if isinstance(column_type, UTCDateTime):
        return _pg_time
    if isinstance(column_type, Boolean):
        return _pg_bool
    if isinstance(column_type, Numeric | Integer):
        return _pg_number
    return _pg_text


def _pg_text(value: Any) -> str:
    """A quoted array element: backslashes and double quotes escaped, nothing else needed."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_bool(value: Any) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"expected a bool, got {value!r}")
    return "t" if value else "f"


def _pg_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"expected an int or Decimal, got {value!r}")
    return str(value)


def _pg_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: syncer stores only aware UTC times")
    return '"' + value.isoformat() + '"'


class LiveNumber(NamedTuple):
    id: int
    external_id: str
    e164: str
    confirmed: bool  # first seen by the time `confirmed_by` of the lookup (always, without it)


def live_numbers(
    connection: Connection,
    provider: str,
    account: str,
    scope: dict[str, str],
    batch: int = 5000,
    *,
    confirmed_by: datetime | None = None,
) -> Iterator[LiveNumber]:
    """The account's numbers not yet released (within `scope`), streamed by id.

    Read at the driver level: after a complete listing every live number of the account
    passes through here, so SQLAlchemy's per-row result handling would cost a page's worth
    of work per 5,000 numbers.
    """
    mark = _placeholder(connection.dialect)
    in_scope = "".join(f" AND {numbers.c[column].name} = {mark}" for column in scope)
    confirmed_sql, confirmed = _first_seen_by(connection, confirmed_by)
    sql = (
        f"SELECT id, external_id, e164, {confirmed_sql} FROM phone_numbers "
        f"WHERE provider = {mark} AND account = {mark} AND released_at IS NULL{in_scope} "
        f"AND id > {mark} ORDER BY id LIMIT {int(batch)}"
    )
    last_id = 0
    while True:
        params = (*confirmed, provider, account, *scope.values(), last_id)
        rows = [
            LiveNumber(row[0], row[1], row[2], bool(row[3]))
            for row in connection.exec_driver_sql(sql, params)
        ]
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def count_live(
    connection: Connection,
    provider: str,
    account: str,
    scope: dict[str, str],
    confirmed_by: datetime | None = None,
) -> int:
    """How many of the account's numbers are live (within `scope`) and were first seen by
    `confirmed_by` (every live one without it)."""
    mark = _placeholder(connection.dialect)
    in_scope = "".join(f" AND {numbers.c[column].name} = {mark}" for column in scope)
    confirmed_sql, confirmed = _first_seen_by(connection, confirmed_by)
    sql = (
        f"SELECT COUNT(*) FROM phone_numbers WHERE provider = {mark} AND account = {mark} "
        f"AND released_at IS NULL{in_scope} AND {confirmed_sql}"
    )
    params = (provider, account, *scope.values(), *confirmed)
    return int(connection.exec_driver_sql(sql, params).scalar_one())


def _first_seen_by(connection: Connection, moment: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """SQL that is true for a number first seen by `moment` (always true without one)."""
    if moment is None:
        return "1 = 1", ()
    value = _bind_value(connection.dialect, numbers.c.first_seen_at, moment)
    return f"first_seen_at <= {_placeholder(connection.dialect)}", (value,)


def last_success_finished(connection: Connection, provider: str, account: str) -> datetime | None:
    """When the account's last run that ended `succeeded` finished, or None if none did."""
    query = select(sync_runs.c.finished_at).where(
        sync_runs.c.provider == provider,
        sync_runs.c.account == account,
        sync_runs.c.status == RUN_SUCCEEDED,
        sync_runs.c.finished_at.is_not(None),
    )
    finished: datetime | None = connection.execute(
        query.order_by(sync_runs.c.id.desc()).limit(1)
    ).scalar()
    return finished


def full_rows(connection: Connection, number_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Every column of the given numbers that are still live (not released)."""
    query = select(numbers).where(
        numbers.c.id.in_(bindparam("ids", expanding=True)), numbers.c.released_at.is_(None)
    )
    return [dict(row._mapping) for row in connection.execute(query, {"ids": list(number_ids)})]


def version_row(
    number_id: int, values: dict[str, Any], at: datetime, run_id: int
) -> dict[str, Any]:
    """A version row holding `values`' tracked columns, valid from `at`."""
    row = {name: values[name] for name in TRACKED_FIELDS}
    row.update(number_id=number_id, valid_from=at, valid_to=None, sync_run_id=run_id)
    return row


# -- sync_runs ----------------------------------------------------------------------------


def start_run(connection: Connection, provider: str, account: str, at: datetime) -> int:
    result = connection.execute(
        insert(sync_runs).values(
            provider=provider,
            account=account,
            started_at=at,
            status=RUN_RUNNING,
            pages=0,
            seen=0,
            created=0,
            updated=0,
            unchanged=0,
            released=0,
            rejected=0,
            listing_complete=False,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def update_run(connection: Connection, run_id: int, **values: Any) -> None:
    connection.execute(update(sync_runs).where(sync_runs.c.id == run_id).values(**values))


def close_stale_runs(connection: Connection, provider: str, account: str, at: datetime) -> int:
    """Mark runs left `running` by a process that died as failed; returns how many.

    Only called while holding the account's writer lock, so no live process owns them.
    """
    result = connection.execute(
        update(sync_runs)
        .where(
            sync_runs.c.provider == provider,
            sync_runs.c.account == account,
            sync_runs.c.status == RUN_RUNNING,
        )
        .values(
            status=RUN_FAILED,
            finished_at=at,
            error="interrupted: the process running this sync stopped before it finished",
        )
    )
    return result.rowcount or 0
