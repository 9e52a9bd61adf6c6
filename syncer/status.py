"""`syncer status`: is every account being synced? A report, and a health check by exit code.

For each configured account it reads `sync_runs` and `phone_numbers` (never a provider, so
no API key is needed): the last success, the last failure and its error, a run in progress,
the numbers by status and the monthly-fee run-rate. An account is healthy when its last
success finished within its max age: `--max-age` when given, else 3 x its schedule's period
(the interval, or for a crontab the gap between its next two fire times).

A success is a run that ended `succeeded` with a complete listing; a failure is a run that
ended `failed`, or `succeeded` with an incomplete listing (then nothing could be released, so
`syncer sync` exits 1 for it too). All times are UTC. Money is summed exactly in SQL and
rendered as a decimal string rounded half-up to cents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, not_, or_, select

from syncer.config import AccountConfig, Config
from syncer.errors import UsageError
from syncer.records import RELEASED
from syncer.schedule import schedule_or_default
from syncer.secrets import scrub
from syncer.store.models import RUN_FAILED, RUN_RUNNING, RUN_SUCCEEDED, PhoneNumber, SyncRun

MAX_AGE_PERIODS = 3
CENT = Decimal("0.01")


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


# -- queries (also used by the daemon and its metrics) -------------------------------------


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
    with _reading(engine) as connection:
        return [InventoryRow(*row) for row in connection.execute(query)]


_SUCCESS = and_(SyncRun.status == RUN_SUCCEEDED, SyncRun.listing_complete)
_FAILURE = or_(
    SyncRun.status == RUN_FAILED,
    and_(SyncRun.status == RUN_SUCCEEDED, not_(SyncRun.listing_complete)),
)


def last_successes(engine: Engine) -> dict[tuple[str, str], datetime]:
    """When each (provider, account)'s last successful run finished."""
    query = (
        select(SyncRun.provider, SyncRun.account, func.max(SyncRun.finished_at))
        .where(_SUCCESS)
        .group_by(SyncRun.provider, SyncRun.account)
    )
    with _reading(engine) as connection:
        return {(p, a): at for p, a, at in connection.execute(query) if at is not None}


def last_run_started(engine: Engine, provider: str, account: str) -> datetime | None:
    """When the account's latest run started (any status, any process), or None."""
    query = select(func.max(SyncRun.started_at)).where(
        SyncRun.provider == provider, SyncRun.account == account
    )
    with _reading(engine) as connection:
        started: datetime | None = connection.execute(query).scalar()
        return started


def _latest_run(connection: Connection, account: AccountConfig, *where: Any) -> RunSummary | None:
    row = connection.execute(
        select(SyncRun.id, SyncRun.status, SyncRun.started_at, SyncRun.finished_at, SyncRun.error)
        .where(SyncRun.provider == account.provider, SyncRun.account == account.name, *where)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    summary = RunSummary(*row)
    return replace(summary, error=scrub(summary.error)) if summary.error else summary


def _reading(engine: Engine) -> Connection:
    # A read-only look: on SQLite, do not take the write lock that syncer's writers take.
    return engine.connect().execution_options(sqlite_begin="DEFERRED")


# -- the report ----------------------------------------------------------------------------


def collect_status(
    config: Config, names: Sequence[str] = (), *, max_age: timedelta | None = None
) -> StatusReport:
    """`syncer status`: the report for the configured database, as of now."""
    from syncer.store.engine import check_schema, make_engine

    engine = make_engine(config.database_url, pool_size=1)
    try:
        check_schema(engine)
        return account_status(engine, config, now=datetime.now(UTC), names=names, max_age=max_age)
    finally:
        engine.dispose()


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
    with _reading(engine) as connection:
        for account in chosen:
            schedule = schedule_or_default(account.parsed_schedule)
            status = AccountStatus(
                account=account.name,
                provider=account.provider,
                schedule=schedule.text,
                max_age=max_age or MAX_AGE_PERIODS * schedule.period(now),
                last_success=_latest_run(connection, account, _SUCCESS),
                last_failure=_latest_run(connection, account, _FAILURE),
                running=_latest_run(connection, account, SyncRun.status == RUN_RUNNING),
            )
            _add_inventory(
                status,
                [r for r in rows if (r.provider, r.account) == (account.provider, account.name)],
            )
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


# -- rendering -----------------------------------------------------------------------------


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


def money(amount: Decimal) -> str:
    """Two decimals, rounded half-up (rendering only; stored values stay exact)."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def _run_json(run: RunSummary | None, *, with_error: bool = False) -> dict[str, Any] | None:
    if run is None:
        return None
    entry: dict[str, Any] = {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }
    if with_error:
        entry["error"] = run.error
    return entry


def report_json(report: StatusReport) -> str:
    """The report as JSON: money as decimal strings, times as ISO 8601 UTC."""
    accounts = [
        {
            "account": s.account,
            "provider": s.provider,
            "schedule": s.schedule,
            "max_age_seconds": int(s.max_age.total_seconds()),
            "healthy": s.healthy,
            "problem": s.problem,
            "last_success": _run_json(s.last_success),
            "last_failure": _run_json(s.last_failure, with_error=True),
            "running_since": _iso(s.running.started_at) if s.running else None,
            "numbers": dict(sorted(s.numbers.items())),
            "run_rate": [
                {
                    "currency": rate.currency,
                    "numbers": rate.numbers,
                    "monthly_fee_total": money(rate.monthly_fee_total),
                }
                for rate in s.run_rate
            ],
            "unpriced_numbers": s.unpriced_numbers,
        }
        for s in report.accounts
    ]
    body = {"as_of": _iso(report.as_of), "healthy": report.healthy, "accounts": accounts}
    return json.dumps(body, indent=2)


def report_table(report: StatusReport) -> str:
    """The report as an aligned text table, then the last error of each account that has one."""
    now = report.as_of
    header = (
        "ACCOUNT",
        "PROVIDER",
        "SCHEDULE",
        "LAST SUCCESS",
        "LAST FAILURE",
        "NUMBERS",
        "RUN-RATE",
        "HEALTH",
    )
    rows = [header]
    for s in report.accounts:
        rows.append(
            (
                s.account,
                s.provider,
                s.schedule,
                _when(s.last_success, now),
                _when(s.last_failure, now),
                " ".join(f"{k}={v}" for k, v in sorted(s.numbers.items())) or "-",
                _run_rate_cell(s),
                "ok" if s.healthy else f"FAILING: {s.problem}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for s in report.accounts:
        if s.running is not None:
            lines.append(f"{s.account}: a run is in progress since {_iso(s.running.started_at)}")
    for s in report.accounts:
        failure = s.last_failure
        if failure is not None and failure.error:
            lines.append(f"{s.account}: last failure (run {failure.run_id}): {failure.error}")
    return "\n".join(lines)


def _when(run: RunSummary | None, now: datetime) -> str:
    if run is None or run.finished_at is None:
        return "never"
    return f"{run.finished_at:%Y-%m-%d %H:%M:%S}Z ({format_age(now - run.finished_at)} ago)"


def _run_rate_cell(status: AccountStatus) -> str:
    parts = [f"{rate.currency} {money(rate.monthly_fee_total)}" for rate in status.run_rate]
    if status.unpriced_numbers:
        parts.append(f"+{status.unpriced_numbers} unpriced")
    return " ".join(parts) or "-"
