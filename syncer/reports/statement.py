"""`syncer report statement`: one month, for finance, in one document.

Every figure is taken from the reports that answer each question on their own, called here
with the month's bounds, so the statement equals them by construction:

- the bottom line and why it changed: `report accrual --from M-1 --to M` (the month's
  accrued cost, the month before, the difference and its attribution);
- the run-rate at the month's end and where it goes: `report costs --as-of <end of M>`,
  by provider, account, country, type and status;
- what changed: `report changes --since <start of M> --until <end of M>` (the from->to
  summary, and the numbers added, released and suspended, each listed up to `LISTED`);
- what it cannot vouch for and what it rests on: `syncer.reports.coverage` (unpriced
  numbers, the time the mirror did not cover, rejected records, the sync runs).

Amounts are per currency and never added across currencies. The current month may be asked
for: it is then accrued up to now (`complete` false) and the run-rate is the one in force now;
a month that has not begun is refused (`UsageError`). What a statement holds, and its JSON,
are `statement_model`'s; the HTML is `statement_html`'s.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from syncer import installed_version
from syncer.config import Config
from syncer.errors import UsageError
from syncer.reports.accrual import DEFAULT_BILLABLE, AccrualRequest, accrual_report
from syncer.reports.attribution import PARTS, ZERO, MonthRow
from syncer.reports.changes import ChangesReport, ChangesRequest, changes_report
from syncer.reports.costs import CostsReport, CostsRequest, costs_report
from syncer.reports.coverage import month_coverage
from syncer.reports.periods import Month
from syncer.reports.statement_model import (
    BREAKDOWN_KEYS,
    LISTED,
    CurrencyFigures,
    Listed,
    StatementReport,
    StatementRequest,
)
from syncer.store.engine import reading, safe_url

# The statement's whole surface for the command line (its types live in `statement_model`).
__all__ = [
    "BREAKDOWN_KEYS",
    "FORMATS",
    "StatementReport",
    "StatementRequest",
    "statement_report",
    "write_statement",
]

FORMATS = ("html", "json")


def statement_report(
    engine: Engine,
    request: StatementRequest,
    *,
    config: Config | None = None,
    now: datetime | None = None,
) -> StatementReport:
    """The statement of `request`'s month as known at `now` (default: the system clock).

    `config` gives the accounts' schedules, which decide what counts as a gap in the
    mirror's coverage (see `syncer.reports.coverage`); without it every account is held to
    the default schedule.
    """
    now = now or datetime.now(UTC)
    month = request.resolve(now)
    period = month.period(request.zone)
    until = min(period.end, now)
    accrual = accrual_report(engine, AccrualRequest(month.previous(), month, request.zone), now=now)
    breakdown = {
        key: costs_report(
            engine, CostsRequest(as_of=until, group_by=(key,), zone=request.zone), now=now
        )
        for key in BREAKDOWN_KEYS
    }

    def changes(**filters: Any) -> ChangesReport:
        asked = ChangesRequest(since=period.start, until=period.end, zone=request.zone, **filters)
        return changes_report(engine, asked, now=now, listing="limit" in filters)

    def listed(report: ChangesReport) -> Listed:
        return Listed(report.total, report.changes)

    with reading(engine) as connection:
        coverage = month_coverage(connection, period, now, request.zone, config)
    return StatementReport(
        request=request,
        month=month,
        period=period,
        generated_at=now,
        database=safe_url(engine),
        currencies=_bottom_lines(accrual.rows, month, breakdown),
        unpriced_in_month=sum(row.unpriced_numbers for row in accrual.rows if row.month == month),
        breakdown=breakdown,
        changes=changes(),
        added=listed(changes(from_statuses=("new", "released"), limit=LISTED)),
        released=listed(changes(to_statuses=("released",), limit=LISTED)),
        suspended=listed(changes(to_statuses=("suspended",), limit=LISTED)),
        coverage=coverage,
        version=installed_version(),
    )


def write_statement(
    report: StatementReport, fmt: str, output: str | None, *, terminal: bool
) -> Path | None:
    """Write `report` as `fmt` (html or json) to `output`, else to stdout; except that HTML
    is not for a terminal: without `output`, when stdout is one (`terminal`), it goes to
    `statement-YYYY-MM.html` in the current directory, whose path is returned so the caller
    can say where it went (None when the caller named the place, or for stdout)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "json":
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    else:
        from syncer.reports.statement_html import render_html

        text = render_html(report)
    chosen = None
    if output is None and fmt == "html" and terminal:
        chosen = Path(f"statement-{report.month}.html")
        output = str(chosen)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {output!r}: {exc.strerror}") from None
    return chosen


def _bottom_lines(
    rows: list[MonthRow], month: Month, breakdown: dict[str, CostsReport]
) -> list[CurrencyFigures]:
    """One `CurrencyFigures` per priced currency of the month, the month before or the
    run-rate at the month's end (numbers without a known fee have no currency)."""
    this = {row.currency: row for row in rows if row.month == month and row.currency}
    before = {row.currency: row for row in rows if row.month < month and row.currency}
    ends = {row.currency: row for row in breakdown["status"].totals if row.currency}
    billable: dict[str, Decimal] = {}
    for group in breakdown["status"].rows:
        fees = group.monthly_fee_total
        if group.currency and group.keys[0] in DEFAULT_BILLABLE and fees is not None:
            billable[group.currency] = billable.get(group.currency, Decimal(0)) + fees
    figures = []
    for currency in sorted(set(this) | set(before) | set(ends)):
        row, earlier, end = this.get(currency), before.get(currency), ends.get(currency)
        accrued = row.accrued if row and row.accrued is not None else ZERO
        previous = earlier.accrued if earlier and earlier.accrued is not None else ZERO
        parts = dict(row.delta.parts) if row and row.delta else dict.fromkeys(PARTS, ZERO)
        figures.append(
            CurrencyFigures(
                currency=currency,
                accrued=accrued,
                setup_fees=row.setup_fees if row and row.setup_fees is not None else ZERO,
                previous=previous,
                difference=accrued - previous,
                parts=parts,
                numbers=row.numbers if row else 0,
                unpriced_numbers=row.unpriced_numbers if row else 0,
                accrued_by_provider=dict(sorted(row.by_provider.items())) if row else {},
                run_rate=end.monthly_fee_total if end else None,
                billable_run_rate=billable.get(currency, Decimal(0) if end else None),
                numbers_at_end=end.numbers if end else 0,
            )
        )
    return figures
