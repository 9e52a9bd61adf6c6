"""What a month's figures rest on: the sync runs, the time the mirror did not cover, and the
records the providers sent that could not be stored.

The mirror knows what an account held only from its *successful* runs (status `succeeded`
with a complete listing): a change at the provider is seen, and dated, at the next one.
So for each account, the month is **not covered**

- before the account's first successful run (syncer does not reconstruct earlier time);
- between two successful runs further apart than the account's schedule allows: more than
  `MAX_AGE_PERIODS` (3) x its schedule's period, the age at which `syncer status` calls the
  account unhealthy. The whole gap counts, since anything in it is dated at its end;
- after its last successful run, when the month (or, for the current month, the time up to
  now) goes on longer than that.

The schedule is the account's `schedule` in the config; an account without one (or when no
config is given, or the config no longer lists it) is held to syncer's default, every hour,
so 3 hours. A day of the month (in the statement's time zone) is not covered when any part
of it lies in such a gap for some account.

Runs are counted per account and outcome; rejected records per account, record and reason
(a record rejected by every run of the month is one line, with how many times).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, select

from syncer.config import Config
from syncer.outcomes import RunStatus
from syncer.reports.health import SUCCESS
from syncer.reports.periods import Period, days
from syncer.reports.status import MAX_AGE_PERIODS
from syncer.schedule import DEFAULT_SCHEDULE, Schedule, parse_schedule
from syncer.store.models import RejectedRecord, SyncRun
from syncer.timestamps import iso_z

sync_runs = cast(Table, SyncRun.__table__)
rejected_records = cast(Table, RejectedRecord.__table__)

REJECTIONS_LISTED = 50
Account = tuple[str, str]  # provider, account


BEFORE_FIRST_SYNC = "before_first_sync"  # the account had no successful run yet
SYNC_GAP = "gap"  # two successful runs further apart than the schedule allows
SINCE_LAST_SYNC = "since_last_sync"  # no successful run since, for longer than allowed


@dataclass(frozen=True)
class Gap:
    """A span of the month (`start`, `end`: clipped to it) the mirror did not cover for one
    account, of one `kind`, between the successful runs that bound it (None: there is none)."""

    start: datetime
    end: datetime
    kind: str
    last_success: datetime | None
    next_success: datetime | None


@dataclass
class RunCounts:
    """An account's runs started in the month, by outcome, and the runs its figures rest on."""

    complete: int = 0  # succeeded with a complete listing
    incomplete: int = 0  # succeeded, but the listing could not be proved complete
    failed: int = 0
    running: int = 0  # still going, or left by a process that died
    first_id: int | None = None
    last_id: int | None = None
    previous_success_id: int | None = None  # the last successful run before the month
    previous_success_at: datetime | None = None

    @property
    def total(self) -> int:
        return self.complete + self.incomplete + self.failed + self.running


@dataclass
class AccountCoverage:
    provider: str
    account: str
    schedule: str
    schedule_source: str  # "config", or "default" (not in the config, or no schedule there)
    allowed_gap: timedelta
    gaps: list[Gap] = field(default_factory=list)
    uncovered_days: list[str] = field(default_factory=list)  # ISO dates
    runs: RunCounts = field(default_factory=RunCounts)


@dataclass(frozen=True)
class Rejection:
    provider: str
    account: str
    external_id: str | None
    reason: str
    times: int
    last_at: datetime


@dataclass
class Coverage:
    period: Period
    until: datetime  # the end of the month, or now for the current month
    days_in_month: int
    accounts: list[AccountCoverage]
    uncovered_days: list[str]  # ISO dates not covered for at least one account
    rejections: list[Rejection]  # the first REJECTIONS_LISTED, most frequent first
    rejected_records: int  # distinct (account, record, reason) in the month
    rejections_total: int  # rows in rejected_records, every run counted

    @property
    def complete(self) -> bool:
        return not self.uncovered_days


