"""The one normalized record that crosses from providers to the sync engine.

Provider modules turn each item of a listing into either a `NumberRecord` (valid, normalized)
or a `Rejection` (with the reason and the payload as received). Nothing provider-specific
crosses this line: the sync engine sees only these two types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
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
# Fees must be below this. With six decimals that is 15 significant digits: what every
# database stores exactly, SQLite included (its NUMERIC keeps a double, exact to 15 digits).
MAX_FEE = Decimal(10) ** 9


def check_fee(value: Decimal) -> Decimal:
    """`value` if it is an amount every database stores exactly: finite, below `MAX_FEE` in
    size, at most `MONEY_SCALE` decimal places; else `ValueError` saying why. (That a fee is
    not negative is checked where it is read.)"""
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) >= MAX_FEE:
        raise ValueError(f"{value} is not a plausible fee (at most {MAX_FEE - 1}.999999)")
    if value != value.quantize(Decimal(1).scaleb(-MONEY_SCALE)):
        raise ValueError(f"has more than {MONEY_SCALE} decimal places: {value}")
    return value


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
    # The fingerprint of the item this record was mapped from (see `providers.pages`), set
    # once by the listing that mapped it; None when the item had none (a slowly parsed page).
    fingerprint: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", _record_digest(self))
        object.__setattr__(self, "fingerprint", None)

    def with_fingerprint(self, fingerprint: bytes) -> NumberRecord:
        """This record, carrying the fingerprint of its item (set once, before it is shared)."""
        object.__setattr__(self, "fingerprint", fingerprint)
        return self

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


def state_hash(values: Mapping[str, Any]) -> str:
    """A stable hash of a number's tracked values (as written to and read from any database).

    Values are canonicalized so that a database round trip gives the same hash: Decimals by
    value (`1.50` and `1.5000` are equal), datetimes as UTC to the microsecond, None distinct
    from every string. The hashes are stored (`phone_numbers.content_hash`), so the canonical
    form never changes: a new one would make every stored number look changed.
    """
    return _digest([values[name] for name in TRACKED_FIELDS])


def _digest(values: Iterable[Any]) -> str:
    canonical = _CANONICAL_BY_TYPE
    parts = [canonical.get(type(value), _canonical)(value) for value in values]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _canonical(value: Any) -> str:
    """The canonical text of one value; the reference the fast paths below must match."""
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


# Fast paths for the exact types a record holds (a subclass takes `_canonical`). A page of
# records repeats the same few fees, so their text is remembered.
_DECIMAL_TEXT: dict[Decimal, str] = {}
_DECIMAL_TEXT_LIMIT = 10_000


def _decimal_text(value: Decimal) -> str:
    try:
        return _DECIMAL_TEXT[value]
    except (KeyError, TypeError):  # not seen yet, or a signalling NaN (unhashable)
        text = str(format(value.normalize(), "f"))
    # Zero is left out: -0 equals 0 as a key, but its text is "-0".
    if value and value.is_finite() and len(_DECIMAL_TEXT) < _DECIMAL_TEXT_LIMIT:
        _DECIMAL_TEXT[value] = text
    return text


def _datetime_text(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.year < 1000:  # strftime does not pad the year to four digits; isoformat does
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06d" % (  # noqa: UP031 - the fastest way
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


_CANONICAL_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: lambda value: value,
    type(None): lambda _value: "\x00",
    bool: lambda value: "1" if value else "0",
    Decimal: _decimal_text,
    datetime: _datetime_text,
}
_tracked_attributes = attrgetter(*TRACKED_FIELDS)


def _record_digest(record: NumberRecord) -> str:
    """`state_hash` of a record's values, with the common types inline (a record is hashed
    for every item of every listing, so this is the hottest code in a sync)."""
    parts = []
    for value in _tracked_attributes(record):
        kind = type(value)
        if kind is str:
            parts.append(value)
        elif value is None:
            parts.append("\x00")
        elif kind is bool:
            parts.append("1" if value else "0")
        else:
            parts.append(_CANONICAL_BY_TYPE.get(kind, _canonical)(value))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
