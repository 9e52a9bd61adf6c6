"""Views for users' own SQL: `current_costs`, the run-rate of the numbers held now.

One row per provider, account, country, number type, status and currency of the numbers not
released: `numbers`, `monthly_fee_total` (the sum of the known fees; null when none is
known) and `unpriced_numbers` (numbers without a known fee, never counted as zero).

PostgreSQL and MariaDB add `NUMERIC` exactly. SQLite has no exact decimal type, so there the
fees are added as integer micro-units and the exact sum is divided back once: the value is
the floating-point number nearest to the exact total (it prints as the exact decimal).

A `monthly_accrual` view is not created: the month boundaries and the lengths of time it
needs are computed with date functions that differ between SQLite, PostgreSQL and MariaDB.
The README documents the query (for PostgreSQL), and `syncer report accrual` computes it
exactly on every database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

EXACT_SUM = "SUM(monthly_fee)"
SQLITE_SUM = "CAST(SUM(CAST(ROUND(monthly_fee * 1000000) AS INTEGER)) AS REAL) / 1000000"

CURRENT_COSTS = """
CREATE VIEW current_costs AS
SELECT provider, account, country, number_type, status, currency,
       COUNT(*) AS numbers,
       {fee_total} AS monthly_fee_total,
       COUNT(*) - COUNT(monthly_fee) AS unpriced_numbers
FROM phone_numbers
WHERE status <> 'released'
GROUP BY provider, account, country, number_type, status, currency
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(CURRENT_COSTS.format(fee_total=SQLITE_SUM if sqlite else EXACT_SUM))


def downgrade() -> None:
    op.execute("DROP VIEW current_costs")
