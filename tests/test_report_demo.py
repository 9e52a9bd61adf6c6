"""`syncer demo` ends with the reports, dated by its own clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from syncer.demo import demo_calendar, run_demo


def test_demo_dates_follow_today_and_none_is_in_the_future() -> None:
    now = datetime(2026, 3, 1, 0, 30, 12, tzinfo=UTC)
    syncs, reports_at = demo_calendar(now)
    assert syncs == (
        datetime(2026, 1, 2, 9, tzinfo=UTC),
        datetime(2026, 2, 7, 9, tzinfo=UTC),
        datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
    )
    assert reports_at == datetime(2026, 3, 1, 0, 30, tzinfo=UTC)


def test_demo_ends_with_costs_changes_and_accrual(tmp_path: Path) -> None:
    lines: list[str] = []
    now = datetime(2027, 1, 11, 10, tzinfo=UTC)
    run_demo(str(tmp_path / "demo.db"), 80, lines.append, now=now)
    text = "\n".join(lines)
    assert "its syncs are dated 2 November 2026, 7 December 2026, 11 January 2027" in text
    order = [
        "1. 2026-11-02 09:00 UTC: first sync",
        "2026-12-07 09:00 UTC: sync again",
        "2027-01-11 09:00 UTC: sync again",
        "Monthly-fee run-rate as of 2027-01-11 10:00:00 UTC",
        "Status changes from 2026-11-03 00:00:00 to 2027-01-11 10:00:00 UTC",
        "Accrued per month (UTC months; billable: active, suspended)",
        "Change from the month before, attributed",
        "syncer report accrual --from 2026-11 --chart accrual.png",
    ]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    for month in ("2026-11 ", "2026-12 ", "2027-01 *"):
        assert f"\n{month}" in text
    assert "(incomplete)" not in text
