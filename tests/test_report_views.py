"""The `current_costs` view agrees with `report costs`, on every database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, inspect, text

from syncer.reports.costs import CostsRequest, costs_report
from syncer.store.engine import SCHEMA_REVISION, make_engine
from syncer.store.migrate import alembic_config, upgrade
from tests.history import History, ringyo, utc, vox


def test_current_costs_view_matches_the_report(engine: Engine) -> None:
    history = History(engine)
    account = history.tryvox(
        items=[vox(n, fee="0.10") for n in range(25)]
        + [vox(50, fee="4.00", currency="EUR"), vox(51, status="suspended", fee="1.15")]
    )
    history.ringyo(items=[ringyo(1), ringyo(2, status="pending")])  # unpriced
    history.sync_at(utc(2026, 10, 1))
    del account.items[0]  # released: not in the view
    history.sync_at(utc(2026, 10, 2))

    with engine.connect() as connection:
        view = connection.execute(
            text(
                "SELECT provider, account, country, number_type, status, currency, numbers,"
                " monthly_fee_total, unpriced_numbers FROM current_costs"
            )
        ).all()
    report = costs_report(engine, CostsRequest.parse(by="provider,account,country,type,status"))

    def exact(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))  # SQLite: the nearest float

    from_view = sorted(
        (tuple(row[:6]), int(row.numbers), exact(row.monthly_fee_total), int(row.unpriced_numbers))
        for row in view
    )
    from_report = sorted(
        ((*r.keys, r.currency), r.numbers, r.monthly_fee_total, r.unpriced_numbers)
        for r in report.rows
    )
    assert from_view == from_report
    active = ("tryvox", "vox-main", "GB", "local", "active", "USD")
    assert (active, 24, Decimal("2.40"), 0) in from_view  # 24 x 0.10, exactly


def test_views_are_dropped_and_recreated(sqlite_url: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(sqlite_url), "0001")  # type: ignore[arg-type]
    engine = make_engine(sqlite_url)
    assert "current_costs" not in inspect(engine).get_view_names()
    assert upgrade(sqlite_url) == SCHEMA_REVISION
    assert "current_costs" in inspect(engine).get_view_names()
    engine.dispose()
