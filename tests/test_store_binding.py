"""The hot statements bind values at the driver level; they must store exactly what
SQLAlchemy would have stored (so reads, comparisons and reports see no difference)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite

from syncer.store import writes
from syncer.store.models import PhoneNumber, PhoneNumberVersion
from syncer.store.types import UTCDateTime
from syncer.store.writes import sqlite_utc_text

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
    """Every value written by the batched statements reads back exactly as given."""
    at = datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC)
    created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))
    rows = [
        {
            "provider": "ringyo",
            "account": "acct",
            "external_id": f"pn_{n}",
            "e164": f"+1415555010{n}",
            "friendly_name": text,
            "country": "US",
            "region": None,
            "number_type": None,
            "status": "active",
            "voice": n % 2 == 0,
            "sms": True,
            "mms": False,
            "monthly_fee": Decimal("1.150000") if n else None,
            "setup_fee": Decimal("12345.123456"),
            "currency": "USD",
            "assigned_to": text,
            "provider_created_at": created,
            "provider_updated_at": None,
            "first_seen_at": at,
            "last_seen_at": at,
            "released_at": None,
            "content_hash": f"h{n}",
        }
        for n, text in enumerate(AWKWARD_TEXT)
    ]
    with engine.begin() as connection:
        run_id = writes.start_run(connection, "ringyo", "acct", at)
        ids = writes.upsert_numbers(connection, rows)
        writes.insert_versions(
            connection, [writes.version_row(ids[r["external_id"]], r, at, run_id) for r in rows]
        )
    assert set(ids) == {row["external_id"] for row in rows}
    with engine.connect() as connection:
        stored = {row.external_id: row._mapping for row in connection.execute(select(PhoneNumber))}
        stored_versions = list(connection.execute(select(PhoneNumberVersion)))
    for row in rows:
        got = stored[row["external_id"]]
        for column, value in row.items():
            assert got[column] == value, (column, got[column], value)
    assert sorted(v.assigned_to for v in stored_versions) == sorted(AWKWARD_TEXT)
    assert {v.valid_from for v in stored_versions} == {at}
