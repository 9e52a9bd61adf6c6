"""`syncer report accrual`: what was accrued per calendar month, and why it moved.

**Accrued**, per month M and currency, is

    sum over versions v in a billable status of  monthly_fee(v) x held(v, M) / length(M)
    + the setup fees of the numbers created at the provider in M

- `held(v, M)`: the time version v was in force inside M, to the microsecond: from
  max(valid_from, start of M) to min(valid_to, end of M, now). An open version is held
  until now, so the current month is accrued up to now (`complete: false`).
- `length(M)`: the month's length in the report's time zone (UTC unless `--timezone`),
  also in microseconds. This is PRODUCT.md's "fee x days held / days in month" with days
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

Everything is aggregated by the database (sums of held microseconds per fee, counts of
rate changes per kind); Python multiplies the few resulting groups by their fees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    case,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.sql import Subquery

from syncer.errors import UsageError
from syncer.records import RELEASED
from syncer.reports.costs import parse_statuses
from syncer.reports.money import money_string
from syncer.reports.periods import (
    Month,
    Period,
    iso,
    local_text,
    micros_between,
    months,
    parse_instant,
    parse_month,
    parse_zone,
    zone_name,
)
from syncer.reports.render import Column, TableView
from syncer.reports.sql import (
    micros_sum,
    money_sum,
    periods_table,
    read_int,
    read_money,
    reading,
)
from syncer.store.models import PhoneNumber, PhoneNumberVersion

numbers = cast(Table, PhoneNumber.__table__)
versions = cast(Table, PhoneNumberVersion.__table__)

DEFAULT_BILLABLE = ("active", "suspended")
DEFAULT_MONTHS = 12
MAX_MONTHS = 240
PARTS = (
    "numbers_added",
    "numbers_released",
    "price_changes",
    "status_changes",
    "setup_fees",
    "not_yet_accrued",
)
Currency = str | None
ZERO = Fraction(0)


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
class Delta:
    """The change from the month before, and its parts (they add up to `total` exactly)."""

    total: Fraction
    parts: dict[str, Fraction]


@dataclass
class MonthRow:
    """One month in one currency. Money is None for unpriced numbers (currency unknown)."""

    month: Month
    currency: Currency
    accrued: Fraction | None
    setup_fees: Fraction | None
    numbers: int
    unpriced_numbers: int
    complete: bool
    delta: Delta | None
    by_provider: dict[str, Fraction] = field(default_factory=dict)


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
            "accrued_until": iso(self.now),
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
    now = request.as_of or now or datetime.now(UTC)
    with reading(engine) as connection:
        first, last = resolve_months(connection, request, now)
        window = [first.previous(), *months(first, last)]  # one month before, for the delta
        periods = [month.period(request.zone) for month in window]
        gathered = _gather(connection, periods, request.billable, now)
    rows = _assemble(window, periods, gathered, now)
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


# -- what the database aggregates ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    month: int  # index into the window of months
    provider: str
    currency: Currency
    fee: Decimal | None
    micros: int


@dataclass(frozen=True, slots=True)
class Counted:
    month: int  # index into the window of months
    currency: Currency
    numbers: int
    unpriced: int


@dataclass(frozen=True, slots=True)
class Change:
    """Rate changes of one kind in one month: how many, and their microseconds into the
    month, summed."""

    month: int  # index into the window of months
    provider: str
    appears: bool  # no version before, or the one before was released
    released: bool  # this version is the release
    billable_before: bool
    fee_before: Decimal | None
    currency_before: Currency
    billable_after: bool
    fee_after: Decimal | None
    currency_after: Currency
    changes: int
    elapsed: int


@dataclass(frozen=True, slots=True)
class Setup:
    month: int  # index into the window of months
    provider: str
    currency: Currency
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Level:
    """How many numbers were at one rate at an instant."""

    provider: str
    currency: Currency
    fee: Decimal | None
    numbers: int


@dataclass
class Gathered:
    held: list[Held]
    counted: list[Counted]
    changes: list[Change]
    setups: list[Setup]
    rate_at_now: list[Level]


def _gather(
    connection: Connection, periods: list[Period], billable: tuple[str, ...], now: datetime
) -> Gathered:
    past = [Period(p.label, p.start, min(p.end, now)) for p in periods if p.start < now]
    if not past:
        return Gathered([], [], [], [], [])
    table = periods_table(past)
    dialect = connection.dialect.name
    gathered = Gathered(
        held=_held(connection, table, billable, dialect),
        counted=_counted(connection, table, billable),
        changes=_changes(connection, table, billable, dialect),
        setups=_setups(connection, table, dialect),
        rate_at_now=[],
    )
    if periods[0].start <= now < periods[-1].end:
        gathered.rate_at_now = _rate_at(connection, now, billable)
    return gathered


def _overlapping(table: Subquery) -> ColumnElement[bool]:
    return and_(
        versions.c.valid_from < table.c.end_at,
        or_(versions.c.valid_to.is_(None), versions.c.valid_to > table.c.start_at),
    )


def _held(
    connection: Connection, table: Subquery, billable: tuple[str, ...], dialect: str
) -> list[Held]:
    """Microseconds held in a billable status, per month, provider, currency and fee."""
    v = versions.c
    start = case((v.valid_from > table.c.start_at, v.valid_from), else_=table.c.start_at)
    end = case(
        (v.valid_to.is_(None), table.c.end_at),
        (v.valid_to < table.c.end_at, v.valid_to),
        else_=table.c.end_at,
    )
    group = [table.c.idx, numbers.c.provider, v.currency, v.monthly_fee]
    query = (
        select(*group, micros_sum(start, end).label("micros"))
        .select_from(
            versions.join(numbers, numbers.c.id == versions.c.number_id).join(
                table, _overlapping(table)
            )
        )
        .where(versions.c.status.in_(billable))
        .group_by(*group)
    )
    return [
        Held(row.idx, row.provider, row.currency, row.monthly_fee, read_int(row.micros))
        for row in connection.execute(query)
    ]


def _counted(connection: Connection, table: Subquery, billable: tuple[str, ...]) -> list[Counted]:
    """Distinct numbers held in a billable status, and the unpriced ones, per month and currency."""
    unpriced = case((versions.c.monthly_fee.is_(None), versions.c.number_id))
    query = (
        select(
            table.c.idx,
            versions.c.currency,
            func.count(versions.c.number_id.distinct()).label("numbers"),
            func.count(unpriced.distinct()).label("unpriced"),
        )
        .select_from(versions.join(table, _overlapping(table)))
        .where(versions.c.status.in_(billable))
        .group_by(table.c.idx, versions.c.currency)
    )
    return [
        Counted(row.idx, row.currency, int(row.numbers), int(row.unpriced))
        for row in connection.execute(query)
    ]


def _changes(
    connection: Connection, table: Subquery, billable: tuple[str, ...], dialect: str
) -> list[Change]:
    """Every version start in the months, grouped by what changed (see the module doc).

    The flags are computed in a subquery and grouped on outside, so the GROUP BY names plain
    columns on every dialect.
    """
    before = versions.alias("before")
    flags = (
        select(
            table.c.idx,
            numbers.c.provider,
            case((or_(before.c.id.is_(None), before.c.status == RELEASED), 1), else_=0).label(
                "appears"
            ),
            case((versions.c.status == RELEASED, 1), else_=0).label("released"),
            case((before.c.status.in_(billable), 1), else_=0).label("billable_before"),
            before.c.monthly_fee.label("fee_before"),
            before.c.currency.label("currency_before"),
            case((versions.c.status.in_(billable), 1), else_=0).label("billable_after"),
            versions.c.monthly_fee.label("fee_after"),
            versions.c.currency.label("currency_after"),
            table.c.start_at.label("month_start"),
            versions.c.valid_from.label("changed_at"),
        )
        .select_from(
            versions.join(numbers, numbers.c.id == versions.c.number_id)
            .outerjoin(
                before,
                and_(
                    before.c.number_id == versions.c.number_id,
                    before.c.valid_to == versions.c.valid_from,
                ),
            )
            .join(
                table,
                and_(
                    versions.c.valid_from >= table.c.start_at,
                    versions.c.valid_from < table.c.end_at,
                ),
            )
        )
        .where(
            or_(versions.c.status.in_(billable), before.c.status.in_(billable)),
            # most new versions change no rate (a name, an assignment): leave them out early
            not_(
                and_(
                    versions.c.status.in_(billable),
                    before.c.status.in_(billable),
                    versions.c.monthly_fee.is_not_distinct_from(before.c.monthly_fee),
                    versions.c.currency.is_not_distinct_from(before.c.currency),
                )
            ),
        )
        .subquery("flags")
    )
    group = [c for c in flags.c if c.name not in ("month_start", "changed_at")]
    query = select(
        *group,
        func.count().label("changes"),
        micros_sum(flags.c.month_start, flags.c.changed_at).label("elapsed"),
    ).group_by(*group)
    return [
        Change(
            row.idx,
            row.provider,
            bool(row.appears),
            bool(row.released),
            bool(row.billable_before),
            row.fee_before,
            row.currency_before,
            bool(row.billable_after),
            row.fee_after,
            row.currency_after,
            int(row.changes),
            read_int(row.elapsed),
        )
        for row in connection.execute(query)
    ]


def _setups(connection: Connection, table: Subquery, dialect: str) -> list[Setup]:
    """Setup fees by month of `provider_created_at`, once per number and creation time."""
    before = versions.alias("before")
    query = (
        select(
            table.c.idx,
            numbers.c.provider,
            versions.c.currency,
            money_sum(versions.c.setup_fee).label("amount"),
        )
        .select_from(
            versions.join(numbers, numbers.c.id == versions.c.number_id)
            .outerjoin(
                before,
                and_(
                    before.c.number_id == versions.c.number_id,
                    before.c.valid_to == versions.c.valid_from,
                ),
            )
            .join(
                table,
                and_(
                    versions.c.provider_created_at >= table.c.start_at,
                    versions.c.provider_created_at < table.c.end_at,
                ),
            )
        )
        .where(
            versions.c.setup_fee.is_not(None),
            or_(
                before.c.id.is_(None),
                before.c.provider_created_at.is_distinct_from(versions.c.provider_created_at),
            ),
        )
        .group_by(table.c.idx, numbers.c.provider, versions.c.currency)
    )
    setups = []
    for row in connection.execute(query):
        amount = read_money(row.amount, dialect)
        if amount is not None:
            setups.append(Setup(row.idx, row.provider, row.currency, amount))
    return setups


def _rate_at(connection: Connection, now: datetime, billable: tuple[str, ...]) -> list[Level]:
    """Numbers per provider, currency and fee in a billable status just before `now`."""
    group = [numbers.c.provider, versions.c.currency, versions.c.monthly_fee]
    query = (
        select(*group, func.count().label("numbers"))
        .select_from(versions.join(numbers, numbers.c.id == versions.c.number_id))
        .where(
            versions.c.valid_from < now,
            or_(versions.c.valid_to.is_(None), versions.c.valid_to >= now),
            versions.c.status.in_(billable),
        )
        .group_by(*group)
    )
    return [
        Level(row.provider, row.currency, row.monthly_fee, int(row.numbers))
        for row in connection.execute(query)
    ]


# -- putting it together, exactly ----------------------------------------------------------


class _Ledger:
    """Exact amounts by (month index, currency), with a per-provider split for the chart."""

    def __init__(self) -> None:
        self.amounts: dict[tuple[int, Currency], Fraction] = defaultdict(Fraction)
        self.by_provider: dict[tuple[int, Currency], dict[str, Fraction]] = defaultdict(
            lambda: defaultdict(Fraction)
        )

    def add(self, index: int, currency: Currency, amount: Fraction, provider: str = "") -> None:
        self.amounts[index, currency] += amount
        if provider:
            self.by_provider[index, currency][provider] += amount

    def get(self, index: int, currency: Currency) -> Fraction:
        return self.amounts.get((index, currency), ZERO)


def _rate(billable: bool, fee: Decimal | None) -> Fraction:
    return Fraction(fee) if billable and fee is not None else ZERO


def _assemble(
    window: list[Month], periods: list[Period], gathered: Gathered, now: datetime
) -> list[MonthRow]:
    lengths = [period.micros for period in periods]
    fees, setups = _Ledger(), _Ledger()
    priced: set[Currency] = set()
    for held in gathered.held:
        if held.fee is not None:
            priced.add(held.currency)
            fees.add(
                held.month,
                held.currency,
                Fraction(held.fee) * held.micros / lengths[held.month],
                held.provider,
            )
    for setup in gathered.setups:
        priced.add(setup.currency)
        setups.add(setup.month, setup.currency, Fraction(setup.amount), setup.provider)
    parts = _attribute(gathered, periods, now)
    counted = {(c.month, c.currency): c for c in gathered.counted}
    currencies: set[Currency] = {currency for _, currency in (*fees.amounts, *setups.amounts)}
    currencies.update(currency for _, currency in counted)
    currencies.update(currency for _, currency, _ in parts)
    rows = []
    for currency in sorted(currencies, key=lambda c: (c is None, c or "")):
        money = currency in priced or currency is not None
        for index in range(1, len(window)):
            count = counted.get((index, currency))
            accrued = fees.get(index, currency) + setups.get(index, currency)
            before = fees.get(index - 1, currency) + setups.get(index - 1, currency)
            delta = None
            if money:
                delta_parts = {name: parts.get((index, currency, name), ZERO) for name in PARTS}
                delta_parts["setup_fees"] = setups.get(index, currency) - setups.get(
                    index - 1, currency
                )
                delta = Delta(accrued - before, delta_parts)
                _check(window[index], currency, delta)
            providers = {**fees.by_provider.get((index, currency), {})}
            for provider, amount in setups.by_provider.get((index, currency), {}).items():
                providers[provider] = providers.get(provider, ZERO) + amount
            rows.append(
                MonthRow(
                    month=window[index],
                    currency=currency,
                    accrued=accrued if money else None,
                    setup_fees=setups.get(index, currency) if money else None,
                    numbers=count.numbers if count else 0,
                    unpriced_numbers=count.unpriced if count else 0,
                    complete=periods[index].end <= now,
                    delta=delta,
                    by_provider=providers,
                )
            )
    rows.sort(key=lambda row: (row.month, row.currency is None, row.currency or ""))
    return rows


def _attribute(
    gathered: Gathered, periods: list[Period], now: datetime
) -> dict[tuple[int, Currency, str], Fraction]:
    """Each rate change's share of the deltas of its month and the next (module doc)."""
    parts: dict[tuple[int, Currency, str], Fraction] = defaultdict(Fraction)

    def spread(
        index: int, currency: Currency, part: str, size: Fraction, count: int, elapsed: int
    ) -> None:
        length = periods[index].micros
        parts[index, currency, part] += size * (count * length - elapsed) / length
        if index + 1 < len(periods):
            parts[index + 1, currency, part] += size * elapsed / length

    for change in gathered.changes:
        for currency, part, size in _change_sizes(change):
            if size:
                spread(change.month, currency, part, size, change.changes, change.elapsed)
    if gathered.rate_at_now:
        index = next(i for i, period in enumerate(periods) if period.start <= now < period.end)
        elapsed = micros_between(periods[index].start, now)
        for level in gathered.rate_at_now:
            size = -_rate(True, level.fee)
            if size:
                spread(
                    index,
                    level.currency,
                    "not_yet_accrued",
                    size,
                    level.numbers,
                    elapsed * level.numbers,
                )
    return parts


