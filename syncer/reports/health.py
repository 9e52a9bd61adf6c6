"""What the mirror says about each account's health: its runs and the numbers it holds.

The queries behind `syncer status` (the report in `status`), and what the daemon reads of the
shared database: when an account's latest run started (to leave an account another replica
has just synced), and the gauges its metrics show (`mirror_gauges`). They only read: on SQLite
they take no write lock (`sql.reading`), so they never wait for a running sync.

A *success* is a run that ended `succeeded` with a complete listing; a *failure* one that
ended `failed`, or `succeeded` without a complete listing (see `syncer.outcomes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, not_, or_, select

from syncer.outcomes import RunStatus
from syncer.reports.sql import reading
from syncer.secrets import scrub
from syncer.store.models import PhoneNumber, SyncRun

SUCCESS = and_(SyncRun.status == RunStatus.SUCCEEDED, SyncRun.listing_complete)
FAILURE = or_(
    SyncRun.status == RunStatus.FAILED,
    and_(SyncRun.status == RunStatus.SUCCEEDED, not_(SyncRun.listing_complete)),
)
RUNNING = SyncRun.status == RunStatus.RUNNING


@dataclass(frozen=True)
class InventoryRow:
    """Numbers of one account in one status and currency, with their monthly fees summed
    (None when none of them has a fee; currency None for numbers without a fee schedule)."""

    provider: str
    account: str
    status: str
    currency: str | None
    numbers: int
    monthly_fee_total: Decimal | None


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class MirrorGauges:
    """What the daemon's metrics show of the shared database (the same on every replica)."""

    inventory: list[InventoryRow]
    last_successes: dict[tuple[str, str], datetime]


def inventory(engine: Engine) -> list[InventoryRow]:
    """Every account's numbers by status and currency, in one GROUP BY."""
    query = (
        select(
            PhoneNumber.provider,
            PhoneNumber.account,
            PhoneNumber.status,
            PhoneNumber.currency,
            func.count(),
            func.sum(PhoneNumber.monthly_fee),
        )
        .group_by(
            PhoneNumber.provider, PhoneNumber.account, PhoneNumber.status, PhoneNumber.currency
        )
        .order_by(PhoneNumber.provider, PhoneNumber.account, PhoneNumber.status)
    )
    with reading(engine) as connection:
        return [InventoryRow(*row) for row in connection.execute(query)]


def last_successes(engine: Engine) -> dict[tuple[str, str], datetime]:
    """When each (provider, account)'s last successful run finished."""
    query = (
        select(SyncRun.provider, SyncRun.account, func.max(SyncRun.finished_at))
        .where(SUCCESS)
        .group_by(SyncRun.provider, SyncRun.account)
    )
    with reading(engine) as connection:
        return {(p, a): at for p, a, at in connection.execute(query) if at is not None}


def mirror_gauges(engine: Engine) -> MirrorGauges:
    """The inventory and the last successes (two GROUP BYs), for the daemon's metrics."""
    return MirrorGauges(inventory(engine), last_successes(engine))


def last_run_started(engine: Engine, provider: str, account: str) -> datetime | None:
    """When the account's latest run started (any status, any process), or None."""
    query = select(func.max(SyncRun.started_at)).where(
        SyncRun.provider == provider, SyncRun.account == account
    )
    with reading(engine) as connection:
        started: datetime | None = connection.execute(query).scalar()
        return started


def latest_run(
    connection: Connection, provider: str, account: str, which: Any
) -> RunSummary | None:
    """The account's latest run matching `which` (`SUCCESS`, `FAILURE`, `RUNNING`), or None."""
    row = connection.execute(
        select(SyncRun.id, SyncRun.status, SyncRun.started_at, SyncRun.finished_at, SyncRun.error)
        .where(SyncRun.provider == provider, SyncRun.account == account, which)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    run_id, status, started_at, finished_at, error = row
    return RunSummary(run_id, status, started_at, finished_at, scrub(error) if error else None)
