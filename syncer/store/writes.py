"""The run ledger: the rows that say what each run did (`sync_runs`) and what it could not
store (`rejected_records`).

The history tables themselves are written by `syncer.store.history`. Every function takes
an open `Connection` inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from syncer.store.models import RUN_FAILED, RUN_RUNNING, RUN_SUCCEEDED, RejectedRecord, SyncRun

rejected_records = cast(Table, RejectedRecord.__table__)
sync_runs = cast(Table, SyncRun.__table__)


def insert_rejections(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(rejected_records), rows)


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
