"""What every provider gives the sync engine: pages of records, then a verdict on the listing.

A provider is two small parts composed by the one generic `Listing` here:

- a `Paginator` walks the provider's pages in one pass (cursor, page numbers, concurrency)
  and yields each page's raw items with the total the page reports; it raises
  `InvalidCursorError` to restart the listing and `ProviderError` to fail it, and says when a
  page contradicts the listing (a `flaw`) instead of calling back;
- a `Mapper` turns raw items into `NumberRecord`s or `Rejection`s (compiled validation per
  page, the precise per-item path for a page with a bad item) and names the salt of its
  fingerprints.

A `Listing` iterates `pages()` to get every record of the account exactly once (de-duplicated
by key), then `outcome` says whether the listing was complete and consistent, and
`protects(number)` whether a stored number was seen. The engine never sees cursors, page
numbers or totals.

Compare before normalising: given the fingerprints stored for the account (`known`), an item
whose fingerprint is among them is passed on as unchanged (`Page.unchanged`) without being
validated; only the others are mapped. A listing is complete when its last pass reached the
end, every page reported the same total, and the distinct items seen equal that total. An
inconsistent pass is listed again once; if it stays inconsistent the records still count,
but nothing may be released.

A rejected item protects the stored number its key names, as a whole string after the one
normalisation of `syncer.providers.keys`; a rejected item without such a key means nothing
may be released (it may stand for any number).

Every listing ends: a pass may take at most the pages its first page's total needs, plus
slack for numbers added while listing (`page_bound`), and a run of pages that bring no new
record fails the listing (`MAX_PAGES_WITHOUT_PROGRESS`); `MAX_CONSISTENCY_RELISTS` and
`MAX_CURSOR_RESTARTS` bound the passes.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from syncer.clock import Clock
from syncer.errors import InvalidCursorError, ProviderError
from syncer.providers.known import KnownFingerprints
from syncer.providers.pages import RawPage
from syncer.records import NumberRecord, Rejection

log = logging.getLogger(__name__)

MAX_CONSISTENCY_RELISTS = 1
MAX_CURSOR_RESTARTS = 1
# Pages in a row that add no record to the pass (empty, or only repeats) before the listing
# is taken for one that cannot end.
MAX_PAGES_WITHOUT_PROGRESS = 3
# Pages received but not yet compared, at most (about 30 KiB each): enough to keep fetching
# while the engine reads the account's stored state, or writes a batch.
RAW_PREFETCH = 32

KeyRule = Callable[[str], "str | None"]
T = TypeVar("T")


def page_bound(total: int, per_page: int) -> int:
    """The most pages one pass may take when its first page says `total` records come
    `per_page` at a time: the pages that needs, plus a tenth of them (at least 2) for numbers
    added while the listing runs."""
    needed = max(1, math.ceil(total / per_page))
    return needed + max(2, math.ceil(needed / 10))


@dataclass(frozen=True)
class PassPage:
    """One page of a pass, as a paginator yields it: the raw page, the total it reports, and
    what it contradicts in the listing, if anything (the pass is then listed again)."""

    page: RawPage
    total: int
    flaw: str | None = None


class Paginator(Protocol):
    """Walks one provider's pages; see the module doc."""

    # Pages compared ahead of the engine, in a thread (and then up to `RAW_PREFETCH` fetched
    # ahead of that, in another); 0: no thread, each page fetched when the engine asks.
    prefetch: int

    def one_pass(self) -> Iterator[PassPage]: ...


class Mapper(Protocol):
    """Turns one provider's raw items into records or rejections; see the module doc."""

    def fingerprints(self, items: Sequence[bytes]) -> list[bytes]: ...
    def map_raw(self, items: Sequence[bytes]) -> list[NumberRecord | Rejection]: ...
    def map_parsed(self, item: Any) -> NumberRecord | Rejection: ...


@dataclass(frozen=True)
class Page:
    """One page as received, each item once: valid records that need comparing with the store
    (new or changed since their fingerprint was stored), the fingerprints of the items that
    are unchanged, rejected items, and when the page arrived (UTC)."""

    records: list[NumberRecord]
    rejections: list[Rejection]
    received_at: datetime
    size: int
    unchanged: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class ListingOutcome:
    """The verdict on a finished listing.

    `complete`: every page was fetched and the counts were consistent, so a stored number the
    listing lacks is gone. `release_blocked` says why numbers still may not be released
    (filters, unreadable rejected records); `problem` why the listing was not complete.
    """

    complete: bool
    problem: str | None = None
    release_blocked: str | None = None
    release_scope: dict[str, str] = field(default_factory=dict)
    reported_total: int | None = None
    passes: int = 1

    @property
    def can_release(self) -> bool:
        return self.complete and self.release_blocked is None


