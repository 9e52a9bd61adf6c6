"""The statements the sync engine writes with: batched, dialect-aware, one round trip each.

Every function takes an open `Connection` inside the caller's transaction and a whole batch
(a page of numbers), never one row at a time. Inserts go through `executemany`, which each
driver turns into multi-row statements (psycopg pipelines, PyMySQL rewrites to one
`INSERT ... VALUES (...), (...)`); the upsert is `ON CONFLICT ... DO UPDATE` on SQLite and
PostgreSQL and `ON DUPLICATE KEY UPDATE` on MariaDB/MySQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Insert, Table, bindparam, insert, select, update

from syncer.records import TRACKED_FIELDS
from syncer.store.models import (
    RUN_FAILED,
    RUN_RUNNING,
    PhoneNumber,
    PhoneNumberVersion,
    RejectedRecord,
    StatusChange,
    SyncRun,
)

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
    """What the diff needs to know about a stored number."""

    id: int
    external_id: str
    content_hash: str
    status: str
    e164: str
    last_seen_at: datetime


def stored_numbers(
    connection: Connection, provider: str, account: str, keys: Sequence[str]
) -> dict[str, StoredNumber]:
    """The stored numbers of the account among `keys`, by key (one query)."""
    if not keys:
        return {}
    query = select(
        numbers.c.id,
        numbers.c.external_id,
        numbers.c.content_hash,
        numbers.c.status,
        numbers.c.e164,
        numbers.c.last_seen_at,
    ).where(
        numbers.c.provider == provider,
        numbers.c.account == account,
        numbers.c.external_id.in_(bindparam("keys", expanding=True)),
    )
    rows = connection.execute(query, {"keys": list(keys)})
    return {row.external_id: StoredNumber(*row) for row in rows}


def ids_by_key(
    connection: Connection, provider: str, account: str, keys: Sequence[str]
) -> dict[str, int]:
    if not keys:
        return {}
    query = select(numbers.c.external_id, numbers.c.id).where(
        numbers.c.provider == provider,
        numbers.c.account == account,
        numbers.c.external_id.in_(bindparam("keys", expanding=True)),
    )
    return {row.external_id: row.id for row in connection.execute(query, {"keys": list(keys)})}


def upsert_numbers(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new numbers and overwrite changed ones (matched on provider, account, key).

    Every row must carry every column; `first_seen_at` is kept from the first insert.
    """
    if not rows:
        return
    connection.execute(_upsert_statement(connection.dialect.name, list(rows[0])), rows)


def _upsert_statement(dialect: str, columns: list[str]) -> Insert:
    updated = [name for name in columns if name not in _NOT_UPDATED]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(numbers)
        return pg.on_conflict_do_update(
            constraint="uq_phone_numbers_key", set_={c: pg.excluded[c] for c in updated}
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(numbers)
        return lite.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS), set_={c: lite.excluded[c] for c in updated}
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        my = mysql_insert(numbers)
        return my.on_duplicate_key_update({c: my.inserted[c] for c in updated})
    raise NotImplementedError(f"syncer does not support the {dialect} dialect")


def close_versions(connection: Connection, number_ids: Sequence[int], at: datetime) -> None:
    """End the current version of each number at `at`."""
    if not number_ids:
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
    if rows:
        connection.execute(insert(versions), rows)


def insert_status_changes(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(status_changes), rows)


def insert_rejections(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(rejected_records), rows)


def touch_last_seen(connection: Connection, number_ids: Sequence[int], at: datetime) -> None:
    if not number_ids:
        return
    connection.execute(
        update(numbers)
        .where(numbers.c.id.in_(bindparam("ids", expanding=True)))
        .values(last_seen_at=bindparam("at")),
        {"ids": list(number_ids), "at": at},
    )


class LiveNumber(NamedTuple):
    id: int
    external_id: str
    e164: str


def live_numbers(
    connection: Connection, provider: str, account: str, scope: dict[str, str], batch: int = 5000
) -> Iterator[LiveNumber]:
    """The account's numbers not yet released (within `scope`), streamed by id."""
    last_id = 0
    while True:
        query = (
            select(numbers.c.id, numbers.c.external_id, numbers.c.e164)
            .where(
                numbers.c.provider == provider,
                numbers.c.account == account,
                numbers.c.released_at.is_(None),
                numbers.c.id > last_id,
                *(numbers.c[column] == value for column, value in scope.items()),
            )
            .order_by(numbers.c.id)
            .limit(batch)
        )
        rows = [LiveNumber(*row) for row in connection.execute(query)]
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


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
