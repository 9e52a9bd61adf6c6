"""`report costs`: the run-rate now and as of any instant, per currency, on every database."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from syncer.reports.costs import CostsReport, CostsRequest, costs_report
from syncer.reports.render import render_text
from tests import report_shapes
from tests.history import History, ringyo, utc, vox

NOW = utc(2026, 11, 1)


def costs(engine: Engine, **options: Any) -> CostsReport:
    report = costs_report(engine, CostsRequest.parse(**options), now=NOW)
    report_shapes.check_costs(json.loads(render_text(report, "json")))
    return report


def totals(report: CostsReport) -> list[tuple[Any, ...]]:
    return [(t.currency, t.numbers, t.monthly_fee_total, t.unpriced_numbers) for t in report.totals]


def rows(report: CostsReport) -> list[tuple[Any, ...]]:
    return [
        (*r.keys, r.currency, r.numbers, r.monthly_fee_total, r.unpriced_numbers)
        for r in report.rows
    ]


def test_run_rate_as_of_a_date_between_two_syncs(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(
        items=[vox(1, fee="1.25"), vox(2, fee="2.50"), vox(3, status="suspended", fee="1.15")]
    )
    history.sync_at(utc(2026, 10, 1, 9))
    account.items[0]["monthly_fee"] = "1.75"  # a price change
    del account.items[1]  # number 2 is released
    account.items.append(vox(4, fee="3.00"))  # a new number
    history.sync_at(utc(2026, 10, 15, 9))

    # 10 October: what the first sync saw, 1.25 + 2.50 + 1.15 = 4.90
    between = costs(engine, as_of="2026-10-10")
    assert between.as_of == utc(2026, 10, 10)
    assert totals(between) == [("USD", 3, Decimal("4.90"), 0)]
    # by status: active 1.25 + 2.50 = 3.75, suspended 1.15
    assert rows(costs(engine, as_of="2026-10-10", by="status")) == [
        ("active", "USD", 2, Decimal("3.75"), 0),
        ("suspended", "USD", 1, Decimal("1.15"), 0),
    ]
    # from the instant of the second sync on: 1.75 + 1.15 + 3.00 = 5.90
    assert totals(costs(engine, as_of="2026-10-15T09:00:00Z")) == [("USD", 3, Decimal("5.90"), 0)]
    assert totals(costs(engine)) == [("USD", 3, Decimal("5.90"), 0)]
    # a microsecond before it, still the first state
    assert totals(costs(engine, as_of="2026-10-15T08:59:59.999999Z")) == [
        ("USD", 3, Decimal("4.90"), 0)
    ]
    # before the first sync syncer knew nothing
    before = costs(engine, as_of="2026-09-30")
    assert (before.rows, before.totals) == ([], [])


def test_released_numbers_are_left_out_unless_asked_for(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(items=[vox(1, fee="1.25"), vox(2, fee="2.50")])
    history.sync_at(utc(2026, 10, 1))
    del account.items[1]
    history.sync_at(utc(2026, 10, 2))

    assert totals(costs(engine)) == [("USD", 1, Decimal("1.25"), 0)]
    assert totals(costs(engine, status="released")) == [("USD", 1, Decimal("2.50"), 0)]
    assert totals(costs(engine, status=["active", "released"])) == [("USD", 2, Decimal("3.75"), 0)]
    assert totals(costs(engine, status="released", as_of="2026-10-01T12:00Z")) == []


def test_totals_per_currency_and_unpriced_numbers(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(
        items=[vox(1, fee="1.25"), vox(2, fee="2.50"), vox(3, fee="4.00", currency="EUR")]
    )
    history.ringyo("ringyo-unpriced", items=[ringyo(1), ringyo(2)])  # no fee schedule
    history.ringyo(
        "ringyo-eu",
        items=[ringyo(3, country="DE"), ringyo(4, country="FR")],
        fees={"default": Decimal("0.95"), "DE": Decimal("1.10")},
        currency="EUR",
    )
    history.sync_at(utc(2026, 10, 1))

    report = costs(engine, by="provider")
    assert rows(report) == [
        ("ringyo", "EUR", 2, Decimal("2.05"), 0),  # 1.10 (DE) + 0.95 (default)
        ("ringyo", None, 2, None, 2),  # unpriced: counted, never a zero cost
        ("tryvox", "EUR", 1, Decimal("4.00"), 0),
        ("tryvox", "USD", 2, Decimal("3.75"), 0),  # 1.25 + 2.50
    ]
    assert totals(report) == [
        ("EUR", 3, Decimal("6.05"), 0),  # 2.05 + 4.00, never added to the USD
        ("USD", 2, Decimal("3.75"), 0),
        (None, 2, None, 2),
    ]
    doc = json.loads(render_text(report, "json"))
    assert doc["totals"][2] == {
        "currency": None,
        "numbers": 2,
        "monthly_fee_total": None,
        "unpriced_numbers": 2,
    }
    assert doc["rows"][0] == {
        "provider": "ringyo",
        "currency": "EUR",
        "numbers": 2,
        "monthly_fee_total": "2.05",
        "unpriced_numbers": 0,
    }


def test_grouping_by_every_key(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(
        items=[
            vox(1, fee="1.00", country="GB", kind="local"),
            vox(2, fee="2.00", country="GB", kind="mobile"),
            vox(3, fee="3.00", country="DE", kind="local", status="suspended"),
        ]
    )
    history.sync_at(utc(2026, 10, 1))
    report = costs(engine, by="provider,account,country,type,status")
    assert rows(report) == [
        ("tryvox", "vox-main", "DE", "local", "suspended", "USD", 1, Decimal("3.00"), 0),
        ("tryvox", "vox-main", "GB", "local", "active", "USD", 1, Decimal("1.00"), 0),
        ("tryvox", "vox-main", "GB", "mobile", "active", "USD", 1, Decimal("2.00"), 0),
    ]
    assert totals(report) == [("USD", 3, Decimal("6.00"), 0)]  # 3.00 + 1.00 + 2.00
    assert rows(costs(engine, by="")) == [("USD", 3, Decimal("6.00"), 0)]


def test_sums_are_exact_where_floating_point_is_not(engine: Engine) -> None:
    """0.1 has no exact float; 30 x 0.10 + 3 x 0.000001 must still be 3.000003."""
    history = History(engine)
    items = [vox(n, fee="0.10") for n in range(30)]
    items += [vox(100 + n, fee="0.000001") for n in range(3)]
    history.tryvox(items=items)
    history.sync_at(utc(2026, 10, 1))
    for as_of in (None, "2026-10-02"):
        report = costs(engine, by="", as_of=as_of)
        assert totals(report) == [("USD", 33, Decimal("3.000003"), 0)]
        assert json.loads(render_text(report, "json"))["totals"][0]["monthly_fee_total"] == (
            "3.000003"
        )


def test_formats(engine: Engine) -> None:
    history = History(engine)
    history.tryvox(items=[vox(1, fee="1234.5"), vox(2, fee="0.125")])
    history.ringyo(items=[ringyo(1)])
    history.sync_at(utc(2026, 10, 1))
    report = costs(engine, by="provider")
    assert render_text(report, "csv").splitlines() == [
        "provider,currency,numbers,monthly_fee_total,unpriced_numbers",
        "ringyo,,1,,1",
        "tryvox,USD,2,1234.625,0",  # exact in CSV
    ]
    table = render_text(report, "table")
    assert "1,234.63" in table  # two decimals, half away from zero, in the table
    assert table.splitlines()[0] == (
        "Monthly-fee run-rate as of 2026-11-01 00:00:00 UTC (current state; "
        "status: all but released)"
    )
    assert "total" in table
