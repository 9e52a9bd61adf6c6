"""The oracle of the resilience suite: is the database exactly the simulator's truth?

`expected_mirror` turns `World.inventory()` (the numbers each account holds, fees as Decimal
strings) into the rows syncer must hold, written from the providers' documentation rather
than from syncer's own mapping code, so a mapping bug cannot hide behind itself. Ringyo
prices come from the account's fee schedule in the config.

`assert_mirror` then compares the `phone_numbers` table field by field (money as exact
Decimals, times as aware UTC datetimes): every number in the truth is stored, live and equal;
every other stored number is `released`. Records the simulator serves malformed cannot be
stored; they must hold their last good state (`last_good`) or be absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from syncer.config import Config
from syncer.records import TRACKED_FIELDS
from syncer.store.models import PhoneNumber, PhoneNumberVersion, RejectedRecord, SyncRun

Key = tuple[str, str, str]  # provider, account, external_id
Row = dict[str, Any]
Mirror = dict[Key, Row]


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def ringyo_row(item: dict[str, Any], fees: dict[str, Decimal] | None, currency: str | None) -> Row:
    """What Ringyo's documented item becomes: fees from the schedule, no type, no setup fee."""
    schedule = fees or {}
    fee = schedule.get(item["country"], schedule.get("default"))
    capabilities = item["capabilities"]
    return {
        "e164": item["phone_number"],
        "friendly_name": item["friendly_name"],
        "country": item["country"],
        "region": item["region"],
        "number_type": None,
        "status": item["status"],
        "voice": capabilities.get("voice", False),
        "sms": capabilities.get("sms", False),
        "mms": capabilities.get("mms", False),
        "monthly_fee": fee,
        "setup_fee": None,
        "currency": (currency or "USD") if fee is not None else None,
        "assigned_to": item["default_agent_id"],
        "provider_created_at": _time(item["created_at"]),
        "provider_updated_at": None,
    }


def tryvox_row(item: dict[str, Any]) -> Row:
    """What TryVox's documented item becomes: its own fees, application else trunk."""
    return {
        "e164": item["e164"],
        "friendly_name": None,
        "country": item["country"],
        "region": item["region"],
        "number_type": item["type"],
        "status": item["status"],
        "voice": "voice" in item["capabilities"],
        "sms": "sms" in item["capabilities"],
        "mms": "mms" in item["capabilities"],
        "monthly_fee": _money(item["monthly_fee"]),
        "setup_fee": _money(item["setup_fee"]),
        "currency": item["currency"],
        "assigned_to": item["application_id"] or item["trunk_id"],
        "provider_created_at": _time(item["created_at"]),
        "provider_updated_at": _time(item["updated_at"]),
    }


def expected_mirror(
    inventory: dict[str, Any], config: Config, *, last_good: Mirror | None = None
) -> Mirror:
    """The live rows syncer must hold for `inventory`.

    A record listed in `inventory["malformed"]` is served spoiled, so it keeps its row from
    `last_good` (the mirror of an earlier, clean listing) or, if it was never stored, has none.
    """
    malformed: dict[str, dict[str, str]] = inventory.get("malformed", {})
    mirror: Mirror = {}
    for provider in ("ringyo", "tryvox"):
        for account, items in inventory[provider].items():
            spoiled = malformed.get(account, {})
            settings = _account_settings(config, account)
            for item in items:
                external_id = item["id"] if provider == "ringyo" else item["e164"]
                key = (provider, account, external_id)
                if external_id in spoiled:
                    if last_good is not None and key in last_good:
                        mirror[key] = last_good[key]
                    continue
                if provider == "ringyo":
                    mirror[key] = ringyo_row(item, *settings)
                else:
                    mirror[key] = tryvox_row(item)
    return mirror


def _account_settings(config: Config, name: str) -> tuple[dict[str, Decimal] | None, str | None]:
    try:
        account = config.account(name)
    except KeyError:
        return None, None
    return account.fees, account.fee_currency


@dataclass
class Stored:
    """The `phone_numbers` table read back: live rows and released rows, by key."""

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


def assert_mirror(engine: Engine, expected: Mirror, *, accounts: set[str] | None = None) -> Stored:
    """The database holds exactly `expected` as its live numbers (of `accounts`, default all):
    the same keys, every tracked field equal (money to the last digit), and every other stored
    number released. Returns what was stored, for further checks."""
    stored = stored_mirror(engine)
    if accounts is not None:
        stored.live = {k: v for k, v in stored.live.items() if k[1] in accounts}
        stored.released = {k: v for k, v in stored.released.items() if k[1] in accounts}
        expected = {k: v for k, v in expected.items() if k[1] in accounts}
    missing = sorted(set(expected) - set(stored.live))
    falsely_released = sorted(set(expected) & set(stored.released))
    not_released = sorted(set(stored.live) - set(expected))
    assert not falsely_released, (
        f"{len(falsely_released)} live numbers released: {falsely_released[:5]}"
    )
    assert not missing, f"{len(missing)} numbers of the truth not stored: {missing[:5]}"
    assert not not_released, (
        f"{len(not_released)} numbers gone but not released: {not_released[:5]}"
    )
    wrong = [
        (key, name, stored.live[key][name], row[name])
        for key, row in expected.items()
        for name in TRACKED_FIELDS
        if stored.live[key][name] != row[name]
    ]
    assert not wrong, f"{len(wrong)} fields differ (key, field, stored, truth): {wrong[:5]}"
    return stored


def assert_no_false_release(engine: Engine, inventory: dict[str, Any]) -> None:
    """No number the providers still list is `released` in the database."""
    listed = {
        (provider, account, item["id"] if provider == "ringyo" else item["e164"])
        for provider in ("ringyo", "tryvox")
        for account, items in inventory[provider].items()
        for item in items
    }
    released = set(stored_mirror(engine).released)
    wrongly = sorted(listed & released)
    assert not wrongly, f"{len(wrongly)} listed numbers are marked released: {wrongly[:5]}"


def rejected_records(engine: Engine, run_ids: list[int] | None = None) -> list[Row]:
    query = select(RejectedRecord).order_by(RejectedRecord.id)
    if run_ids is not None:
        query = query.where(RejectedRecord.sync_run_id.in_(run_ids))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def runs(engine: Engine) -> list[Row]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(SyncRun).order_by(SyncRun.id))]


def version_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(PhoneNumberVersion.id)).all())
