"""`syncer status`: is every account being synced? A report, and a health check by exit code.

For each configured account it reads `sync_runs` and `phone_numbers` (never a provider, so
no API key is needed; the queries are in `health`): the last success, the last failure and
its error, a run in progress, the numbers by status and the monthly-fee run-rate. An account
is healthy when its last success finished within its max age: `--max-age` when given, else
3 x its schedule's period (the interval, or for a crontab the gap between its next two fire
times).

A success is a run that ended `succeeded` with a complete listing; a failure is a run that
ended `failed`, or `succeeded` with an incomplete listing (then nothing could be released, so
`syncer sync` exits 1 for it too). All times are UTC. Money is summed exactly in SQL and
written by the reports' one rule (`money`): exact decimal strings in JSON and CSV, two
decimals in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from syncer.config import Config
from syncer.errors import UsageError
from syncer.provider_facts import MIRROR_STATUSES
from syncer.records import RELEASED
from syncer.reports.health import (
    FAILURE,
    RUNNING,
    SUCCESS,
    InventoryRow,
    RunSummary,
    inventory,
    latest_run,
)
from syncer.reports.money import money_string, table_money
from syncer.reports.periods import local_text
from syncer.reports.render import Column, TableView
from syncer.reports.sql import reading
from syncer.schedule import schedule_or_default
from syncer.timestamps import iso_z

MAX_AGE_PERIODS = 3


@dataclass(frozen=True)
class RunRate:
    """Monthly fees of the numbers an account holds (not released), in one currency."""

    currency: str
    numbers: int
    monthly_fee_total: Decimal


@dataclass
class AccountStatus:
    account: str
    provider: str
    schedule: str
    max_age: timedelta
    last_success: RunSummary | None = None
    last_failure: RunSummary | None = None
    running: RunSummary | None = None
    numbers: dict[str, int] = field(default_factory=dict)
    run_rate: list[RunRate] = field(default_factory=list)
    unpriced_numbers: int = 0
    problem: str | None = None

    @property
    def healthy(self) -> bool:
        return self.problem is None


@dataclass
class StatusReport:
    as_of: datetime
    accounts: list[AccountStatus]

    @property
    def healthy(self) -> bool:
        return all(account.healthy for account in self.accounts)

    def to_json(self) -> dict[str, Any]:
        """Money as exact decimal strings, times as ISO 8601 UTC."""
        return {
            "as_of": iso_z(self.as_of),
            "healthy": self.healthy,
            "accounts": [_account_json(s) for s in self.accounts],
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One row per account and run-rate currency (one row with an empty currency when
        the account holds no priced number); numbers by status in a column each."""
        header = [
            "account",
            "provider",
            "schedule",
            "max_age_seconds",
            "healthy",
            "problem",
            "last_success_at",
            "last_failure_at",
            "last_failure_error",
            "running_since",
            *(f"numbers_{status}" for status in MIRROR_STATUSES),
            "unpriced_numbers",
            "currency",
            "monthly_fee_total",
        ]
        rows = []
        for s in self.accounts:
            account = [
                s.account,
                s.provider,
                s.schedule,
                int(s.max_age.total_seconds()),
                s.healthy,
                s.problem,
                _iso(s.last_success.finished_at if s.last_success else None),
                _iso(s.last_failure.finished_at if s.last_failure else None),
                s.last_failure.error if s.last_failure else None,
                _iso(s.running.started_at if s.running else None),
                *(s.numbers.get(status, 0) for status in MIRROR_STATUSES),
                s.unpriced_numbers,
            ]
            rates: list[tuple[str | None, str | None]] = [
                (r.currency, money_string(r.monthly_fee_total)) for r in s.run_rate
            ]
            rows += [[*account, *rate] for rate in rates or [(None, None)]]
        return header, rows

    def tables(self) -> list[TableView]:
        """The accounts in one table, then a note per run in progress and per last error."""
        now = self.as_of
        notes = [
            f"{s.account}: a run is in progress since {local_text(s.running.started_at, UTC)}"
            for s in self.accounts
            if s.running is not None
        ]
        notes += [
            f"{s.account}: last failure (run {s.last_failure.run_id}): {s.last_failure.error}"
            for s in self.accounts
            if s.last_failure is not None and s.last_failure.error
        ]
        return [
            TableView(
                title=f"Sync health as of {local_text(now, UTC)} (UTC)",
                columns=[
                    Column("account"),
                    Column("provider"),
                    Column("schedule"),
                    Column("last success"),
                    Column("last failure"),
                    Column("numbers", wrap=True),
                    Column("run-rate"),
                    Column("health", wrap=True),
                ],
                rows=[
                    [
                        s.account,
                        s.provider,
                        s.schedule,
                        _when(s.last_success, now),
                        _when(s.last_failure, now),
                        " ".join(f"{k}={v}" for k, v in sorted(s.numbers.items())) or None,
                        _run_rate_cell(s),
                        "ok" if s.healthy else f"FAILING: {s.problem}",
                    ]
                    for s in self.accounts
                ],
                notes=notes,
                empty="(no accounts in the config)",
            )
        ]


