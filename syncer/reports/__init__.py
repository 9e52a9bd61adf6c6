"""Where data leaves: reports computed in SQL from the tables the sync writes.

Each report is a module with a request (parsed from the command line's strings, raising
`UsageError` on bad input), a function that asks the database for the aggregates, and a
report object that `render` writes as a table, CSV or JSON:

- `costs`: the monthly-fee run-rate, now or as of any instant;
- `accrual`: what was accrued per calendar month, and why it moved month over month;
- `changes`: status transitions in a period, listed and summarized;
- `runs`: the recent sync runs;
- `status`: each account's health (`syncer status`), from the queries in `health`, which the
  daemon reads too (when an account last ran; its metrics' gauges);
- `statement`: one month for finance, as one self-contained HTML file (`statement_html`
  and the modules it names) or JSON, made of the first three plus `coverage` (the sync runs
  it rests on, the time the mirror did not cover, rejected records).

Behind them: `periods` (dates people type, months and days as UTC instants), `sql` (the few
dialect-specific pieces: exact money and duration sums, a derived table of periods),
`accrual_queries` and `attribution` (the accrual's aggregates and exact arithmetic), `money`
(the rounding rule), `render` (table, CSV, JSON) and `charts` (matplotlib).

Reports read the store only (never the providers) and need only `database_url` (the
statement also reads the accounts' schedules from the config, when there is one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine


@contextmanager
def database(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url`, checked to be at this syncer's schema revision."""
    from syncer.store.engine import make_engine
    from syncer.store.schema import check_schema

    engine = make_engine(database_url, pool_size=2)  # up to 4: the accrual, side by side
    try:
        check_schema(engine)
        yield engine
    finally:
        engine.dispose()