class Listing:
    """The records of one account, listed in one or more passes, with the consistency checks.

    `known`: the fingerprints stored for the account's live numbers; an item whose
    fingerprint is among them is unchanged (see the module doc). Each one found is taken, so
    after a complete listing the untaken ones are the live numbers the listing did not show
    unchanged.
    """

    def __init__(
        self,
        account: str,
        paginator: Paginator,
        mapper: Mapper,
        clock: Clock,
        *,
        key_rule: KeyRule,
        per_page: int,
        known: KnownFingerprints | None = None,
        release_scope: dict[str, str] | None = None,
        release_blocked: str | None = None,
    ) -> None:
        self.account = account
        self._paginator = paginator
        self._mapper = mapper
        self._clock = clock
        self.known = known if known is not None else KnownFingerprints()
        self._seen: set[str] = set()  # every key handed to the engine, in any pass
        self._pass_seen: set[str] = self._seen  # the keys of the current pass
        self._key_rule = key_rule
        self._per_page = per_page
        self._rejected_keys: set[str] = set()
        self._keyless = 0
        self._pass = 0
        self._pass_items = 0
        self._pass_pages = 0
        self._pass_bound = 0
        self._pass_first_total = 0
        self._pages_without_progress = 0
        self._pass_totals: set[int] = set()
        self._pass_flaw: str | None = None
        self.pages_fetched = 0
        self.items_received = 0
        self.expected_total: int | None = None
        self._outcome: ListingOutcome | None = None
        self.release_scope: dict[str, str] = dict(release_scope or {})
        self.release_blocked: str | None = release_blocked
        self._early: Prefetcher[tuple[PassPage, datetime]] | Received | None = None

    # -- what the engine uses -------------------------------------------------------------

    def pages(self) -> Iterator[Page]:
        """Every record of the account, each key once, over as many passes as needed."""
        pages = self._pages()
        depth = self._paginator.prefetch
        return prefetched(pages, depth) if depth > 0 else pages

    def start(self) -> None:
        """Start fetching the first pass's pages now, in the background, while the engine
        reads what is stored: they wait, as received, to be compared (see `RAW_PREFETCH`).
        `close` stops it if `pages` is never iterated."""
        if self._paginator.prefetch > 0 and self._early is None:
            self._early = self._fetch_pass()

    def close(self) -> None:
        """Stop fetching ahead (safe to call at any time, more than once)."""
        if self._early is not None:
            self._early.close()
            self._early = None

    def _fetch_pass(self) -> Prefetcher[tuple[PassPage, datetime]] | Received:
        """One pass of the paginator, each page with the moment it was received: fetched
        up to `RAW_PREFETCH` pages ahead in a thread of its own (where the paginator
        prefetches at all), so the next page is on its way while this one is compared."""
        pages = Received(self._paginator.one_pass(), self._clock)
        if self._paginator.prefetch > 0:
            return Prefetcher(pages, RAW_PREFETCH, name="syncer-fetch")
        return pages

    def _pages(self) -> Iterator[Page]:
        relists = restarts = 0
        while True:
            self._start_pass()
            early, self._early = self._early, None
            raw = early if early is not None else self._fetch_pass()
            try:
                for page, received_at in raw:
                    if page.flaw is not None:
                        log.info("%s: %s", self.account, page.flaw)
                        self._pass_flaw = self._pass_flaw or page.flaw
                    yield self._accept(page.page, page.total, received_at)
            except InvalidCursorError as exc:
                if restarts >= MAX_CURSOR_RESTARTS:
                    raise ProviderError(
                        self.account, f"{exc.detail} again after restarting the listing"
                    ) from None
                restarts += 1
                log.warning("%s: %s; listing again from the first page", self.account, exc.detail)
                continue
            finally:
                raw.close()
            problem = self._pass_problem()
            if problem is None or relists >= MAX_CONSISTENCY_RELISTS:
                self._finish(problem)
                return
            relists += 1
            log.warning(
                "%s: listing was inconsistent (%s); listing once more", self.account, problem
            )

    @property
    def outcome(self) -> ListingOutcome:
        if self._outcome is None:
            raise RuntimeError("the listing has not been iterated to its end")
        return self._outcome

    @property
    def keys_seen(self) -> int:
        """Distinct keys handed to the engine (records and keyed rejections)."""
        return len(self._seen)

    def protects(self, external_id: str) -> bool:
        """Whether the listing saw the stored number with this key: as a record (changed or
        unchanged), or as a rejected item whose key, normalised, is this key whole (see
        `syncer.providers.keys`).

        The stored key is normalised too before it is compared with the rejected items' keys,
        so a key stored before it had to be in normal form is still protected by its item."""
        if external_id in self._seen:
            return True
        if not self._rejected_keys:
            return False
        return self._key_rule(external_id) in self._rejected_keys

    # -- bookkeeping ----------------------------------------------------------------------

    def _start_pass(self) -> None:
        self._pass += 1
        self._pass_items = 0
        self._pass_pages = 0
        self._pages_without_progress = 0
        self._pass_totals = set()
        self._pass_flaw = None
        if self._pass > 1:
            self._pass_seen = set()

    def _accept(self, raw_page: RawPage, total: int, received_at: datetime) -> Page:
        """The page's items compared by fingerprint, the rest mapped; each key once."""
        self.pages_fetched += 1
        self.items_received += raw_page.size
        self._pass_totals.add(total)
        self.expected_total = total
        self._count_page(total)
        listed_before = self._pass_items
        mapped, fingerprints = self._map(raw_page)
        seen, pass_seen = self._seen, self._pass_seen
        first_pass = self._pass == 1
        if first_pass and raw_page.raw is not None and mapped.count(None) == len(mapped):
            # Every item unchanged (the common case): when their keys are new to the
            # listing and distinct, the loop below would take each of them as it is.
            keys = set(raw_page.keys)
            if len(keys) == len(mapped) and seen.isdisjoint(keys):
                seen.update(keys)
                self._pass_items += len(keys)
                self._check_progress(len(keys))
                return Page([], [], received_at, raw_page.size, fingerprints)
        records: list[NumberRecord] = []
        rejections: list[Rejection] = []
        unchanged: list[bytes] = []
        for index, outcome in enumerate(mapped):
            if outcome is None:  # unchanged: its key is the raw key field, a string
                key: str | None = raw_page.keys[index]
            elif isinstance(outcome, NumberRecord):
                key = outcome.external_id
            else:
                key = outcome.seen_key
            if key is None:
                assert isinstance(outcome, Rejection)
                self._pass_items += 1
                self._keyless += 1
                rejections.append(outcome)
                continue
            if first_pass:
                if key in seen:
                    continue  # the same record again in this pass (pages shifted under us)
            else:
                if key in pass_seen:
                    continue
                pass_seen.add(key)
                if key in seen:
                    self._pass_items += 1
                    continue  # already handed to the engine by an earlier pass of this run
            self._pass_items += 1
            seen.add(key)
            if isinstance(outcome, Rejection):
                self._rejected_keys.add(key)
            if outcome is None:
                unchanged.append(fingerprints[index])
            elif isinstance(outcome, NumberRecord):
                records.append(outcome)
            else:
                rejections.append(outcome)
        self._check_progress(self._pass_items - listed_before)
        return Page(records, rejections, received_at, raw_page.size, unchanged)

    def _map(self, page: RawPage) -> tuple[list[NumberRecord | Rejection | None], list[bytes]]:
        """Each item mapped, or None when its fingerprint is known; and the fingerprints."""
        if page.raw is None:
            return [self._mapper.map_parsed(item) for item in page.parsed or ()], []
        raw = page.raw
        fingerprints = self._mapper.fingerprints(raw)
        known, keys = self.known, page.keys
        misses = known.take_all(fingerprints, [type(key) is str for key in keys])
        mapped: list[NumberRecord | Rejection | None] = [None] * len(raw)
        if misses:
            outcomes = self._mapper.map_raw([raw[index] for index in misses])
            for index, outcome in zip(misses, outcomes, strict=True):
                if isinstance(outcome, NumberRecord):
                    outcome = outcome.with_fingerprint(fingerprints[index])
                mapped[index] = outcome
        return mapped, fingerprints

    def _count_page(self, total: int) -> None:
        """One more page in this pass; past the bound its first page set, the listing fails."""
        self._pass_pages += 1
        if self._pass_pages == 1:
            self._pass_first_total = total
            self._pass_bound = page_bound(total, self._per_page)
        elif self._pass_pages > self._pass_bound:
            raise ProviderError(
                self.account,
                f"the listing went on past {self._pass_bound} pages, more than its total of "
                f"{self._pass_first_total} records needs at {self._per_page} a page (plus "
                "slack for numbers added meanwhile): stopped; nothing released",
            )

    def _check_progress(self, new_records: int) -> None:
        """A listing whose pages keep bringing nothing new cannot reach its end: fail it."""
        self._pages_without_progress = 0 if new_records else self._pages_without_progress + 1
        if self._pages_without_progress > MAX_PAGES_WITHOUT_PROGRESS:
            raise ProviderError(
                self.account,
                f"{self._pages_without_progress} pages in a row listed no new record, yet the "
                "listing did not end: stopped; nothing released",
            )

    def _pass_problem(self) -> str | None:
        if self._pass_flaw is not None:
            return self._pass_flaw
        if len(self._pass_totals) > 1:
            return (
                "the reported total changed while listing "
                f"({', '.join(str(t) for t in sorted(self._pass_totals))})"
            )
        total = next(iter(self._pass_totals), 0)
        if self._pass_items != total:
            return f"{self._pass_items} distinct records listed but the provider reported {total}"
        return None

    def _finish(self, problem: str | None) -> None:
        blocked = self.release_blocked
        if blocked is None and self._keyless:
            blocked = (
                f"{self._keyless} rejected record(s) had no readable number or id (none that "
                "names a number beyond doubt), so the listing cannot show which numbers are gone"
            )
        self._outcome = ListingOutcome(
            complete=problem is None,
            problem=problem,
            release_blocked=blocked,
            release_scope=dict(self.release_scope),
            reported_total=next(iter(self._pass_totals), None) if self._pass_totals else None,
            passes=self._pass,
        )


