"""The page path: compiled validation equals the precise one, fingerprints decide nothing on
their own, and a fee schedule or mapping change is never missed."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from syncer.config import Config
from syncer.providers import KnownFingerprints, RetryPolicy, pages, ringyo, tryvox
from syncer.providers.base import RAW_PREFETCH, Listing, PassPage
from syncer.providers.keys import ringyo_id_key
from syncer.providers.pages import RawPage
from syncer.records import NumberRecord, Rejection
from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.store.models import PhoneNumber, PhoneNumberVersion
from syncer.sync import AccountSync
from tests.conftest import FakeClock
from tests.fakes import ringyo_item, tryvox_item
from tests.invariants import assert_history_invariants
from tests.simulated import SimulatedProviders, items_of, world_of

SCHEDULE = ringyo.FeeSchedule({"default": Decimal("1.00"), "US": Decimal("1.15")}, "USD")


def served_items(provider: str, faults: str) -> list[bytes]:
    """Every item of one simulated account, as the simulator sends it (raw JSON)."""
    world = World.generate(numbers=600, seed=5, accounts_per_provider=1)
    account = next(a for a in world.accounts if a.provider == provider)
    found: list[bytes] = []
    decoder = pages.PageDecoder("id" if provider == "ringyo" else "e164", ())
    with SimulatorServer(world, faults=parse_faults(faults)) as server:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        params: dict[str, Any] = {"limit": 100} if provider == "ringyo" else {"per_page": 100}
        for page in range(1, 4):
            if provider == "tryvox":
                params["page"] = page
            body = httpx.get(server.url + account.path, params=params, headers=headers).content
            raw = decoder.decode(body).raw
            assert raw is not None
            found += [bytes(item) for item in raw]
            params["cursor"] = json.loads(body).get("next_cursor")
    return found


def precise(provider: str, item: bytes) -> NumberRecord | Rejection:
    parsed = pages.parse_item(item)
    return ringyo.to_record(parsed, SCHEDULE) if provider == "ringyo" else tryvox.to_record(parsed)


def mapper(provider: str) -> Any:
    return ringyo.RingyoMapper(SCHEDULE) if provider == "ringyo" else tryvox.TryVoxMapper()


def same(a: NumberRecord | Rejection, b: NumberRecord | Rejection) -> bool:
    if isinstance(a, NumberRecord) and isinstance(b, NumberRecord):
        return a == b and a.content_hash == b.content_hash
    if isinstance(a, Rejection) and isinstance(b, Rejection):  # repr: NaN != NaN
        return (a.reason, repr(a.payload), a.external_id, a.seen_key) == (
            b.reason,
            repr(b.payload),
            b.external_id,
            b.seen_key,
        )
    return False


@pytest.mark.parametrize("provider", ["ringyo", "tryvox"])
@pytest.mark.parametrize("faults", ["", "malformed_rate=0.3"])
def test_compiled_validation_gives_what_the_precise_path_gives(provider: str, faults: str) -> None:
    items = served_items(provider, f"{provider}:{faults}" if faults else "latency_ms=0")
    for start in range(0, len(items), 100):
        page = items[start : start + 100]
        fast = mapper(provider).map_raw(page)
        slow = [precise(provider, item) for item in page]
        assert len(fast) == len(slow)
        assert all(same(a, b) for a, b in zip(fast, slow, strict=True))
    if faults:
        assert any(isinstance(precise(provider, item), Rejection) for item in items)


def dumps(item: dict[str, Any], **raw: str) -> bytes:
    """`item` as JSON, with some values written as raw JSON text (numbers, escapes)."""
    text = json.dumps({key: value for key, value in item.items() if key not in raw})
    extra = "".join(f', "{key}": {value}' for key, value in raw.items())
    return (text[:-1] + extra + "}").encode()


VOX = {k: v for k, v in tryvox_item(1).items() if k not in ("monthly_fee", "setup_fee")}
HOSTILE_TRYVOX = [
    dumps(VOX, monthly_fee='"1.25"', setup_fee="0"),  # a fee as a string
    dumps(VOX, monthly_fee="1.2500001", setup_fee="0"),  # finer than the columns
    dumps(VOX, monthly_fee="NaN", setup_fee="0"),  # not JSON msgspec reads
    dumps(VOX, monthly_fee="true", setup_fee="0"),
    dumps(VOX, monthly_fee="-1", setup_fee="0"),
    dumps(VOX, monthly_fee="1e400", setup_fee="0"),
    dumps({**VOX, "e164": "+442070000001\n"}, monthly_fee="1", setup_fee="0"),
    dumps({**VOX, "e164": "+４４2070000001"}, monthly_fee="1", setup_fee="0"),
    dumps({**VOX, "country": "gb"}, monthly_fee="1", setup_fee="0"),  # accepted, upper-cased
    dumps({**VOX, "country": "ıt"}, monthly_fee="1", setup_fee="0"),  # "IT" once upper-cased
    dumps({**VOX, "capabilities": ["voice", 1]}, monthly_fee="1", setup_fee="0"),
    dumps(VOX, monthly_fee="123456789.123456", setup_fee="0.000001"),  # exact, no float
]
HOSTILE_RINGYO = [
    json.dumps({**ringyo_item(1), "phone_number": "+14155550001\n"}).encode(),
    json.dumps({**ringyo_item(1), "id": ""}).encode(),
    json.dumps({**ringyo_item(1), "id": "x" * 65}).encode(),
    json.dumps({**ringyo_item(1), "capabilities": {"voice": 1}}).encode(),
    json.dumps({**ringyo_item(1), "created_at": "2026-01-10T08:00:00"}).encode(),  # naive: UTC
    json.dumps({**ringyo_item(1), "created_at": 1700000000}).encode(),
    json.dumps({**ringyo_item(1), "friendly_name": "é" * 256}).encode(),
    json.dumps({**ringyo_item(1), "country": "de"}).encode(),
]


@pytest.mark.parametrize(
    ("provider", "item"),
    [("tryvox", item) for item in HOSTILE_TRYVOX] + [("ringyo", item) for item in HOSTILE_RINGYO],
)
def test_the_compiled_check_is_never_laxer(provider: str, item: bytes) -> None:
    """Alone or among good items, an item maps exactly as the precise path maps it."""
    good = [json.dumps(ringyo_item(7) if provider == "ringyo" else tryvox_item(7)).encode()]
    good = [g.replace(b'"1.25"', b"1.25").replace(b'"0.00"', b"0.00") for g in good]
    for page in ([item], [*good, item]):
        fast = mapper(provider).map_raw(page)
        slow = [precise(provider, one) for one in page]
        assert all(same(a, b) for a, b in zip(fast, slow, strict=True)), (fast, slow)


def test_money_stays_exact_on_the_compiled_path() -> None:
    item = dumps(VOX, monthly_fee="123456789.123456", setup_fee="0.000001")
    (made,) = tryvox.TryVoxMapper().map_raw([item])
    assert isinstance(made, NumberRecord)
    assert (made.monthly_fee, made.setup_fee) == (Decimal("123456789.123456"), Decimal("0.000001"))


def test_fingerprints_follow_the_bytes_and_the_salt() -> None:
    item = json.dumps(ringyo_item(1)).encode()
    one = pages.fingerprinter("ringyo", "default=1.00;USD")
    assert one([item]) == one([item])
    assert one([item]) != one([item.replace(b"Line 1", b"Line 2")])
    assert one([item]) != pages.fingerprinter("ringyo", "default=1.50;USD")([item])


# -- through a sync -----------------------------------------------------------------------


def sync(engine: Engine, world: World, fees: dict[str, Decimal], clock: FakeClock) -> Any:
    """Sync the simulated `ringyo-1` (as "ringyo-main") with the fee schedule `fees`."""
    providers = SimulatedProviders(world)
    account = providers.account("ringyo-1", name="ringyo-main", fees=fees, currency="USD")
    with providers.client(account, clock, RetryPolicy(max_attempts=1)) as client:
        return AccountSync(engine, Config(), client, clock=clock).run()


def versions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(PhoneNumberVersion)).scalar_one()
        )


def test_unchanged_items_skip_validation_and_write_nothing(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_of(5)
    fees = {"default": Decimal("1.00")}
    assert sync(engine, world, fees, clock).ok
    validated: list[int] = []
    real = ringyo.RingyoMapper.map_raw
    monkeypatch.setattr(
        ringyo.RingyoMapper,
        "map_raw",
        lambda self, page: validated.append(len(page)) or real(self, page),
    )
    clock.advance(60)
    again = sync(engine, world, fees, clock)
    assert again.ok
    assert (again.counts.unchanged, again.counts.updated, validated) == (5, 0, [])
    third = world.numbers_of("ringyo-1")[2]
    other = "inactive" if third.status != "inactive" else "active"
    world.set_status("ringyo", "ringyo-1", third.key, other)
    clock.advance(60)
    changed = sync(engine, world, fees, clock)
    assert (changed.counts.updated, changed.counts.unchanged, validated) == (1, 4, [1])


def test_a_new_fee_schedule_is_noticed_even_though_the_items_did_not_change(
    engine: Engine, clock: FakeClock
) -> None:
    world = world_of(4)
    assert sync(engine, world, {"default": Decimal("1.00")}, clock).ok
    clock.advance(60)
    result = sync(engine, world, {"default": Decimal("1.25")}, clock)
    assert (result.counts.updated, result.counts.unchanged) == (4, 0)
    with engine.connect() as connection:
        fees = set(connection.execute(select(PhoneNumber.monthly_fee)).scalars())
    assert fees == {Decimal("1.25")}
    assert_history_invariants(engine)


def test_switching_fingerprints_marks_no_number_changed(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprints lost (as after migration 0003) or from another mapping version: the items
    are validated and compared by content hash; no version is written, the fingerprints are."""
    world = world_of(6)
    fees = {"default": Decimal("1.00")}
    assert sync(engine, world, fees, clock).ok
    before = versions(engine)
    with engine.begin() as connection:
        connection.execute(update(PhoneNumber).values(fingerprint=None))
    clock.advance(60)
    result = sync(engine, world, fees, clock)
    assert (result.counts.unchanged, result.counts.updated, result.counts.released) == (6, 0, 0)
    monkeypatch.setattr(pages, "MAPPING_VERSION", pages.MAPPING_VERSION + 1)
    clock.advance(60)
    result = sync(engine, world, fees, clock)
    assert (result.counts.unchanged, result.counts.updated) == (6, 0)
    assert versions(engine) == before
    with engine.connect() as connection:
        stored = list(connection.execute(select(PhoneNumber.fingerprint)).scalars())
    assert all(stored)
    assert len(set(stored)) == 6
    assert_history_invariants(engine)


