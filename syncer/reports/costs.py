"""`syncer report costs`: the monthly-fee run-rate, now or at any instant of the history.

The run-rate is the sum of the monthly fees of the numbers held, grouped by any of provider,
account, country, type and status, and always by currency: totals are per currency, never
added across currencies. A number without a known fee (a Ringyo account without a fee
schedule) counts in `numbers` and in `unpriced_numbers`, never as a zero fee;
`monthly_fee_total` is the sum over the priced numbers, and null when a row has none.

Without `--as-of` the answer comes from `phone_numbers` (the current state). With it, from
`phone_number_versions`: the version of each number in force at that instant
(`valid_from <= t` and `valid_to` null or `> t`). Released numbers are left out unless
`--status` asks for them. The grouping is done by the database; Python only adds up the
per-currency totals of the (few) groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, FromClause, Table, and_, func, or_, select

from syncer.errors import UsageError
from syncer.provider_facts import MIRROR_STATUSES
from syncer.records import RELEASED
from syncer.reports.money import money_string
from syncer.reports.periods import (
    local_text,
    parse_instant,
    parse_zone,
    refuse_future,
    zone_name,
)
from syncer.reports.render import Column, TableView
from syncer.reports.sql import money_sum, read_money, reading
from syncer.store.models import PhoneNumber, PhoneNumberVersion
from syncer.timestamps import iso_z

numbers = cast(Table, PhoneNumber.__table__)
versions = cast(Table, PhoneNumberVersion.__table__)

GROUP_KEYS = ("provider", "account", "country", "type", "status")
DEFAULT_GROUP_BY = ("provider", "account")
FIGURES = ("currency", "numbers", "monthly_fee_total", "unpriced_numbers")


def split_list(values: str | Sequence[str] | None) -> list[str]:
    """`"a,b"` or `["a", "b,c"]` as `["a", "b", "c"]` (options may be repeated or comma lists)."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def parse_statuses(values: str | Sequence[str] | None, option: str) -> tuple[str, ...]:
    statuses = tuple(dict.fromkeys(split_list(values)))
    unknown = [status for status in statuses if status not in MIRROR_STATUSES]
    if unknown:
        raise UsageError(
            f"{option}: unknown status {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(MIRROR_STATUSES)})"
        )
    return statuses


