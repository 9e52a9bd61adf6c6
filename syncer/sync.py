"""Where it is decided: list an account, compare with what is stored, write the differences.

For each page of a listing, the engine looks up the page's numbers in one query and compares
content hashes of the tracked fields:

- a number not stored yet is inserted, with its first version and a status change from null;
- a changed number (or one coming back after a release) is overwritten, its current version
  closed and a new one opened at the time the page arrived, plus a status change when the
  status moved;
- an unchanged number costs no write, except that `last_seen_at` is refreshed once it is
  more than `LAST_SEEN_REFRESH` old (so an unchanged world changes no row between syncs a
  day apart, and `last_seen_at` stays true to the day);
- a rejected item is stored in `rejected_records`; its number, if known, keeps its last
  good state and is not released.

Each page is one short transaction, so a kill at any moment leaves every number with exactly
one open version, and the next run picks up where the truth is. Only after a *complete*
listing are the stored numbers it lacks released, in batches, and only when they are at most
`max_release_fraction` of the numbers the account held before the run began
(`syncer.release_guard`: numbers the run itself created never dilute it), unless
`allow_mass_release`.

One writer: the run does all its work on the database session that holds the account's
writer lock (`syncer.store.locks.AccountLock`), and every write transaction proves that the
session still holds it. A run that lost it stops at once, releases nothing, and records
itself as failed, saying so. The run's row is written last, on a fresh connection (touching
only that row), and what the run returns is what the row says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.clock import SYSTEM_CLOCK, Clock
from syncer.config import Config, ResolvedAccount
from syncer.errors import (
    AccountBusyError,
    LockLostError,
    ProviderError,
    SyncerError,
    lost_lock_message,
)
from syncer.providers import Listing, Page, ProviderClient, RetryPolicy
from syncer.records import RELEASED, NumberRecord, state_hash
from syncer.release_guard import HeldBefore, held_before_the_run, release_guard
from syncer.secrets import scrub
from syncer.store import writes
from syncer.store.engine import first_line, in_transaction
from syncer.store.locks import AccountLock, account_lock
from syncer.store.models import RUN_FAILED, RUN_SUCCEEDED
from syncer.store.storable import storable_rejection

log = logging.getLogger(__name__)

LAST_SEEN_REFRESH = timedelta(days=1)
RELEASE_BATCH = 500
PROGRESS_WRITE_SECONDS = 5.0
SKIPPED = "skipped"


class SyncInterrupted(SyncerError):
    """A stop was requested (SIGTERM, Ctrl-C) while the account was being synced."""


@dataclass
class RunCounts:
    """What a run saw and did; `seen` counts distinct records, valid or rejected."""

    pages: int = 0
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    released: int = 0
    rejected: int = 0

    def add(self, other: RunCounts) -> None:
        for name in ("seen", "created", "updated", "unchanged", "released", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class AccountResult:
    """How one account's run ended. `complete` means: listed completely, nothing withheld."""

    account: str
    provider: str
    status: str
    counts: RunCounts = field(default_factory=RunCounts)
    run_id: int | None = None
    complete: bool = False
    error: str | None = None
    started_at: datetime | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == RUN_SUCCEEDED and self.complete


class Progress(Protocol):
    """Told about each account's progress; the CLI draws it, the daemon ignores it."""

    def started(self, account: str) -> None: ...
    def advanced(self, account: str, counts: RunCounts, expected: int | None) -> None: ...
    def finished(self, result: AccountResult) -> None: ...


class NoProgress:
    def started(self, account: str) -> None:
        pass

    def advanced(self, account: str, counts: RunCounts, expected: int | None) -> None:
        pass

    def finished(self, result: AccountResult) -> None:
        pass


@dataclass
class SyncOptions:
    """`log_failures`: log a failed run's line at warning level (the daemon's log is all it
    shows); `syncer sync` prints every result itself, so it logs them at info level, and a
    failure is shown once."""

    allow_mass_release: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    log_failures: bool = True


@dataclass
class PageDiff:
    """A page compared with the store: what to insert, overwrite, or only mark as seen."""

    new: list[NumberRecord] = field(default_factory=list)
    changed: list[tuple[NumberRecord, writes.StoredNumber]] = field(default_factory=list)
    stale_seen: list[int] = field(default_factory=list)

    @property
    def writes_nothing(self) -> bool:
        return not (self.new or self.changed or self.stale_seen)