def test_known_fingerprints_are_found_once_and_compared_on_all_bits() -> None:
    a, b = b"\x01" * 8 + b"\x00" * 8, b"\x01" * 8 + b"\x00" * 7 + b"\x01"  # same first half
    known = KnownFingerprints([b, a, b"\xff" * 16])  # any order, duplicates ignored
    assert len(known) == 3
    assert known.take(a)
    assert not known.take(a)  # once only: a repeat is mapped like any other item
    assert not known.take(b"\x01" * 8 + b"\x00" * 6 + b"\x01\x00")
    known.discard(b"\xff" * 16)
    assert known.remaining() == 1
    assert known.untaken() == {b}


def test_known_fingerprints_taken_a_page_at_a_time() -> None:
    a, b, c, d = (bytes([n]) * 16 for n in range(1, 5))
    known = KnownFingerprints([a, b, c, d])
    assert known.take_all([a, b], [True, True]) == []  # every item known: all taken at once
    assert known.remaining() == 2
    # taken before, not known, known twice in the page (the second is a miss), not eligible
    assert known.take_all([a, b"\x09" * 16, c, c, d], [True, True, True, True, False]) == [
        0,
        1,
        3,
        4,
    ]
    assert known.untaken() == {d}
    assert known.take_all([d, d], [True, True]) == [1]
    assert (len(known), known.remaining(), known.untaken()) == (4, 0, set())


