"""`report accrual`: what each month accrued, and the attribution of its change, by hand.

Every expectation is written as the arithmetic that gives it: fee x time held / length of
the month, with exact fractions (October has 31 days = 744 hours, November 30 = 720).
"""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import Engine, text

from syncer.reports.accrual import AccrualReport, AccrualRequest, accrual_report
from syncer.reports.accrual_queries import _from_derived_spans
from syncer.reports.attribution import PARTS, MonthRow
from syncer.reports.periods import Period
from syncer.reports.render import render_text
from syncer.store.engine import make_engine, reading_together
from syncer.store.writes import start_run
from tests import report_shapes
from tests.history import History, ringyo, utc, vox

DECEMBER_1 = utc(2026, 12, 1)
F = Fraction


def accrual(engine: Engine, now: Any = DECEMBER_1, **options: Any) -> AccrualReport:
    report = accrual_report(engine, AccrualRequest.parse(**options), now=now)
    report_shapes.check_accrual(json.loads(render_text(report, "json")))
    for row in report.rows:
        if row.delta is not None:  # the attribution always adds up, exactly
            assert sum(row.delta.parts.values(), F(0)) == row.delta.total
    return report


def month(report: AccrualReport, label: str, currency: str | None = "USD") -> MonthRow:
    [row] = [r for r in report.rows if str(r.month) == label and r.currency == currency]
    return row


def parts(row: MonthRow) -> dict[str, Fraction]:
    """The non-zero parts of a month's change."""
    assert row.delta is not None
    return {name: value for name, value in row.delta.parts.items() if value}


def test_number_activated_mid_month_suspended_released_and_readded(engine: Engine) -> None:
    history = History(engine)
    number = vox(1, status="pending", fee="9.30")
    account = history.tryvox(items=[number])
    history.sync_at(utc(2026, 10, 1))  # first seen, pending: not billable
    number["status"] = "active"
    history.sync_at(utc(2026, 10, 11))
    number["status"] = "suspended"  # still billable by default
    history.sync_at(utc(2026, 10, 21))
    account.items.remove(number)  # gone: released
    history.sync_at(utc(2026, 10, 26))
    number["status"] = "active"
    account.items.append(number)  # back again
    history.sync_at(utc(2026, 11, 6))

    report = accrual(engine, start="2026-10", end="2026-11")
    october, november = month(report, "2026-10"), month(report, "2026-11")
    # October: active 11th-21st (10 days) + suspended 21st-26th (5 days) of 31
    assert october.accrued == F("9.30") * 15 / 31 == F("4.50")
    # November: back on the 6th, held to 1 December: 25 of 30 days
    assert november.accrued == F("9.30") * 25 / 30 == F("7.75")
    assert (october.numbers, november.numbers) == (1, 1)
    assert october.complete
    assert november.complete

    # September had nothing; October's 4.50 is the activation on the 11th (the 21 days of
    # October after it) less the release on the 26th (the 6 days after it)
    assert parts(october) == {
        "status_changes": F("9.30") * 21 / 31,  # 6.30
        "numbers_released": -F("9.30") * 6 / 31,  # -1.80
    }
    # November - October = 7.75 - 4.50 = 3.25: the rest of October's changes to a full
    # month, plus November's comeback
    assert november.delta is not None
    assert november.delta.total == F("3.25")
    assert parts(november) == {
        "status_changes": F("9.30") * 10 / 31,  # 3.00: Oct 1st-11th, now paid all month
        "numbers_released": -F("9.30") * 25 / 31,  # -7.50: Oct 1st-26th, now lost
        "numbers_added": F("9.30") * 25 / 30,  # 7.75: back on Nov 6th
    }

    only_active = accrual(engine, start="2026-10", end="2026-11", billable="active")
    assert month(only_active, "2026-10").accrued == F("9.30") * 10 / 31 == F("3.00")
    assert month(only_active, "2026-11").accrued == F("7.75")
    # suspended is not billable now: the suspension on the 21st is a status change too
    assert parts(month(only_active, "2026-10")) == {
        "status_changes": F("9.30") * 21 / 31 - F("9.30") * 11 / 31,  # 6.30 - 3.30
    }


