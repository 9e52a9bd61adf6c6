"""The content hash is stored, so its canonical form must never drift: the fast paths that
compute it give exactly the text of the reference canonicalization, for every kind of value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum

import pytest

from syncer.records import TRACKED_FIELDS, NumberRecord, _canonical, _digest, state_hash


class Status(StrEnum):
    ACTIVE = "active"


VALUES = [
    None,
    "",
    "+14155550100",
    "\x00",
    Status.ACTIVE,
    True,
    False,
    Decimal("1.50"),
    Decimal("1.5"),
    Decimal("1.500000"),
    Decimal("0"),
    Decimal("-0"),
    Decimal("-0.0"),
    Decimal("0.000"),
    Decimal("1E+2"),
    Decimal("100"),
    Decimal("0.000001"),
    Decimal("123456789012.123456"),
    Decimal("NaN"),
    Decimal("Infinity"),
    datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 10, 1, 12, 0),
    datetime(2026, 10, 1, 14, 30, tzinfo=timezone(timedelta(hours=2, minutes=30))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0),
    7,
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_fast_canonical_text_equals_the_reference(value: object) -> None:
    reference = _canonical(value)
    for _ in range(2):  # the second time from the remembered text, where there is one
        assert _digest([value]) == _digest_reference([value])
    assert isinstance(reference, str)


def test_minus_zero_is_not_taken_for_zero() -> None:
    assert _digest([Decimal("0")]) != _digest([Decimal("-0.0")])
    assert _digest([Decimal("-0.0")]) == _digest_reference([Decimal("-0.0")])


def test_record_hash_equals_state_hash_of_its_values() -> None:
    record = NumberRecord(
        external_id="pn_1",
        e164="+14155550100",
        country="US",
        status="active",
        monthly_fee=Decimal("1.150"),
        provider_created_at=datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=-7))),
    )
    assert record.content_hash == state_hash(record.tracked_values())
    assert record.content_hash == _digest_reference(
        [record.tracked_values()[name] for name in TRACKED_FIELDS]
    )


def _digest_reference(values: list[object]) -> str:
    import hashlib

    text = "\x1f".join(_canonical(value) for value in values)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