def test_missing_numbers_are_released_with_a_fingerprint_or_without_one(
    engine: Engine, clock: FakeClock
) -> None:
    """The release candidates are the live numbers whose fingerprint the listing did not
    take, and those without one (not seen since fingerprints exist): both kinds, picked by
    the database where it can match a list of fingerprints, are released when missing."""
    world = world_of(10)
    fees = {"default": Decimal("1.00")}
    assert sync(engine, world, fees, clock).ok
    keys = sorted(item["id"] for item in items_of(world, "ringyo-1"))
    without, kept = keys[:3], keys[3:]
    with engine.begin() as connection:
        connection.execute(
            update(PhoneNumber).where(PhoneNumber.external_id.in_(without)).values(fingerprint=None)
        )
    gone = [without[0], kept[0]]  # one without a fingerprint, one with
    world.remove_many("ringyo-1", gone)
    clock.advance(60)
    result = sync(engine, world, fees, clock)
    assert result.ok, result.error
    assert (result.counts.released, result.counts.unchanged) == (2, 8)
    with engine.connect() as connection:
        released = connection.execute(
            select(PhoneNumber.external_id).where(PhoneNumber.released_at.is_not(None))
        ).scalars()
        assert sorted(released) == sorted(gone)
    assert_history_invariants(engine)