def _change_sizes(change: Change) -> list[tuple[Currency, str, Fraction]]:
    """The rate change(s) one version start makes, by currency and kind (module doc)."""
    rate_before = _rate(change.billable_before, change.fee_before)
    rate_after = _rate(change.billable_after, change.fee_after)
    if change.appears:
        return [(change.currency_after, "numbers_added", rate_after)]
    if change.released:
        return [(change.currency_before, "numbers_released", -rate_before)]
    fee_before = _rate(True, change.fee_before)
    status = (int(change.billable_after) - int(change.billable_before)) * fee_before
    sizes = [(change.currency_before, "status_changes", status)]
    if change.billable_after:
        sizes.append((change.currency_before, "price_changes", -fee_before))
        sizes.append((change.currency_after, "price_changes", _rate(True, change.fee_after)))
    return sizes


def _check(month: Month, currency: Currency, delta: Delta) -> None:
    """The parts add up to the delta whenever the history is contiguous, as sync writes it."""
    explained = sum(delta.parts.values(), ZERO)
    if explained != delta.total:
        import logging

        logging.getLogger(__name__).warning(
            "accrual %s %s: the attributed parts differ from the change by %s "
            "(the history has gaps between versions?)",
            month,
            currency,
            float(delta.total - explained),
        )
