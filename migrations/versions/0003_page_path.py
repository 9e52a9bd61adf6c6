"""The page path: a fingerprint per number, and the natural key as a unique index.

`phone_numbers.fingerprint` (16 bytes, null until a sync has seen the number): a hash of the
item exactly as the provider sent it, salted with the mapping's version and the account's fee
schedule. A sync skips validating an item whose fingerprint is stored; any other item is
validated and compared by `content_hash`, which alone decides whether a version is written.
So this column being null (every number right after this migration) or from an older mapping
costs time once, and never marks a stored number changed.

`uq_phone_numbers_key` becomes a unique index on (provider, account, external id) instead of a
table constraint on (external id, account, provider): the same rule, but an index can be
built after a first load (on 200,000 numbers, keeping it while inserting in key order that is
random costs SQLite more than all the other writes together), and led by the account it also
reads one account's numbers (at the start of a run, for a release) without scanning every
account's. SQLite cannot drop a table constraint, so there the table is rebuilt (data, ids
and the views kept).

The indexes, each needed by a query or a constraint:
- `phone_numbers`: `uq_phone_numbers_key` is the natural key, the lookup of a page's keys
  and the read of one account's numbers;
  `ix_phone_numbers_e164` looks a number up by its number (users' SQL).
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

from syncer.store.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


NUMBER_COLUMNS = (
    "id, provider, account, external_id, e164, friendly_name, country, region, number_type, "
    "status, voice, sms, mms, monthly_fee, setup_fee, currency, assigned_to, "
    "provider_created_at, provider_updated_at, first_seen_at, last_seen_at, released_at, "
    "content_hash"
)
KEY = ["provider", "account", "external_id"]
OLD_KEY = ["external_id", "account", "provider"]


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
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_numbers(unique_constraint=False)
    else:
        op.drop_constraint("uq_phone_numbers_key", "phone_numbers", type_="unique")
    op.create_index("uq_phone_numbers_key", "phone_numbers", KEY, unique=True)
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_phone_numbers_e164", "phone_numbers", ["e164"])


def downgrade() -> None:
    op.drop_index("uq_phone_numbers_key", "phone_numbers")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place since 3.35; a rebuilt table would break the views.
        op.execute("ALTER TABLE phone_numbers DROP COLUMN fingerprint")
        _rebuild_sqlite_numbers(unique_constraint=True)
        op.create_index("ix_phone_numbers_e164", "phone_numbers", ["e164"])
        return
    op.create_unique_constraint("uq_phone_numbers_key", "phone_numbers", OLD_KEY)
    op.drop_column("phone_numbers", "fingerprint")


def _rebuild_sqlite_numbers(*, unique_constraint: bool) -> None:
    """`phone_numbers` again, with or without the table constraint on its key.

    With foreign keys off (`syncer.store.migrate`) and in legacy ALTER mode, the rename leaves
    the other tables' foreign keys and the views naming `phone_numbers` as they are, so they
    refer to the new table; the old one is then dropped without touching any other row.
    """
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding phone_numbers needs SQLite's foreign keys off")
    fingerprint = [] if unique_constraint else [sa.Column("fingerprint", sa.LargeBinary())]
    constraint = (
        [sa.UniqueConstraint(*OLD_KEY, name="uq_phone_numbers_key")] if unique_constraint else []
    )
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute("ALTER TABLE phone_numbers RENAME TO _phone_numbers_before_0003")
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        *tracked_columns(),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("content_hash", sa.String(32), nullable=False),
        *fingerprint,
        sa.PrimaryKeyConstraint("id", name="pk_phone_numbers"),
        *constraint,
    )
    columns = NUMBER_COLUMNS + ("" if unique_constraint else ", fingerprint")
    bind.exec_driver_sql(
        f"INSERT INTO phone_numbers ({columns}) SELECT {columns} FROM _phone_numbers_before_0003"
    )
    op.execute("DROP TABLE _phone_numbers_before_0003")
    op.execute("PRAGMA legacy_alter_table = OFF")
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"rows refer to missing numbers after the rebuild: {problems[:5]}")


def tracked_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    """The tracked columns as migration 0001 created them."""
    money = sa.Numeric(precision=18, scale=6)
    return [
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("friendly_name", sa.String(255), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("number_type", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("voice", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("mms", sa.Boolean(), nullable=False),
        sa.Column("monthly_fee", money, nullable=True),
        sa.Column("setup_fee", money, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("assigned_to", sa.String(255), nullable=True),
        sa.Column("provider_created_at", UTCDateTime(), nullable=True),
        sa.Column("provider_updated_at", UTCDateTime(), nullable=True),
    ]