class _Pages:
    """A paginator handing over fixed pages of raw items (keys read from the items)."""

    prefetch = 0

    def __init__(self, *pages: list[bytes]) -> None:
        self.pages = pages

    def one_pass(self) -> Any:
        total = len({json.loads(item)["id"] for page in self.pages for item in page})
        for raw in self.pages:
            keys = [json.loads(item)["id"] for item in raw]
            yield PassPage(RawPage(raw, None, keys, {}), total)


def test_a_page_of_unchanged_items_is_taken_whole_unless_a_key_was_listed_before() -> None:
    items = [dumps(ringyo_item(n)) for n in range(4)]
    again = dumps(ringyo_item(1, status="suspended"))  # another item with a key listed before
    fingerprints = ringyo.RingyoMapper(SCHEDULE).fingerprints
    known = KnownFingerprints(fingerprints([*items, again]))
    listing = Listing(
        "acct",
        _Pages(items[:2], [items[2], again], items[3:]),
        ringyo.RingyoMapper(SCHEDULE),
        FakeClock(),
        key_rule=ringyo_id_key,
        per_page=2,
        known=known,
    )
    listed = list(listing.pages())
    assert (
        [page.unchanged for page in listed]
        == [
            fingerprints(items[:2]),
            fingerprints([items[2]]),  # the repeat is dropped, as on the item-by-item path
            fingerprints(items[3:]),
        ]
    )
    assert all(not page.records and not page.rejections for page in listed)
    assert listing.keys_seen == 4
    assert listing.outcome.complete
    assert known.untaken() == set()


class _Fetching(_Pages):
    """`_Pages` fetched ahead in threads (as the real paginators are); records which pages
    were fetched, and whether the pass was closed."""

    prefetch = 2

    def __init__(self, *pages: list[bytes]) -> None:
        super().__init__(*pages)
        self.fetched: list[int] = []
        self.all_fetched = threading.Event()
        self.closed = threading.Event()

    def one_pass(self) -> Any:
        try:
            for number, page in enumerate(super().one_pass()):
                self.fetched.append(number)
                if len(self.fetched) == len(self.pages):
                    self.all_fetched.set()
                yield page
        finally:
            self.closed.set()


def _fetching_listing(paginator: _Fetching, clock: FakeClock) -> Listing:
    return Listing(
        "acct",
        paginator,
        ringyo.RingyoMapper(SCHEDULE),
        clock,
        key_rule=ringyo_id_key,
        per_page=2,
    )


def test_a_started_listing_fetches_before_it_is_compared_and_keeps_when_pages_arrived() -> None:
    items = [dumps(ringyo_item(n)) for n in range(6)]
    paginator = _Fetching(items[:2], items[2:4], items[4:])
    clock = FakeClock()
    listing = _fetching_listing(paginator, clock)
    arrived = clock.now()
    listing.start()
    # Every page is fetched before the engine asks for the first one (as it reads the store).
    assert paginator.all_fetched.wait(10)
    clock.current += timedelta(minutes=5)
    listed = list(listing.pages())
    assert [len(page.records) for page in listed] == [2, 2, 2]
    assert {page.received_at for page in listed} == {arrived}  # not when they were compared
    assert listing.outcome.complete
    assert paginator.closed.wait(10)
    listing.close()  # nothing left to stop: harmless


def test_a_started_listing_that_is_never_read_stops_fetching_when_closed() -> None:
    items = [dumps(ringyo_item(n)) for n in range(2 * (RAW_PREFETCH + 10))]
    pages = [items[start : start + 2] for start in range(0, len(items), 2)]
    paginator = _Fetching(*pages)
    listing = _fetching_listing(paginator, FakeClock())
    listing.start()
    deadline = time.monotonic() + 10
    while len(paginator.fetched) <= RAW_PREFETCH and time.monotonic() < deadline:
        time.sleep(0.01)
    listing.close()
    assert paginator.closed.is_set()  # the pass was closed in its own thread, before `close`
    assert len(paginator.fetched) == RAW_PREFETCH + 1  # as far ahead as allowed, no further
    assert not any(thread.name == "syncer-fetch" for thread in threading.enumerate())
