"""Where it is decided, without a database: what a page changes, and what a listing releases.

Pure functions over the records a listing produced and what the store said about them; they
return typed plans that `syncer.store.history` writes. Nothing here reads a clock or a
connection, so every rule can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from syncer.records import NumberRecord


class StoredNumber(NamedTuple):
    """What a diff needs to know about a stored number.

    `live`: not released. `stale`: its `last_seen_at` is old enough to be refreshed.
    `rate`: its status, fees, currency and provider creation time (the store's
    `RATE_COLUMNS`) as the database driver returned them: the store compares a changed
    record's with them to know whether the new version starts a rate span.
    """

    id: int
    external_id: str
    content_hash: str
    status: str
    fingerprint: bytes | None
    live: bool
    stale: bool
    rate: tuple[Any, ...] = ()


@dataclass
class PageDiff:
    """A page's records compared with the store.

    - `new`: not stored yet: inserted, with a first version and a status change from null;
    - `changed`: stored with another state (or released and back): overwritten, its version
      closed and a new one opened, with a status change when the status moved;
    - `refingerprinted`: stored with the same state but another fingerprint (the item's text
      changed but not its meaning, or the mapping's version did): only the fingerprint is
      written, never a version;
    - `stale_seen`: unchanged numbers whose `last_seen_at` is refreshed.
    """

    new: list[NumberRecord] = field(default_factory=list)
    changed: list[tuple[NumberRecord, StoredNumber]] = field(default_factory=list)
    refingerprinted: list[tuple[int, bytes | None]] = field(default_factory=list)
    stale_seen: list[int] = field(default_factory=list)
    unchanged: int = 0
    live_seen: int = 0  # stored live numbers among the records
    # The stored fingerprints of the live numbers among the records (each was shown).
    matched_fingerprints: list[bytes] = field(default_factory=list)

    @property
    def writes_nothing(self) -> bool:
        return not (self.new or self.changed or self.refingerprinted or self.stale_seen)

    def extend(self, other: PageDiff) -> None:
        """Add `other`'s plans to these (a write batch spans several pages)."""
        self.new += other.new
        self.changed += other.changed
        self.refingerprinted += other.refingerprinted
        self.stale_seen += other.stale_seen
        self.unchanged += other.unchanged
        self.live_seen += other.live_seen
        self.matched_fingerprints += other.matched_fingerprints


def diff_page(records: Iterable[NumberRecord], stored: Mapping[str, StoredNumber]) -> PageDiff:
    """Compare `records` (each key once) with the stored numbers of their keys.

    Only a different content hash (or a released number coming back) makes a version; the
    fingerprint is compared only to keep it current.
    """
    diff = PageDiff()
    for record in records:
        current = stored.get(record.external_id)
        if current is None:
            diff.new.append(record)
            continue
        if current.live:
            diff.live_seen += 1
            if current.fingerprint is not None:
                diff.matched_fingerprints.append(current.fingerprint)
        if not current.live or current.content_hash != record.content_hash:
            diff.changed.append((record, current))
            continue
        diff.unchanged += 1
        if current.fingerprint != record.fingerprint and record.fingerprint is not None:
            diff.refingerprinted.append((current.id, record.fingerprint))
        if current.stale:
            diff.stale_seen.append(current.id)
    return diff


class LiveNumber(NamedTuple):
    id: int
    external_id: str
    e164: str
    confirmed: bool = True  # held before the run (see `syncer.release_guard`)


@dataclass(frozen=True)
class ReleasePlan:
    """The numbers a complete listing releases, or why it releases none (`blocked`)."""

    release: list[int]
    blocked: str | None = None


def plan_release(
    candidates: Sequence[LiveNumber],
    protects: Callable[[str], bool],
    *,
    held_before: int,
    max_fraction: float,
    allow_mass_release: bool,
) -> ReleasePlan:
    """Which `candidates` (live numbers the listing may not have shown) are gone.

    A candidate the listing `protects` (seen, or named by a rejected item) stays. When the
    rest that the account held before the run exceed `max_fraction` of the `held_before`
    numbers, none is released (unless `allow_mass_release`) and `blocked` says why
    (`release_guard`).
    """
    missing = [number for number in candidates if not protects(number.external_id)]
    if not missing:
        return ReleasePlan([])
    refusal = release_guard(sum(n.confirmed for n in missing), held_before, max_fraction)
    if refusal and not allow_mass_release:
        return ReleasePlan([], refusal)
    return ReleasePlan([number.id for number in missing])


def release_guard(missing: int, held_before: int, fraction: float) -> str | None:
    """Why releasing `missing` of the `held_before` numbers would be a mass release, or None
    when at most `fraction` of them are missing."""
    if missing == 0 or missing <= fraction * held_before:
        return None
    return (
        f"mass release guard: the listing lacks {missing} of the {held_before} numbers live "
        f"before this run (more than {fraction:.0%}), so none were released; if they really "
        "are gone, run once with --allow-mass-release"
    )
