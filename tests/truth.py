"""Compare the mirror with the simulator's truth (`World.inventory()`), field by field.

The expected values are derived here from the providers' documented fields, independently of
the provider modules, so a mapping bug cannot hide behind itself. `expected_mirror` gives the
live rows syncer must hold, `assert_mirror` compares them with `phone_numbers` (money as exact
Decimals, times as aware UTC datetimes; every other stored number must be `released`), and
`assert_matches_inventory` does both in one call.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from syncer.config import Config
from syncer.records import TRACKED_FIELDS
from syncer.store.models import PhoneNumber

Key = tuple[str, str, str]  # provider, account, external_id
Row = dict[str, Any]
Mirror = dict[Key, Row]


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def expected_ringyo(
    item: dict[str, Any], fees: dict[str, Decimal] | None, currency: str | None
) -> dict[str, Any]:
    fee = None
    if fees:
        fee = fees.get(item["country"], fees.get("default"))
    caps = item["capabilities"]
    return {
        "external_id": item["id"],
        "e164": item["phone_number"],
        "friendly_name": item["friendly_name"],
        "country": item["country"],
        "region": item["region"],
        "number_type": None,
        "status": item["status"],
        "voice": caps.get("voice", False),
        "sms": caps.get("sms", False),
        "mms": caps.get("mms", False),
        "monthly_fee": fee,
        "setup_fee": None,
        "currency": (currency or "USD") if fee is not None else None,
        "assigned_to": item["default_agent_id"],
        "provider_created_at": _time(item["created_at"]),
        "provider_updated_at": None,
    }


def expected_tryvox(item: dict[str, Any]) -> dict[str, Any]:
    caps = set(item["capabilities"])
    return {
        "external_id": item["e164"],
        "e164": item["e164"],
        "friendly_name": None,
        "country": item["country"],
        "region": item["region"],
        "number_type": item["type"],
        "status": item["status"],
        "voice": "voice" in caps,
        "sms": "sms" in caps,
        "mms": "mms" in caps,
        "monthly_fee": Decimal(item["monthly_fee"]),
        "setup_fee": Decimal(item["setup_fee"]),
        "currency": item["currency"],
        "assigned_to": item["application_id"] or item["trunk_id"],
        "provider_created_at": _time(item["created_at"]),
        "provider_updated_at": _time(item["updated_at"]),
    }


def expected_mirror(
    inventory: dict[str, Any], config: Config, *, last_good: Mirror | None = None
) -> Mirror:
    """The live rows syncer must hold for `inventory`, for the accounts `config` syncs.

    A record listed in `inventory["malformed"]` is served spoiled, so it keeps its row from
    `last_good` (the mirror of an earlier, clean listing) or, if it was never stored, has none.
    """
    malformed: dict[str, dict[str, str]] = inventory.get("malformed", {})
    mirror: Mirror = {}
    for provider in ("ringyo", "tryvox"):
        for account, items in inventory[provider].items():
            try:
                settings = config.account(account)
            except KeyError:
                continue  # an account of the world that this config does not sync
            spoiled = malformed.get(account, {})
            for item in items:
                if provider == "ringyo":
                    row = expected_ringyo(item, settings.fees, settings.fee_currency)
                else:
                    row = expected_tryvox(item)
                key = (provider, account, row.pop("external_id"))
                if key[2] not in spoiled:
                    mirror[key] = row
                elif last_good is not None and key in last_good:
                    mirror[key] = last_good[key]
    return mirror


@dataclass
class Stored:
    """`phone_numbers` read back: tracked fields of the live and of the released numbers."""

    live: Mirror = field(default_factory=dict)
    released: Mirror = field(default_factory=dict)


def stored_mirror(engine: Engine) -> Stored:
    stored = Stored()
    with engine.connect() as connection:
        for row in connection.execute(select(PhoneNumber)):
            values = row._mapping
            key = (values["provider"], values["account"], values["external_id"])
            tracked = {name: values[name] for name in TRACKED_FIELDS}
            if values["status"] == "released":
                assert values["released_at"] is not None, f"{key}: released without released_at"
                stored.released[key] = tracked
            else:
                assert values["released_at"] is None, f"{key}: live with a released_at"
                stored.live[key] = tracked
    return stored


def assert_mirror(
    engine: Engine,
    expected: Mirror,
    *,
    accounts: Collection[str] | None = None,
    ignore: Collection[Key] = (),
) -> Stored:
    """The live numbers of `accounts` (default: all) are exactly `expected`: the same keys,
    every tracked field equal; every other stored number of those accounts is released.
    Numbers in `ignore` may be in any state. Returns what is stored, for further checks."""
    stored = stored_mirror(engine)

    def wanted(key: Key) -> bool:
        return (accounts is None or key[1] in accounts) and key not in ignore

    stored.live = {k: v for k, v in stored.live.items() if wanted(k)}
    stored.released = {k: v for k, v in stored.released.items() if wanted(k)}
    expected = {k: v for k, v in expected.items() if wanted(k)}
    falsely_released = sorted(set(expected) & set(stored.released))
    missing = sorted(set(expected) - set(stored.live) - set(stored.released))
    not_released = sorted(set(stored.live) - set(expected))
    assert not falsely_released, (
        f"{len(falsely_released)} listed numbers released: {falsely_released[:5]}"
    )
    assert not missing, f"{len(missing)} numbers of the truth not stored: {missing[:5]}"
    assert not not_released, f"{len(not_released)} gone but not released: {not_released[:5]}"
    wrong = [
        (key, name, stored.live[key][name], row[name])
        for key, row in expected.items()
        for name in TRACKED_FIELDS
        if stored.live[key][name] != row[name]
    ]
    assert not wrong, f"{len(wrong)} fields differ (key, field, stored, served): {wrong[:5]}"
    return stored


def assert_matches_inventory(
    engine: Engine, inventory: dict[str, Any], config: Config, *, skip_malformed: bool = True
) -> dict[str, int]:
    """Every number of the inventory is stored exactly as served; every stored number absent
    from the inventory is released. Records served malformed keep whatever state they last
    had (they are checked elsewhere). Returns counts for the test's own assertions."""
    malformed = inventory.get("malformed", {}) if skip_malformed else {}
    spoiled = {
        (provider, account, item["id"] if provider == "ringyo" else item["e164"])
        for provider in ("ringyo", "tryvox")
        for account, items in inventory[provider].items()
        for item in items
        if (item["id"] if provider == "ringyo" else item["e164"]) in malformed.get(account, {})
    }
    without_malformed = {**inventory, "malformed": {}}
    expected = expected_mirror(without_malformed, config)
    synced = {account.name for account in config.accounts}
    stored = assert_mirror(engine, expected, accounts=synced, ignore=spoiled)
    matched = len(expected.keys() - spoiled)
    return {"matched": matched, "released": len(stored.released), "malformed": len(spoiled)}


def assert_no_false_release(engine: Engine, inventory: dict[str, Any]) -> None:
    """No number the providers still list is `released` in the database."""
    listed = {
        (provider, account, item["id"] if provider == "ringyo" else item["e164"])
        for provider in ("ringyo", "tryvox")
        for account, items in inventory[provider].items()
        for item in items
    }
    wrongly = sorted(listed & set(stored_mirror(engine).released))
    assert not wrongly, f"{len(wrongly)} listed numbers are marked released: {wrongly[:5]}"
