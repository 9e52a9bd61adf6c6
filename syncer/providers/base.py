"""What every provider gives the sync engine: pages of records, then a verdict on the listing.

A provider's `listing()` returns a `Listing`: iterate `pages()` to get every record of the
account exactly once (de-duplicated by key), then read `outcome` to learn whether the listing
was complete and consistent, and ask `protects(number)` whether a stored number was seen.
The engine never sees cursors, page numbers or totals.

The bookkeeping here is shared by all providers. A listing is complete when its last pass
reached the end, every page reported the same total, and the distinct records seen equal that
total. An inconsistent pass is listed again once; if it stays inconsistent the records still
count, but nothing may be released.
"""

from __future__ import annotations

import logging
import queue
import re
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
_DIGITS = re.compile(r"\d")
MIN_HINT_DIGITS = 6

Mapper = Callable[[Any], "NumberRecord | Rejection"]


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

    def __init__(self, account: str, mapper: Mapper, clock: Clock) -> None:
        self.account = account
        self._map = mapper
        self._clock = clock
        self._seen = SeenKeys()
        self._digit_hints: list[str] = []
        self._keyless = 0
        self._pass = 0
        self._pass_items = 0
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

    def protects(self, external_id: str, e164: str) -> bool:
        """Whether the listing saw this stored number, exactly or as a rejected item's digits."""
        if external_id in self._seen:
            return True
        if not self._digit_hints:
            return False
        digits = "".join(_DIGITS.findall(e164))
        return any(digits.endswith(hint) or hint.endswith(digits) for hint in self._digit_hints)

    # -- for subclasses -------------------------------------------------------------------

    def _one_pass(self) -> Iterator[tuple[list[Any], int]]:
        raise NotImplementedError

    # -- bookkeeping ----------------------------------------------------------------------

    def _start_pass(self) -> None:
        self._pass += 1
        self._pass_items = 0
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
        records: list[NumberRecord] = []
        rejections: list[Rejection] = []
        for item in items:
            mapped = self._map(item)
            key = mapped.external_id if isinstance(mapped, NumberRecord) else mapped.seen_key
            if key is None:
                assert isinstance(mapped, Rejection)
                self._pass_items += 1
                self._note_keyless(mapped)
                rejections.append(mapped)
                continue
            last_pass = self._seen.mark(key, self._pass)
            if last_pass == self._pass:
                continue  # the same record again in this pass (pages shifted under us)
            self._pass_items += 1
            if last_pass is not None:
                continue  # already handed to the engine by an earlier pass of this run
            if isinstance(mapped, NumberRecord):
                records.append(mapped)
            else:
                rejections.append(mapped)
        return Page(records, rejections, received_at, len(items))

    def _note_keyless(self, rejection: Rejection) -> None:
        """A rejected item without a usable key: remember its digits to protect a number."""
        digits = "".join(_DIGITS.findall(_hint_source(rejection.payload, rejection.external_id)))
        if len(digits) >= MIN_HINT_DIGITS:
            self._digit_hints.append(digits)
        else:
            self._keyless += 1

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
                f"{self._keyless} rejected record(s) had no readable number or id, so the "
                "listing cannot show which numbers are gone"
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


def _hint_source(payload: Any, external_id: str | None) -> str:
    if external_id:
        return external_id
    if isinstance(payload, dict):
        for key in ("e164", "phone_number"):
            value = payload.get(key)
            if isinstance(value, str | int):
                return str(value)
    return ""


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
