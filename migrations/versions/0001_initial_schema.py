"""Initial schema: the five tables of docs/sql.md.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncer.store.types import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def money() -> sa.Numeric:  # type: ignore[type-arg]
    return sa.Numeric(precision=18, scale=6)


def tracked_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    """The columns of a number's state, shared by phone_numbers and phone_number_versions."""
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
        sa.Column("monthly_fee", money(), nullable=True),
        sa.Column("setup_fee", money(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("assigned_to", sa.String(255), nullable=True),
        sa.Column("provider_created_at", UTCDateTime(), nullable=True),
        sa.Column("provider_updated_at", UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        *tracked_columns(),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("external_id", "account", "provider", name="uq_phone_numbers_key"),
    )
    op.create_index("ix_phone_numbers_e164", "phone_numbers", ["e164"])

    op.create_table(
        "sync_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("pages", "seen", "created", "updated", "unchanged", "released")
        ),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("listing_complete", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index("ix_sync_runs_account_started_at", "sync_runs", ["account", "started_at"])
    op.create_index("ix_sync_runs_status", "sync_runs", ["status"])

    op.create_table(
        "phone_number_versions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("number_id", Id, nullable=False),
        *tracked_columns(),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("sync_run_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_phone_number_versions_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_phone_number_versions_sync_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_number_versions")),
    )
    op.create_index(
        "ix_phone_number_versions_number_valid_to",
        "phone_number_versions",
        ["number_id", "valid_to"],
    )
    op.create_index(
        op.f("ix_phone_number_versions_sync_run_id"), "phone_number_versions", ["sync_run_id"]
    )
    op.create_index("ix_phone_number_versions_valid_from", "phone_number_versions", ["valid_from"])

    op.create_table(
        "rejected_records",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sync_run_id", Id, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("rejected_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_rejected_records_sync_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_records")),
    )
    op.create_index(op.f("ix_rejected_records_sync_run_id"), "rejected_records", ["sync_run_id"])

    op.create_table(
        "status_changes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("number_id", Id, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("sync_run_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_status_changes_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_status_changes_sync_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_changes")),
    )
    op.create_index("ix_status_changes_changed_at", "status_changes", ["changed_at"])
    op.create_index(
        "ix_status_changes_account_changed_at", "status_changes", ["account", "changed_at"]
    )
    op.create_index(op.f("ix_status_changes_number_id"), "status_changes", ["number_id"])
    op.create_index(op.f("ix_status_changes_sync_run_id"), "status_changes", ["sync_run_id"])


def downgrade() -> None:
    op.drop_table("status_changes")
    op.drop_table("rejected_records")
    op.drop_table("phone_number_versions")
    op.drop_table("sync_runs")
    op.drop_table("phone_numbers")