class AccountSync:
    """One run of one account against one database. Create a new one per run."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        client: ProviderClient,
        *,
        clock: Clock = SYSTEM_CLOCK,
        options: SyncOptions | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.engine = engine
        self.account = client.account
        self.name = client.account.name
        self.provider = client.account.provider
        self.client = client
        self.clock = clock
        self.options = options or SyncOptions()
        self.progress = progress or NoProgress()
        self.release_fraction = config.release_fraction(client.account.config)
        self.counts = RunCounts()
        self.run_id = 0
        self._last_progress_write = 0.0
        self._rejection_keys: set[str] = set()
        self._began = time.monotonic()

    def run(self) -> AccountResult:
        """Sync the account once; never raises for a provider or data problem."""
        started = self.clock.now()
        self._began = time.monotonic()
        result = AccountResult(self.name, self.provider, SKIPPED, started_at=started)
        try:
            with account_lock(self.engine, self.name) as lock:
                result = self._run_locked(lock, started)
        except AccountBusyError as exc:
            result.error = str(exc)
            log.info("%s", exc, extra=log_fields(result, "run_skipped"))
        except (SQLAlchemyError, LockLostError) as exc:  # before the run's row was written
            result.status = RUN_FAILED
            result.error = scrub(_run_error(exc, self.name))
            level = logging.WARNING if self.options.log_failures else logging.INFO
            log.log(level, "%s", describe_result(result), extra=log_fields(result, "run_failed"))
        result.duration = time.monotonic() - self._began
        self.progress.finished(result)
        return result

    def _run_locked(self, lock: AccountLock, started: datetime) -> AccountResult:
        def begin(connection: Connection) -> int:
            stale = writes.close_stale_runs(connection, self.provider, self.name, started)
            if stale:
                log.warning(
                    "%s: closed %d run(s) left running by a stopped process", self.name, stale
                )
            return writes.start_run(connection, self.provider, self.name, started)

        self.run_id = lock.write(begin, what=f"{self.name}: start run")
        self.progress.started(self.name)
        result = AccountResult(
            self.name, self.provider, RUN_FAILED, self.counts, self.run_id, started_at=started
        )
        try:
            listing = self.client.listing()
            scope = listing.release_scope
            live_before = lock.read(
                partial(held_before_the_run, provider=self.provider, account=self.name, scope=scope)
            )
            self._write_pages(lock, listing)
            outcome = listing.outcome
            result.complete = outcome.complete
            notes = []
            if not outcome.complete:
                notes.append(f"listing incomplete, nothing released: {outcome.problem}")
            elif outcome.release_blocked:
                notes.append(f"nothing released: {outcome.release_blocked}")
                result.complete = False
            else:
                guard = self._release_missing(lock, listing, outcome.release_scope, live_before)
                if guard:
                    notes.append(guard)
                    result.complete = False
            lock.prove()  # the run ends holding the lock, or it did not end as it says
            result.status = RUN_FAILED if any("mass release" in n for n in notes) else RUN_SUCCEEDED
            result.error = "; ".join(notes) or None
        except LockLostError as exc:
            result.error = exc.detail
            if self.counts.released:  # released in batches that each proved the lock first
                result.error = lost_lock_message(exc.cause, released=self.counts.released)
        except (SyncerError, SQLAlchemyError) as exc:
            result.error = _run_error(exc, self.name)
        except Exception as exc:
            log.exception("%s: unexpected error", self.name)
            result.error = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        self._finish(result)
        return result

    # -- pages ------------------------------------------------------------------------------

    def _write_pages(self, lock: AccountLock, listing: Listing) -> None:
        pages = listing.pages()
        try:
            for page in pages:
                if self.options.stop.is_set():
                    raise SyncInterrupted(
                        f"{self.name}: interrupted by a stop request before the listing ended"
                    )
                page_counts, rejected = self._write_page(lock, page)
                self._rejection_keys.update(rejected)
                self.counts.add(page_counts)
                self.counts.pages = listing.pages_fetched
                self.progress.advanced(self.name, self.counts, listing.expected_total)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _write_page(self, lock: AccountLock, page: Page) -> tuple[RunCounts, list[str]]:
        """Compare one page with what is stored, then write the differences, if any.

        The comparison reads before the write transaction begins: the account's writer lock
        keeps every other process away from these numbers, and on SQLite a page with nothing
        to write then takes no write lock at all. The writes are one transaction on the
        lock's session that first proves the lock is still held (`AccountLock.write`),
        retried whole after a deadlock. Returns the counts and the identities of the
        rejections written.
        """
        diff = lock.read(partial(self._diff, page=page))
        rejection_rows, rejected = self._rejection_rows(page)
        counts = RunCounts(
            seen=len(page.records) + len(page.rejections),
            created=len(diff.new),
            updated=len(diff.changed),
            unchanged=len(page.records) - len(diff.new) - len(diff.changed),
            rejected=len(rejected),
        )
        progress_due = time.monotonic() - self._last_progress_write >= PROGRESS_WRITE_SECONDS
        if diff.writes_nothing and not rejection_rows and not progress_due:
            return counts, rejected

        def write(connection: Connection) -> None:
            self._write_diff(connection, diff, page.received_at)
            writes.insert_rejections(connection, rejection_rows)
            if progress_due:
                self._write_progress(connection, counts)

        lock.write(write, what=f"{self.name}: page")
        return counts, rejected

    def _diff(self, connection: Connection, *, page: Page) -> PageDiff:
        """Which of the page's records are new, changed, or unchanged but seen long ago."""
        at = page.received_at
        keys = [record.external_id for record in page.records]
        stored = writes.stored_numbers(
            connection, self.provider, self.name, keys, stale_before=at - LAST_SEEN_REFRESH
        )
        diff = PageDiff()
        for record in page.records:
            current = stored.get(record.external_id)
            if current is None:
                diff.new.append(record)
            elif current.content_hash != record.content_hash:
                diff.changed.append((record, current))
            elif current.stale:
                diff.stale_seen.append(current.id)
        return diff

    def _write_diff(self, connection: Connection, diff: PageDiff, at: datetime) -> None:
        """New numbers with their first version and status change; changed numbers with a
        new version (and a status change when the status moved); `last_seen_at` refreshed."""
        rows = [self._number_row(record, at) for record in diff.new]
        rows += [self._number_row(record, at) for record, _ in diff.changed]
        ids = writes.upsert_numbers(connection, rows)
        writes.close_versions(connection, [current.id for _, current in diff.changed], at)
        version_rows = [
            writes.version_row(ids[r.external_id], r.tracked_values(), at, self.run_id)
            for r in diff.new
        ]
        version_rows += [
            writes.version_row(current.id, r.tracked_values(), at, self.run_id)
            for r, current in diff.changed
        ]
        writes.insert_versions(connection, version_rows)
        transitions: list[tuple[int, str, str | None, str]] = [
            (ids[r.external_id], r.e164, None, r.status) for r in diff.new
        ]
        transitions += [
            (current.id, r.e164, current.status, r.status)
            for r, current in diff.changed
            if current.status != r.status
        ]
        writes.insert_status_changes(connection, self._status_rows(transitions, at))
        writes.touch_last_seen(connection, diff.stale_seen, at)

    def _number_row(self, record: NumberRecord, at: datetime) -> dict[str, Any]:
        row = record.tracked_values()
        row.update(
            provider=self.provider,
            account=self.name,
            external_id=record.external_id,
            first_seen_at=at,
            last_seen_at=at,
            released_at=None,
            content_hash=record.content_hash,
        )
        return row

    def _status_rows(
        self, transitions: Sequence[tuple[int, str, str | None, str]], at: datetime
    ) -> list[dict[str, Any]]:
        return [
            {
                "number_id": number_id,
                "provider": self.provider,
                "account": self.name,
                "e164": e164,
                "from_status": before,
                "to_status": after,
                "changed_at": at,
                "sync_run_id": self.run_id,
            }
            for number_id, e164, before, after in transitions
        ]

    def _rejection_rows(self, page: Page) -> tuple[list[dict[str, Any]], list[str]]:
        """The page's rejected items to store, each once per run, and their identities."""
        rows, identities = [], []
        for rejection in page.rejections:
            identity = rejection.seen_key or f"{rejection.reason}\x00{rejection.payload!r}"
            if identity in self._rejection_keys or identity in identities:
                continue  # the same unreadable item again, in a second pass of this run
            identities.append(identity)
            stored = storable_rejection(rejection)
            rows.append(
                {
                    "sync_run_id": self.run_id,
                    "provider": self.provider,
                    "account": self.name,
                    "external_id": stored.external_id,
                    "reason": stored.reason,
                    "payload": stored.payload,
                    "rejected_at": page.received_at,
                }
            )
        return rows, identities

    def _write_progress(self, connection: Connection, page_counts: RunCounts) -> None:
        """The run's counts so far, for `syncer report runs` while a long run goes on."""
        self._last_progress_write = time.monotonic()
        totals = replace(self.counts)
        totals.add(page_counts)
        writes.update_run(connection, self.run_id, **totals.as_dict())

    # -- releases ---------------------------------------------------------------------------

    def _release_missing(
        self, lock: AccountLock, listing: Listing, scope: dict[str, str], before: HeldBefore
    ) -> str | None:
        """Release the live numbers a complete listing lacks; returns why not, if it did not.

        The guard weighs the missing numbers the account held before this run (see
        `HeldBefore`) against how many it held; numbers never confirmed by a successful run
        (created by refused runs since) are released along with the rest when it passes."""
        at = self.clock.now()

        def find(connection: Connection) -> tuple[list[int], int]:
            missing, held_before = [], 0
            for number in writes.live_numbers(
                connection, self.provider, self.name, scope, confirmed_by=before.confirmed_by
            ):
                if not listing.protects(number.external_id):
                    missing.append(number.id)
                    held_before += number.confirmed
            return missing, held_before

        missing, missing_held_before = lock.read(find)
        if not missing:
            return None
        refusal = release_guard(missing_held_before, before.count, self.release_fraction)
        if refusal and not self.options.allow_mass_release:
            return refusal
        for start in range(0, len(missing), RELEASE_BATCH):
            batch = missing[start : start + RELEASE_BATCH]
            self.counts.released += lock.write(
                partial(self._release_batch, number_ids=batch, at=at),
                what=f"{self.name}: release",
            )
        return None

    def _release_batch(self, connection: Connection, number_ids: list[int], at: datetime) -> int:
        rows = writes.full_rows(connection, number_ids)
        for row in rows:
            row["status_before"] = row["status"]
            row["status"] = RELEASED
            row["released_at"] = at
            row["content_hash"] = state_hash(row)
        numbers = [
            {k: v for k, v in row.items() if k not in ("id", "status_before")} for row in rows
        ]
        writes.upsert_numbers(connection, numbers)
        writes.close_versions(connection, [row["id"] for row in rows], at)
        writes.insert_versions(
            connection, [writes.version_row(row["id"], row, at, self.run_id) for row in rows]
        )
        transitions = [(row["id"], row["e164"], row["status_before"], RELEASED) for row in rows]
        writes.insert_status_changes(connection, self._status_rows(transitions, at))
        return len(rows)

    # -- the run row ------------------------------------------------------------------------

    def _finish(self, result: AccountResult) -> None:
        """Record how the run ended in its own row, on a fresh connection (the lock's session
        may be gone), touching nothing else. The error is scrubbed of keys first. If the row
        cannot be written, the result says so and is a failure: what the run returns (and
        the command prints) never claims more than its row."""
        result.error = scrub(result.error) if result.error else None
        finished = self.clock.now()

        def record(connection: Connection) -> None:
            writes.update_run(
                connection,
                self.run_id,
                **self.counts.as_dict(),
                status=result.status,
                finished_at=finished,
                listing_complete=result.complete,
                error=result.error,
            )

        try:
            in_transaction(self.engine, record, what=f"{self.name}: finish run")
        except Exception as exc:  # noqa: BLE001 - the next run closes it as interrupted
            result.status = RUN_FAILED
            unrecorded = f"the end of run {self.run_id} could not be recorded: {first_line(exc)}"
            result.error = scrub("; ".join(filter(None, [result.error, unrecorded])))
        result.duration = time.monotonic() - self._began
        level = logging.INFO if result.ok or not self.options.log_failures else logging.WARNING
        log.log(level, "%s", describe_result(result), extra=log_fields(result, "run_finished"))