@dataclass(frozen=True)
class CostsRequest:
    """What to report: `as_of` None means now, from the current state."""

    as_of: datetime | None = None
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    statuses: tuple[str, ...] = ()  # empty: every status except released
    zone: tzinfo = UTC

    @classmethod
    def parse(
        cls,
        *,
        as_of: str | None = None,
        by: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> CostsRequest:
        """From the command line's strings; bad input raises `UsageError`."""
        zone = parse_zone(timezone)
        group_by = DEFAULT_GROUP_BY if by is None else tuple(dict.fromkeys(split_list(by)))
        unknown = [key for key in group_by if key not in GROUP_KEYS]
        if unknown:
            raise UsageError(
                f"--by: unknown key {', '.join(map(repr, unknown))} "
                f"(choose from {', '.join(GROUP_KEYS)})"
            )
        return cls(
            as_of=parse_instant(as_of, zone, "--as-of") if as_of is not None else None,
            group_by=group_by,
            statuses=parse_statuses(status, "--status"),
            zone=zone,
        )


@dataclass(frozen=True)
class CostsRow:
    keys: tuple[str | None, ...]
    currency: str | None
    numbers: int
    monthly_fee_total: Decimal | None
    unpriced_numbers: int


@dataclass(frozen=True)
class CostsReport:
    request: CostsRequest
    as_of: datetime
    rows: list[CostsRow]
    totals: list[CostsRow]

    def to_json(self) -> dict[str, Any]:
        group_by = list(self.request.group_by)
        return {
            "as_of": iso_z(self.as_of),
            "group_by": group_by,
            "rows": [
                dict(zip(group_by, row.keys, strict=True)) | _money_fields(row) for row in self.rows
            ],
            "totals": [_money_fields(row) for row in self.totals],
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = [*self.request.group_by, *FIGURES]
        rows = [
            [
                *row.keys,
                row.currency,
                row.numbers,
                money_string(row.monthly_fee_total),
                row.unpriced_numbers,
            ]
            for row in self.rows
        ]
        return header, rows

    def tables(self) -> list[TableView]:
        keys = self.request.group_by
        columns = [Column(key) for key in keys] + [
            Column("currency"),
            Column("numbers", "count"),
            Column("unpriced", "count"),
            Column("monthly fees", "money"),
        ]

        def cells(row: CostsRow, label: tuple[Any, ...]) -> list[Any]:
            return [
                *label,
                row.currency,
                row.numbers,
                row.unpriced_numbers,
                row.monthly_fee_total,
            ]

        blank = ("",) * max(0, len(keys) - 1)
        totals = [cells(row, ("total", *blank) if keys else ()) for row in self.totals]
        when = local_text(self.as_of, self.request.zone) + " " + zone_name(self.request.zone)
        source = "from history" if self.request.as_of else "current state"
        statuses = ", ".join(self.request.statuses) or "all but released"
        notes = []
        if any(row.unpriced_numbers for row in self.totals):
            notes.append(
                "unpriced: numbers without a known fee (no fee schedule), not counted as zero"
            )
        return [
            TableView(
                title=f"Monthly-fee run-rate as of {when} ({source}; status: {statuses})",
                columns=columns,
                rows=[cells(row, row.keys) for row in self.rows],
                totals=totals,
                notes=notes,
                empty="(no numbers held)",
            )
        ]


def _money_fields(row: CostsRow) -> dict[str, Any]:
    return {
        "currency": row.currency,
        "numbers": row.numbers,
        "monthly_fee_total": money_string(row.monthly_fee_total),
        "unpriced_numbers": row.unpriced_numbers,
    }


def costs_report(
    engine: Engine, request: CostsRequest, *, now: datetime | None = None
) -> CostsReport:
    """The run-rate of `request`; `now` (default: the system clock) is the as-of when none given."""
    now = now or datetime.now(UTC)
    refuse_future(request.as_of, now, "--as-of", request.zone)
    as_of = request.as_of or now
    source: FromClause
    if request.as_of is None:
        source = numbers
        state: Table = numbers
        where: list[ColumnElement[bool]] = []
    else:
        source = versions.join(numbers, numbers.c.id == versions.c.number_id)
        state = versions
        where = [
            versions.c.valid_from <= request.as_of,
            or_(versions.c.valid_to.is_(None), versions.c.valid_to > request.as_of),
        ]
    if request.statuses:
        where.append(state.c.status.in_(request.statuses))
    else:
        where.append(state.c.status != RELEASED)
    key_columns = {
        "provider": numbers.c.provider,
        "account": numbers.c.account,
        "country": state.c.country,
        "type": state.c.number_type,
        "status": state.c.status,
    }
    group = [key_columns[key] for key in request.group_by] + [state.c.currency]
    query = (
        select(
            *group,
            func.count().label("numbers"),
            money_sum(state.c.monthly_fee).label("fees"),
            func.count(state.c.monthly_fee).label("priced"),
        )
        .select_from(source)
        .where(and_(*where))
        .group_by(*group)
    )
    with reading(engine) as connection:
        result = connection.execute(query).all()
    dialect = engine.dialect.name
    width = len(request.group_by)
    rows = [
        CostsRow(
            keys=tuple(record[:width]),
            currency=record[width],
            numbers=int(record.numbers),
            monthly_fee_total=read_money(record.fees, dialect),
            unpriced_numbers=int(record.numbers) - int(record.priced),
        )
        for record in result
    ]
    rows.sort(key=lambda row: (tuple(_sortable(key) for key in row.keys), _sortable(row.currency)))
    return CostsReport(request, as_of, rows, per_currency_totals(rows))


def per_currency_totals(rows: Sequence[CostsRow]) -> list[CostsRow]:
    """One row per currency (priced currencies first, then the unknown one)."""
    totals: dict[str | None, CostsRow] = {}
    for row in rows:
        seen = totals.get(row.currency)
        if seen is None:
            totals[row.currency] = CostsRow(
                (), row.currency, row.numbers, row.monthly_fee_total, row.unpriced_numbers
            )
            continue
        fees = seen.monthly_fee_total
        if row.monthly_fee_total is not None:
            fees = row.monthly_fee_total if fees is None else fees + row.monthly_fee_total
        totals[row.currency] = CostsRow(
            (),
            row.currency,
            seen.numbers + row.numbers,
            fees,
            seen.unpriced_numbers + row.unpriced_numbers,
        )
    return [totals[key] for key in sorted(totals, key=_sortable)]


def _sortable(value: str | None) -> tuple[int, str]:
    """Sort keys with None (unknown) last."""
    return (1, "") if value is None else (0, value)
