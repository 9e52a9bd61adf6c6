"""What a month's statement says: its request, its figures per currency, the changes it
lists, and its JSON shape (documented in docs/statement.md).

`syncer.reports.statement` gathers it from the other reports; `statement_html` and
`statement_trust` draw it. Amounts are exact (Fractions and Decimals), per currency, rounded
only when written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any

from syncer.errors import UsageError
from syncer.reports.accrual import DEFAULT_BILLABLE
from syncer.reports.attribution import PARTS
from syncer.reports.changes import ChangeRow, ChangesReport
from syncer.reports.costs import CostsReport
from syncer.reports.coverage import Coverage, coverage_json, rejected_json, runs_json
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
from syncer.timestamps import iso_z

LISTED = 100  # numbers listed per kind of change; the count is always complete
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
                    name: {"count": listed.count, "listed": [c.to_json() for c in listed.changes]}
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