def _run_error(exc: BaseException, account: str) -> str:
    """The message a run's row stores: without the account's name in front (the row has
    it), a database error in one line."""
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {first_line(exc)}"
    if isinstance(exc, ProviderError | LockLostError):
        return exc.detail
    return str(exc).removeprefix(f"{account}: ")


def describe_result(result: AccountResult) -> str:
    """One log line per run: account, outcome and counts (never a secret)."""
    c = result.counts
    incomplete = result.status == RUN_SUCCEEDED and not result.complete
    line = (
        f"{result.account}: {result.status}"
        + (" (incomplete)" if incomplete else "")
        + f" in {result.duration:.1f}s: pages={c.pages} seen={c.seen} created={c.created} "
        f"updated={c.updated} unchanged={c.unchanged} released={c.released} "
        f"rejected={c.rejected}"
    )
    if result.error:
        line += "; " + result.error.removeprefix(f"{result.account}: ")
    return line


def log_fields(result: AccountResult, event: str) -> dict[str, Any]:
    """The fields of a run's log line that `--log-format json` writes as JSON keys."""
    return {
        "account": result.account,
        "provider": result.provider,
        "run_id": result.run_id,
        "event": event,
        "status": result.status,
        "listing_complete": result.complete,
        "counts": result.counts.as_dict(),
        "duration": round(result.duration, 3),
    }


