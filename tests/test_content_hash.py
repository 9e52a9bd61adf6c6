"""The content hash is stored, so its canonical form must never drift: golden digests written
down once guard it, and the fast paths that compute it give exactly the text of the reference
canonicalization, for every kind of value."""

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


# -- golden digests ------------------------------------------------------------------------
# Written down once, by hand, from the canonical form; never recomputed by the code under
# test. A change to the canonical text (or to the hash) fails here, instead of silently
# making every stored number look changed at the next sync.

NOTHING = dict.fromkeys(TRACKED_FIELDS)


@pytest.mark.parametrize(
    ("values", "digest"),
    [
        ({}, "c447abc3b06c9c6e529180362a46e3d4"),
        ({"friendly_name": ""}, "e55a59a1565ee13c1037f419e21978fd"),  # not None
        ({"monthly_fee": Decimal("1.50")}, "5bcf2b6105b5f5f9a91442f6f886e36b"),
        ({"monthly_fee": Decimal("1.5")}, "5bcf2b6105b5f5f9a91442f6f886e36b"),
        ({"monthly_fee": Decimal("1.500000")}, "5bcf2b6105b5f5f9a91442f6f886e36b"),
        ({"monthly_fee": Decimal("100")}, "811e73e42818129f7542e8b95d3f485b"),
        ({"monthly_fee": Decimal("1E+2")}, "811e73e42818129f7542e8b95d3f485b"),
        ({"monthly_fee": Decimal("0.00")}, "bb1e4723dffc778ac242c50b0c75bdbd"),
        ({"voice": True}, "d12de002a09e8b069d77ad49904e47a4"),
        ({"voice": False}, "8b6fefb69c6e35bf326fc701090a3bcf"),
        (
            {"provider_created_at": datetime(2026, 10, 1, 12, 0, tzinfo=UTC)},
            "986adc512cfc0005059bc9d6b7343bbf",
        ),
        (  # the same instant two hours east of UTC
            {
                "provider_created_at": datetime(
                    2026, 10, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))
                )
            },
            "986adc512cfc0005059bc9d6b7343bbf",
        ),
        (  # a naive datetime is taken as UTC
            {"provider_created_at": datetime(2026, 10, 1, 12, 0)},
            "986adc512cfc0005059bc9d6b7343bbf",
        ),
        (
            {"provider_created_at": datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC)},
            "d082ccbd1e609e30529ab532dec4553b",
        ),
        ({"friendly_name": "Zürich Büro ☎ 東京"}, "7338ed6c6df5fef5481cbc8c68147cdc"),
    ],
    ids=repr,
)
def test_state_hash_golden_digests(values: dict[str, object], digest: str) -> None:
    assert state_hash({**NOTHING, **values}) == digest


GOLDEN_RECORD = NumberRecord(
    external_id="pn_000001",
    e164="+14155550100",
    country="US",
    status="active",
    friendly_name="Support line",
    region="CA",
    number_type="local",
    voice=True,
    sms=True,
    mms=False,
    monthly_fee=Decimal("1.150"),
    setup_fee=Decimal("0.00"),
    currency="USD",
    assigned_to=None,
    provider_created_at=datetime(2024, 5, 1, 15, 30, tzinfo=UTC),
    provider_updated_at=datetime(2026, 10, 1, 12, 0, 0, 250000, tzinfo=UTC),
)
# Its canonical text, field by field in TRACKED_FIELDS order, joined by U+001F: None is NUL,
# booleans 1/0, Decimals normalized (1.150 -> 1.15, 0.00 -> 0), datetimes UTC to the
# microsecond without a zone suffix.
GOLDEN_TEXT = "\x1f".join(
    [
        "+14155550100",
        "Support line",
        "US",
        "CA",
        "local",
        "active",
        "1",
        "1",
        "0",
        "1.15",
        "0",
        "USD",
        "\x00",
        "2024-05-01T15:30:00.000000",
        "2026-10-01T12:00:00.250000",
    ]
)


def test_record_golden_digest_and_canonical_text() -> None:
    import hashlib

    assert GOLDEN_RECORD.content_hash == "f2e843b526169b21ee4ab5b8a17b7305"
    assert state_hash(GOLDEN_RECORD.tracked_values()) == "f2e843b526169b21ee4ab5b8a17b7305"
    assert hashlib.blake2b(GOLDEN_TEXT.encode(), digest_size=16).hexdigest() == (
        "f2e843b526169b21ee4ab5b8a17b7305"
    )
