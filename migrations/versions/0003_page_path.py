"""The page path: a fingerprint per number.

`phone_numbers.fingerprint` (16 bytes, null until a sync has seen the number): a hash of the
item exactly as the provider sent it, salted with the mapping's version and the account's fee
schedule. A sync skips validating an item whose fingerprint is stored; any other item is
validated and compared by `content_hash`, which alone decides whether a version is written.
So this column being null (every number right after this migration) or from an older mapping
costs time once, and never marks a stored number changed.

The indexes stay as they are, each needed by a query or a constraint:
- `phone_numbers`: `uq_phone_numbers_key` (provider, account, external id) is the natural
  key, the upsert's conflict target and the lookup of a page's keys; `ix_phone_numbers_e164`
  looks a number up by its number (users' SQL).
- `phone_number_versions`: `(number_id, valid_to)` closes a number's open version and finds
  its state at a time (`report costs --as-of`); `valid_from` bounds the reports' periods
  (accrual, changes); `sync_run_id` is the foreign key to `sync_runs` (MariaDB requires an
  index there; it also answers "what did run N write").
- `status_changes`: `changed_at` and `(account, changed_at)` for `report changes` over a
  period, without or with an account; `number_id` and `sync_run_id` are foreign keys.
- `sync_runs`: `(account, started_at)` for `report runs` and `status`; `status` finds runs
  left running. `rejected_records`: `sync_run_id`, its foreign key.
A sync into an empty mirror builds the secondary indexes of the history tables after its load
instead of maintaining them row by row (see `syncer.store.bulk`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import VARBINARY

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A plain ADD COLUMN everywhere (on SQLite too: no table rebuild, views stay valid).
    op.add_column(
        "phone_numbers",
        sa.Column(
            "fingerprint",
            sa.LargeBinary().with_variant(VARBINARY(16), "mysql", "mariadb"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    # SQLite drops a column in place since 3.35; a rebuilt table would break the views.
    op.execute("ALTER TABLE phone_numbers DROP COLUMN fingerprint")
