"""Schedules mean what cron means, interval runs stay on their grid, and the timing rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncer.daemon import GridIntervalTrigger, jitter_seconds, misfire_grace_seconds
from syncer.schedule import cron_trigger, parse_duration, parse_schedule

SATURDAY_NOON = datetime(2026, 10, 3, 12, 0, tzinfo=UTC)


def fire_times(crontab: str, count: int, after: datetime = SATURDAY_NOON) -> list[datetime]:
    trigger = cron_trigger(crontab)
    times = [trigger.get_next_fire_time(None, after)]
    while len(times) < count:
        times.append(trigger.get_next_fire_time(times[-1], times[-1]))
    return times


def test_crontab_weekdays_count_from_sunday_like_cron() -> None:
    assert [t.strftime("%a %H:%M") for t in fire_times("0 9 * * 1-5", 3)] == [
        "Mon 09:00",
        "Tue 09:00",
        "Wed 09:00",
    ]
    assert {t.strftime("%a") for t in fire_times("0 0 * * 0", 2)} == {"Sun"}
    assert {t.strftime("%a") for t in fire_times("0 0 * * 7", 2)} == {"Sun"}
    assert {t.strftime("%a") for t in fire_times("0 0 * * 5-7", 6)} == {"Fri", "Sat", "Sun"}
    assert {t.strftime("%a") for t in fire_times("0 0 * * */2", 8)} == {"Sun", "Tue", "Thu", "Sat"}
    assert {t.strftime("%a") for t in fire_times("0 0 * * mon,FRI", 4)} == {"Mon", "Fri"}


def test_crontab_with_day_and_weekday_fires_on_either() -> None:
    times = fire_times("0 0 13 * 5", 4)  # the 13th, and every Friday
    assert [t.strftime("%a %d") for t in times] == ["Fri 09", "Tue 13", "Fri 16", "Fri 23"]


def test_crontab_runs_in_utc() -> None:
    assert fire_times("30 2 * * *", 1)[0] == datetime(2026, 10, 4, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0 * * 8", "out of range"),
        ("0 0 * * 5-1", "runs backwards"),
        ("0 0 * * someday", "not a weekday"),
        ("0 24 * * *", "not a valid crontab"),
    ],
)
def test_bad_crontabs_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_period_of_a_schedule() -> None:
    assert parse_schedule("every 10m").period(SATURDAY_NOON) == timedelta(minutes=10)
    assert parse_schedule("*/5 * * * *").period(SATURDAY_NOON) == timedelta(minutes=5)
    assert parse_schedule("0 * * * *").period(SATURDAY_NOON) == timedelta(hours=1)
    # Weekdays at 9: on a Saturday the next two runs are Monday and Tuesday.
    assert parse_schedule("0 9 * * 1-5").period(SATURDAY_NOON) == timedelta(days=1)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "0s", "5w", "1.5h", "-1h"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_interval_runs_stay_on_their_grid_despite_jitter() -> None:
    start = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    trigger = GridIntervalTrigger(minutes=10, jitter=60, start_date=start, timezone=UTC)
    fired = trigger.get_next_fire_time(None, start)
    for tick in range(1, 200):
        assert fired is not None
        fired = trigger.get_next_fire_time(fired, fired)
        assert fired is not None
        on_grid = start + timedelta(minutes=10 * tick)
        assert on_grid <= fired <= on_grid + timedelta(seconds=60)


def test_after_a_run_at_start_the_grid_begins_one_interval_later() -> None:
    now = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    trigger = GridIntervalTrigger(hours=1, start_date=now + timedelta(hours=1), timezone=UTC)
    assert trigger.get_next_fire_time(now - timedelta(seconds=1), now) == now + timedelta(hours=1)


def test_jitter_and_misfire_grace_follow_the_period() -> None:
    assert jitter_seconds(timedelta(seconds=1)) == pytest.approx(0.1)
    assert jitter_seconds(timedelta(minutes=10)) == 60
    assert jitter_seconds(timedelta(hours=1)) == 300  # at most five minutes
    assert jitter_seconds(timedelta(days=1)) == 300
    assert misfire_grace_seconds(timedelta(seconds=1)) == 1
    assert misfire_grace_seconds(timedelta(hours=1)) == 3600


@pytest.mark.parametrize(
    ("crontab", "expected"),
    [
        ("*/15 * * * *", ["Sat 2026-10-03 12:00", "Sat 2026-10-03 12:15", "Sat 2026-10-03 12:30"]),
        (  # a range with a step, and weekday names
            "0 8-18/2 * * tue-thu",
            [f"Tue 2026-10-06 {h:02d}:00" for h in range(8, 19, 2)] + ["Wed 2026-10-07 08:00"],
        ),
        ("5 4 * jan,jul sun", ["Sun 2027-01-03 04:05", "Sun 2027-01-10 04:05"]),
        ("15 10 29 2 *", ["Tue 2028-02-29 10:15", "Sun 2032-02-29 10:15"]),  # leap days only
        (  # day of month OR day of week, as cron does it
            "0 0 31 * 1",
            [
                "Mon 2026-10-05 00:00",
                "Mon 2026-10-12 00:00",
                "Mon 2026-10-19 00:00",
                "Mon 2026-10-26 00:00",
                "Sat 2026-10-31 00:00",
            ],
        ),
        (
            "0 0 1,15 * mon",
            ["Mon 2026-10-05 00:00", "Mon 2026-10-12 00:00", "Thu 2026-10-15 00:00"],
        ),
        ("0 12 * * 6-7", ["Sat 2026-10-03 12:00", "Sun 2026-10-04 12:00", "Sat 2026-10-10 12:00"]),
        (  # a day-of-month step starts with `*`: cron then wants both fields to match
            "0 0 */2 * 5",
            ["Fri 2026-10-09 00:00", "Fri 2026-10-23 00:00", "Fri 2026-11-13 00:00"],
        ),
    ],
)
def test_real_crontabs_fire_when_cron_would(crontab: str, expected: list[str]) -> None:
    """The expected times are cron's (Vixie cron's rules, as cronsim also computes them);
    a time equal to `after` counts as the first fire."""
    times = fire_times(crontab, len(expected))
    assert [t.strftime("%a %Y-%m-%d %H:%M") for t in times] == expected