def release_rules(filters: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """What a filtered listing can prove: (scope of releasable numbers, why none can be).

    A country filter narrows releases to that country. A status filter forbids them: a number
    missing from a status-filtered listing may only have changed status.
    """
    scope = {"country": filters["country"]} if filters.get("country") else {}
    blocked = (
        "a status filter is configured, and a number missing from a status-filtered listing "
        "may only have changed status"
        if filters.get("status")
        else None
    )
    return scope, blocked


class Received:
    """A pass's pages, each with the moment it was received (UTC)."""

    def __init__(self, pages: Iterator[PassPage], clock: Clock) -> None:
        self._pages = pages
        self._clock = clock

    def __iter__(self) -> Iterator[tuple[PassPage, datetime]]:
        for page in self._pages:
            yield page, self._clock.now()

    def close(self) -> None:
        _close(self._pages)


def prefetched(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """Iterate `pages` in a background thread, up to `depth` pages ahead of the consumer
    (see `Prefetcher`); the thread starts at the first `next`, and stops when the iterator is
    closed."""
    fetcher = Prefetcher(pages, depth)
    try:
        yield from fetcher
    finally:
        fetcher.close()


class Prefetcher(Generic[T]):
    """Iterates `items` in a background thread from the moment it is made, up to `depth`
    items ahead of the consumer.

    Exceptions raised while producing reach the consumer at the point they happened; `close`
    stops producing (and closes `items`, in the thread that iterates it). The hand-over is
    two C `SimpleQueue`s, one of items and one of free places (a `queue.Queue` or a
    semaphore does its locking in Python, which costs more than comparing a page of
    unchanged records).
    """

    def __init__(self, items: Iterable[T], depth: int, *, name: str = "syncer-prefetch") -> None:
        self._buffer: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._room: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(depth):
            self._room.put(None)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._produce, args=(items,), name=name, daemon=True)
        self._worker.start()

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, value = self._buffer.get()
            self._room.put(None)
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        self._stop.set()
        self._worker.join(timeout=60)

    def _hand_over(self, item: tuple[str, Any]) -> bool:
        while True:
            try:
                self._room.get(timeout=0.1)
                break
            except queue.Empty:
                if self._stop.is_set():
                    return False
        self._buffer.put(item)
        return True

    def _produce(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if self._stop.is_set() or not self._hand_over(("item", item)):
                    return
            self._hand_over(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed over to the consumer
            self._hand_over(("error", exc))
        finally:
            _close(items)


def _close(items: object) -> None:
    """Close `items` if it can be closed (a generator: its `finally` blocks run)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()
