"""Nothing stuck: whatever a provider sends that a database cannot store goes to
`rejected_records` in a storable form, with the reason, and the listing goes on (SQLite,
PostgreSQL and MariaDB).

The hostile provider serves pages mixing good records with: a NUL character in a text field
(PostgreSQL refuses NUL), a lone UTF-16 surrogate (no database's UTF-8 holds one; MariaDB's
JSON check refuses even its escape), `null` and other non-objects as items of `data`, text
longer than its column, a payload of a quarter of a megabyte. Before, the first of them
failed the account's whole page, on every run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from syncer.store.models import PhoneNumber, RejectedRecord
from tests.conftest import FakeClock
from tests.fakes import ringyo_item, tryvox_item
from tests.invariants import assert_history_invariants
from tests.resilience.hostile import (
    HostileProvider,
    account_for,
    resync_after,
    ringyo_listing,
    sync_once,
    tryvox_listing,
)

# (what, the item) for TryVox: each keeps a valid e164, so it still protects its number.
TRYVOX_UNSTORABLE: list[tuple[str, Any]] = [
    ("nul", dict(tryvox_item(901), region="Eng\x00land")),
    ("lone_surrogate", dict(tryvox_item(902), region="Eng\ud800land")),
    ("region_too_long", dict(tryvox_item(903), region="R" * 101)),
    ("type_too_long", dict(tryvox_item(904), type="t" * 33)),
    ("quarter_megabyte", dict(tryvox_item(905), trunk_id="x" * 250_000)),
    ("nul_in_a_key_of_the_item", {**tryvox_item(906), "extra\x00field": 1, "type": 5}),
]
# Items that are not a number at all: they may stand for any number, so they block releases.
NOT_OBJECTS: list[tuple[str, Any]] = [
    ("null", None),
    ("number", 42),
    ("string", "+442070000999"),
    ("list", [tryvox_item(907)]),
]
RINGYO_UNSTORABLE: list[tuple[str, Any]] = [
    ("nul_in_name", dict(ringyo_item(901), friendly_name="Main\x00line")),
    ("lone_surrogate_in_name", dict(ringyo_item(902), friendly_name="\udfffMain")),
    ("agent_too_long", dict(ringyo_item(903), default_agent_id="a" * 256)),
    ("nul_in_id", dict(ringyo_item(904), id="pn_000\x00904")),
    ("lone_surrogate_id", dict(ringyo_item(905), id="pn_\ud83d")),
]


def stored_rejections(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(RejectedRecord).order_by(RejectedRecord.id)))


def numbers(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(select(PhoneNumber.external_id, PhoneNumber.status))
        return dict(rows.all())


def test_unstorable_tryvox_items_are_rejected_and_the_listing_goes_on(engine: Engine) -> None:
    clock = FakeClock()
    good = [tryvox_item(n) for n in range(1, 181)]
    bad = [item for _, item in TRYVOX_UNSTORABLE]
    # Spread over both pages: the bad items sit between good ones.
    items = good[:90] + bad[:3] + good[90:150] + bad[3:] + good[150:]
    with HostileProvider(tryvox_listing(items)) as server:
        account = account_for(server.url, "tryvox")
        first = sync_once(engine, account, clock=clock)
        clock.advance(3600)
        second = sync_once(engine, account, clock=clock)
    assert first.ok, first.error
    assert second.ok, second.error
    assert (first.counts.created, first.counts.rejected) == (len(good), len(bad))
    assert second.counts.unchanged == len(good)
    assert set(numbers(engine)) == {item["e164"] for item in good}
    rows = stored_rejections(engine)
    assert len(rows) == 2 * len(bad)  # once per run
    by_key = {row.external_id: row for row in rows[: len(bad)]}
    reasons = {what: by_key[item["e164"]].reason for what, item in TRYVOX_UNSTORABLE}
    assert reasons["nul"].startswith("region: holds a NUL character")
    assert "stored as their \\uXXXX escape written out" in reasons["nul"]
    assert reasons["lone_surrogate"].startswith("region: Input should be a valid string")
    assert "unable to parse raw data as a unicode string" in reasons["lone_surrogate"]
    assert reasons["region_too_long"].startswith("region: String should have at most 100")
    assert reasons["type_too_long"].startswith("type: String should have at most 32")
    assert "stored cut to its first 4096" in reasons["quarter_megabyte"]
    payloads = {what: by_key[item["e164"]].payload for what, item in TRYVOX_UNSTORABLE}
    assert payloads["nul"]["region"] == "Eng\\u0000land"
    assert payloads["lone_surrogate"]["region"] == "Eng\\ud800land"
    assert payloads["quarter_megabyte"]["truncated_payload"]["characters"] > 250_000
    assert payloads["nul_in_a_key_of_the_item"]["extra\\u0000field"] == 1
    assert_history_invariants(engine)
    print(f"{engine.dialect.name}: " + "; ".join(f"{k}: {v[:70]}" for k, v in reasons.items()))


def test_items_that_are_not_objects_are_rejected_and_block_releases(engine: Engine) -> None:
    """A `null` (or any non-object) in `data` is stored as received (JSON null for null) and,
    standing for no number anyone can name, blocks every release of that listing."""
    good = [tryvox_item(n) for n in range(1, 21)]
    spoiled = tryvox_listing(good[:-1] + [item for _, item in NOT_OBJECTS])
    result = resync_after(engine, "tryvox", tryvox_listing(good), spoiled)
    assert result.status == "succeeded"
    assert result.counts.rejected == len(NOT_OBJECTS)
    assert result.counts.released == 0
    assert result.error is not None
    assert result.error.startswith("nothing released: 4 rejected record(s) had no readable")
    payloads = [row.payload for row in stored_rejections(engine)]
    assert payloads[:3] == [item for _, item in NOT_OBJECTS[:3]]
    assert [entry["e164"] for entry in payloads[3]] == ["+442070000907"]
    assert set(numbers(engine).values()) == {"active"}
    print(f"{engine.dialect.name}: {result.error}")


def test_unstorable_ringyo_items_are_rejected_and_the_listing_goes_on(engine: Engine) -> None:
    clock = FakeClock()
    good = [ringyo_item(n) for n in range(1, 121)]
    bad = [item for _, item in RINGYO_UNSTORABLE]
    with HostileProvider(ringyo_listing(good[:60] + bad + good[60:])) as server:
        result = sync_once(engine, account_for(server.url, "ringyo"), clock=clock)
    # Two ids cannot be read beyond doubt (a NUL, a lone surrogate): nothing may be released.
    assert result.status == "succeeded"
    assert result.error is not None
    assert "2 rejected record(s) had no readable number or id" in result.error
    assert (result.counts.created, result.counts.rejected) == (len(good), len(bad))
    assert set(numbers(engine)) == {item["id"] for item in good}
    rows = stored_rejections(engine)
    assert len(rows) == len(bad)
    external_ids = sorted(row.external_id for row in rows)
    assert external_ids == sorted(
        ["pn_000901", "pn_000902", "pn_000903", "pn_000\\u0000904", "pn_\\ud83d"]
    )
    assert_history_invariants(engine)
    print(f"{engine.dialect.name}: rejected ids as stored: {external_ids}")


def test_text_fields_are_bounded_by_the_columns_they_land_in() -> None:
    """The validation's lengths are the columns' (a longer text would fail its page)."""
    from syncer.providers import fields

    columns = PhoneNumber.__table__.c
    assert columns.friendly_name.type.length == fields.FRIENDLY_NAME_LENGTH
    assert columns.region.type.length == fields.REGION_LENGTH
    assert columns.number_type.type.length == fields.NUMBER_TYPE_LENGTH
    assert columns.assigned_to.type.length == fields.ASSIGNED_TO_LENGTH
    assert columns.external_id.type.length == 64  # RINGYO_ID_PATTERN: at most 64
    assert columns.e164.type.length >= 16  # "+" and 15 digits
