"""`syncer report changes`: the status transitions in a period, listed and summarized.

The period is `[since, until)`, the last 7 days unless `--since`/`--until` say otherwise
(dates are read as `syncer.reports.periods` describes; a date as `--until` includes that
day). A first sighting has `from_status` null (`--from-status new` selects them); a number
gone from its account's complete listing has `to_status` "released". Filters by account,
provider, country, from and to status are bound parameters of one WHERE clause, shared by
the list, the from->to summary and the per-day counts of the chart; the summary and the
per-day counts are GROUP BYs in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, Table, func, or_, select

from syncer.errors import UsageError
from syncer.provider_facts import MIRROR_STATUSES, PROVIDERS
from syncer.reports.costs import split_list
from syncer.reports.periods import (
    Period,
    days,
    local_text,
    parse_instant,
    parse_zone,
    zone_name,
)
from syncer.reports.render import Column, TableView
from syncer.reports.sql import periods_table, reading, to_the_second
from syncer.store.models import PhoneNumber, StatusChange
from syncer.timestamps import iso_z

numbers = cast(Table, PhoneNumber.__table__)
status_changes = cast(Table, StatusChange.__table__)

DEFAULT_DAYS = 7
NEW = "new"  # how `--from-status` names a first sighting (from_status null)
FIRST_SEEN = "first seen"
MAX_CHART_DAYS = 1000
PERIODS_PER_QUERY = 400  # below SQLite's 500 terms of a compound SELECT


@dataclass(frozen=True)
class ChangesRequest:
    since: datetime | None = None  # None: `until` minus 7 days
    until: datetime | None = None  # None: now
    zone: tzinfo = UTC
    accounts: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    from_statuses: tuple[str, ...] = ()  # "new" stands for a first sighting
    to_statuses: tuple[str, ...] = ()
    limit: int | None = None

    @classmethod
    def parse(
        cls,
        *,
        since: str | None = None,
        until: str | None = None,
        timezone: str | None = None,
        account: Sequence[str] | str | None = None,
        provider: Sequence[str] | str | None = None,
        country: Sequence[str] | str | None = None,
        from_status: Sequence[str] | str | None = None,
        to_status: Sequence[str] | str | None = None,
        limit: int | None = None,
    ) -> ChangesRequest:
        """From the command line's strings; bad input raises `UsageError`."""
        zone = parse_zone(timezone)
        start = parse_instant(since, zone, "--since") if since is not None else None
        end = parse_instant(until, zone, "--until", end_of_day=True) if until is not None else None
        if start is not None and end is not None and start >= end:
            raise UsageError(f"--since {since} is not before --until {until}")
        if limit is not None and limit < 1:
            raise UsageError("--limit: give a positive number of changes")
        providers = tuple(split_list(provider))
        unknown = [p for p in providers if p not in PROVIDERS]
        if unknown:
            raise UsageError(
                f"--provider: unknown provider {unknown[0]!r} ({', '.join(PROVIDERS)})"
            )
        return cls(
            since=start,
            until=end,
            zone=zone,
            accounts=tuple(split_list(account)),
            providers=providers,
            countries=tuple(code.upper() for code in split_list(country)),
            from_statuses=_statuses(from_status, "--from-status", allow_new=True),
            to_statuses=_statuses(to_status, "--to-status", allow_new=False),
            limit=limit,
        )

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        until = self.until or now
        since = self.since or until - timedelta(days=DEFAULT_DAYS)
        if since >= until:
            raise UsageError(f"--since {iso_z(since)} is not before --until {iso_z(until)}")
        return since, until


def _statuses(
    values: Sequence[str] | str | None, option: str, *, allow_new: bool
) -> tuple[str, ...]:
    statuses = tuple(dict.fromkeys(split_list(values)))
    known = (NEW, *MIRROR_STATUSES) if allow_new else MIRROR_STATUSES
    unknown = [status for status in statuses if status not in known]
    if unknown:
        raise UsageError(f"{option}: unknown status {unknown[0]!r} (known: {', '.join(known)})")
    return statuses


@dataclass(frozen=True)
class ChangeRow:
    provider: str
    account: str
    e164: str
    from_status: str | None
    to_status: str
    changed_at: datetime


@dataclass(frozen=True)
class SummaryRow:
    from_status: str | None
    to_status: str
    count: int


