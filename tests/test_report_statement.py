"""The monthly statement: its figures are the reports' figures, and the simulated truth's.

Reconciliation runs on every database: two real syncs against the simulator with churn in
between (`tests/test_report_reconcile.py`'s story), and the demo's database. Every figure of
the statement is checked against `report accrual`, `report costs --as-of` and `report
changes` for the same month, and its totals against the inventories, to the cent and
exactly. `pytest -rP tests/test_report_statement.py` prints the reconciliation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from syncer.demo import run_demo
from syncer.reports.accrual import AccrualRequest, accrual_report
from syncer.reports.attribution import PARTS
from syncer.reports.changes import ChangesRequest, changes_report
from syncer.reports.costs import CostsRequest, costs_report
from syncer.reports.money import footed, money_string, rounded
from syncer.reports.periods import Month
from syncer.reports.statement import (
    BREAKDOWN_KEYS,
    StatementReport,
    StatementRequest,
    statement_report,
)
from syncer.store.engine import make_engine
from tests import report_shapes
from tests.test_report_reconcile import NOW, Story, expected_november, tell_story

DEMO_NOW = datetime(2027, 1, 11, 10, tzinfo=UTC)  # the demo's syncs: 2 Nov, 7 Dec, 11 Jan


def test_statement_reconciles_with_the_reports_and_the_inventory(engine: Engine) -> None:
    story = tell_story(engine)
    report = statement_report(engine, StatementRequest.parse(month="2026-11"), now=NOW)
    report_shapes.check_statement(report.to_json())
    assert_equals_the_reports(engine, report, NOW)
    lines = assert_equals_the_inventory(story, report)
    print(f"\nstatement 2026-11 on {engine.dialect.name}, against the simulated inventory:")
    print("\n".join(lines))


def test_statement_of_the_demo_reconciles_with_the_reports(tmp_path: Path) -> None:
    run_demo(str(tmp_path / "demo.db"), 80, lambda _line: None, now=DEMO_NOW)
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        report = statement_report(engine, StatementRequest(), now=DEMO_NOW)
        assert str(report.month) == "2026-12"  # the last complete month
        assert report.complete
        assert all(figures.previous for figures in report.currencies)  # November had data
        report_shapes.check_statement(report.to_json())
        assert_equals_the_reports(engine, report, DEMO_NOW)
    finally:
        engine.dispose()
    print("\nstatement 2026-12 of the demo, against report accrual / costs / changes:")
    for figures in report.currencies:
        print(
            f"  {figures.currency}: accrued {money_string(figures.accrued)}, November "
            f"{money_string(figures.previous)}, difference {money_string(figures.difference)}, "
            f"run-rate at 2027-01-01 {money_string(figures.run_rate)}"
        )


def assert_equals_the_reports(engine: Engine, report: StatementReport, now: datetime) -> None:
    """Every figure of `report` is what the three reports give for its month."""
    month = report.month
    statement = report.to_json()
    accrual = accrual_report(
        engine, AccrualRequest.parse(start=str(month), end=str(month)), now=now
    ).to_json()
    before = accrual_report(
        engine,
        AccrualRequest.parse(start=str(month.previous()), end=str(month.previous())),
        now=now,
    ).to_json()
    priced = {row["currency"]: row for row in accrual["months"] if row["currency"]}
    earlier = {row["currency"]: row for row in before["months"] if row["currency"]}
    assert [row["currency"] for row in statement["currencies"]] == sorted(priced)
    for row in statement["currencies"]:
        same = priced[row["currency"]]
        for key in ("accrued", "setup_fees", "numbers", "unpriced_numbers"):
            assert row[key] == same[key], key
        assert row["difference"] == same["delta"]["total"]
        assert row["difference_parts"] == {part: same["delta"][part] for part in PARTS}
        # a month before the mirror's first sync accrues nothing: no row of its own
        previous = earlier.get(row["currency"], {"accrued": "0.00"})["accrued"]
        assert row["previous_month"]["accrued"] == previous
    assert report.unpriced_in_month == sum(row["unpriced_numbers"] for row in accrual["months"])
    end = f"{month.next()}-01"  # `--as-of 2026-12-01` is how November ended
    where = statement["where_it_goes"]
    for key in BREAKDOWN_KEYS:
        costs = costs_report(engine, CostsRequest.parse(as_of=end, by=key), now=now).to_json()
        assert where["as_of"] == costs["as_of"]
        assert where["by"][key] == costs["rows"], key
        assert where["totals"] == costs["totals"]
    totals = {row["currency"]: row for row in where["totals"]}
    for row in statement["currencies"]:
        assert row["run_rate"]["monthly_fee_total"] == totals[row["currency"]]["monthly_fee_total"]
        assert row["run_rate"]["numbers"] == totals[row["currency"]]["numbers"]
    billable = costs_report(
        engine, CostsRequest.parse(as_of=end, by="status", status="active,suspended"), now=now
    )
    for figures in report.currencies:
        assert figures.billable_run_rate == next(
            (t.monthly_fee_total for t in billable.totals if t.currency == figures.currency),
            Decimal(0),
        )
        assert sum(figures.accrued_by_provider.values(), Fraction(0)) == figures.accrued
    last_day = f"{month.next().start(UTC) - timedelta(days=1):%Y-%m-%d}"

    def changes(**filters: Any) -> dict[str, Any]:
        asked = ChangesRequest.parse(since=f"{month}-01", until=last_day, **filters)
        return changes_report(engine, asked, now=now).to_json()

    changed = statement["what_changed"]
    every = changes()
    assert changed["summary"] == every["summary"]
    assert (changed["since"], changed["until"]) == (every["since"], every["until"])
    for name, filters in {
        "added": {"from_status": "new,released"},
        "released": {"to_status": "released"},
        "suspended": {"to_status": "suspended"},
    }.items():
        listed = changes(**filters)["changes"]
        assert changed[name]["count"] == len(listed), name
        assert changed[name]["listed"] == listed[: changed["list_limit"]], name


def assert_equals_the_inventory(story: Story, report: StatementReport) -> list[str]:
    """The statement's totals are the inventories' (computed independently), exactly."""
    expected = expected_november(story)
    lines = []
    for figures in report.currencies:
        currency = figures.currency
        accrued = expected.accrued[currency] + expected.setups[currency]
        assert figures.accrued == accrued
        assert rounded(figures.accrued, 2) == rounded(accrued, 2)
        assert figures.previous == 0  # nothing was synced before November
        assert figures.difference == accrued
        for part in ("numbers_added", "numbers_released", "status_changes", "price_changes"):
            assert figures.parts[part] == expected.parts[currency, part], part
        assert figures.numbers == len(expected.numbers[currency])
        held = [n for n in story.after.values() if n.currency == currency]
        run_rate = sum((n.fee for n in held if n.fee is not None), Decimal(0))
        assert figures.run_rate == run_rate
        assert figures.numbers_at_end == len(held)
        lines.append(
            f"  {currency}: accrued {money_string(figures.accrued)} = inventory "
            f"{money_string(accrued)} (to the cent: {rounded(accrued, 2)}); run-rate at "
            f"2026-12-01 {money_string(figures.run_rate)} = inventory {money_string(run_rate)} "
            f"over {len(held)} numbers"
        )
    unpriced = expected.numbers.get(None, set())
    assert unpriced  # ringyo-2 has no fee schedule
    assert report.unpriced_in_month == len(unpriced)
    lines.append(f"  unpriced: {len(unpriced)} numbers (ringyo-2, no fee schedule), in no total")
    return lines


def test_current_month_is_stated_up_to_now(engine: Engine) -> None:
    tell_story(engine)
    mid_month = datetime(2026, 11, 25, 12, tzinfo=UTC)
    report = statement_report(engine, StatementRequest.parse(month="2026-11"), now=mid_month)
    assert not report.complete
    assert report.accrued_until == mid_month
    assert report.run_rate_as_of == mid_month
    accrual = accrual_report(
        engine, AccrualRequest.parse(start="2026-11", end="2026-11"), now=mid_month
    )
    for figures in report.currencies:
        row = next(r for r in accrual.rows if r.currency == figures.currency)
        assert figures.accrued == row.accrued
        assert figures.parts["not_yet_accrued"] < 0
        assert row.delta is not None
        assert figures.parts == row.delta.parts
    assert report.to_json()["complete"] is False


def test_a_month_that_has_not_begun_is_refused() -> None:
    from syncer.errors import UsageError

    request = StatementRequest.parse(month="2026-12")
    with pytest.raises(UsageError, match="--month 2026-12 has not begun"):
        request.resolve(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    assert request.resolve(datetime(2026, 12, 1, tzinfo=UTC)) == Month(2026, 12)
    assert StatementRequest().resolve(datetime(2026, 1, 15, tzinfo=UTC)) == Month(2025, 12)
    berlin = StatementRequest.parse(timezone="Europe/Berlin")  # 1 Dec already in Berlin
    assert berlin.resolve(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == Month(2026, 11)


@pytest.mark.parametrize(
    ("parts", "total"),
    [
        ([Fraction(1, 3)] * 3, Fraction(1)),
        ([Fraction(2, 3)] * 3, Fraction(2)),
        ([Fraction(-2, 3)] * 3, Fraction(-2)),
        ([Decimal("4.577173"), Decimal("-0.754637"), Decimal(0), Decimal("-3.018548")], None),
        ([Fraction(1, 200), Fraction(1, 200), Fraction(0), Fraction(-1, 100)], None),
        ([Fraction(5, 1000)] * 7 + [Fraction(0)], None),
    ],
)
def test_footed_rows_add_up_to_the_rounded_total(
    parts: list[Fraction | Decimal], total: Fraction | None
) -> None:
    exact = sum((Fraction(part) for part in parts), Fraction(0)) if total is None else total
    shown = footed(parts, exact)
    assert sum(shown) == rounded(exact, 2)
    for part, value in zip(parts, shown, strict=True):
        assert abs(Fraction(value) - Fraction(part)) < Fraction(1, 100)
        if part == 0:
            assert value == 0
