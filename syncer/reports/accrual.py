"""`syncer report accrual`: what was accrued per calendar month, and why it moved.

**Accrued**, per month M and currency, is

    sum over versions v in a billable status of  monthly_fee(v) x held(v, M) / length(M)
    + the setup fees of the numbers created at the provider in M

- `held(v, M)`: the time version v was in force inside M, to the microsecond: from
  max(valid_from, start of M) to min(valid_to, end of M, now). An open version is held
  until now, so the current month is accrued up to now (`complete: false`).
- `length(M)`: the month's length in the report's time zone (UTC unless `--timezone`),
  also in microseconds. This is the usual "fee x days held / days in month" with days
  measured exactly: a number held all month accrues exactly its fee, in a 28-day month, a
  31-day month or a month with a DST change alike.
- Billable statuses: active and suspended unless `--billable` says otherwise; released is
  never billable.
- The setup fee of a number counts in the month of its `provider_created_at`, whatever its
  status, once per rental: from the first version that carries that `provider_created_at`
  (a number re-rented at the provider, with a new creation time, pays it again).
- `numbers`: the distinct numbers held in a billable status at some time in the month;
  `unpriced_numbers`: those of them without a known fee, which accrue nothing and are only
  counted (a Ringyo account without a fee schedule: currency null, money null).
- syncer knows a number from its first sighting: time before the first sync is not
  reconstructed.

**The month-over-month delta is attributed exactly.** A number's accrual rate (its fee
while held in a billable status, else 0) changes only where one of its versions starts.
A change of size j at instant t of month K adds j x (end(K) - t) / length(K) to the delta
of K (its effect inside K) and j x (t - start(K)) / length(K) to the delta of K+1 (the rest
of a full month). Summed over every change, plus the change in setup fees, that *is* the
delta, to the last digit (rational arithmetic; nothing is rounded before rendering):

- `numbers_added`: a number appears (first sighting, or back after a release): j = its rate;
- `numbers_released`: a number is released: j = minus its rate before;
- `status_changes`: its status moves into or out of the billable set, valued at its fee
  before the change: j = (billable after - billable before) x fee before;
- `price_changes`: its fee (or currency) changes, valued in its status after the change:
  j = billable after x (fee after - fee before); a status and a fee change seen by the
  same sync are split this way, so nothing is counted twice;
- `setup_fees`: setup fees of the month minus those of the month before;
- `not_yet_accrued`: the current month is accrued only up to now; its rest, at the current
  rate, is a change of minus that rate at now (zero for every past month).

Everything is aggregated by the database from `rate_spans`, the versions joined where no
rate changes, which the sync keeps (`accrual_queries`: the rate changes per kind and
month, the numbers at each rate when the window starts, the numbers per month, the setup
fees); `attribution` turns the few resulting groups into exact money; this module holds the
request, the report and its views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from syncer.errors import UsageError
from syncer.records import RELEASED
from syncer.reports.accrual_queries import Currency, gather, versions
from syncer.reports.attribution import PARTS, ZERO, MonthRow, assemble
from syncer.reports.costs import parse_statuses
from syncer.reports.money import money_string
from syncer.reports.periods import (
    Month,
    local_text,
    months,
    parse_instant,
    parse_month,
    parse_zone,
    refuse_future,
    zone_name,
)
from syncer.reports.render import Column, TableView
from syncer.store.engine import reading
from syncer.timestamps import iso_z

DEFAULT_BILLABLE = ("active", "suspended")
DEFAULT_MONTHS = 12
MAX_MONTHS = 240


@dataclass(frozen=True)
class AccrualRequest:
    """Months `first`..`last` (None: the defaults, see `resolve_months`), accrued up to
    `as_of` (None: now)."""

    first: Month | None = None
    last: Month | None = None
    zone: tzinfo = UTC
    billable: tuple[str, ...] = DEFAULT_BILLABLE
    as_of: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        start: str | None = None,
        end: str | None = None,
        timezone: str | None = None,
        billable: str | Sequence[str] | None = None,
        as_of: str | None = None,
    ) -> AccrualRequest:
        """From the command line's strings (`--from`, `--to`, ...); bad input: `UsageError`."""
        first = parse_month(start, "--from") if start is not None else None
        last = parse_month(end, "--to") if end is not None else None
        if first is not None and last is not None and first > last:
            raise UsageError(f"--from {first} is after --to {last}")
        statuses = parse_statuses(billable, "--billable") or DEFAULT_BILLABLE
        if RELEASED in statuses:
            raise UsageError("--billable: a released number is not billable")
        zone = parse_zone(timezone)
        until = parse_instant(as_of, zone, "--as-of") if as_of is not None else None
        return cls(first, last, zone, statuses, until)


