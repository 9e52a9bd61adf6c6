"""The hot statements bind values at the driver level; they must store exactly what
SQLAlchemy would have stored (so reads, comparisons and reports see no difference)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite

from syncer.decide import PageDiff
from syncer.records import TRACKED_FIELDS, NumberRecord
from syncer.store import writes
from syncer.store.dialects.sqlite import time as sqlite_utc_text
from syncer.store.engine import make_engine
from syncer.store.history import AccountHistory
from syncer.store.models import PhoneNumber, PhoneNumberVersion
from syncer.store.types import UTCDateTime
from tests.conftest import BACKENDS, database_for

SERVERS = [backend for backend in BACKENDS if backend != "sqlite"]
TIMES = [
    datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 1, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 10, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 10, 1, 23, 30, tzinfo=timezone(timedelta(hours=-8))),
    datetime(1999, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", TIMES, ids=str)
def test_sqlite_time_text_equals_sqlalchemys(moment: datetime) -> None:
    dialect = sqlite.dialect()
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert sqlite_utc_text(moment) == bind(moment)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(datetime(2026, 10, 1, 12, 0))


AWKWARD_TEXT = ['a "quoted" name', "back\\slash", "NULL", "", "{braces}, commas", "ünïcødé ☎", " "]


def test_awkward_text_and_exact_values_round_trip(engine: Engine) -> None:
    """Every value written by the bulk writes reads back exactly as given."""
    at = datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC)
    created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))
    records = [
        NumberRecord(
            external_id=f"pn_{n}",
            e164=f"+1415555010{n}",
            friendly_name=text,
            country="US",
            status="active",
            voice=n % 2 == 0,
            sms=True,
            monthly_fee=Decimal("1.150000") if n else None,
            setup_fee=Decimal("12345.123456"),
            currency="USD",
            assigned_to=text,
            provider_created_at=created,
        ).with_fingerprint(bytes([n]) * 16)
        for n, text in enumerate(AWKWARD_TEXT)
    ]
    with engine.begin() as connection:
        run_id = writes.start_run(connection, "ringyo", "acct", at)
        AccountHistory("ringyo", "acct", run_id).write(connection, [(PageDiff(new=records), at)])
    with engine.connect() as connection:
        stored = {row.external_id: row._mapping for row in connection.execute(select(PhoneNumber))}
        stored_versions = list(connection.execute(select(PhoneNumberVersion)))
    assert set(stored) == {record.external_id for record in records}
    for record in records:
        got = stored[record.external_id]
        for column in TRACKED_FIELDS:
            assert got[column] == getattr(record, column), (column, got[column])
        assert (got["first_seen_at"], got["last_seen_at"], got["released_at"]) == (at, at, None)
        assert (got["content_hash"], got["fingerprint"]) == (
            record.content_hash,
            record.fingerprint,
        )
    assert sorted(v.assigned_to for v in stored_versions) == sorted(AWKWARD_TEXT)
    assert {v.valid_from for v in stored_versions} == {at}


def test_sqlite_reads_an_accounts_rows_in_id_order(sqlite_url: str) -> None:
    """On SQLite an account's rows are found through the key index and then read by id, in
    table order, rather than looked up one by one in key order."""
    from syncer.store.dialects import sqlite as dialect

    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT fingerprint, last_seen_at FROM "
                + dialect.account_rows("provider = ? AND account = ?"),
                ("tryvox", "vox-main"),
            ).all()
    finally:
        engine.dispose()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "USING INTEGER PRIMARY KEY" in details
    assert "COVERING INDEX uq_phone_numbers_key" in details


def test_sqlite_writes_batches_of_any_size_with_a_few_statement_shapes(sqlite_url: str) -> None:
    """pysqlite keeps every distinct statement prepared (up to 128): batches of every size
    must not each bring a multi-row insert of their own length. Every row is written."""
    from sqlalchemy import event, func

    engine = make_engine(sqlite_url)
    shapes: set[str] = set()
    event.listen(engine, "before_cursor_execute", lambda *args: shapes.add(args[2]))
    at = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    sizes = [*range(1, 130), 300, 777]
    try:
        with engine.begin() as connection:
            run_id = writes.start_run(connection, "ringyo", "acct", at)
            history = AccountHistory("ringyo", "acct", run_id)
            numbers = iter(range(10**6))
            for size in sizes:
                batch = [
                    NumberRecord(
                        external_id=f"pn_{n}", e164=f"+1415{n:07d}", country="US", status="active"
                    )
                    for n in [next(numbers) for _ in range(size)]
                ]
                history.write(connection, [(PageDiff(new=batch), at)])
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(PhoneNumber)).scalar()
    finally:
        engine.dispose()
    assert stored == sum(sizes)
    inserts = {
        sql.split(" VALUES ")[0] + f" x{sql.count('(') - 1}" for sql in shapes if "VALUES" in sql
    }
    per_table = {table: {s for s in inserts if f"INTO {table} " in s} for table in
                 ("phone_numbers", "phone_number_versions", "status_changes")}  # fmt: skip
    assert all(1 <= len(found) <= 9 for found in per_table.values()), per_table


@pytest.mark.parametrize("backend", SERVERS)
def test_an_overwritten_value_too_long_for_its_column_is_refused_not_cut(
    backend: str, tmp_path: Path, sqlite_template: Path
) -> None:
    """The bulk overwrite binds each column as one array; a text longer than its column must
    fail the write (as an INSERT would), never be stored cut short. (SQLite does not enforce
    text lengths; syncer checks them before they reach any database.)"""
    engine = make_engine(database_for(backend, tmp_path, sqlite_template))
    try:
        _refuse_too_long(engine)
    finally:
        engine.dispose()


def _refuse_too_long(engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    from syncer.store.dialects import for_connection
    from syncer.store.history import NUMBER_COLUMNS, OVERWRITTEN_COLUMNS

    at = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    record = NumberRecord(external_id="pn_1", e164="+14155550100", country="US", status="active")
    with engine.begin() as connection:
        run_id = writes.start_run(connection, "ringyo", "acct", at)
        AccountHistory("ringyo", "acct", run_id).write(connection, [(PageDiff(new=[record]), at)])
    with engine.connect() as connection:
        row = connection.execute(select(PhoneNumber)).one()._mapping
    columns = ("id", *NUMBER_COLUMNS)
    values = {**row, "status": "x" * 17}  # the column holds 16
    dialect = for_connection(engine)
    bound = tuple(
        dialect.time(value) if isinstance(value, datetime) else value
        for value in (values[column] for column in columns)
    )
    if not dialect.binds_python_values:
        bound = tuple(dialect.money(v) if isinstance(v, Decimal) else v for v in bound)
    with pytest.raises(DBAPIError), engine.begin() as connection:
        dialect.overwrite(connection, "phone_numbers", columns, [bound], OVERWRITTEN_COLUMNS)
    with engine.connect() as connection:
        assert connection.execute(select(PhoneNumber.status)).scalar_one() == "active"
