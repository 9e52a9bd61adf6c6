"""`syncer report statement`: one month, for finance, in one document.

Every figure is taken from the reports that answer each question on their own, called here
with the month's bounds, so the statement equals them by construction:

- the bottom line and why it changed: `report accrual --from M-1 --to M` (the month's
  accrued cost, the month before, the difference and its attribution);
- the run-rate at the month's end and where it goes: `report costs --as-of <end of M>`,
  by provider, account, country, type and status;
- what changed: `report changes --since <start of M> --until <end of M>` (the from->to
  summary, and the numbers added, released and suspended, each listed up to `LISTED`);
- what it cannot vouch for and what it rests on: `syncer.reports.coverage` (unpriced
  numbers, the time the mirror did not cover, rejected records, the sync runs).

Amounts are per currency and never added across currencies. The current month may be asked
for: it is then accrued up to now (`complete` false) and the run-rate is the one in force now;
a month that has not begun is refused (`UsageError`). The HTML is `statement_html`'s, the
JSON this module's `to_json` (its shape is in docs/statement.md).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from syncer.config import Config
from syncer.errors import UsageError
from syncer.reports.accrual import DEFAULT_BILLABLE, AccrualRequest, accrual_report
from syncer.reports.attribution import PARTS, ZERO, MonthRow
from syncer.reports.changes import ChangeRow, ChangesReport, ChangesRequest, changes_report
from syncer.reports.costs import CostsReport, CostsRequest, costs_report
from syncer.reports.coverage import (
    Coverage,
    coverage_json,
    month_coverage,
    rejected_json,
    runs_json,
)
from syncer.reports.money import money_string
from syncer.reports.periods import (
    MICROSECOND,
    Month,
    Period,
    local_text,
    parse_month,
    parse_zone,
    zone_name,
)
from syncer.reports.sql import reading
from syncer.timestamps import iso_z

LISTED = 100  # numbers listed per kind of change; the count is always complete
FORMATS = ("html", "json")
BREAKDOWN_KEYS = ("provider", "account", "country", "type", "status")


@dataclass(frozen=True)
class StatementRequest:
    """The month (None: the last complete one), in a time zone (UTC unless given)."""

    month: Month | None = None
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, *, month: str | None = None, timezone: str | None = None) -> StatementRequest:
        """From the command line's strings; bad input raises `UsageError`."""
        zone = parse_zone(timezone)
        return cls(parse_month(month, "--month") if month is not None else None, zone)

    def resolve(self, now: datetime) -> Month:
        """The month to state: refused when it has not begun at `now`."""
        current = Month.of(now, self.zone)
        if self.month is None:
            return current.previous()
        if self.month > current:
            raise UsageError(
                f"--month {self.month} has not begun (it is {local_text(now, self.zone)[:10]} "
                f"{zone_name(self.zone)}); the latest statement is for {current}, up to now, "
                f"and the last complete month is {current.previous()}"
            )
        return self.month


@dataclass
class CurrencyFigures:
    """The bottom line in one currency: exact amounts (rounded only when written out)."""

    currency: str
    accrued: Fraction
    setup_fees: Fraction
    previous: Fraction
    difference: Fraction
    parts: dict[str, Fraction]  # the attribution of the difference; adds up to it exactly
    numbers: int  # held in a billable status at some time in the month
    unpriced_numbers: int
    accrued_by_provider: dict[str, Fraction]
    run_rate: Decimal | None  # monthly fees of every number held at the month's end
    billable_run_rate: Decimal | None  # of those in a billable status
    numbers_at_end: int


@dataclass
class Listed:
    """Changes of one kind: how many, and the first `LISTED` of them, oldest first."""

    count: int
    changes: list[ChangeRow]

    @property
    def shortened(self) -> bool:
        return len(self.changes) < self.count


