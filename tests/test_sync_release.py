"""Release only on proof: failed, partial, filtered or emptied listings release nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.store.models import PhoneNumber, SyncRun
from syncer.sync import AccountResult, AccountSync, SyncOptions
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox, tryvox_item
from tests.invariants import assert_history_invariants


def vox(**extra: Any) -> ResolvedAccount:
    config = AccountConfig(
        name="vox-main",
        provider="tryvox",
        account_id="acc_1",
        api_key=SecretStr("k"),
        base_url="https://api.tryvox.test",
        **extra,
    )
    return ResolvedAccount(config, SecretStr("tvx_key_release"))


def sync_once(
    engine: Engine,
    handler: Any,
    clock: FakeClock,
    account: ResolvedAccount | None = None,
    config: Config | None = None,
    **options: Any,
) -> AccountResult:
    client = ProviderClient(
        account or vox(),
        clock=clock,
        policy=RetryPolicy(max_attempts=2, base_delay=0.01),
        transport=httpx.MockTransport(handler),
    )
    with client:
        return AccountSync(
            engine, config or Config(), client, clock=clock, options=SyncOptions(**options)
        ).run()


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        return dict(c.execute(select(PhoneNumber.e164, PhoneNumber.status)).all())


def run_row(engine: Engine, run_id: int | None) -> Any:
    with engine.connect() as c:
        return c.execute(select(SyncRun).where(SyncRun.id == run_id)).one()


@pytest.fixture
def stored(engine: Engine, clock: FakeClock) -> FakeTryVox:
    """250 numbers synced once (three pages of 100)."""
    fake = FakeTryVox([tryvox_item(n) for n in range(250)])
    assert sync_once(engine, fake, clock).ok
    clock.advance(600)
    return fake


def test_failed_listing_releases_nothing(
    engine: Engine, clock: FakeClock, stored: FakeTryVox
) -> None:
    del stored.items[:10]

    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "3":
            return httpx.Response(503)
        return stored(request)

    result = sync_once(engine, failing, clock)
    assert result.status == "failed"
    assert not result.ok
    assert "503" in (result.error or "")
    assert "released" not in statuses(engine).values()
    row = run_row(engine, result.run_id)
    assert (row.status, row.released, row.listing_complete) == ("failed", 0, False)
    assert_history_invariants(engine)


def test_inconsistent_listing_stores_records_but_releases_nothing(
    engine: Engine, clock: FakeClock, stored: FakeTryVox
) -> None:
    del stored.items[:10]
    stored.items[20]["status"] = "suspended"
    stored.total_override = 245  # the counts never add up
    result = sync_once(engine, stored, clock)
    assert result.status == "succeeded"
    assert not result.ok  # not listed completely: exit code 1
    assert "listing incomplete" in (result.error or "")
    assert result.counts.updated == 1  # what was seen is stored
    assert "released" not in statuses(engine).values()


def test_mass_release_guard(engine: Engine, clock: FakeClock, stored: FakeTryVox) -> None:
    stored.items.clear()  # an emptied listing (a provider bug, a wrong account id...)
    result = sync_once(engine, stored, clock)
    assert result.status == "failed"
    assert "mass release guard" in (result.error or "")
    assert "lacks 250 of the 250 numbers live before this run" in (result.error or "")
    assert "released" not in statuses(engine).values()
    clock.advance(60)
    allowed = sync_once(engine, stored, clock, allow_mass_release=True)
    assert allowed.ok
    assert allowed.counts.released == 250
    assert set(statuses(engine).values()) == {"released"}
    assert_history_invariants(engine)


def test_guard_threshold_is_configurable(
    engine: Engine, clock: FakeClock, stored: FakeTryVox
) -> None:
    del stored.items[:30]  # 12% of 250
    result = sync_once(engine, stored, clock, config=Config(max_release_fraction=0.1))
    assert "mass release guard" in (result.error or "")
    clock.advance(60)
    result = sync_once(engine, stored, clock, config=Config(max_release_fraction=0.2))
    assert result.ok
    assert result.counts.released == 30


def test_country_filter_releases_only_inside_its_scope(engine: Engine, clock: FakeClock) -> None:
    gb = [tryvox_item(n) for n in range(6)]
    us = [dict(tryvox_item(100 + n), country="US", e164=f"+1415555{n:04d}") for n in range(6)]
    everything = FakeTryVox(gb + us)
    assert sync_once(engine, everything, clock).ok
    clock.advance(60)

    only_gb = FakeTryVox(gb[:5])  # the GB-filtered listing: one GB number is gone

    def filtered(request: httpx.Request) -> httpx.Response:
        assert request.url.params["country"] == "GB"
        return only_gb(request)

    result = sync_once(engine, filtered, clock, account=vox(filters={"country": "GB"}))
    assert result.ok, result.error
    after = statuses(engine)
    assert after[gb[5]["e164"]] == "released"
    assert all(after[item["e164"]] == "active" for item in us)  # outside the scope


def test_status_filter_never_releases(engine: Engine, clock: FakeClock, stored: FakeTryVox) -> None:
    stored.items[0]["status"] = "suspended"
    active_only = FakeTryVox([i for i in stored.items if i["status"] == "active"])
    result = sync_once(engine, active_only, clock, account=vox(filters={"status": "active"}))
    assert not result.ok
    assert "status filter" in (result.error or "")
    assert "released" not in statuses(engine).values()


def test_unreadable_rejected_record_blocks_release(
    engine: Engine, clock: FakeClock, stored: FakeTryVox
) -> None:
    stored.items[0]["e164"] = None  # a record whose number cannot be read
    del stored.items[1]
    result = sync_once(engine, stored, clock)
    assert result.counts.rejected == 1
    assert "no readable number" in (result.error or "")
    assert "released" not in statuses(engine).values()


def test_comeback_after_release(engine: Engine, clock: FakeClock, stored: FakeTryVox) -> None:
    gone = stored.items.pop(5)
    assert sync_once(engine, stored, clock).counts.released == 1
    clock.advance(60)
    stored.items.append(gone)
    result = sync_once(engine, stored, clock)
    assert (result.counts.updated, result.counts.released) == (1, 0)
    assert statuses(engine)[gone["e164"]] == "active"
    assert_history_invariants(engine)
