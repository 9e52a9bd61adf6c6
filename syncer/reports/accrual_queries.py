"""What the database aggregates for `report accrual` (see `syncer.reports.accrual`).

Five GROUP BY queries over the months of the report (a derived table of bound UTC
boundaries, `periods_table`), each returning a handful of rows however many versions there
are:

- `held`: microseconds held in a billable status, per month, provider, currency and fee;
- `counted`: distinct numbers held in a billable status (and the unpriced ones), per month
  and currency;
- `changes`: the version starts that change a number's rate, per month and kind of change
  (what it was before and after), with how many and how far into the month, in total;
- `setups`: setup fees per month of `provider_created_at`, once per number and rental, in
  the months syncer mirrored the number's account (see `setups`);
- `rate_at`: the numbers per fee in a billable status just before an instant (the rate the
  current month would go on at).

Durations are exact integer microseconds (`micros_sum`) and money exact (`money_sum`) on
every dialect; the arithmetic on them is `syncer.reports.attribution`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    case,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.sql import Join, Subquery
from sqlalchemy.sql.selectable import NamedFromClause

from syncer.records import RELEASED
from syncer.reports.periods import Period
from syncer.reports.sql import micros_sum, money_sum, periods_table, read_int, read_money
from syncer.store.models import PhoneNumber, PhoneNumberVersion

numbers = cast(Table, PhoneNumber.__table__)
versions = cast(Table, PhoneNumberVersion.__table__)
Currency = str | None


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


def gather(
    connection: Connection, periods: list[Period], billable: tuple[str, ...], now: datetime
) -> Gathered:
    past = [Period(p.label, p.start, min(p.end, now)) for p in periods if p.start < now]
    if not past:
        return Gathered([], [], [], [], [])
    window = Window(periods_table(past), past[0].start, past[-1].end)
    gathered = Gathered(
        held=held(connection, window, billable),
        counted=counted(connection, window, billable),
        changes=changes(connection, window, billable),
        setups=setups(connection, window, now),
        rate_at_now=[],
    )
    if periods[0].start <= now < periods[-1].end:
        gathered.rate_at_now = rate_at(connection, now, billable)
    return gathered


@dataclass(frozen=True)
class Window:
    """The months of a report as a derived table, and the span they cover together (the
    span is repeated as plain conditions, so the database can narrow the versions first)."""

    table: Subquery
    start: datetime
    end: datetime


def overlapping(window: Window) -> ColumnElement[bool]:
    """A version in force at some time of a month of the window."""
    v, table = versions.c, window.table
    return and_(
        v.valid_from < table.c.end_at,
        or_(v.valid_to.is_(None), v.valid_to > table.c.start_at),
    )


def in_window(window: Window) -> list[ColumnElement[bool]]:
    v = versions.c
    return [v.valid_from < window.end, or_(v.valid_to.is_(None), v.valid_to > window.start)]


def with_previous(before: NamedFromClause) -> Join:
    """Versions with their number and the version just before them (`before`, if any)."""
    return versions.join(numbers, numbers.c.id == versions.c.number_id).outerjoin(
        before,
        and_(
            before.c.number_id == versions.c.number_id,
            before.c.valid_to == versions.c.valid_from,
        ),
    )


def held(connection: Connection, window: Window, billable: tuple[str, ...]) -> list[Held]:
    """Microseconds held in a billable status, per month, provider, currency and fee."""
    v, table = versions.c, window.table
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
                table, overlapping(window)
            )
        )
        .where(versions.c.status.in_(billable), *in_window(window))
        .group_by(*group)
    )
    return [
        Held(row.idx, row.provider, row.currency, row.monthly_fee, read_int(row.micros))
        for row in connection.execute(query)
    ]


def counted(connection: Connection, window: Window, billable: tuple[str, ...]) -> list[Counted]:
    """Distinct numbers held in a billable status, and the unpriced ones, per month and currency."""
    table = window.table
    unpriced = case((versions.c.monthly_fee.is_(None), versions.c.number_id))
    query = (
        select(
            table.c.idx,
            versions.c.currency,
            func.count(versions.c.number_id.distinct()).label("numbers"),
            func.count(unpriced.distinct()).label("unpriced"),
        )
        .select_from(versions.join(table, overlapping(window)))
        .where(versions.c.status.in_(billable), *in_window(window))
        .group_by(table.c.idx, versions.c.currency)
    )
    return [
        Counted(row.idx, row.currency, int(row.numbers), int(row.unpriced))
        for row in connection.execute(query)
    ]


def changes(connection: Connection, window: Window, billable: tuple[str, ...]) -> list[Change]:
    """Every version start in the months, grouped by what changed (see the module doc).

    The flags are computed in a subquery and grouped on outside, so the GROUP BY names plain
    columns on every dialect.
    """
    before, table = versions.alias("before"), window.table
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
            with_previous(before).join(
                table,
                and_(
                    versions.c.valid_from >= table.c.start_at,
                    versions.c.valid_from < table.c.end_at,
                ),
            )
        )
        .where(
            versions.c.valid_from >= window.start,
            versions.c.valid_from < window.end,
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


def setups(connection: Connection, window: Window, now: datetime) -> list[Setup]:
    """Setup fees by month of `provider_created_at`, once per number and creation time, of
    the numbers syncer had seen by `now` (so a past `now` reproduces a past report).

    Only months that end after the account's first sighting count: like the monthly fees,
    what came before the mirror is not reconstructed, so the month before an account's
    first sync accrues nothing and its first month's change invents no setup-fee drop."""
    before, table = versions.alias("before"), window.table
    mirrored = (
        select(
            numbers.c.provider,
            numbers.c.account,
            func.min(numbers.c.first_seen_at).label("since"),
        )
        .group_by(numbers.c.provider, numbers.c.account)
        .subquery("mirrored")
    )
    query = (
        select(
            table.c.idx,
            numbers.c.provider,
            versions.c.currency,
            money_sum(versions.c.setup_fee).label("amount"),
        )
        .select_from(
            with_previous(before)
            .join(
                table,
                and_(
                    versions.c.provider_created_at >= table.c.start_at,
                    versions.c.provider_created_at < table.c.end_at,
                ),
            )
            .join(
                mirrored,
                and_(
                    mirrored.c.provider == numbers.c.provider,
                    mirrored.c.account == numbers.c.account,
                ),
            )
        )
        .where(
            versions.c.provider_created_at >= window.start,
            versions.c.provider_created_at < window.end,
            table.c.end_at > mirrored.c.since,
            versions.c.valid_from < now,
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
        amount = read_money(row.amount, connection.dialect.name)
        if amount is not None:
            setups.append(Setup(row.idx, row.provider, row.currency, amount))
    return setups


def rate_at(connection: Connection, now: datetime, billable: tuple[str, ...]) -> list[Level]:
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