@dataclass
class StatementReport:
    """One month's statement, as known at `generated_at`; amounts exact, per currency."""

    request: StatementRequest
    month: Month
    period: Period
    generated_at: datetime
    database: str
    currencies: list[CurrencyFigures]
    unpriced_in_month: int  # numbers held in a billable status in the month without a fee
    breakdown: dict[str, CostsReport]
    changes: ChangesReport
    added: Listed
    released: Listed
    suspended: Listed
    coverage: Coverage
    version: str = ""

    @property
    def complete(self) -> bool:
        """Whether the month was over when the statement was made."""
        return self.period.end <= self.generated_at

    @property
    def accrued_until(self) -> datetime:
        return min(self.period.end, self.generated_at)

    @property
    def run_rate_as_of(self) -> datetime:
        return self.breakdown[BREAKDOWN_KEYS[0]].as_of

    @property
    def previous_month(self) -> Month:
        return self.month.previous()

    def to_json(self) -> dict[str, Any]:
        """The statement for scripts (the shape is documented in docs/statement.md)."""
        return {
            "month": str(self.month),
            "timezone": zone_name(self.request.zone),
            "period": {"start": iso_z(self.period.start), "end": iso_z(self.period.end)},
            "generated_at": iso_z(self.generated_at),
            "complete": self.complete,
            "accrued_until": iso_z(self.accrued_until),
            "covered": self.coverage.complete,
            "database": self.database,
            "syncer_version": self.version,
            "billable": list(DEFAULT_BILLABLE),
            "currencies": [self._currency_json(figures) for figures in self.currencies],
            "where_it_goes": {
                "as_of": iso_z(self.run_rate_as_of),
                "by": {key: report.to_json()["rows"] for key, report in self.breakdown.items()},
                "totals": self.breakdown[BREAKDOWN_KEYS[0]].to_json()["totals"],
            },
            "what_changed": {
                "since": iso_z(self.changes.since),
                "until": iso_z(self.changes.until),
                "summary": self.changes.to_json()["summary"],
                "list_limit": LISTED,
                **{
                    name: {"count": listed.count, "listed": [_change(c) for c in listed.changes]}
                    for name, listed in self.listed().items()
                },
            },
            "cannot_vouch_for": {
                "unpriced_numbers": self.unpriced_in_month,
                "unpriced_by_account": [
                    {"account": row.keys[0], "unpriced_numbers": row.unpriced_numbers}
                    for row in self.breakdown["account"].rows
                    if row.unpriced_numbers
                ],
                "coverage": coverage_json(self.coverage),
                "rejected": rejected_json(self.coverage),
            },
            "sync_runs": runs_json(self.coverage),
        }

    def commands(self) -> dict[str, str]:
        """The commands that give the statement's figures on their own."""
        zone = self.request.zone
        option = "" if zone_name(zone) == "UTC" else f" --timezone {zone_name(zone)}"
        first = self.period.start.astimezone(zone)
        last = (self.period.end - MICROSECOND).astimezone(zone)
        end = self.run_rate_as_of.astimezone(zone)
        as_of = f"{end:%Y-%m-%d}" if self.complete else f"{end:%Y-%m-%dT%H:%M:%S}"
        return {
            "accrual": f"syncer report accrual --from {self.previous_month} --to {self.month}"
            + option,
            "costs": f"syncer report costs --as-of {as_of} --by provider{option}",
            "changes": f"syncer report changes --since {first:%Y-%m-%d} --until {last:%Y-%m-%d}"
            + option,
        }

    def listed(self) -> dict[str, Listed]:
        return {"added": self.added, "released": self.released, "suspended": self.suspended}

    def _currency_json(self, figures: CurrencyFigures) -> dict[str, Any]:
        return {
            "currency": figures.currency,
            "accrued": money_string(figures.accrued),
            "setup_fees": money_string(figures.setup_fees),
            "numbers": figures.numbers,
            "unpriced_numbers": figures.unpriced_numbers,
            "previous_month": {
                "month": str(self.previous_month),
                "accrued": money_string(figures.previous),
            },
            "difference": money_string(figures.difference),
            "difference_parts": {name: money_string(figures.parts[name]) for name in PARTS},
            "accrued_by_provider": [
                {"provider": provider, "accrued": money_string(amount)}
                for provider, amount in figures.accrued_by_provider.items()
            ],
            "run_rate": {
                "as_of": iso_z(self.run_rate_as_of),
                "numbers": figures.numbers_at_end,
                "monthly_fee_total": money_string(figures.run_rate),
                "billable_monthly_fee_total": money_string(figures.billable_run_rate),
            },
        }


