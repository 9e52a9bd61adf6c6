"""Provider listings: paging rules, restarts, drift, completeness and record validation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from syncer.config import AccountConfig, ResolvedAccount
from syncer.errors import ProviderError
from syncer.providers import Listing, ProviderClient, RetryPolicy, ringyo, tryvox
from syncer.records import NumberRecord, Rejection
from tests.conftest import FakeClock
from tests.fakes import FakeRingyo, FakeTryVox, ringyo_item, tryvox_item


def account(provider: str, **extra: Any) -> ResolvedAccount:
    fields: dict[str, Any] = {
        "name": f"{provider}-test",
        "provider": provider,
        "api_key": "k",
        "base_url": "https://api.example.test",
    }
    if provider == "tryvox":
        fields["account_id"] = "acc_123abc"
    fields.update(extra)
    config = AccountConfig.model_validate(fields)
    return ResolvedAccount(config, SecretStr(f"key-{id(config)}"))


def listing_of(acct: ResolvedAccount, handler: Any, clock: FakeClock) -> tuple[Listing, list[Any]]:
    client = ProviderClient(
        acct,
        clock=clock,
        policy=RetryPolicy(max_attempts=3),
        transport=httpx.MockTransport(handler),
    )
    listing = client.listing()
    pages = list(listing.pages())
    client.close()
    return listing, pages


def keys(pages: list[Any]) -> list[str]:
    return [r.external_id for p in pages for r in p.records]


def test_ringyo_lists_every_page_with_limit_100(clock: FakeClock) -> None:
    fake = FakeRingyo([ringyo_item(n) for n in range(250)])
    listing, pages = listing_of(account("ringyo"), fake, clock)
    assert len(pages) == 3
    assert sorted(keys(pages)) == sorted(f"pn_{n:06d}" for n in range(250))
    assert listing.outcome.complete
    assert listing.outcome.can_release


def test_ringyo_filters_reach_the_api_and_block_release(clock: FakeClock) -> None:
    seen_params: list[dict[str, str]] = []
    fake = FakeRingyo([ringyo_item(n, status="active" if n % 3 else "pending") for n in range(30)])

    def handler(request: httpx.Request) -> httpx.Response:
        seen_params.append(dict(request.url.params))
        return fake(request)

    acct = account("ringyo", filters={"status": "active", "country": "US"})
    listing, pages = listing_of(acct, handler, clock)
    assert seen_params[0]["status"] == "active"
    assert seen_params[0]["country"] == "US"
    assert seen_params[0]["limit"] == "100"
    assert len(keys(pages)) == 20
    assert listing.outcome.complete
    assert not listing.outcome.can_release  # a status filter can never prove a release
    assert listing.outcome.release_scope == {"country": "US"}


def test_ringyo_invalid_cursor_restarts_once(clock: FakeClock) -> None:
    fake = FakeRingyo([ringyo_item(n) for n in range(250)])
    failed = []

    def once(n: int, cursor: str | None) -> httpx.Response | None:
        if cursor and not failed:
            failed.append(n)
            return httpx.Response(400, json={"error": {"code": "invalid_cursor"}})
        return None

    fake.on_request = once
    listing, pages = listing_of(account("ringyo"), fake, clock)
    assert sorted(keys(pages)) == sorted(f"pn_{n:06d}" for n in range(250))
    assert len(keys(pages)) == 250  # each record handed over once despite the restart
    assert listing.outcome.complete
    assert listing.outcome.passes == 2


def test_ringyo_invalid_cursor_twice_fails_the_listing(clock: FakeClock) -> None:
    fake = FakeRingyo([ringyo_item(n) for n in range(250)])
    fake.on_request = lambda n, cursor: (
        httpx.Response(400, json={"error": {"code": "invalid_cursor"}}) if cursor else None
    )
    with pytest.raises(ProviderError, match="again after restarting") as caught:
        listing_of(account("ringyo"), fake, clock)
    # One line naming the account once, for sync_runs.error and the CLI.
    name = account("ringyo").name
    assert (
        str(caught.value) == f"{name}: Ringyo refused the cursor again after restarting the listing"
    )


def test_ringyo_has_more_without_cursor_is_an_error(clock: FakeClock) -> None:
    fake = FakeRingyo([ringyo_item(n) for n in range(5)])
    fake.on_request = lambda n, cursor: httpx.Response(
        200, json={"data": [], "has_more": True, "next_cursor": None, "total": 5}
    )
    with pytest.raises(ProviderError, match="no next_cursor"):
        listing_of(account("ringyo"), fake, clock)


def test_ringyo_total_disagreeing_with_records_is_incomplete(clock: FakeClock) -> None:
    fake = FakeRingyo([ringyo_item(n) for n in range(120)])
    fake.total_override = 130
    listing, pages = listing_of(account("ringyo"), fake, clock)
    assert len(keys(pages)) == 120
    assert not listing.outcome.complete
    assert "120 distinct records" in (listing.outcome.problem or "")
    assert listing.outcome.passes == 2  # listed once more before giving up


def test_tryvox_fetches_pages_concurrently(clock: FakeClock) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(1000)])
    fake.delay = 0.02
    listing, pages = listing_of(account("tryvox", concurrency=4), fake, clock)
    assert len(pages) == 10
    assert len(set(keys(pages))) == 1000
    assert fake.max_in_flight >= 3
    assert fake.max_in_flight <= 4
    assert listing.outcome.complete


def test_tryvox_drift_is_deduplicated_and_relisted(clock: FakeClock) -> None:
    """Five numbers appear at the front after page 1: pages shift, the pass is relisted."""
    items = [tryvox_item(n) for n in range(250)]
    fake = FakeTryVox(items)
    drifted = []

    def drift(page: int) -> None:
        if page == 1 and not drifted:
            drifted.append(page)
            fake.items[:0] = [tryvox_item(90000 + n) for n in range(5)]

    fake.after_page = drift
    listing, pages = listing_of(account("tryvox", concurrency=1), fake, clock)
    listed = keys(pages)
    assert len(listed) == len(set(listed)) == 255  # every number once, the new ones too
    assert listing.outcome.complete
    assert listing.outcome.passes == 2


def test_tryvox_persistent_count_mismatch_is_incomplete(clock: FakeClock) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(240)])
    fake.total_override = 250
    listing, pages = listing_of(account("tryvox"), fake, clock)
    assert len(keys(pages)) == 240
    assert not listing.outcome.complete
    assert not listing.outcome.can_release


def test_tryvox_wrong_page_echo_is_an_error(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": [],
                "pagination": {
                    "total": 0,
                    "count": 0,
                    "per_page": 100,
                    "current_page": "1",
                    "total_pages": 1,
                },
            },
        )

    with pytest.raises(ProviderError, match="current_page"):
        listing_of(account("tryvox"), handler, clock)


# -- record validation --------------------------------------------------------------------


def tryvox_parsed(**changes: Any) -> dict[str, Any]:
    item = tryvox_item(1)
    item["monthly_fee"] = Decimal("1.25")
    item["setup_fee"] = Decimal("0.00")
    item.update(changes)
    return item


def test_tryvox_record_is_normalized_exactly() -> None:
    record = tryvox.to_record(
        tryvox_parsed(trunk_id="trunk_9", application_id=None, capabilities=["voice", "mms"])
    )
    assert isinstance(record, NumberRecord)
    assert record.external_id == record.e164 == "+442070000001"
    assert record.monthly_fee == Decimal("1.25")
    assert record.setup_fee == Decimal("0.00")
    assert (record.voice, record.sms, record.mms) == (True, False, True)
    assert record.assigned_to == "trunk_9"
    assert record.provider_created_at is not None
    assert record.provider_created_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"e164": "555-0100"}, "e164: String should match pattern"),
        (
            {"status": "decommissioned"},
            "status: Input should be 'active', 'pending' or 'suspended'",
        ),
        ({"monthly_fee": "1.25"}, "monthly_fee: must be a JSON number, got str '1.25'"),
        (
            {"monthly_fee": Decimal("-1.00")},
            "monthly_fee: Input should be greater than or equal to 0",
        ),
        ({"created_at": "yesterday"}, "created_at: 'yesterday' is not an ISO 8601 timestamp"),
        ({"setup_fee": Decimal("0.0000001")}, "setup_fee: has more than 6 decimal places"),
    ],
)
def test_tryvox_bad_records_are_rejected_with_a_reason(change: dict[str, Any], reason: str) -> None:
    payload = tryvox_parsed(**change)
    rejection = tryvox.to_record(payload)
    assert isinstance(rejection, Rejection)
    assert reason in rejection.reason
    assert rejection.payload is payload


def test_tryvox_rejection_keeps_a_valid_key_for_protection() -> None:
    rejection = tryvox.to_record(tryvox_parsed(status="decommissioned"))
    assert isinstance(rejection, Rejection)
    assert rejection.seen_key == "+442070000001"
    unreadable = tryvox.to_record(tryvox_parsed(e164="020 7000 0001"))
    assert isinstance(unreadable, Rejection)
    assert unreadable.seen_key is None
    assert unreadable.external_id == "020 7000 0001"


def test_missing_field_is_named() -> None:
    item = tryvox_parsed()
    del item["status"]
    rejection = tryvox.to_record(item)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "status: required field is missing"


def test_ringyo_fee_schedule_prices_by_country() -> None:
    schedule = ringyo.FeeSchedule({"default": Decimal("1.00"), "US": Decimal("1.15")}, "EUR")
    us = ringyo.to_record(ringyo_item(1, country="US"), schedule)
    gb = ringyo.to_record(ringyo_item(2, country="GB"), schedule)
    assert isinstance(us, NumberRecord)
    assert isinstance(gb, NumberRecord)
    assert (us.monthly_fee, us.currency) == (Decimal("1.15"), "EUR")
    assert (gb.monthly_fee, gb.currency) == (Decimal("1.00"), "EUR")
    unpriced = ringyo.to_record(ringyo_item(3), ringyo.FeeSchedule(None, None))
    assert isinstance(unpriced, NumberRecord)
    assert (unpriced.monthly_fee, unpriced.currency, unpriced.setup_fee) == (None, None, None)


def test_ringyo_capability_must_be_a_bool() -> None:
    item = ringyo_item(1)
    item["capabilities"] = {"voice": "yes", "sms": True}
    rejection = ringyo.to_record(item, ringyo.FeeSchedule(None, None))
    assert isinstance(rejection, Rejection)
    assert "capabilities.voice" in rejection.reason
    assert rejection.seen_key == "pn_000001"


def test_keyless_rejection_blocks_release_even_when_its_digits_match(clock: FakeClock) -> None:
    """A key is read one way only (see `syncer.providers.keys`): a number written the human
    way carries every digit, but naming a number by its digits would let one bad item shield
    another; so it blocks every release of the listing, like an item with no number at all."""
    items = [tryvox_item(n) for n in range(10)]
    items[3] = dict(items[3], e164=None)  # no readable number at all
    listing, _ = listing_of(account("tryvox"), FakeTryVox(items), clock)
    assert listing.outcome.complete
    assert not listing.outcome.can_release
    items[3] = dict(items[3], e164="44 20 7000 0003")  # mangled, but its digits are there
    listing, _ = listing_of(account("tryvox"), FakeTryVox(items), clock)
    assert not listing.outcome.can_release
    assert not listing.protects("+442070000003")
    items[3] = dict(items[3], e164="+442070000003\n", status="bogus")  # framing only
    listing, _ = listing_of(account("tryvox"), FakeTryVox(items), clock)
    assert listing.outcome.can_release
    assert listing.protects("+442070000003")
    assert not listing.protects("+442070099999")
