"""Each provider's JSON for a number, exactly the documented fields, and its malformed twins.

Fees are `Decimal` inside. On TryVox's wire they are JSON numbers: the Decimal is converted
to a float, whose shortest repr prints the same digits (`1.15`, `2.5`, `0.0`) for any fee of
up to 15 significant digits, so a client parsing with `parse_float=Decimal` gets the exact
amount back. `/_sim/inventory` writes fees as Decimal strings (`"1.15"`) instead, to compare to
the cent.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from syncer.provider_facts import RINGYO, TRYVOX
from syncer.simulator.countries import human_format
from syncer.simulator.model import SimNumber
from syncer.timestamps import iso_z_seconds

Money = Callable[[Decimal], float | str]

BAD_E164 = "bad_e164"
UNKNOWN_STATUS = "unknown_status"
FEE_STRING = "fee_string"
NEGATIVE_FEE = "negative_fee"
MISSING_FIELD = "missing_field"
BAD_TIMESTAMP = "bad_timestamp"
# The malformations each provider's records rotate through (Ringyo has no fees to spoil).
MALFORMATIONS = {
    RINGYO: (BAD_E164, UNKNOWN_STATUS, MISSING_FIELD, BAD_TIMESTAMP),
    TRYVOX: (BAD_E164, UNKNOWN_STATUS, FEE_STRING, NEGATIVE_FEE, MISSING_FIELD, BAD_TIMESTAMP),
}


def wire_money(amount: Decimal) -> float:
    return float(amount)


def text_money(amount: Decimal) -> str:
    return str(amount)


def ringyo_item(number: SimNumber) -> dict[str, Any]:
    """A Ringyo phone number object."""
    return {
        "id": number.key,
        "phone_number": number.e164,
        "friendly_name": number.friendly_name,
        "country": number.country,
        "region": number.region,
        "capabilities": {"voice": number.voice, "sms": number.sms},
        "status": number.status,
        "default_agent_id": number.default_agent_id,
        "created_at": iso_z_seconds(number.created_ts),
    }


def tryvox_item(number: SimNumber, money: Money = wire_money) -> dict[str, Any]:
    """A TryVox number; `money` writes the fees (JSON numbers on the wire)."""
    capabilities = [
        name
        for name, present in (("voice", number.voice), ("sms", number.sms), ("mms", number.mms))
        if present
    ]
    return {
        "e164": number.e164,
        "country": number.country,
        "type": number.number_type,
        "region": number.region,
        "status": number.status,
        "capabilities": capabilities,
        "monthly_fee": money(number.monthly_fee),
        "setup_fee": money(number.setup_fee),
        "currency": "USD",
        "trunk_id": number.trunk_id,
        "application_id": number.application_id,
        "created_at": iso_z_seconds(number.created_ts),
        "updated_at": iso_z_seconds(number.updated_ts),
    }


def item(number: SimNumber, money: Money = wire_money) -> dict[str, Any]:
    """The provider's item for `number`, well formed."""
    if number.provider == RINGYO:
        return ringyo_item(number)
    return tryvox_item(number, money)


def malformation_of(number: SimNumber, malformed_rate: float) -> str | None:
    """Which malformation `number` is served with at this rate, or None.

    The choice depends only on the seed, the number's key and the rate, so a record stays
    malformed (the same way) across requests and listings.
    """
    if number.fault_draw >= malformed_rate:
        return None
    kinds = MALFORMATIONS[number.provider]
    return kinds[number.fault_kind % len(kinds)]


def malform(number: SimNumber, body: dict[str, Any], kind: str) -> dict[str, Any]:
    """`body` spoiled by `kind`; the record's key stays intact except for TryVox's bad_e164,
    where the number is written the human way with every digit kept."""
    spoiled = dict(body)
    number_field = "phone_number" if number.provider == RINGYO else "e164"
    if kind == BAD_E164:
        spoiled[number_field] = human_format(number.e164)
    elif kind == UNKNOWN_STATUS:
        spoiled["status"] = "decommissioned"
    elif kind == FEE_STRING:
        spoiled["monthly_fee"] = str(number.monthly_fee)
    elif kind == NEGATIVE_FEE:
        spoiled["monthly_fee"] = -float(number.monthly_fee or Decimal("1.00"))
    elif kind == MISSING_FIELD:
        # Ringyo keeps its `id`, so losing the number is survivable; TryVox's key *is* the
        # number, so it loses `status` instead.
        del spoiled["phone_number" if number.provider == RINGYO else "status"]
    elif kind == BAD_TIMESTAMP:
        spoiled["created_at"] = "yesterday"
    return spoiled