def month_coverage(
    connection: Connection, period: Period, now: datetime, zone: tzinfo, config: Config | None
) -> Coverage:
    """Coverage, runs and rejections of `period` (see the module doc), as known at `now`."""
    until = min(period.end, now)
    schedules: dict[Account, Schedule | None] = {
        (str(account.provider), account.name): account.parsed_schedule
        for account in (config.accounts if config else [])
    }
    accounts = sorted(set(schedules) | _accounts_with_runs(connection, until))
    successes = _successes(connection, period.start, until)
    runs = _run_counts(connection, period.start, until)
    coverages = []
    for key in accounts:
        schedule = schedules.get(key)
        coverage = AccountCoverage(
            provider=key[0],
            account=key[1],
            schedule=(schedule or parse_schedule(DEFAULT_SCHEDULE)).text,
            schedule_source="config" if schedule else "default",
            allowed_gap=_allowed(schedule, period.start),
            runs=runs.get(key, RunCounts()),
        )
        seen = successes.get(key, _Successes())
        if seen.before is not None:
            coverage.runs.previous_success_id, coverage.runs.previous_success_at = seen.before
        finished = ([seen.before[1]] if seen.before else []) + seen.inside
        month = Period(period.label, period.start, until)
        coverage.gaps = _gaps(finished, seen.after, month, schedule)
        coverage.uncovered_days = _days(coverage.gaps, zone)
        coverages.append(coverage)
    uncovered = sorted({day for coverage in coverages for day in coverage.uncovered_days})
    rejections, distinct, total = _rejections(connection, period.start, until)
    return Coverage(
        period=period,
        until=until,
        days_in_month=len(days(period.start, period.end, zone)),
        accounts=coverages,
        uncovered_days=uncovered,
        rejections=rejections,
        rejected_records=distinct,
        rejections_total=total,
    )


def _allowed(schedule: Schedule | None, at: datetime) -> timedelta:
    period: timedelta = (schedule or parse_schedule(DEFAULT_SCHEDULE)).period(at)
    return MAX_AGE_PERIODS * period


def _gaps(
    successes: Sequence[datetime],
    next_after: datetime | None,
    month: Period,
    schedule: Schedule | None,
) -> list[Gap]:
    """The spans of `month` not covered, from the instants successful runs finished (the
    last one before the month first, if any) and the first one after the month (if any)."""
    gaps: list[Gap] = []
    bounds: list[datetime | None] = [None, *successes, next_after]
    for last, upcoming in pairwise(bounds):
        if last is None:
            kind = BEFORE_FIRST_SYNC
        elif upcoming is None:
            if month.end - last <= _allowed(schedule, last):
                continue
            kind = SINCE_LAST_SYNC
        elif upcoming - last > _allowed(schedule, last):
            kind = SYNC_GAP
        else:
            continue
        start = month.start if last is None else max(last, month.start)
        end = month.end if upcoming is None else min(upcoming, month.end)
        if start < end:
            gaps.append(Gap(start, end, kind, last, upcoming))
    return gaps


def _days(gaps: Sequence[Gap], zone: tzinfo) -> list[str]:
    found: set[str] = set()
    for gap in gaps:
        found.update(day.label for day in days(gap.start, gap.end, zone))
    return sorted(found)


def _accounts_with_runs(connection: Connection, until: datetime) -> set[Account]:
    query = (
        select(sync_runs.c.provider, sync_runs.c.account)
        .where(sync_runs.c.started_at < until)
        .distinct()
    )
    return {(row.provider, row.account) for row in connection.execute(query)}


@dataclass
class _Successes:
    """An account's successful runs around a month: the last one before it (id, finished
    at), the instants those inside it finished, and when the first one after it finished."""

    before: tuple[int, datetime] | None = None
    inside: list[datetime] = field(default_factory=list)
    after: datetime | None = None


def _successes(
    connection: Connection, start: datetime, until: datetime
) -> dict[Account, _Successes]:
    c = sync_runs.c
    found: dict[Account, _Successes] = defaultdict(_Successes)
    last_before = (
        select(c.provider, c.account, func.max(c.finished_at).label("at"))
        .where(SUCCESS, c.finished_at < start)
        .group_by(c.provider, c.account)
        .subquery("last_before")
    )
    query = (
        select(c.provider, c.account, func.max(c.id).label("id"), last_before.c.at)
        .join(
            last_before,
            and_(
                last_before.c.provider == c.provider,
                last_before.c.account == c.account,
                last_before.c.at == c.finished_at,
            ),
        )
        .where(SUCCESS)
        .group_by(c.provider, c.account, last_before.c.at)
    )
    for row in connection.execute(query):
        found[row.provider, row.account].before = (int(row.id), row.at)
    inside = (
        select(c.provider, c.account, c.finished_at)
        .where(SUCCESS, c.finished_at >= start, c.finished_at < until)
        .order_by(c.finished_at)
    )
    for run in connection.execute(inside):
        found[run.provider, run.account].inside.append(run.finished_at)
    first_after = (
        select(c.provider, c.account, func.min(c.finished_at).label("at"))
        .where(SUCCESS, c.finished_at >= until)
        .group_by(c.provider, c.account)
    )
    for edge in connection.execute(first_after):
        found[edge.provider, edge.account].after = edge.at
    return found