def test_fee_change_mid_month(engine: Engine) -> None:
    history = History(engine)
    number = vox(1, fee="3.10")
    history.tryvox(items=[number])
    history.sync_at(utc(2026, 10, 1))
    number["monthly_fee"] = "6.20"
    history.sync_at(utc(2026, 10, 16))

    report = accrual(engine, start="2026-10", end="2026-11")
    october, november = month(report, "2026-10"), month(report, "2026-11")
    # 15 days at 3.10 and 16 days at 6.20, of 31
    assert october.accrued == F("3.10") * 15 / 31 + F("6.20") * 16 / 31 == F("4.70")
    assert november.accrued == F("6.20")
    assert parts(october) == {
        "numbers_added": F("3.10"),  # seen from 1 October 00:00: a whole month at 3.10
        "price_changes": (F("6.20") - F("3.10")) * 16 / 31,  # 1.60
    }
    assert parts(november) == {"price_changes": (F("6.20") - F("3.10")) * 15 / 31}  # 1.50


def test_setup_fee_counts_in_the_month_the_number_was_created(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(items=[vox(1, fee="1.00", setup="0.50", created="2026-10-01T02:00Z")])
    history.sync_at(utc(2026, 10, 1, 6))  # the mirror starts in October
    account.items.append(vox(2, fee="3.10", setup="2.50", created="2026-10-20T08:00:00Z"))
    account.items.append(vox(3, fee="2.00", setup="4.00", created="2026-10-30T08:00:00Z"))
    history.sync_at(utc(2026, 11, 2))  # number 3 is first seen in November

    report = accrual(engine, start="2026-10", end="2026-11")
    october, november = month(report, "2026-10"), month(report, "2026-11")
    # both October numbers' setup fees, and number 3's, created in October, seen later
    assert october.setup_fees == F("0.50") + F("2.50") + F("4.00")
    assert november.setup_fees == 0
    assert november.delta is not None
    assert november.delta.parts["setup_fees"] == -F("7.00")


def test_nothing_is_invented_for_the_month_before_the_mirror(engine: Engine) -> None:
    """A number bought in September and first seen in October: September was not mirrored,
    so it accrues nothing, setup fee included, and October's change is all October's."""
    history = History(engine)
    first = vox(1, fee="1.00", setup="5.00", created="2026-09-28T10:00:00Z")
    account = history.tryvox(items=[first])
    history.sync_at(utc(2026, 10, 1))  # syncer first sees it in October
    account.items.append(vox(2, fee="3.10", setup="2.50", created="2026-10-20T08:00:00Z"))
    history.sync_at(utc(2026, 10, 21))

    report = accrual(engine, start="2026-09", end="2026-10")
    september, october = month(report, "2026-09"), month(report, "2026-10")
    assert (september.accrued, september.setup_fees, september.numbers) == (0, 0, 0)
    # 1.00 all month + 3.10 x 11/31 (from the 21st) + the second setup fee 2.50
    assert october.accrued == F("1.00") + F("3.10") * 11 / 31 + F("2.50") == F("4.60")
    assert october.setup_fees == F("2.50")
    assert parts(october) == {
        "numbers_added": F("1.00") + F("3.10") * 11 / 31,
        "setup_fees": F("2.50"),
    }
    # the first month of a report on a new mirror: its change is what it accrued
    first_month = month(accrual(engine, start="2026-10", end="2026-10"), "2026-10")
    assert first_month.delta is not None
    assert first_month.delta.total == first_month.accrued
    doc = json.loads(render_text(report, "json"))
    assert doc["months"][1]["delta"] == {
        "total": "4.60",
        "numbers_added": "2.10",
        "numbers_released": "0.00",
        "price_changes": "0.00",
        "status_changes": "0.00",
        "setup_fees": "2.50",
        "not_yet_accrued": "0.00",
    }


def test_two_currencies_and_unpriced_numbers(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(items=[vox(1, fee="2.00"), vox(2, fee="3.10", currency="EUR")])
    history.ringyo(items=[ringyo(1), ringyo(2, status="inactive")])  # no fee schedule
    history.sync_at(utc(2026, 10, 1))

    report = accrual(engine, start="2026-10", end="2026-10")
    assert [(str(r.month), r.currency) for r in report.rows] == [
        ("2026-10", "EUR"),
        ("2026-10", "USD"),
        ("2026-10", None),
    ]
    assert month(report, "2026-10", "EUR").accrued == F("3.10")
    assert month(report, "2026-10", "USD").accrued == F("2.00")
    unpriced = month(report, "2026-10", None)
    # the active Ringyo number is counted, not costed; the inactive one is not billable
    assert (unpriced.accrued, unpriced.numbers, unpriced.unpriced_numbers) == (None, 1, 1)
    doc = json.loads(render_text(report, "json"))
    assert doc["months"][2]["accrued"] is None
    assert doc["months"][2]["delta"] is None
    table = render_text(report, "table")
    assert re.search(r"^total +EUR ", table, re.MULTILINE)
    assert re.search(r"^total +USD ", table, re.MULTILINE)


def test_month_with_no_data(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(items=[vox(1, fee="2.00")])
    history.sync_at(utc(2026, 10, 1))
    report = accrual(engine, start="2026-08", end="2026-10")
    assert [(str(r.month), r.accrued, r.numbers) for r in report.rows] == [
        ("2026-08", F(0), 0),
        ("2026-09", F(0), 0),
        ("2026-10", F("2.00"), 1),
    ]
    assert json.loads(render_text(report, "json"))["months"][0]["accrued"] == "0.00"
    # a range with no data at all has no rows
    assert accrual(engine, start="2025-01", end="2025-02").rows == []


def test_timezone_boundary(engine: Engine) -> None:
    """Europe/Berlin is UTC+2 until 25 October 2026, then UTC+1: its October is 745 hours
    long, from 30 September 22:00 UTC to 31 October 23:00 UTC."""
    history = History(engine)
    account = history.tryvox(items=[vox(1, fee="7.45")])
    history.sync_at(utc(2026, 9, 30, 22))  # 1 October 00:00 in Berlin
    account.items.append(vox(2, fee="7.44"))
    history.sync_at(utc(2026, 10, 31, 23))  # 1 November 00:00 in Berlin

    in_utc = accrual(engine, start="2026-09", end="2026-11")
    assert month(in_utc, "2026-09").accrued == F("7.45") * 2 / 720  # the last 2 hours
    # the first all month, the second for October's last hour (of 744)
    assert month(in_utc, "2026-10").accrued == F("7.45") + F("7.44") * 1 / 744
    assert month(in_utc, "2026-11").accrued == F("7.45") + F("7.44")

    berlin = accrual(engine, start="2026-09", end="2026-11", timezone="Europe/Berlin")
    assert month(berlin, "2026-09").accrued == 0
    assert month(berlin, "2026-10").accrued == F("7.45") * 745 / 745  # all of its 745 hours
    assert month(berlin, "2026-10").numbers == 1
    # November in Berlin ends 30 November 23:00 UTC, before "now" (1 December 00:00 UTC)
    assert month(berlin, "2026-11").accrued == F("7.45") + F("7.44")
    assert month(berlin, "2026-11").complete


def test_current_month_is_accrued_up_to_now(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(items=[vox(1, fee="3.00")])
    history.sync_at(utc(2026, 10, 1))
    report = accrual(engine, now=utc(2026, 11, 16), start="2026-10", end="2026-11")
    november = month(report, "2026-11")
    assert november.accrued == F("3.00") * 15 / 30
    assert not november.complete
    # nothing changed: the drop is the part of November still to come
    assert parts(november) == {"not_yet_accrued": -F("3.00") * 15 / 30}
    assert "* month not over: accrued up to 2026-11-16 00:00:00 UTC" in render_text(report, "table")


def test_attribution_adds_up_on_an_irregular_history(engine: Engine) -> None:
    """Syncs at odd instants across three months: every change of every month is explained."""
    rng = random.Random(7)
    history = History(engine)
    account = history.tryvox(
        items=[vox(n, fee=f"{rng.randint(50, 500) / 100:.2f}") for n in range(12)]
    )
    at = utc(2026, 8, 17, 13, 7, 11)
    history.sync_at(at)
    for _ in range(9):
        for item in rng.sample(account.items, 3):
            item["status"] = rng.choice(["active", "pending", "suspended"])
        rng.choice(account.items)["monthly_fee"] = f"{rng.randint(50, 500) / 100:.2f}"
        rng.choice(account.items)["application_id"] = f"app_{rng.randint(0, 9)}"  # no rate
        if rng.random() < 0.5:
            account.items.remove(rng.choice(account.items))
        account.items.append(vox(100 + rng.randint(0, 999), fee="1.99", currency="EUR"))
        at += timedelta(days=rng.randint(3, 13), seconds=rng.randint(0, 86399))
        history.sync_at(at)
    for zone in ("UTC", "America/New_York"):
        report = accrual(engine, now=at + timedelta(days=3), start="2026-08", timezone=zone)
        assert len(report.rows) >= 8
        totals: dict[Any, Fraction] = {}
        for row in report.rows:  # the changes add up to the months' figures
            assert row.delta is not None
            totals[row.currency] = totals.get(row.currency, F(0)) + row.delta.total
            assert totals[row.currency] == row.accrued
            assert set(row.delta.parts) == set(PARTS)


def test_table_and_csv(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(items=[vox(1, fee="1000.125")])
    history.sync_at(utc(2026, 10, 1))
    report = accrual(engine, start="2026-10", end="2026-10")
    assert render_text(report, "csv").splitlines()[1] == (
        "2026-10,USD,1000.125,0.00,1,0,true,1000.125,1000.125,0.00,0.00,0.00,0.00,0.00"
    )
    table = render_text(report, "table")
    assert "1,000.13" in table  # half away from zero, two decimals
    assert Decimal("1000.125") == month(report, "2026-10").accrued


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": "2026-10", "end": "2026-09"}, "--from 2026-10 is after --to 2026-09"),
        ({"start": "2026-13"}, "--from: '2026-13' is not a month"),
        ({"end": "October"}, "--to: 'October' is not a month"),
        ({"billable": "active,released"}, "a released number is not billable"),
        ({"billable": "happy"}, "--billable: unknown status 'happy'"),
        ({"timezone": "Mars/Olympus"}, "--timezone: unknown time zone"),
    ],
)
def test_bad_requests(options: dict[str, str], message: str) -> None:
    from syncer.errors import UsageError

    with pytest.raises(UsageError, match=message):
        AccrualRequest.parse(**options)


def test_as_of_reproduces_the_report_as_it_stood(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(
        items=[vox(1, fee="2.00", setup="1.00", created="2026-10-02T00:00:00Z")]
    )
    history.sync_at(utc(2026, 10, 3))
    then = accrual(engine, now=utc(2026, 10, 20), start="2026-10", end="2026-10")

    # later: a number bought on the 19th is first seen on the 25th, a fee changes
    account.items.append(vox(2, fee="3.00", setup="4.00", created="2026-10-19T00:00:00Z"))
    account.items[0]["monthly_fee"] = "5.00"
    history.sync_at(utc(2026, 10, 25))
    again = accrual(engine, now=DECEMBER_1, as_of="2026-10-20", start="2026-10", end="2026-10")
    assert [(r.accrued, r.setup_fees, r.numbers, r.delta) for r in again.rows] == [
        (r.accrued, r.setup_fees, r.numbers, r.delta) for r in then.rows
    ]
    assert month(then, "2026-10").accrued == F("2.00") * 17 / 31 + F("1.00")  # 3rd to 20th
    # and today the second number's setup fee is October's, though syncer saw it later
    assert month(accrual(engine, start="2026-10", end="2026-10"), "2026-10").setup_fees == F(5)


def test_a_number_held_for_years_accrues_its_fee_every_month(engine: Engine) -> None:
    """One version held for six years: every month (February of a leap year too) accrues
    exactly the fee and counts the number, across more months than one bit mask holds."""
    history = History(engine)
    history.tryvox(items=[vox(1, fee="2.90")])
    history.sync_at(utc(2021, 3, 14, 15, 9, 26))
    now = utc(2027, 3, 1)
    report = accrual(engine, now=now, start="2021-03", end="2027-02")
    assert len(report.rows) == 72  # more than 62 months: the counts come in two masks
    held = 18 * 86400 - (15 * 3600 + 9 * 60 + 26)  # seconds from 14 March 15:09:26 to April
    assert month(report, "2021-03").accrued == F("2.90") * held / (31 * 86400)
    assert all(row.accrued == F("2.90") for row in report.rows[1:])
    assert all(row.numbers == 1 for row in report.rows)
    assert all(row.delta is not None and row.delta.total == 0 for row in report.rows[2:])
    assert month(report, "2024-02").accrued == F("2.90")  # 29 days, all of it


def test_leap_february_is_29_days_long(engine: Engine) -> None:
    history = History(engine)
    number = vox(1, fee="2.90")
    history.tryvox(items=[number])
    history.sync_at(utc(2028, 2, 15))  # February 2028 has 29 days: 14 held, 15 before
    number["monthly_fee"] = "5.80"
    history.sync_at(utc(2028, 2, 29))  # its last day at the new fee
    report = accrual(engine, now=utc(2028, 4, 1), start="2028-02", end="2028-03")
    february, march = month(report, "2028-02"), month(report, "2028-03")
    assert february.accrued == F("2.90") * 14 / 29 + F("5.80") * 1 / 29 == F("1.60")
    assert march.accrued == F("5.80")
    assert parts(february) == {
        "numbers_added": F("2.90") * 15 / 29,  # seen on the 15th: 15 of 29 days
        "price_changes": (F("5.80") - F("2.90")) * 1 / 29,
    }


def test_changes_at_exactly_midnight_belong_to_the_month_they_open(engine: Engine) -> None:
    """A version that ends at 00:00 on the 1st is not held in that month at all; the one
    that starts then is held all of it."""
    history = History(engine)
    number = vox(1, status="active", fee="3.10")
    account = history.tryvox(items=[number, vox(2, status="pending", fee="4.00")])
    history.sync_at(utc(2026, 9, 20))
    number["status"] = "pending"  # not billable from 1 October 00:00
    account.items[1]["status"] = "active"  # billable from 1 October 00:00
    history.sync_at(utc(2026, 10, 1))
    account.items.remove(number)  # released at 1 November 00:00
    history.sync_at(utc(2026, 11, 1))

    report = accrual(engine, start="2026-09", end="2026-11")
    september, october, november = (month(report, m) for m in ("2026-09", "2026-10", "2026-11"))
    assert (september.accrued, september.numbers) == (F("3.10") * 11 / 30, 1)
    assert (october.accrued, october.numbers) == (F("4.00"), 1)  # only the second
    assert (november.accrued, november.numbers) == (F("4.00"), 1)
    assert parts(october) == {
        "status_changes": F("4.00") - F("3.10"),  # both at 00:00: all of October
        "numbers_added": F("3.10") * 19 / 30,  # the rest of September's first sighting
    }
    assert parts(november) == {}  # the release of a number not billable any more


def test_numbers_are_counted_once_a_month_and_once_per_currency(engine: Engine) -> None:
    history = History(engine)
    number = vox(1, status="active", fee="1.00")
    history.tryvox(items=[number])
    history.sync_at(utc(2026, 10, 1))
    for day, status in [(5, "pending"), (9, "active"), (14, "pending"), (20, "active")]:
        number["status"] = status
        history.sync_at(utc(2026, 10, day))
    number["currency"] = "EUR"  # re-priced in another currency on 25 October
    history.sync_at(utc(2026, 10, 25))

    report = accrual(engine, start="2026-10", end="2026-11")
    usd, eur = month(report, "2026-10", "USD"), month(report, "2026-10", "EUR")
    assert usd.numbers == 1  # billable three times in October, one number
    assert usd.accrued == F("1.00") * (4 + 5 + 5) / 31
    assert (eur.numbers, eur.accrued) == (1, F("1.00") * 7 / 31)
    assert month(report, "2026-11", "USD").numbers == 0
    assert month(report, "2026-11", "EUR").numbers == 1


def test_setup_fee_once_per_rental_even_if_the_provider_goes_back_and_forth(
    engine: Engine,
) -> None:
    """The setup fee counts from the first version that carries a creation time: a number
    re-rented (a new creation time) pays again; a creation time seen before does not."""
    history = History(engine)
    number = vox(1, fee="1.00", setup="5.00", created="2026-10-02T00:00:00Z")
    history.tryvox(items=[number])
    history.sync_at(utc(2026, 10, 3))
    number["created_at"] = "2026-10-10T00:00:00Z"  # re-rented: a new rental
    history.sync_at(utc(2026, 10, 11))
    number["created_at"] = "2026-10-02T00:00:00Z"  # the provider reports the first again
    history.sync_at(utc(2026, 10, 12))
    report = accrual(engine, start="2026-10", end="2026-10")
    assert month(report, "2026-10").setup_fees == F("10.00")


def test_the_accrual_queries_read_one_state_of_the_database(engine: Engine) -> None:
    """The queries of `gather` see the same rows whatever a sync commits while they run:
    side by side on PostgreSQL (connections sharing one exported snapshot), one after
    another in one REPEATABLE READ or SQLite read transaction elsewhere."""
    runs = text("SELECT COUNT(*) FROM sync_runs")
    with reading_together(engine, 3) as connections:
        distinct = len(set(map(id, connections)))
        assert distinct == (3 if engine.dialect.name == "postgresql" else 1)
        assert connections[0].execute(runs).scalar() == 0
        with engine.begin() as writer:
            start_run(writer, "tryvox", "vox-main", utc(2026, 10, 1))
        assert [connection.execute(runs).scalar() for connection in connections] == [0, 0, 0]
    with engine.connect() as connection:
        assert connection.execute(runs).scalar() == 1


def test_versions_written_without_their_spans_are_still_reported_right(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Versions written by something that keeps no spans (a script; an older syncer left
    running after an upgrade): the report notices, answers from spans derived from the
    versions, says how to set the table right, and `db upgrade --rebuild-spans` does."""
    from click.testing import CliRunner

    from syncer.cli import main
    from tests.invariants import assert_history_invariants

    engine = make_engine(db_url)
    try:
        history = History(engine)
        numbers = [vox(1, fee="9.30"), vox(2, fee="3.10", setup="2.50"), vox(3, status="pending")]
        account = history.tryvox(items=numbers)
        history.ringyo(items=[ringyo(4)], fees={"US": Decimal("1.15")}, currency="USD")
        history.sync_at(utc(2026, 9, 3))
        account.items[0] = dict(account.items[0], monthly_fee="9.90")
        account.items[2] = dict(account.items[2], status="active")
        history.sync_at(utc(2026, 10, 11, 6))
        account.items.pop(1)
        history.sync_at(utc(2026, 10, 21))
        right = accrual(engine, start="2026-09", end="2026-11").to_json()
        assert "out of step" not in caplog.text

        wrong_fee = "UPDATE rate_spans SET monthly_fee = 1 WHERE valid_to IS NULL"
        for damage in (wrong_fee, "DELETE FROM rate_spans"):
            with engine.begin() as connection:
                connection.execute(text(damage))
            caplog.clear()
            assert accrual(engine, start="2026-09", end="2026-11").to_json() == right
            assert "rate_spans is out of step" in caplog.text
            assert "--rebuild-spans" in caplog.text

        result = CliRunner().invoke(
            main, ["db", "upgrade", "--rebuild-spans"], env={"SYNCER_DATABASE_URL": db_url}
        )
        assert result.exit_code == 0, result.output
        assert "spans derived from the versions" in result.output
        assert_history_invariants(engine)
        caplog.clear()
        assert accrual(engine, start="2026-09", end="2026-11").to_json() == right
        assert "out of step" not in caplog.text
    finally:
        engine.dispose()


def test_spans_derived_for_a_report_are_read_in_its_snapshot(engine: Engine) -> None:
    """The fallback's temporary table is made and dropped inside the report's transaction:
    a run committed meanwhile stays unseen (MariaDB commits at a DROP TABLE that does not
    say TEMPORARY)."""
    runs = text("SELECT COUNT(*) FROM sync_runs")
    october = [Period("2026-10", utc(2026, 10, 1), utc(2026, 11, 1))]
    with reading_together(engine, 4) as connections:
        reader = connections[0]
        assert reader.execute(runs).scalar() == 0
        with engine.begin() as writer:
            start_run(writer, "tryvox", "vox-main", utc(2026, 10, 1))
        gathered = _from_derived_spans(reader, october, ("active",), utc(2026, 11, 1))
        assert gathered[1] == []  # no rate changes in an empty mirror
        assert reader.execute(runs).scalar() == 0
