"""Real histories for report tests: fake provider accounts synced at the instants a test names.

A test edits an account's `items` (the provider's listing), then calls `sync_at(instant)`:
the engine syncs every account with the fake clock set to that instant, exactly as a
scheduled run would, so versions, status changes and runs are the engine's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.sync import AccountResult, AccountSync
from tests.conftest import FakeClock
from tests.fakes import FakeRingyo, FakeTryVox, ringyo_item, tryvox_item

# Release guard off: report tests release large shares of tiny accounts on purpose.
CONFIG = Config(max_release_fraction=1.0)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


def vox(
    n: int,
    *,
    status: str = "active",
    fee: str = "1.00",
    setup: str = "0.00",
    currency: str = "USD",
    created: str = "2026-01-05T00:00:00Z",
    country: str = "GB",
    kind: str = "local",
) -> dict[str, Any]:
    """A TryVox listing item; `n` makes the number (+4420700000nn)."""
    item = tryvox_item(n, status=status, fee=fee)
    item.update(setup_fee=setup, currency=currency, created_at=created, country=country, type=kind)
    return item


def ringyo(n: int, *, status: str = "active", country: str = "US") -> dict[str, Any]:
    return ringyo_item(n, status=status, country=country)


class History:
    """Accounts at fake providers, synced into `engine` at chosen instants."""

    def __init__(self, engine: Engine, clock: FakeClock | None = None) -> None:
        self.engine = engine
        self.clock = clock or FakeClock()
        self._accounts: list[tuple[ResolvedAccount, Any]] = []

    def tryvox(
        self, name: str = "vox-main", items: list[dict[str, Any]] | None = None
    ) -> FakeTryVox:
        fake = FakeTryVox(items or [])
        config = AccountConfig(
            name=name,
            provider="tryvox",
            account_id=f"acc_{name}",
            api_key=SecretStr("k"),
            base_url="https://api.tryvox.test",
        )
        self._accounts.append((ResolvedAccount(config, SecretStr(f"tvx_{name}")), fake))
        return fake

    def ringyo(
        self,
        name: str = "ringyo-main",
        items: list[dict[str, Any]] | None = None,
        fees: dict[str, Decimal] | None = None,
        currency: str | None = None,
    ) -> FakeRingyo:
        fake = FakeRingyo(items or [])
        config = AccountConfig(
            name=name,
            provider="ringyo",
            api_key=SecretStr("k"),
            base_url="https://api.ringyo.test",
            fees=fees,
            currency=currency,
        )
        self._accounts.append((ResolvedAccount(config, SecretStr(f"rgy_{name}")), fake))
        return fake

    def sync_at(self, instant: datetime, *, expect_ok: bool = True) -> list[AccountResult]:
        """Sync every account with the clock at `instant`; every run must succeed unless
        `expect_ok` is False."""
        self.clock.current = instant
        results = []
        for account, fake in self._accounts:
            client = ProviderClient(
                account,
                clock=self.clock,
                policy=RetryPolicy(max_attempts=1),
                transport=httpx.MockTransport(fake),
            )
            with client:
                result = AccountSync(self.engine, CONFIG, client, clock=self.clock).run()
            assert result.ok or not expect_ok, f"{account.name}: {result.error}"
            results.append(result)
        return results