@dataclass
class AccrualReport:
    request: AccrualRequest
    first: Month
    last: Month
    now: datetime
    rows: list[MonthRow]

    @property
    def currencies(self) -> list[Currency]:
        return list(dict.fromkeys(row.currency for row in self.rows))

    def to_json(self) -> dict[str, Any]:
        return {
            "from": str(self.first),
            "to": str(self.last),
            "timezone": zone_name(self.request.zone),
            "billable": list(self.request.billable),
            "accrued_until": iso_z(self.now),
            "months": [
                {
                    "month": str(row.month),
                    "currency": row.currency,
                    "accrued": money_string(row.accrued),
                    "setup_fees": money_string(row.setup_fees),
                    "numbers": row.numbers,
                    "unpriced_numbers": row.unpriced_numbers,
                    "complete": row.complete,
                    "delta": None
                    if row.delta is None
                    else {
                        "total": money_string(row.delta.total),
                        **{name: money_string(row.delta.parts[name]) for name in PARTS},
                    },
                }
                for row in self.rows
            ],
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["month", "currency", "accrued", "setup_fees", "numbers", "unpriced_numbers"]
        header += ["complete", "delta", *(f"delta_{name}" for name in PARTS)]
        rows = []
        for row in self.rows:
            delta = row.delta
            rows.append(
                [
                    str(row.month),
                    row.currency,
                    money_string(row.accrued),
                    money_string(row.setup_fees),
                    row.numbers,
                    row.unpriced_numbers,
                    row.complete,
                    money_string(delta.total) if delta else None,
                    *(money_string(delta.parts[name]) if delta else None for name in PARTS),
                ]
            )
        return header, rows

    def tables(self) -> list[TableView]:
        zone = zone_name(self.request.zone)
        billable = ", ".join(self.request.billable)
        accrued = TableView(
            title=f"Accrued per month ({zone} months; billable: {billable})",
            columns=[
                Column("month"),
                Column("currency"),
                Column("numbers", "count"),
                Column("unpriced", "count"),
                Column("setup fees", "money"),
                Column("accrued", "money"),
                Column("change", "money"),
            ],
            rows=[
                [
                    f"{row.month}" + ("" if row.complete else " *"),
                    row.currency,
                    row.numbers,
                    row.unpriced_numbers,
                    row.setup_fees,
                    row.accrued,
                    row.delta.total if row.delta else None,
                ]
                for row in self.rows
            ],
            totals=[
                ["total", currency, "", "", setup, total, ""]
                for currency, setup, total in self._totals()
            ],
            notes=self._notes(),
            empty="(no months)",
        )
        attribution = TableView(
            title="Change from the month before, attributed",
            columns=[
                Column("month"),
                Column("currency"),
                Column("change", "money"),
                Column("added", "money"),
                Column("released", "money"),
                Column("price", "money"),
                Column("status", "money"),
                Column("setup fees", "money"),
                Column("not yet accrued", "money"),
            ],
            rows=[
                [
                    str(row.month),
                    row.currency,
                    row.delta.total,
                    *(row.delta.parts[name] for name in PARTS),
                ]
                for row in self.rows
                if row.delta is not None
            ],
        )
        return [accrued, attribution]

    def _totals(self) -> list[tuple[Currency, Fraction | None, Fraction | None]]:
        totals: list[tuple[Currency, Fraction | None, Fraction | None]] = []
        for currency in self.currencies:
            rows = [row for row in self.rows if row.currency == currency]
            if any(row.accrued is None for row in rows):
                totals.append((currency, None, None))
                continue
            setup = sum((row.setup_fees or ZERO for row in rows), ZERO)
            total = sum((row.accrued or ZERO for row in rows), ZERO)
            totals.append((currency, setup, total))
        return totals

    def _notes(self) -> list[str]:
        notes = []
        if any(not row.complete for row in self.rows):
            until = local_text(self.now, self.request.zone)
            notes.append(f"* month not over: accrued up to {until} {zone_name(self.request.zone)}")
        if any(row.unpriced_numbers for row in self.rows):
            notes.append("unpriced: numbers without a known fee; they accrue nothing here")
        return notes


def accrual_report(
    engine: Engine, request: AccrualRequest, *, now: datetime | None = None
) -> AccrualReport:
    """The accrual of `request`'s months, accrued up to `request.as_of`, else `now` (default:
    the system clock). History is only ever appended to, so a past `as_of` gives the report
    exactly as it stood at that instant."""
    now = now or datetime.now(UTC)
    refuse_future(request.as_of, now, "--as-of", request.zone)
    now = request.as_of or now
    with reading(engine) as connection:
        first, last = resolve_months(connection, request, now)
    window = [first.previous(), *months(first, last)]  # one month before, for the delta
    periods = [month.period(request.zone) for month in window]
    gathered = gather(engine, periods, request.billable, now)
    rows = assemble(window, periods, gathered, now)
    return AccrualReport(request, first, last, now, rows)


def resolve_months(
    connection: Connection, request: AccrualRequest, now: datetime
) -> tuple[Month, Month]:
    """The months to show: `--to` defaults to the current month; `--from` to the first month
    with data, at most a year before `--to`."""
    last = request.last or Month.of(now, request.zone)
    first = request.first
    if first is None:
        first = last.plus(1 - DEFAULT_MONTHS)
        earliest = connection.execute(select(func.min(versions.c.valid_from))).scalar()
        if earliest is not None:
            first = min(last, max(first, Month.of(earliest, request.zone)))
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    if len(months(first, last)) > MAX_MONTHS:
        raise UsageError(f"--from {first} --to {last}: at most {MAX_MONTHS} months at once")
    return first, last
