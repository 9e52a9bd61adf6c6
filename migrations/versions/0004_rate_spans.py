"""Rate spans: what `report accrual` reads instead of every version.

A number's accrual depends on five of its tracked values only: status, monthly fee,
currency, setup fee and provider creation time. Most new versions change none of them (a
name, an assignment). `rate_spans` joins the consecutive versions of a number that agree on
all five into one row, in force from its first version's `valid_from` to its last one's
`valid_to`, and carries the status, monthly fee and currency of the span before it
(`status_before` null: the number's first sighting). So the accrual reads fewer rows and
needs no join of each version to the one before it.

The sync keeps the table in the same transaction as the versions; this migration derives it
from the versions already stored, in one INSERT ... SELECT (`syncer.store.spans`, which
`syncer db upgrade --rebuild-spans` and `report accrual` use too; a later change to what a
span is must freeze a copy of today's derivation here).

The index: `(number_id, valid_to)` closes a number's open span, as for the versions (built
after a first load like theirs; it also serves MariaDB's foreign key).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncer.store.spans import derive_spans
from syncer.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def money() -> sa.Numeric:  # type: ignore[type-arg]
    return sa.Numeric(precision=18, scale=6)


def upgrade() -> None:
    op.create_table(
        "rate_spans",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("number_id", Id, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("monthly_fee", money(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("provider_created_at", UTCDateTime(), nullable=True),
        sa.Column("setup_fee", money(), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("fee_before", money(), nullable=True),
        sa.Column("currency_before", sa.String(3), nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_rate_spans_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_spans")),
    )
    op.create_index("ix_rate_spans_number_valid_to", "rate_spans", ["number_id", "valid_to"])
    op.execute(derive_spans())


def downgrade() -> None:
    op.drop_table("rate_spans")