def _run_counts(
    connection: Connection, start: datetime, until: datetime
) -> dict[Account, RunCounts]:
    """Runs started in `[start, until)` per account and outcome, with the first and last id."""
    c = sync_runs.c
    query = (
        select(
            c.provider,
            c.account,
            c.status,
            c.listing_complete,
            func.count().label("runs"),
            func.min(c.id).label("first_id"),
            func.max(c.id).label("last_id"),
        )
        .where(c.started_at >= start, c.started_at < until)
        .group_by(c.provider, c.account, c.status, c.listing_complete)
    )
    counts: dict[Account, RunCounts] = defaultdict(RunCounts)
    for row in connection.execute(query):
        runs = counts[row.provider, row.account]
        if row.status == RunStatus.SUCCEEDED:
            if row.listing_complete:
                runs.complete += int(row.runs)
            else:
                runs.incomplete += int(row.runs)
        elif row.status == RunStatus.FAILED:
            runs.failed += int(row.runs)
        elif row.status == RunStatus.RUNNING:
            runs.running += int(row.runs)
        runs.first_id = min(filter(None, (runs.first_id, int(row.first_id))))
        runs.last_id = max(filter(None, (runs.last_id, int(row.last_id))))
    return counts


def _rejections(
    connection: Connection, start: datetime, until: datetime
) -> tuple[list[Rejection], int, int]:
    """The records rejected in `[start, until)`, once per account, record and reason (the
    most frequent first, at most `REJECTIONS_LISTED`), how many such, and how many rows."""
    r = rejected_records.c
    group = [r.provider, r.account, r.external_id, r.reason]
    query = (
        select(*group, func.count().label("times"), func.max(r.rejected_at).label("last_at"))
        .where(r.rejected_at >= start, r.rejected_at < until)
        .group_by(*group)
    )
    rows = [
        Rejection(
            row.provider, row.account, row.external_id, row.reason, int(row.times), row.last_at
        )
        for row in connection.execute(query)
    ]
    rows.sort(key=lambda x: (-x.times, x.account, x.external_id or "", x.reason))
    return rows[:REJECTIONS_LISTED], len(rows), sum(row.times for row in rows)


def _instant(at: datetime | None) -> str | None:
    return iso_z(at) if at is not None else None


def coverage_json(coverage: Coverage) -> dict[str, Any]:
    return {
        "complete": coverage.complete,
        "days_in_month": coverage.days_in_month,
        "uncovered_days": coverage.uncovered_days,
        "accounts": [
            {
                "provider": account.provider,
                "account": account.account,
                "schedule": account.schedule,
                "schedule_source": account.schedule_source,
                "allowed_gap_seconds": int(account.allowed_gap.total_seconds()),
                "uncovered_days": account.uncovered_days,
                "gaps": [
                    {
                        "start": iso_z(gap.start),
                        "end": iso_z(gap.end),
                        "kind": gap.kind,
                        "last_success": _instant(gap.last_success),
                        "next_success": _instant(gap.next_success),
                    }
                    for gap in account.gaps
                ],
            }
            for account in coverage.accounts
        ],
    }


def rejected_json(coverage: Coverage) -> dict[str, Any]:
    return {
        "records": coverage.rejected_records,
        "rejections": coverage.rejections_total,
        "list_limit": REJECTIONS_LISTED,
        "listed": [
            {
                "provider": rejection.provider,
                "account": rejection.account,
                "external_id": rejection.external_id,
                "reason": rejection.reason,
                "times": rejection.times,
                "last_rejected_at": iso_z(rejection.last_at),
            }
            for rejection in coverage.rejections
        ],
    }


def runs_json(coverage: Coverage) -> list[dict[str, Any]]:
    return [
        {
            "provider": account.provider,
            "account": account.account,
            "runs": account.runs.total,
            "complete": account.runs.complete,
            "incomplete": account.runs.incomplete,
            "failed": account.runs.failed,
            "running": account.runs.running,
            "first_run_id": account.runs.first_id,
            "last_run_id": account.runs.last_id,
            "previous_success_run_id": account.runs.previous_success_id,
            "previous_success_at": _instant(account.runs.previous_success_at),
        }
        for account in coverage.accounts
    ]
