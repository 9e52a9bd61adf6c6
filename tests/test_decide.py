"""The decisions of a sync, without a database: what a page changes, what a listing releases."""

from __future__ import annotations

from decimal import Decimal

from syncer.decide import LiveNumber, StoredNumber, diff_page, plan_release
from syncer.records import NumberRecord


def record(key: str, status: str = "active", fee: str = "1.00", fp: bytes = b"f") -> NumberRecord:
    made = NumberRecord(
        external_id=key, e164="+15550000001", country="US", status=status, monthly_fee=Decimal(fee)
    )
    return made.with_fingerprint(fp)


def stored(
    number_id: int,
    of: NumberRecord,
    *,
    live: bool = True,
    stale: bool = False,
    fp: bytes | None = b"f",
) -> StoredNumber:
    return StoredNumber(number_id, of.external_id, of.content_hash, of.status, fp, live, stale)


def test_a_new_number_is_inserted() -> None:
    diff = diff_page([record("a")], {})
    assert [r.external_id for r in diff.new] == ["a"]
    assert not diff.changed
    assert diff.unchanged == 0
    assert diff.live_seen == 0


def test_only_a_content_difference_makes_a_version() -> None:
    before = record("a", fee="1.00")
    diff = diff_page([record("a", fee="1.0000")], {"a": stored(1, before)})  # same value
    assert not diff.changed
    assert diff.unchanged == 1
    assert diff.writes_nothing
    diff = diff_page([record("a", fee="2.00")], {"a": stored(1, before)})
    assert [(r.monthly_fee, s.id) for r, s in diff.changed] == [(Decimal("2.00"), 1)]
    assert diff.live_seen == 1


def test_a_new_fingerprint_alone_writes_the_fingerprint_not_a_version() -> None:
    before = record("a", fp=b"old")
    diff = diff_page([record("a", fp=b"new")], {"a": stored(1, before, fp=b"old")})
    assert diff.refingerprinted == [(1, b"new")]
    assert not diff.changed
    assert diff.unchanged == 1
    diff = diff_page([record("a", fp=b"new")], {"a": stored(1, before, fp=None)})
    assert diff.refingerprinted == [(1, b"new")]


def test_a_released_number_coming_back_is_changed_even_with_the_same_state() -> None:
    before = record("a")
    diff = diff_page([record("a")], {"a": stored(1, before, live=False)})
    assert len(diff.changed) == 1
    assert diff.live_seen == 0


def test_an_unchanged_number_seen_long_ago_is_touched() -> None:
    before = record("a")
    diff = diff_page([record("a")], {"a": stored(4, before, stale=True)})
    assert diff.stale_seen == [4]
    assert not diff.changed


def numbers(count: int, *, held: bool = True) -> list[LiveNumber]:
    return [LiveNumber(n, f"k{n}", f"+1555000{n:04d}", held) for n in range(count)]


def test_release_only_what_the_listing_does_not_protect() -> None:
    plan = plan_release(
        numbers(3),
        lambda key: key == "k1",
        held_before=10,
        max_fraction=0.5,
        allow_mass_release=False,
    )
    assert plan.release == [0, 2]
    assert plan.blocked is None


def test_the_guard_counts_the_numbers_held_before_the_run() -> None:
    """Six missing of ten held before the run is more than half: none released."""
    plan = plan_release(
        numbers(6), lambda _key: False, held_before=10, max_fraction=0.5, allow_mass_release=False
    )
    assert plan.release == []
    assert plan.blocked is not None
    assert "6 of the 10 numbers live before this run" in plan.blocked
    allowed = plan_release(
        numbers(6), lambda _key: False, held_before=10, max_fraction=0.5, allow_mass_release=True
    )
    assert len(allowed.release) == 6
    assert allowed.blocked is None


def test_numbers_not_held_before_the_run_do_not_trip_the_guard_but_go_with_the_rest() -> None:
    """Created since the last successful run by runs that failed: not weighed, released."""
    missing = numbers(3) + [LiveNumber(n, f"k{n}", "+15550000000", False) for n in range(3, 9)]
    plan = plan_release(
        missing, lambda _key: False, held_before=10, max_fraction=0.5, allow_mass_release=False
    )
    assert plan.blocked is None
    assert len(plan.release) == 9


def test_nothing_missing_releases_nothing() -> None:
    plan = plan_release(
        [], lambda _key: False, held_before=0, max_fraction=0.5, allow_mass_release=False
    )
    assert plan.release == []
    assert plan.blocked is None
