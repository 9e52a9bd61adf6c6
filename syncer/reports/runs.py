"""`syncer report runs`: the last N sync runs, newest first, with their counts and errors.

Runs that started in the same second (the accounts of one `syncer sync`) are listed by id,
newest first, so the order is the same on every database and every time.

A run still going (or left by a process that died, until the account's next run closes it)
has no `finished_at` and no duration. "succeeded" with `listing_complete` false means the
run stored what it saw but could not prove anything released (see docs/design.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from sqlalchemy import Engine, Table, select

from syncer.errors import UsageError
from syncer.outcomes import status_label
from syncer.reports.costs import split_list
from syncer.reports.periods import local_text, parse_zone, zone_name
from syncer.reports.render import Column, TableView
from syncer.reports.sql import reading, to_the_second
from syncer.secrets import scrub
from syncer.store.models import SyncRun
from syncer.timestamps import iso_z

sync_runs = cast(Table, SyncRun.__table__)

DEFAULT_LIMIT = 20
COUNTS = ("pages", "seen", "created", "updated", "unchanged", "released", "rejected")


@dataclass(frozen=True)
class RunsRequest:
    limit: int = DEFAULT_LIMIT
    accounts: tuple[str, ...] = ()
    zone: tzinfo = UTC

    @classmethod
    def parse(
        cls,
        *,
        limit: int = DEFAULT_LIMIT,
        account: Sequence[str] | str | None = None,
        timezone: str | None = None,
    ) -> RunsRequest:
        if limit < 1:
            raise UsageError("--limit: give a positive number of runs")
        return cls(limit, tuple(split_list(account)), parse_zone(timezone))


@dataclass(frozen=True)
class RunRow:
    id: int
    provider: str
    account: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    listing_complete: bool
    counts: dict[str, int]
    error: str | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


@dataclass
class RunsReport:
    request: RunsRequest
    runs: list[RunRow]

    def to_json(self) -> dict[str, Any]:
        return {"runs": [self._as_dict(run) for run in self.runs]}

    @staticmethod
    def _as_dict(run: RunRow) -> dict[str, Any]:
        return {
            "id": run.id,
            "provider": run.provider,
            "account": run.account,
            "started_at": iso_z(run.started_at),
            "finished_at": iso_z(run.finished_at) if run.finished_at else None,
            "duration_seconds": run.duration_seconds,
            "status": run.status,
            "listing_complete": run.listing_complete,
            **run.counts,
            "error": run.error,
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = [
            "id",
            "provider",
            "account",
            "started_at",
            "finished_at",
            "duration_seconds",
            "status",
            "listing_complete",
            *COUNTS,
            "error",
        ]
        return header, [list(self._as_dict(run).values()) for run in self.runs]

    def tables(self) -> list[TableView]:
        zone = self.request.zone
        return [
            TableView(
                title=f"Last {len(self.runs)} sync runs, newest first ({zone_name(zone)})",
                columns=[
                    Column("run", "count"),
                    Column("account"),
                    Column("started"),
                    Column("took", "count"),
                    *(Column(name, "count") for name in COUNTS if name != "unchanged"),
                    Column("status", wrap=True),
                    Column("error", wrap=True),
                ],
                rows=[
                    [
                        run.id,
                        run.account,
                        local_text(run.started_at, zone),
                        None if run.duration_seconds is None else f"{run.duration_seconds:.1f}s",
                        *(run.counts[name] for name in COUNTS if name != "unchanged"),
                        status_label(run.status, run.listing_complete),
                        run.error or "",
                    ]
                    for run in self.runs
                ],
                empty="(no sync runs yet)",
            )
        ]


def runs_report(engine: Engine, request: RunsRequest) -> RunsReport:
    """The last `request.limit` runs (of the named accounts), newest first."""
    c = sync_runs.c
    query = (
        select(sync_runs)
        .order_by(to_the_second(c.started_at).desc(), c.id.desc())
        .limit(request.limit)
    )
    if request.accounts:
        query = query.where(c.account.in_(request.accounts))
    with reading(engine) as connection:
        rows = connection.execute(query).all()
    runs = [
        RunRow(
            id=row.id,
            provider=row.provider,
            account=row.account,
            started_at=row.started_at,
            finished_at=row.finished_at,
            status=row.status,
            listing_complete=bool(row.listing_complete),
            counts={name: int(getattr(row, name)) for name in COUNTS},
            error=scrub(row.error) if row.error else None,
        )
        for row in rows
    ]
    return RunsReport(request, runs)