def retry_policy(config: Config) -> RetryPolicy:
    """The HTTP policy the config asks for (`request_timeout`, `request_deadline`,
    `max_response_bytes`, `max_attempts`)."""
    return RetryPolicy(
        max_attempts=config.max_attempts,
        timeout=config.request_timeout,
        deadline=config.request_deadline,
        max_response_bytes=config.max_response_bytes,
    )


def sync_accounts(
    engine: Engine,
    config: Config,
    accounts: Sequence[ResolvedAccount],
    *,
    clock: Clock = SYSTEM_CLOCK,
    options: SyncOptions | None = None,
    progress: Progress | None = None,
    client_factory: Callable[[ResolvedAccount], ProviderClient] | None = None,
) -> list[AccountResult]:
    """Sync the accounts concurrently (`parallel_accounts` at a time); results in order."""
    options = options or SyncOptions()
    make_client = client_factory or (
        lambda account: ProviderClient(account, clock=clock, policy=retry_policy(config))
    )

    def one(account: ResolvedAccount) -> AccountResult:
        with make_client(account) as client:
            return AccountSync(
                engine, config, client, clock=clock, options=options, progress=progress
            ).run()

    workers = max(1, min(config.parallel_accounts, len(accounts)))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="syncer-account")
    futures = [pool.submit(one, account) for account in accounts]
    try:
        wait(futures)
    except KeyboardInterrupt:
        # Ctrl-C: every account stops at its next page and records its run as interrupted.
        options.stop.set()
        log.warning("stopping: waiting for the accounts to record where they stopped")
        wait(futures)
    finally:
        pool.shutdown(wait=True)
    return [future.result() for future in futures]


def run_sync(
    config: Config,
    accounts: Sequence[ResolvedAccount],
    *,
    options: SyncOptions | None = None,
    progress: Progress | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[AccountResult]:
    """`syncer sync`: one pass over `accounts` against the configured database.

    The caller shows the results (so pass `SyncOptions(log_failures=False)` to show a failed
    run once, not also as a log line)."""
    from syncer.logs import register_secrets
    from syncer.store.engine import check_schema, check_writable, make_engine

    register_secrets(account.api_key.get_secret_value() for account in accounts)
    workers = max(1, min(config.parallel_accounts, len(accounts)))
    engine = make_engine(config.database_url, pool_size=2 * workers + 1)
    try:
        check_schema(engine)
        check_writable(engine)
        return sync_accounts(
            engine, config, accounts, clock=clock, options=options, progress=progress
        )
    finally:
        engine.dispose()
