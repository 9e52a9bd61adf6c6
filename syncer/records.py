"""The one normalized record that crosses from providers to the sync engine.

Provider modules turn each item of a listing into either a `NumberRecord` (valid, normalized)
or a `Rejection` (with the reason and the payload as received). Nothing provider-specific
crosses this line: the sync engine sees only these two types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# The columns whose values make up a number's state. A new version is written exactly when one
# of them changes; `content_hash` is computed over them, in this order.
TRACKED_FIELDS: tuple[str, ...] = (
    "e164",
    "friendly_name",
    "country",
    "region",
    "number_type",
    "status",
    "voice",
    "sms",
    "mms",
    "monthly_fee",
    "setup_fee",
    "currency",
    "assigned_to",
    "provider_created_at",
    "provider_updated_at",
)

RELEASED = "released"
# Decimal places kept for money, from the provider to the SQL column (NUMERIC(18, 6)).
MONEY_SCALE = 6


@dataclass(frozen=True, slots=True)
class NumberRecord:
    """A number as one complete listing saw it. Money is exact; times are aware UTC.

    `external_id` is the provider's key for the number (the Ringyo `id`, the TryVox `e164`).
    `monthly_fee`/`setup_fee` are None when the price is unknown (Ringyo without a fee schedule).
    """

    external_id: str
    e164: str
    country: str
    status: str
    friendly_name: str | None = None
    region: str | None = None
    number_type: str | None = None
    voice: bool = False
    sms: bool = False
    mms: bool = False
    monthly_fee: Decimal | None = None
    setup_fee: Decimal | None = None
    currency: str | None = None
    assigned_to: str | None = None
    provider_created_at: datetime | None = None
    provider_updated_at: datetime | None = None
    content_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", state_hash(self.tracked_values()))

    def tracked_values(self) -> dict[str, Any]:
        """The tracked columns, by name, ready to be written."""
        return {name: getattr(self, name) for name in TRACKED_FIELDS}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A listing item that failed validation, kept with the payload exactly as received.

    `external_id` is the provider's key if the item had a readable one, as received.
    `seen_key` is the key of the stored number this item most likely stands for (the same as
    `external_id`, or a normalized form of it); while it is known, that number is not released.
    A rejection with no `seen_key` means a listing cannot prove any release.
    """

    reason: str
    payload: Any
    external_id: str | None = None
    seen_key: str | None = None


def state_hash(values: dict[str, Any]) -> str:
    """A stable hash of a number's tracked values (as written to and read from any database).

    Values are canonicalized so that a database round trip gives the same hash: Decimals by
    value (`1.50` and `1.5000` are equal), datetimes as UTC to the microsecond, None distinct
    from every string.
    """
    parts = [_canonical(values[name]) for name in TRACKED_FIELDS]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return str(format(value.normalize(), "f"))
    if isinstance(value, datetime):
        moment: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return str(value)