@dataclass
class ChangesReport:
    request: ChangesRequest
    since: datetime
    until: datetime
    changes: list[ChangeRow]
    summary: list[SummaryRow]
    per_day: dict[str, dict[str, int]] | None = None  # day -> transition label -> count
    summary_only: bool = False  # `--summary`: no list of changes in any format

    @property
    def total(self) -> int:
        return sum(line.count for line in self.summary)

    def to_json(self) -> dict[str, Any]:
        """The documented shape; with `--summary` the `changes` key is left out (an empty
        list would say there were none)."""
        document = {
            "since": iso_z(self.since),
            "until": iso_z(self.until),
            "changes": [
                {
                    "provider": change.provider,
                    "account": change.account,
                    "e164": change.e164,
                    "from_status": change.from_status,
                    "to_status": change.to_status,
                    "changed_at": iso_z(change.changed_at),
                }
                for change in self.changes
            ],
            "summary": [
                {"from_status": line.from_status, "to_status": line.to_status, "count": line.count}
                for line in self.summary
            ],
        }
        if self.summary_only:
            del document["changes"]
        return document

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One row per change; with `--summary`, one row per from->to pair."""
        if self.summary_only:
            return ["from_status", "to_status", "count"], [
                [line.from_status, line.to_status, line.count] for line in self.summary
            ]
        header = ["provider", "account", "e164", "from_status", "to_status", "changed_at"]
        rows = [
            [c.provider, c.account, c.e164, c.from_status, c.to_status, iso_z(c.changed_at)]
            for c in self.changes
        ]
        return header, rows

    def tables(self) -> list[TableView]:
        zone = self.request.zone
        span = f"{local_text(self.since, zone)} to {local_text(self.until, zone)} {zone_name(zone)}"
        summary = TableView(
            title=f"Status changes from {span}",
            columns=[Column("from"), Column("to"), Column("count", "count")],
            rows=[
                [line.from_status or f"({NEW})", line.to_status, line.count]
                for line in self.summary
            ],
            totals=[["total", "", self.total]] if self.summary else [],
            empty="(no status changes)",
        )
        if not self.changes:
            return [summary]
        notes = []
        if len(self.changes) < self.total:
            notes.append(f"showing the first {len(self.changes)} of {self.total} changes")
        listing = TableView(
            title="Changes, oldest first",
            columns=[
                Column(f"changed at ({zone_name(zone)})"),
                Column("provider"),
                Column("account"),
                Column("number"),
                Column("from"),
                Column("to"),
            ],
            rows=[
                [
                    local_text(c.changed_at, zone),
                    c.provider,
                    c.account,
                    c.e164,
                    c.from_status or f"({NEW})",
                    c.to_status,
                ]
                for c in self.changes
            ],
            notes=notes,
        )
        return [summary, listing]


def changes_report(
    engine: Engine,
    request: ChangesRequest,
    *,
    now: datetime | None = None,
    per_day: bool = False,
    listing: bool = True,
) -> ChangesReport:
    """The changes of `request` (the list only when `listing`, else the summary alone;
    per-day counts for a chart)."""
    since, until = request.period(now or datetime.now(UTC))
    source, where = _filtered(request, since, until)
    with reading(engine) as connection:
        summary = _summary(connection, source, where)
        changes = _listing(connection, source, where, request.limit) if listing else []
        by_day = _per_day(connection, request, source, where, since, until) if per_day else None
    return ChangesReport(request, since, until, changes, summary, by_day, summary_only=not listing)


def _filtered(
    request: ChangesRequest, since: datetime, until: datetime
) -> tuple[FromClause, list[ColumnElement[bool]]]:
    c = status_changes.c
    source: FromClause = status_changes
    where: list[ColumnElement[bool]] = [c.changed_at >= since, c.changed_at < until]
    if request.accounts:
        where.append(c.account.in_(request.accounts))
    if request.providers:
        where.append(c.provider.in_(request.providers))
    if request.to_statuses:
        where.append(c.to_status.in_(request.to_statuses))
    if request.from_statuses:
        named = [status for status in request.from_statuses if status != NEW]
        either = [c.from_status.in_(named)] if named else []
        if NEW in request.from_statuses:
            either.append(c.from_status.is_(None))
        where.append(or_(*either))
    if request.countries:
        source = status_changes.join(numbers, numbers.c.id == c.number_id)
        where.append(numbers.c.country.in_(request.countries))
    return source, where


def _summary(
    connection: Connection, source: FromClause, where: list[ColumnElement[bool]]
) -> list[SummaryRow]:
    c = status_changes.c
    query = (
        select(c.from_status, c.to_status, func.count().label("changes"))
        .select_from(source)
        .where(*where)
        .group_by(c.from_status, c.to_status)
    )
    lines = [
        SummaryRow(row.from_status, row.to_status, int(row.changes))
        for row in connection.execute(query)
    ]
    lines.sort(key=lambda line: (-line.count, line.from_status or "", line.to_status))
    return lines


def _listing(
    connection: Connection,
    source: FromClause,
    where: list[ColumnElement[bool]],
    limit: int | None,
) -> list[ChangeRow]:
    c = status_changes.c
    query = (
        select(c.provider, c.account, c.e164, c.from_status, c.to_status, c.changed_at)
        .select_from(source)
        .where(*where)
        .order_by(to_the_second(c.changed_at), c.provider, c.account, c.e164, c.id)
        .limit(limit)
    )
    return [ChangeRow(*row) for row in connection.execute(query)]


def _per_day(
    connection: Connection,
    request: ChangesRequest,
    source: FromClause,
    where: list[ColumnElement[bool]],
    since: datetime,
    until: datetime,
) -> dict[str, dict[str, int]]:
    """Changes per local day and transition ("first seen", or the status moved to)."""
    every_day = days(since, until, request.zone)
    if len(every_day) > MAX_CHART_DAYS:
        raise UsageError(f"--chart: at most {MAX_CHART_DAYS} days at once")
    counts: dict[str, dict[str, int]] = {day.label: {} for day in every_day}
    c = status_changes.c
    for start in range(0, len(every_day), PERIODS_PER_QUERY):
        chunk: list[Period] = every_day[start : start + PERIODS_PER_QUERY]
        table = periods_table(chunk, "days")
        in_day = (c.changed_at >= table.c.start_at) & (c.changed_at < table.c.end_at)
        query = (
            select(table.c.idx, c.from_status, c.to_status, func.count().label("changes"))
            .select_from(source.join(table, in_day))
            .where(*where)
            .group_by(table.c.idx, c.from_status, c.to_status)
        )
        for row in connection.execute(query):
            label = FIRST_SEEN if row.from_status is None else f"to {row.to_status}"
            day = counts[chunk[row.idx].label]
            day[label] = day.get(label, 0) + int(row.changes)
    return counts
