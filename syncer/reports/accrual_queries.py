"""What the database aggregates for `report accrual` (see `syncer.reports.accrual`).

They read `rate_spans`, not the versions: a span is a stretch of a number's consecutive
versions with the same status, fees, currency and provider creation time (everything the
accrual depends on), and it carries the status, fee and currency of the span before it. The
sync keeps the spans with the versions, so the answer is the one the versions give, from
fewer rows and with no join of each version to the one before it (on a million versions,
twelve months: about 0.9 s of queries instead of 1.9 s; see benchmarks/README.md).

Three GROUP BY queries, each one pass over the spans it needs, each returning a few
thousand rows at most however many spans there are. Every row is put in its month by a
`CASE` over the months' bound UTC boundaries (`period_start`, `period_index`), never by a
join with a table of months, so a span is read once however many months it spans:

- `changes`: the span starts in the window that change a number's rate, per month and kind
  of change (what it was before and after), with how many and how far into the month, in
  total;
- `numbers_by_month`: per number and currency, the months in which it was held in a
  billable status (and unpriced), as a bit mask OR-ed over its spans, then how many
  numbers have each mask; and from the same pass, the numbers per rate (provider,
  currency, fee) just before the window;
- `setups`: setup fees per month of `provider_created_at`, once per number and rental, in
  the months syncer mirrored the number's account (see `setups`).

The time held per month and rate is not summed span by span: a number's spans follow one
another without gaps, so the numbers at a rate change only at the starts in `changes`, and
from the numbers at each rate when the window starts, the time held follows by arithmetic
(`held`), as does the rate the current month goes on at (`levels_after`).

Durations are exact integer microseconds (`micros_sum`) and money exact (`money_sum`) on
every dialect; the arithmetic on them is `syncer.reports.attribution`'s. On PostgreSQL the
queries run side by side with the check that the spans are in step (`gather`), on
connections reading one snapshot, with `room_to_aggregate`'s settings; elsewhere one after
another in one transaction that sees one state (`syncer.store.engine.reading_together`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Table,
    and_,
    case,
    column,
    func,
    literal,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.sql import Select, TableClause

from syncer.records import RELEASED
from syncer.reports.periods import Period
from syncer.reports.sql import (
    bit_or,
    micros_sum,
    money_sum,
    period_end,
    period_index,
    period_start,
    read_int,
    read_money,
    room_to_aggregate,
)
from syncer.store.engine import reading_together
from syncer.store.models import PhoneNumber, PhoneNumberVersion, RateSpan
from syncer.store.spans import derived_spans, out_of_step

log = logging.getLogger(__name__)
numbers = cast(Table, PhoneNumber.__table__)
versions = cast(Table, PhoneNumberVersion.__table__)
spans = cast(Table, RateSpan.__table__)
Currency = str | None

# Months per bit mask in `counted`: bits 0..61 of a signed 64-bit integer, so that
# (1 << (last + 1)) - (1 << first) never overflows.
MASK_MONTHS = 62


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
    engine: Engine, periods: list[Period], billable: tuple[str, ...], now: datetime
) -> Gathered:
    """The three queries and `out_of_step`, side by side on PostgreSQL (four connections
    reading one snapshot; the engine's pool must allow four), one after another elsewhere.

    When `rate_spans` is out of step with the versions (versions written by something that
    does not keep the spans: a script, an older syncer left running after an upgrade), the
    queries run again on spans derived from the versions for this report alone, slower but
    right, and a warning says how to set the table right."""
    past = [Period(p.label, p.start, min(p.end, now)) for p in periods if p.start < now]
    if not past:
        return Gathered([], [], [], [], [])
    with reading_together(engine, 4) as connections:
        for connection in dict.fromkeys(connections):
            room_to_aggregate(connection)
        jobs: list[Callable[[], Any]] = [
            partial(numbers_by_month, connections[0], past, billable),
            partial(changes, connections[1], past, billable),
            partial(setups, connections[2], past, now),
            partial(out_of_step, connections[3]),
        ]
        if len(set(map(id, connections))) == 1:
            results = [job() for job in jobs]
        else:
            with ThreadPoolExecutor(len(jobs), thread_name_prefix="accrual") as pool:
                futures = [pool.submit(job) for job in jobs]
                results = [future.result() for future in futures]
        if results[3]:
            log.warning(
                "rate_spans is out of step with phone_number_versions (%d numbers): this "
                "report derives the spans from the versions, which is slower. Versions were "
                "written without their spans (by a script, or an older syncer left running "
                "after an upgrade): stop every syncer, then run `syncer db upgrade "
                "--rebuild-spans`.",
                results[3],
            )
            results = _from_derived_spans(connections[0], past, billable, now)
    (counted, before), found, fees = results[:3]
    gathered = Gathered(
        held=held(before, found, past),
        counted=counted,
        changes=found,
        setups=fees,
        rate_at_now=[],
    )
    if periods[0].start <= now < periods[-1].end:  # the window ends now: what runs on
        gathered.rate_at_now = levels_after(before, found)
    return gathered


DERIVED = "rate_spans_derived"


def _from_derived_spans(
    connection: Connection, past: list[Period], billable: tuple[str, ...], now: datetime
) -> list[Any]:
    """The three queries on spans derived from the versions into a temporary table (in
    the reading transaction's snapshot), one after another on `connection`."""
    dialect = connection.dialect
    derived = derived_spans().compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    # MariaDB commits the transaction at a DROP TABLE, unless it says TEMPORARY
    drop = "DROP TEMPORARY TABLE" if dialect.name in ("mysql", "mariadb") else "DROP TABLE"
    connection.exec_driver_sql(f"{drop} IF EXISTS {DERIVED}")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {DERIVED} AS {derived}")
    try:
        source = table(DERIVED, *(column(c.name, c.type) for c in spans.c if c.name != "id"))
        return [
            numbers_by_month(connection, past, billable, source),
            changes(connection, past, billable, source),
            setups(connection, past, now, source),
        ]
    finally:
        connection.exec_driver_sql(f"{drop} {DERIVED}")


def month_indexes(periods: list[Period]) -> dict[datetime, int]:
    return {period.start: index for index, period in enumerate(periods)}


Rate = tuple[str, Currency, Decimal | None]  # provider, currency, fee


def _steps(change: Change) -> list[tuple[Rate, int]]:
    """What a rate change does to the numbers at each rate: one leaves the rate before (if
    it was billable), one joins the rate after (if billable)."""
    steps = []
    if change.billable_before:
        steps.append(((change.provider, change.currency_before, change.fee_before), -1))
    if change.billable_after:
        steps.append(((change.provider, change.currency_after, change.fee_after), 1))
    return steps


def held(start: list[Level], found: list[Change], periods: list[Period]) -> list[Held]:
    """Microseconds held per month, provider, currency and fee.

    The spans of a number follow one another without gaps (each one's `valid_to` is the
    next one's `valid_from`), so the numbers at a rate change only where a span starts,
    and every such start in the window is in `found` (the starts that change no rate cancel
    out and are left out there). So the time held at a rate in a month is the numbers at
    that rate when the month starts times its length, plus, for each change in the month,
    its step times the rest of the month after it.
    """
    numbers_at: dict[Rate, int] = defaultdict(int)
    for level in start:
        numbers_at[level.provider, level.currency, level.fee] += level.numbers
    by_month: dict[int, list[Change]] = defaultdict(list)
    for change in found:
        by_month[change.month].append(change)
    totals: dict[tuple[int, Rate], int] = defaultdict(int)
    for month, period in enumerate(periods):
        length = period.micros
        for rate, count in numbers_at.items():
            totals[month, rate] += count * length
        for change in by_month[month]:
            rest = change.changes * length - change.elapsed
            for rate, step in _steps(change):
                totals[month, rate] += step * rest
                numbers_at[rate] += step * change.changes
    return [Held(month, *rate, micros) for (month, rate), micros in totals.items() if micros]


def levels_after(start: list[Level], found: list[Change]) -> list[Level]:
    """The numbers per rate at the end of the window: those at its start, moved by every
    change in it."""
    numbers_at: dict[Rate, int] = defaultdict(int)
    for level in start:
        numbers_at[level.provider, level.currency, level.fee] += level.numbers
    for change in found:
        for rate, step in _steps(change):
            numbers_at[rate] += step * change.changes
    return [Level(*rate, count) for rate, count in numbers_at.items() if count]


def numbers_by_month(
    connection: Connection,
    periods: list[Period],
    billable: tuple[str, ...],
    source: TableClause = spans,
) -> tuple[list[Counted], list[Level]]:
    """Distinct numbers held in a billable status, and the unpriced ones, per month and
    currency: the months of each number as a bit mask (one query per `MASK_MONTHS` months).
    And, from the same pass, the numbers per rate just before the window starts."""
    totals: dict[tuple[int, Currency], list[int]] = defaultdict(lambda: [0, 0])
    at_start: dict[Rate, int] = defaultdict(int)
    for offset in range(0, len(periods), MASK_MONTHS):
        chunk = periods[offset : offset + MASK_MONTHS]
        # Thousands of rows share a few hundred masks: add the numbers up per mask first,
        # then spread each mask over its months once.
        per_mask: dict[tuple[int, Currency, int], int] = defaultdict(int)
        rows = connection.execute(_masks(chunk, billable, source))
        for provider, currency, mask, unpriced, is_at_start, fee, count in rows:
            per_mask[int(mask), currency, 0] += int(count)
            if unpriced:
                per_mask[int(unpriced), currency, 1] += int(count)
            if offset == 0 and is_at_start:
                at_start[provider, currency, fee] += int(count)
        for (mask, currency, which), count in per_mask.items():
            for bit in _bits(mask):
                totals[offset + bit, currency][which] += count
    counted = [
        Counted(month, currency, numbers, unpriced)
        for (month, currency), (numbers, unpriced) in totals.items()
    ]
    return counted, [Level(*rate, count) for rate, count in at_start.items()]


def _masks(periods: list[Period], billable: tuple[str, ...], source: TableClause) -> Select[Any]:
    """Per number and currency: the months of `periods` it was held in a billable status (a
    bit per month), the same for its unpriced spans, and whether it was so just before the
    first month, at which fee; then how many numbers have each of these."""
    v = source.c
    start, end = periods[0].start, periods[-1].end
    one = literal(1, BigInteger())
    first = period_index(v.valid_from, periods)
    last = period_index(v.valid_to, periods, last_covered=True)
    reaches_in = or_(v.valid_to.is_(None), v.valid_to > start)
    months = case((reaches_in, one.op("<<")(last + 1) - one.op("<<")(first)), else_=0)
    before_start = and_(v.valid_from < start, or_(v.valid_to.is_(None), v.valid_to >= start))
    per_number = (
        select(
            v.number_id,
            v.provider,
            v.currency,
            bit_or(months).label("mask"),
            bit_or(case((v.monthly_fee.is_(None), months), else_=0)).label("unpriced_mask"),
            func.max(case((before_start, 1), else_=0)).label("at_start"),
            func.max(case((before_start, v.monthly_fee))).label("fee_at_start"),
        )
        .where(
            v.status.in_(billable),
            v.valid_from < end,
            or_(v.valid_to.is_(None), v.valid_to >= start),  # in force just before, too
        )
        .group_by(v.number_id, v.provider, v.currency)
        .subquery("per_number")
    )
    p = per_number.c
    group = [p.provider, p.currency, p.mask, p.unpriced_mask, p.at_start, p.fee_at_start]
    return select(*group, func.count().label("numbers")).group_by(*group)


def _bits(mask: int) -> list[int]:
    return [bit for bit in range(mask.bit_length()) if mask >> bit & 1]


def changes(
    connection: Connection,
    periods: list[Period],
    billable: tuple[str, ...],
    source: TableClause = spans,
) -> list[Change]:
    """Every span start in the months, grouped by what changed (see the module doc).

    The flags are computed in a subquery and grouped on outside, so the GROUP BY names plain
    columns on every dialect.
    """
    v = source.c
    start, end = periods[0].start, periods[-1].end
    flags = (
        select(
            period_start(v.valid_from, periods).label("month_start"),
            v.provider,
            case((or_(v.status_before.is_(None), v.status_before == RELEASED), 1), else_=0).label(
                "appears"
            ),
            case((v.status == RELEASED, 1), else_=0).label("released"),
            case((v.status_before.in_(billable), 1), else_=0).label("billable_before"),
            v.fee_before,
            v.currency_before,
            case((v.status.in_(billable), 1), else_=0).label("billable_after"),
            v.monthly_fee.label("fee_after"),
            v.currency.label("currency_after"),
            v.valid_from.label("changed_at"),
        )
        .where(
            v.valid_from >= start,
            v.valid_from < end,
            or_(v.status.in_(billable), v.status_before.in_(billable)),
            # a span that starts with a new setup fee or creation time changes no rate
            not_(
                and_(
                    v.status.in_(billable),
                    v.status_before.in_(billable),
                    v.monthly_fee.is_not_distinct_from(v.fee_before),
                    v.currency.is_not_distinct_from(v.currency_before),
                )
            ),
        )
        .subquery("flags")
    )
    group = [c for c in flags.c if c.name != "changed_at"]
    query = select(
        *group,
        func.count().label("changes"),
        micros_sum(flags.c.month_start, flags.c.changed_at).label("elapsed"),
    ).group_by(*group)
    index = month_indexes(periods)
    return [
        Change(
            index[row.month_start],
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


def setups(
    connection: Connection, periods: list[Period], now: datetime, source: TableClause = spans
) -> list[Setup]:
    """Setup fees by month of `provider_created_at`, once per number and creation time (from
    the first version with a setup fee that carries it: a new creation time or setup fee
    starts a span, so that version starts one), of the numbers syncer had seen by `now` (so
    a past `now` reproduces a past report).

    A provider either quotes setup fees for every version of a number (TryVox) or for none
    (Ringyo), so the spans without one are left out before they are numbered.

    Only months that end after the account's first sighting count: like the monthly fees,
    what came before the mirror is not reconstructed, so the month before an account's
    first sync accrues nothing and its first month's change invents no setup-fee drop."""
    v = source.c
    start, end = periods[0].start, periods[-1].end
    rentals = (
        select(
            v.provider_created_at,
            v.number_id,
            v.currency,
            v.setup_fee,
            func.row_number()
            .over(partition_by=[v.number_id, v.provider_created_at], order_by=v.valid_from)
            .label("sighting"),
        )
        .where(
            v.provider_created_at >= start,
            v.provider_created_at < end,
            v.valid_from < now,
            v.setup_fee.is_not(None),
        )
        .subquery("rentals")
    )
    mirrored = (
        select(
            numbers.c.provider,
            numbers.c.account,
            func.min(numbers.c.first_seen_at).label("since"),
        )
        .group_by(numbers.c.provider, numbers.c.account)
        .subquery("mirrored")
    )
    r = rentals.c
    first_sightings = (
        select(
            period_start(r.provider_created_at, periods).label("month_start"),
            numbers.c.provider,
            r.currency,
            r.setup_fee,
        )
        .select_from(
            rentals.join(numbers, numbers.c.id == r.number_id).join(
                mirrored,
                and_(
                    mirrored.c.provider == numbers.c.provider,
                    mirrored.c.account == numbers.c.account,
                ),
            )
        )
        .where(r.sighting == 1, period_end(r.provider_created_at, periods) > mirrored.c.since)
        .subquery("first_sightings")
    )
    f = first_sightings.c
    group = [f.month_start, f.provider, f.currency]
    query = select(*group, money_sum(f.setup_fee).label("amount")).group_by(*group)
    index = month_indexes(periods)
    found = []
    for row in connection.execute(query):
        amount = read_money(row.amount, connection.dialect.name)
        if amount is not None:
            found.append(Setup(index[row.month_start], row.provider, row.currency, amount))
    return found
