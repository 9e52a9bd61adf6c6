"""Compare the mirror with the simulator's truth (`World.inventory()`), field by field.

The expected values are derived here from the providers' documented fields, independently of
the provider modules, so a mapping bug cannot hide behind itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from syncer.config import Config
from syncer.store.models import PhoneNumber


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


def assert_matches_inventory(
    engine: Engine, inventory: dict[str, Any], config: Config, *, skip_malformed: bool = True
) -> dict[str, int]:
    """Every number of the inventory is stored exactly as served; every stored number absent
    from the inventory is released. Records served malformed keep whatever state they last
    had (they are checked elsewhere). Returns counts for the test's own assertions."""
    malformed = inventory.get("malformed", {})
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for provider in ("ringyo", "tryvox"):
        for account, items in inventory[provider].items():
            try:
                settings = config.account(account)
            except KeyError:
                continue  # an account of the world that this config does not sync
            for item in items:
                if provider == "ringyo":
                    row = expected_ringyo(item, settings.fees, settings.fee_currency)
                else:
                    row = expected_tryvox(item)
                expected[(account, row["external_id"])] = row
    synced = {a.name for a in config.accounts}
    with engine.connect() as connection:
        stored = {
            (row.account, row.external_id): row._mapping
            for row in connection.execute(select(PhoneNumber))
        }
    counts = {"matched": 0, "released": 0, "malformed": 0}
    for key, row in expected.items():
        account, external_id = key
        if skip_malformed and external_id in malformed.get(account, {}):
            counts["malformed"] += 1
            continue
        assert key in stored, f"{account} {external_id} is missing from phone_numbers"
        actual = {name: stored[key][name] for name in row}
        assert actual == row, f"{account} {external_id}: stored {actual} != served {row}"
        counts["matched"] += 1
    for key, row in stored.items():
        if key not in expected and row["account"] in synced:
            assert row["status"] == "released", f"{key} is gone but still {row['status']}"
            assert row["released_at"] is not None
            counts["released"] += 1
    return counts
