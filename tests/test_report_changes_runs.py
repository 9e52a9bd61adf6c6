"""`report changes` and `report runs` on every database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert

from syncer.errors import UsageError
from syncer.reports.changes import ChangesReport, ChangesRequest, changes_report
from syncer.reports.render import render_text
from syncer.reports.runs import RunsRequest, runs_report
from syncer.store.models import SyncRun
from tests import report_shapes
from tests.history import History, ringyo, utc, vox


def changes(engine: Engine, now: Any = None, **options: Any) -> ChangesReport:
    report = changes_report(
        engine, ChangesRequest.parse(**options), now=now or utc(2026, 10, 10), per_day=True
    )
    report_shapes.check_changes(json.loads(render_text(report, "json")))
    return report


def summary(report: ChangesReport) -> list[tuple[Any, ...]]:
    return [(line.from_status, line.to_status, line.count) for line in report.summary]


@pytest.fixture
def history(engine: Engine) -> History:
    """Four first sightings on 1 October, three changes on the 5th, one on the 9th."""
    history = History(engine)
    account = history.tryvox(items=[vox(1), vox(2), vox(3, status="pending")])
    ringyo_account = history.ringyo(items=[ringyo(1, country="US")])
    history.sync_at(utc(2026, 10, 1, 9))
    account.items[0]["status"] = "suspended"
    account.items[2]["status"] = "active"
    del account.items[1]  # released
    history.sync_at(utc(2026, 10, 5, 9))
    ringyo_account.items[0]["status"] = "inactive"
    history.sync_at(utc(2026, 10, 9, 9))
    return history


def test_last_seven_days_by_default(engine: Engine, history: History) -> None:
    report = changes(engine)  # now: 10 October 00:00, so from 3 October 00:00
    assert (report.since, report.until) == (utc(2026, 10, 3), utc(2026, 10, 10))
    assert summary(report) == [
        ("active", "inactive", 1),
        ("active", "released", 1),
        ("active", "suspended", 1),
        ("pending", "active", 1),
    ]
    assert [(c.e164, c.from_status, c.to_status, c.changed_at) for c in report.changes] == [
        ("+442070000001", "active", "suspended", utc(2026, 10, 5, 9)),
        ("+442070000002", "active", "released", utc(2026, 10, 5, 9)),
        ("+442070000003", "pending", "active", utc(2026, 10, 5, 9)),
        ("+14155550001", "active", "inactive", utc(2026, 10, 9, 9)),
    ]
    assert report.per_day is not None
    assert report.per_day["2026-10-05"] == {"to suspended": 1, "to released": 1, "to active": 1}
    assert report.per_day["2026-10-03"] == {}
    doc = json.loads(render_text(report, "json"))
    assert doc["changes"][1] == {
        "provider": "tryvox",
        "account": "vox-main",
        "e164": "+442070000002",
        "from_status": "active",
        "to_status": "released",
        "changed_at": "2026-10-05T09:00:00Z",
    }
    assert doc["summary"][0] == {"from_status": "active", "to_status": "inactive", "count": 1}


def test_first_sightings_and_until_includes_its_day(engine: Engine, history: History) -> None:
    report = changes(engine, since="2026-10-01", until="2026-10-01")
    assert summary(report) == [(None, "active", 3), (None, "pending", 1)]
    assert json.loads(render_text(report, "json"))["changes"][0]["from_status"] is None
    assert "(new)" in render_text(report, "table")


def test_filters(engine: Engine, history: History) -> None:
    cases: list[tuple[dict[str, Any], list[tuple[Any, ...]]]] = [
        ({"provider": "ringyo"}, [("active", "inactive", 1)]),
        ({"account": ["vox-main"], "to_status": "released"}, [("active", "released", 1)]),
        ({"country": "us"}, [("active", "inactive", 1)]),
        ({"from_status": "pending"}, [("pending", "active", 1)]),
        (
            {"from_status": "new,pending", "since": "2026-09-01"},
            [(None, "active", 3), (None, "pending", 1), ("pending", "active", 1)],
        ),
    ]
    for options, expected in cases:
        assert summary(changes(engine, **options)) == expected, options


def test_limit_shortens_the_list_not_the_summary(engine: Engine, history: History) -> None:
    report = changes(engine, since="2026-09-01", limit=2)
    assert len(report.changes) == 2
    assert report.total == 8
    assert "showing the first 2 of 8 changes" in render_text(report, "table")
    assert render_text(report, "csv").splitlines() == [
        "provider,account,e164,from_status,to_status,changed_at",
        "ringyo,ringyo-main,+14155550001,,active,2026-10-01T09:00:00Z",
        "tryvox,vox-main,+442070000001,,active,2026-10-01T09:00:00Z",
    ]


def test_days_follow_the_timezone(engine: Engine, history: History) -> None:
    # 09:00 UTC on 9 October is 05:00 in New York, the same day; in Auckland (UTC+13) 22:00
    report = changes(engine, since="2026-10-09", until="2026-10-10", timezone="Pacific/Auckland")
    assert report.per_day is not None
    assert report.per_day == {"2026-10-09": {"to inactive": 1}, "2026-10-10": {}}


def test_runs_newest_first_with_counts_and_errors(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(items=[vox(1), vox(2)])
    broken = history.ringyo(items=[ringyo(1)])
    history.sync_at(utc(2026, 10, 1, 9))
    del account.items[0]
    broken.on_request = lambda _n, _cursor: httpx.Response(401, json={"error": "unauthorized"})
    history.sync_at(utc(2026, 10, 2, 9), expect_ok=False)

    report = runs_report(engine, RunsRequest.parse(limit=3))
    doc = json.loads(render_text(report, "json"))
    report_shapes.check_runs(doc)
    assert [(r["account"], r["status"], r["started_at"]) for r in doc["runs"]] == [
        ("ringyo-main", "failed", "2026-10-02T09:00:00Z"),
        ("vox-main", "succeeded", "2026-10-02T09:00:00Z"),
        ("ringyo-main", "succeeded", "2026-10-01T09:00:00Z"),
    ]
    failed, second = doc["runs"][0], doc["runs"][1]
    assert failed["error"]
    assert failed["listing_complete"] is False
    assert (second["seen"], second["created"], second["released"], second["unchanged"]) == (
        1,
        0,
        1,
        1,
    )
    assert second["duration_seconds"] == 0.0
    only = runs_report(engine, RunsRequest.parse(account=["vox-main"]))
    assert [run.account for run in only.runs] == ["vox-main", "vox-main"]
    table = render_text(report, "table")
    assert "Last 3 sync runs, newest first (UTC)" in table
    assert "failed" in table


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": "2026-10-05", "until": "2026-10-01"}, "is not before --until"),
        ({"since": "last week"}, "--since: 'last week' is not a date"),
        ({"to_status": "new"}, "--to-status: unknown status 'new'"),
        ({"provider": "acme"}, "--provider: unknown provider 'acme'"),
        ({"limit": 0}, "--limit"),
    ],
)
def test_bad_change_requests(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ChangesRequest.parse(**options)


def test_rows_in_the_same_second_come_in_a_defined_order(engine: Engine) -> None:
    """Tables show times to the second: within one, runs go by id (newest first) and
    changes by provider, account and number, whatever their microseconds."""
    late, early = History(engine), History(engine)
    late.tryvox("vox-a", items=[vox(2), vox(1)])
    early.tryvox("vox-b", items=[vox(3)])
    early.sync_at(datetime(2026, 10, 1, 9, 0, 0, 100_000, tzinfo=UTC))
    late.sync_at(datetime(2026, 10, 1, 9, 0, 0, 900_000, tzinfo=UTC))
    with engine.begin() as connection:  # a third run, started between them, written last
        connection.execute(
            insert(SyncRun).values(
                provider="ringyo",
                account="ringyo-c",
                started_at=datetime(2026, 10, 1, 9, 0, 0, 500_000, tzinfo=UTC),
                status="failed",
                error="boom",
            )
        )

    runs = runs_report(engine, RunsRequest.parse())
    assert [run.account for run in runs.runs] == ["ringyo-c", "vox-a", "vox-b"]  # by id
    listed = changes(engine, since="2026-10-01", until="2026-10-02", now=utc(2026, 10, 3))
    assert [(c.account, c.e164) for c in listed.changes] == [
        ("vox-a", "+442070000001"),
        ("vox-a", "+442070000002"),
        ("vox-b", "+442070000003"),
    ]


def test_summary_only(engine: Engine, history: History) -> None:
    request = ChangesRequest.parse(since="2026-10-01", until="2026-10-10")
    report = changes_report(engine, request, now=utc(2026, 10, 10), listing=False)
    doc = json.loads(render_text(report, "json"))
    assert "changes" not in doc
    assert doc["summary"][0] == {"from_status": None, "to_status": "active", "count": 3}
    assert render_text(report, "csv").splitlines() == [
        "from_status,to_status,count",
        ",active,3",
        ",pending,1",
        "active,inactive,1",
        "active,released,1",
        "active,suspended,1",
        "pending,active,1",
    ]
    table = render_text(report, "table")
    assert "Changes, oldest first" not in table
    assert "total" in table