def account_status(
    engine: Engine,
    config: Config,
    *,
    now: datetime,
    names: Sequence[str] = (),
    max_age: timedelta | None = None,
) -> StatusReport:
    """The status of the configured accounts (all, or those named) as of `now` (UTC)."""
    known = [account.name for account in config.accounts]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(
            f"no such account in the config: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    chosen = [a for a in config.accounts if not names or a.name in names]
    rows = inventory(engine)
    statuses = []
    with reading(engine) as connection:
        for account in chosen:
            schedule = schedule_or_default(account.parsed_schedule)
            key = (account.provider, account.name)
            status = AccountStatus(
                account=account.name,
                provider=account.provider,
                schedule=schedule.text,
                max_age=max_age or MAX_AGE_PERIODS * schedule.period(now),
                last_success=latest_run(connection, *key, SUCCESS),
                last_failure=latest_run(connection, *key, FAILURE),
                running=latest_run(connection, *key, RUNNING),
            )
            _add_inventory(status, [r for r in rows if (r.provider, r.account) == key])
            status.problem = _health_problem(status, now)
            statuses.append(status)
    return StatusReport(as_of=now, accounts=statuses)


def _add_inventory(status: AccountStatus, rows: list[InventoryRow]) -> None:
    rates: dict[str, RunRate] = {}
    for row in rows:
        status.numbers[row.status] = status.numbers.get(row.status, 0) + row.numbers
        if row.status == RELEASED:
            continue
        if row.currency is None or row.monthly_fee_total is None:
            status.unpriced_numbers += row.numbers
            continue
        before = rates.get(row.currency, RunRate(row.currency, 0, Decimal(0)))
        rates[row.currency] = RunRate(
            row.currency,
            before.numbers + row.numbers,
            before.monthly_fee_total + row.monthly_fee_total,
        )
    status.run_rate = [rates[currency] for currency in sorted(rates)]


def _health_problem(status: AccountStatus, now: datetime) -> str | None:
    success = status.last_success
    if success is None or success.finished_at is None:
        return "never synced successfully"
    age = now - success.finished_at
    if age > status.max_age:
        return (
            f"last success {format_age(age)} ago, longer than its max age "
            f"{format_age(status.max_age)}"
        )
    return None


def format_age(age: timedelta) -> str:
    """A short duration for people: 45s, 12m, 3h5m, 2d4h."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def _iso(at: datetime | None) -> str | None:
    return iso_z(at) if at is not None else None


def _run_json(run: RunSummary | None, *, with_error: bool = False) -> dict[str, Any] | None:
    if run is None:
        return None
    entry: dict[str, Any] = {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": iso_z(run.started_at),
        "finished_at": _iso(run.finished_at),
    }
    if with_error:
        entry["error"] = run.error
    return entry


def _account_json(s: AccountStatus) -> dict[str, Any]:
    return {
        "account": s.account,
        "provider": s.provider,
        "schedule": s.schedule,
        "max_age_seconds": int(s.max_age.total_seconds()),
        "healthy": s.healthy,
        "problem": s.problem,
        "last_success": _run_json(s.last_success),
        "last_failure": _run_json(s.last_failure, with_error=True),
        "running_since": _iso(s.running.started_at if s.running else None),
        "numbers": dict(sorted(s.numbers.items())),
        "run_rate": [
            {
                "currency": rate.currency,
                "numbers": rate.numbers,
                "monthly_fee_total": money_string(rate.monthly_fee_total),
            }
            for rate in s.run_rate
        ],
        "unpriced_numbers": s.unpriced_numbers,
    }


def _when(run: RunSummary | None, now: datetime) -> str:
    if run is None or run.finished_at is None:
        return "never"
    return f"{local_text(run.finished_at, UTC)} ({format_age(now - run.finished_at)} ago)"


def _run_rate_cell(status: AccountStatus) -> str | None:
    parts = [f"{r.currency} {table_money(r.monthly_fee_total)}" for r in status.run_rate]
    if status.unpriced_numbers:
        parts.append(f"+{status.unpriced_numbers} unpriced")
    return " ".join(parts) or None
