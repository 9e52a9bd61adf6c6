"""The SQL tables: a public interface, queried directly by users (see docs/sql.md).

- `phone_numbers`: one row per number per account, its current state.
- `phone_number_versions`: one row per distinct state of a number (SCD type 2); `valid_to` of a
  version equals `valid_from` of the next, and is null for the current one.
- `rate_spans`: derived from the versions and kept by the sync, for `report accrual`: one row
  per stretch of consecutive versions of a number with the same rate (status, fees, currency,
  provider creation time), with the status, fee and currency of the stretch before it.
- `status_changes`: one row per status transition; `from_status` is null at a first sighting,
  `to_status` is "released" when the number left its account's complete listing.
- `sync_runs`: one row per run of one account, with its counts and error.
- `rejected_records`: provider items that failed validation, with the payload as received.

All times are UTC; money is exact `NUMERIC`. Constraint names follow `NAMING_CONVENTION` so
migrations can refer to them on every dialect.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from syncer.store.types import Fingerprint, Money, Payload, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Views created by the migrations for users' own SQL (not models: autogenerate skips them).
VIEWS = ("current_costs",)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PhoneNumber(Base):
    """A number of one account, in its current state (`status` "released" once it is gone)."""

    __tablename__ = "phone_numbers"
    __table_args__ = (
        # The natural key, as a unique index (built after a first load, see migration 0003),
        # led by the account: it finds a page's keys and reads one account's numbers.
        Index("uq_phone_numbers_key", "provider", "account", "external_id", unique=True),
        Index("ix_phone_numbers_e164", "e164"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(64))
    e164: Mapped[str] = mapped_column(String(20))
    friendly_name: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    number_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    voice: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    mms: Mapped[bool] = mapped_column(Boolean)
    monthly_fee: Mapped[Decimal | None] = mapped_column(Money())
    setup_fee: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    provider_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    content_hash: Mapped[str] = mapped_column(String(32))
    # What the provider last sent for this number, hashed with the mapping's version and the
    # account's fee schedule: an item with the same fingerprint maps to the same state, so it
    # needs no validation (null until a sync has seen the number since migration 0003).
    fingerprint: Mapped[bytes | None] = mapped_column(Fingerprint())


class PhoneNumberVersion(Base):
    """A distinct state of a number, in force from `valid_from` until `valid_to` (null: now)."""

    __tablename__ = "phone_number_versions"
    __table_args__ = (
        Index("ix_phone_number_versions_number_valid_to", "number_id", "valid_to"),
        Index("ix_phone_number_versions_valid_from", "valid_from"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    friendly_name: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    number_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    voice: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    mms: Mapped[bool] = mapped_column(Boolean)
    monthly_fee: Mapped[Decimal | None] = mapped_column(Money())
    setup_fee: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    provider_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sync_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True
    )


class RateSpan(Base):
    """Consecutive versions of a number that agree on everything its accrual depends on
    (`RATE_COLUMNS`), in force from `valid_from` until `valid_to` (null: now), with the
    status, monthly fee and currency of the span before it (`status_before` null: none, the
    number's first sighting). The sync keeps it with the versions, in the same transaction;
    migration 0004 derives it from them."""

    __tablename__ = "rate_spans"
    __table_args__ = (Index("ix_rate_spans_number_valid_to", "number_id", "valid_to"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    monthly_fee: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    provider_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    setup_fee: Mapped[Decimal | None] = mapped_column(Money())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_before: Mapped[str | None] = mapped_column(String(16))
    fee_before: Mapped[Decimal | None] = mapped_column(Money())
    currency_before: Mapped[str | None] = mapped_column(String(3))


# What a rate span is keyed on: a new version that changes one of these starts a new span.
# Status first: the store relies on it.
RATE_COLUMNS = ("status", "monthly_fee", "currency", "provider_created_at", "setup_fee")


class StatusChange(Base):
    """A status transition of a number, as observed by a sync run."""

    __tablename__ = "status_changes"
    __table_args__ = (
        Index("ix_status_changes_changed_at", "changed_at"),
        Index("ix_status_changes_account_changed_at", "account", "changed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(100))
    e164: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sync_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True
    )


class SyncRun(Base):
    """One run of one account: when, how it ended, and what it counted."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_account_started_at", "account", "started_at"),
        Index("ix_sync_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    released: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    listing_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)


class RejectedRecord(Base):
    """A provider item that failed validation, kept as received, with the reason."""

    __tablename__ = "rejected_records"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sync_run_id: Mapped[int] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(Payload())
    rejected_at: Mapped[datetime] = mapped_column(UTCDateTime())
