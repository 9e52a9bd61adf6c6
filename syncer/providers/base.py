"""What every provider gives the sync engine: pages of records, then a verdict on the listing.

A provider's `listing()` returns a `Listing`: iterate `pages()` to get every record of the
account exactly once (de-duplicated by key), then read `outcome` to learn whether the listing
was complete and consistent, and ask `protects(number)` whether a stored number was seen.
The engine never sees cursors, page numbers or totals.

The bookkeeping here is shared by all providers. A listing is complete when its last pass
reached the end, every page reported the same total, and the distinct records seen equal that
total. An inconsistent pass is listed again once; if it stays inconsistent the records still
count, but nothing may be released.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncer.clock import Clock
from syncer.errors import InvalidCursorError, ProviderError
from syncer.providers.seen import SeenKeys
from syncer.records import NumberRecord, Rejection

log = logging.getLogger(__name__)

MAX_CONSISTENCY_RELISTS = 1
MAX_CURSOR_RESTARTS = 1
# Pages in a row that add no record to the pass (empty, or only repeats) before the listing
# is taken for one that cannot end.
MAX_PAGES_WITHOUT_PROGRESS = 3

Mapper = Callable[[Any], "NumberRecord | Rejection"]
KeyRule = Callable[[str], "str | None"]


def page_bound(total: int, per_page: int) -> int:
    """The most pages one pass may take when its first page says `total` records come
    `per_page` at a time: the pages that needs, plus a tenth of them (at least 2) for numbers
    added while the listing runs."""
    needed = max(1, math.ceil(total / per_page))
    return needed + max(2, math.ceil(needed / 10))


@dataclass(frozen=True)
class Page:
    """One page as received: valid records, rejected items, and when it arrived (UTC)."""

    records: list[NumberRecord]
    rejections: list[Rejection]
    received_at: datetime
    size: int


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

    Subclasses implement `_one_pass()`, yielding `(items, total)` per page, where `items` is
    the page's raw list and `total` what that page says the whole listing holds. They raise
    `InvalidCursorError` to restart the listing, `ProviderError` to fail it.
    """

    def __init__(
        self, account: str, mapper: Mapper, clock: Clock, *, key_rule: KeyRule, per_page: int
    ) -> None:
        self.account = account
        self._map = mapper
        self._clock = clock
        self._key_rule = key_rule
        self._per_page = per_page
        self._seen = SeenKeys()
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
        self.release_scope: dict[str, str] = {}
        self.release_blocked: str | None = None

    # -- what the engine uses -------------------------------------------------------------

    def pages(self) -> Iterator[Page]:
        """Every record of the account, each key once, over as many passes as needed."""
        relists = restarts = 0
        while True:
            self._start_pass()
            try:
                for items, total in self._one_pass():
                    yield self._accept(items, total)
            except InvalidCursorError as exc:
                if restarts >= MAX_CURSOR_RESTARTS:
                    raise ProviderError(
                        self.account, f"{exc.detail} again after restarting the listing"
                    ) from None
                restarts += 1
                log.warning("%s: %s; listing again from the first page", self.account, exc.detail)
                continue
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

    def protects(self, external_id: str) -> bool:
        """Whether the listing saw the stored number with this key: as a record, or as a
        rejected item whose key, normalised, is this key whole (see `syncer.providers.keys`).

        The stored key is normalised too before it is compared with the rejected items' keys,
        so a key stored before it had to be in normal form is still protected by its item."""
        if external_id in self._seen:
            return True
        if not self._rejected_keys:
            return False
        return self._key_rule(external_id) in self._rejected_keys

    # -- for subclasses -------------------------------------------------------------------

    def _one_pass(self) -> Iterator[tuple[list[Any], int]]:
        raise NotImplementedError

    # -- bookkeeping ----------------------------------------------------------------------

    def _start_pass(self) -> None:
        self._pass += 1
        self._pass_items = 0
        self._pass_pages = 0
        self._pages_without_progress = 0
        self._pass_totals = set()
        self._pass_flaw = None

    def _flag_inconsistent(self, reason: str) -> None:
        """Note a page that contradicts the listing (it shifted under us); the pass is redone."""
        log.info("%s: %s", self.account, reason)
        self._pass_flaw = self._pass_flaw or reason

    def _accept(self, items: list[Any], total: int) -> Page:
        received_at = self._clock.now()
        self.pages_fetched += 1
        self.items_received += len(items)
        self._pass_totals.add(total)
        self.expected_total = total
        self._count_page(total)
        listed_before = self._pass_items
        records: list[NumberRecord] = []
        rejections: list[Rejection] = []
        for item in items:
            mapped = self._map(item)
            key = mapped.external_id if isinstance(mapped, NumberRecord) else mapped.seen_key
            if key is None:
                assert isinstance(mapped, Rejection)
                self._pass_items += 1
                self._keyless += 1
                rejections.append(mapped)
                continue
            last_pass = self._seen.mark(key, self._pass)
            if last_pass == self._pass:
                continue  # the same record again in this pass (pages shifted under us)
            self._pass_items += 1
            if isinstance(mapped, Rejection):
                self._rejected_keys.add(key)
            if last_pass is not None:
                continue  # already handed to the engine by an earlier pass of this run
            if isinstance(mapped, NumberRecord):
                records.append(mapped)
            else:
                rejections.append(mapped)
        self._check_progress(self._pass_items - listed_before)
        return Page(records, rejections, received_at, len(items))

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


def prefetched(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """Iterate `pages` in a background thread, up to `depth` pages ahead of the consumer.

    The next page is fetched while the caller writes the current one. Exceptions raised while
    fetching reach the caller at the point they happened; closing the iterator stops fetching.
    """
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        buffer.put(("page", page), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            _put_final(buffer, stop, ("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed over to the consumer
            _put_final(buffer, stop, ("error", exc))

    worker = threading.Thread(target=produce, name="syncer-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "page":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join(timeout=60)


def _put_final(
    buffer: queue.Queue[tuple[str, Any]], stop: threading.Event, item: tuple[str, Any]
) -> None:
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