def statement_report(
    engine: Engine,
    request: StatementRequest,
    *,
    config: Config | None = None,
    now: datetime | None = None,
) -> StatementReport:
    """The statement of `request`'s month as known at `now` (default: the system clock).

    `config` gives the accounts' schedules, which decide what counts as a gap in the
    mirror's coverage (see `syncer.reports.coverage`); without it every account is held to
    the default schedule.
    """
    from syncer.store.engine import redact_url

    now = now or datetime.now(UTC)
    month = request.resolve(now)
    period = month.period(request.zone)
    until = min(period.end, now)
    accrual = accrual_report(engine, AccrualRequest(month.previous(), month, request.zone), now=now)
    breakdown = {
        key: costs_report(
            engine, CostsRequest(as_of=until, group_by=(key,), zone=request.zone), now=now
        )
        for key in BREAKDOWN_KEYS
    }

    def changes(**filters: Any) -> ChangesReport:
        asked = ChangesRequest(since=period.start, until=period.end, zone=request.zone, **filters)
        return changes_report(engine, asked, now=now, listing="limit" in filters)

    def listed(report: ChangesReport) -> Listed:
        return Listed(report.total, report.changes)

    with reading(engine) as connection:
        coverage = month_coverage(connection, period, now, request.zone, config)
    return StatementReport(
        request=request,
        month=month,
        period=period,
        generated_at=now,
        database=redact_url(engine.url.render_as_string(hide_password=False)),
        currencies=_bottom_lines(accrual.rows, month, breakdown),
        unpriced_in_month=sum(row.unpriced_numbers for row in accrual.rows if row.month == month),
        breakdown=breakdown,
        changes=changes(),
        added=listed(changes(from_statuses=("new", "released"), limit=LISTED)),
        released=listed(changes(to_statuses=("released",), limit=LISTED)),
        suspended=listed(changes(to_statuses=("suspended",), limit=LISTED)),
        coverage=coverage,
        version=_version(),
    )


def write_statement(
    report: StatementReport, fmt: str, output: str | None, *, terminal: bool
) -> Path | None:
    """Write `report` as `fmt` (html or json) to `output`, else to stdout; except that HTML
    is not for a terminal: without `output`, when stdout is one (`terminal`), it goes to
    `statement-YYYY-MM.html` in the current directory, whose path is returned so the caller
    can say where it went (None when the caller named the place, or for stdout)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "json":
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    else:
        from syncer.reports.statement_html import render_html

        text = render_html(report)
    chosen = None
    if output is None and fmt == "html" and terminal:
        chosen = Path(f"statement-{report.month}.html")
        output = str(chosen)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {output!r}: {exc.strerror}") from None
    return chosen


def _bottom_lines(
    rows: list[MonthRow], month: Month, breakdown: dict[str, CostsReport]
) -> list[CurrencyFigures]:
    """One `CurrencyFigures` per priced currency of the month, the month before or the
    run-rate at the month's end (numbers without a known fee have no currency)."""
    this = {row.currency: row for row in rows if row.month == month and row.currency}
    before = {row.currency: row for row in rows if row.month < month and row.currency}
    ends = {row.currency: row for row in breakdown["status"].totals if row.currency}
    billable: dict[str, Decimal] = {}
    for group in breakdown["status"].rows:
        fees = group.monthly_fee_total
        if group.currency and group.keys[0] in DEFAULT_BILLABLE and fees is not None:
            billable[group.currency] = billable.get(group.currency, Decimal(0)) + fees
    figures = []
    for currency in sorted(set(this) | set(before) | set(ends)):
        row, earlier, end = this.get(currency), before.get(currency), ends.get(currency)
        accrued = row.accrued if row and row.accrued is not None else ZERO
        previous = earlier.accrued if earlier and earlier.accrued is not None else ZERO
        parts = dict(row.delta.parts) if row and row.delta else dict.fromkeys(PARTS, ZERO)
        figures.append(
            CurrencyFigures(
                currency=currency,
                accrued=accrued,
                setup_fees=row.setup_fees if row and row.setup_fees is not None else ZERO,
                previous=previous,
                difference=accrued - previous,
                parts=parts,
                numbers=row.numbers if row else 0,
                unpriced_numbers=row.unpriced_numbers if row else 0,
                accrued_by_provider=dict(sorted(row.by_provider.items())) if row else {},
                run_rate=end.monthly_fee_total if end else None,
                billable_run_rate=billable.get(currency, Decimal(0) if end else None),
                numbers_at_end=end.numbers if end else 0,
            )
        )
    return figures


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncer")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _change(change: ChangeRow) -> dict[str, Any]:
    return {
        "provider": change.provider,
        "account": change.account,
        "e164": change.e164,
        "from_status": change.from_status,
        "to_status": change.to_status,
        "changed_at": iso_z(change.changed_at),
    }
