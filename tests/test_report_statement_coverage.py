"""What the statement cannot vouch for: days not covered, failed runs, rejected records,
unpriced numbers; decided from real runs of the sync engine at chosen instants."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.config import AccountConfig, Config
from syncer.reports.coverage import BEFORE_FIRST_SYNC, SINCE_LAST_SYNC, SYNC_GAP
from syncer.reports.statement import StatementRequest, statement_report
from tests.history import History, ringyo, utc, vox

OCTOBER_END = datetime(2026, 11, 1, 12, tzinfo=UTC)


def schedules(vox_schedule: str | None, ringyo_schedule: str | None = None) -> Config:
    """The config the statement reads the accounts' schedules from."""
    return Config(
        accounts=[
            AccountConfig(
                name="vox-main",
                provider="tryvox",
                account_id="acc_vox-main",
                api_key=SecretStr("k"),
                schedule=vox_schedule,
            ),
            AccountConfig(
                name="ringyo-main",
                provider="ringyo",
                api_key=SecretStr("k"),
                schedule=ringyo_schedule,
            ),
        ]
    )


def october(engine: Engine) -> History:
    """Two accounts synced on 3, 7, 20, 24 and 28 October and 1 November; Ringyo's listing
    fails on the 7th and carries a malformed record from the 20th."""
    history = History(engine)
    history.tryvox(items=[vox(1, fee="2.00"), vox(2, fee="3.00", status="suspended")])
    fake_ringyo = history.ringyo(items=[ringyo(1), ringyo(2)])  # no fee schedule: unpriced
    history.sync_at(utc(2026, 10, 3, 9))

    def unavailable(_n: int, _cursor: str | None) -> httpx.Response:
        return httpx.Response(503, json={"error": "down"})

    fake_ringyo.on_request = unavailable
    history.sync_at(utc(2026, 10, 7, 9), expect_ok=False)
    fake_ringyo.on_request = None
    fake_ringyo.items.append({**ringyo(3), "status": "bogus"})
    for day in (20, 24, 28):
        history.sync_at(utc(2026, 10, day, 9))
    history.sync_at(utc(2026, 11, 1, 1))
    return history


def test_days_not_covered_follow_each_accounts_schedule(engine: Engine) -> None:
    october(engine)
    report = statement_report(
        engine,
        StatementRequest.parse(month="2026-10"),
        config=schedules("every 48h"),  # a gap of more than 6 days is not covered
        now=OCTOBER_END,
    )
    coverage = {account.account: account for account in report.coverage.accounts}
    vox_days = [f"2026-10-{day:02d}" for day in (1, 2, 3, *range(7, 21))]
    assert coverage["vox-main"].uncovered_days == vox_days
    assert [(gap.kind, gap.start, gap.end) for gap in coverage["vox-main"].gaps] == [
        (BEFORE_FIRST_SYNC, utc(2026, 10, 1), utc(2026, 10, 3, 9)),
        (SYNC_GAP, utc(2026, 10, 7, 9), utc(2026, 10, 20, 9)),
    ]
    assert coverage["vox-main"].schedule_source == "config"
    # ringyo-main has no schedule: the default, every hour, allows 3 hours; and its run on
    # the 7th failed, so the gap runs from the 3rd to the 20th
    ringyo_main = coverage["ringyo-main"]
    assert (ringyo_main.schedule, ringyo_main.schedule_source) == ("every 1h", "default")
    assert ringyo_main.uncovered_days == [f"2026-10-{day:02d}" for day in range(1, 32)]
    assert [(gap.kind, gap.last_success, gap.next_success) for gap in ringyo_main.gaps] == [
        (BEFORE_FIRST_SYNC, None, utc(2026, 10, 3, 9)),
        (SYNC_GAP, utc(2026, 10, 3, 9), utc(2026, 10, 20, 9)),
        (SYNC_GAP, utc(2026, 10, 20, 9), utc(2026, 10, 24, 9)),
        (SYNC_GAP, utc(2026, 10, 24, 9), utc(2026, 10, 28, 9)),
        (SYNC_GAP, utc(2026, 10, 28, 9), utc(2026, 11, 1, 1)),
    ]
    assert (ringyo_main.runs.complete, ringyo_main.runs.failed) == (4, 1)
    assert report.coverage.uncovered_days == ringyo_main.uncovered_days
    doc = report.to_json()
    assert doc["covered"] is False
    assert doc["cannot_vouch_for"]["coverage"]["uncovered_days"] == ringyo_main.uncovered_days


@pytest.mark.parametrize("weekly", ["every 168h", "0 9 * * 1"])  # an interval, a crontab
def test_a_month_synced_within_schedule_is_covered(engine: Engine, weekly: str) -> None:
    october(engine)
    config = schedules(weekly, weekly)
    report = statement_report(
        engine, StatementRequest.parse(month="2026-10"), config=config, now=OCTOBER_END
    )
    # a week allows 21 days: only the days before the first sync are not covered
    for account in report.coverage.accounts:
        assert account.uncovered_days == ["2026-10-01", "2026-10-02", "2026-10-03"]
    november = statement_report(
        engine,
        StatementRequest.parse(month="2026-11"),
        config=config,
        now=datetime(2026, 11, 30, 9, tzinfo=UTC),
    )
    assert not november.complete
    # the month so far: the last success (1 Nov 01:00) is 29 days old, more than 21
    gaps = november.coverage.accounts[0].gaps
    assert [(gap.kind, gap.start) for gap in gaps] == [(SINCE_LAST_SYNC, utc(2026, 11, 1, 1))]
    early_november = statement_report(
        engine,
        StatementRequest.parse(month="2026-11"),
        config=config,
        now=datetime(2026, 11, 10, tzinfo=UTC),
    )
    assert early_november.coverage.complete


def test_rejected_records_and_unpriced_numbers_are_stated(engine: Engine) -> None:
    october(engine)
    report = statement_report(
        engine, StatementRequest.parse(month="2026-10"), config=schedules(None), now=OCTOBER_END
    )
    coverage = report.coverage
    assert (coverage.rejected_records, coverage.rejections_total) == (1, 3)  # 20, 24, 28 Oct
    (rejection,) = coverage.rejections
    assert (rejection.account, rejection.external_id, rejection.times) == (
        "ringyo-main",
        "pn_000003",
        3,
    )
    assert "status" in rejection.reason
    assert report.unpriced_in_month == 2  # ringyo-main's two numbers: no fee schedule
    unpriced = report.to_json()["cannot_vouch_for"]
    assert unpriced["unpriced_numbers"] == 2
    assert unpriced["unpriced_by_account"] == [{"account": "ringyo-main", "unpriced_numbers": 2}]
    assert [figures.currency for figures in report.currencies] == ["USD"]
    runs = {line["account"]: line for line in report.to_json()["sync_runs"]}
    assert runs["vox-main"]["runs"] == 5  # 3, 7, 20, 24, 28 October; 1 November is not in it
    assert runs["ringyo-main"]["failed"] == 1


def test_an_account_in_the_config_that_never_synced_is_not_covered(engine: Engine) -> None:
    History(engine)  # no runs at all
    report = statement_report(
        engine, StatementRequest.parse(month="2026-10"), config=schedules(None), now=OCTOBER_END
    )
    assert [a.account for a in report.coverage.accounts] == ["ringyo-main", "vox-main"]
    for account in report.coverage.accounts:
        assert len(account.uncovered_days) == 31
        assert [(gap.kind, gap.next_success) for gap in account.gaps] == [(BEFORE_FIRST_SYNC, None)]
    assert report.currencies == []
