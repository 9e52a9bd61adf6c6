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
`max_release_fraction` of the account's live numbers (unless `allow_mass_release`).
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
from syncer.errors import AccountBusyError, SyncerError
from syncer.providers import Listing, Page, ProviderClient, RetryPolicy
from syncer.records import RELEASED, NumberRecord, state_hash
from syncer.store import writes
from syncer.store.engine import first_line, in_transaction, read_transaction
from syncer.store.locks import account_lock
from syncer.store.models import RUN_FAILED, RUN_SUCCEEDED

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
    allow_mass_release: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


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
            with account_lock(self.engine, self.name):
                result = self._run_locked(started)
        except AccountBusyError as exc:
            result.error = str(exc)
            log.info("%s", exc, extra=log_fields(result, "run_skipped"))
        except SQLAlchemyError as exc:
            result.status = RUN_FAILED
            result.error = f"database error: {first_line(exc)}"
            log.error("%s: %s", self.name, result.error, extra=log_fields(result, "run_failed"))
        result.duration = time.monotonic() - self._began
        self.progress.finished(result)
        return result

    def _run_locked(self, started: datetime) -> AccountResult:
        def begin(connection: Connection) -> int:
            stale = writes.close_stale_runs(connection, self.provider, self.name, started)
            if stale:
                log.warning(
                    "%s: closed %d run(s) left running by a stopped process", self.name, stale
                )
            return writes.start_run(connection, self.provider, self.name, started)

        self.run_id = in_transaction(self.engine, begin, what=f"{self.name}: start run")
        self.progress.started(self.name)
        result = AccountResult(
            self.name, self.provider, RUN_FAILED, self.counts, self.run_id, started_at=started
        )
        try:
            listing = self.client.listing()
            self._write_pages(listing)
            outcome = listing.outcome
            result.complete = outcome.complete
            notes = []
            if not outcome.complete:
                notes.append(f"listing incomplete, nothing released: {outcome.problem}")
            elif outcome.release_blocked:
                notes.append(f"nothing released: {outcome.release_blocked}")
                result.complete = False
            else:
                guard = self._release_missing(listing, outcome.release_scope)
                if guard:
                    notes.append(guard)
                    result.complete = False
            result.status = RUN_FAILED if any("mass release" in n for n in notes) else RUN_SUCCEEDED
            result.error = "; ".join(notes) or None
        except SyncerError as exc:
            result.error = str(exc)
        except SQLAlchemyError as exc:  # the database failed, not syncer: one line, no traceback
            result.error = f"database error: {first_line(exc)}"
        except Exception as exc:
            log.exception("%s: unexpected error", self.name)
            result.error = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        self._finish(result)
        return result

    # -- pages ------------------------------------------------------------------------------

    def _write_pages(self, listing: Listing) -> None:
        pages = listing.pages()
        try:
            with self.engine.connect() as connection:
                for page in pages:
                    if self.options.stop.is_set():
                        raise SyncInterrupted(
                            f"{self.name}: interrupted by a stop request before the listing ended"
                        )
                    page_counts, rejected = self._write_page(connection, page)
                    self._rejection_keys.update(rejected)
                    self.counts.add(page_counts)
                    self.counts.pages = listing.pages_fetched
                    self.progress.advanced(self.name, self.counts, listing.expected_total)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _write_page(self, connection: Connection, page: Page) -> tuple[RunCounts, list[str]]:
        """Compare one page with what is stored, then write the differences, if any.

        The comparison reads before the write transaction begins: the account's writer lock
        keeps every other process away from these numbers, and on SQLite a page with nothing
        to write then takes no write lock at all. The writes are one transaction, retried
        whole after a deadlock. Returns the counts and the identities of the rejections
        written.
        """
        with read_transaction(connection):
            diff = self._diff(connection, page)
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

        in_transaction(connection, write, what=f"{self.name}: page")
        return counts, rejected

    def _diff(self, connection: Connection, page: Page) -> PageDiff:
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
            external_id = rejection.external_id[:255] if rejection.external_id else None
            rows.append(
                {
                    "sync_run_id": self.run_id,
                    "provider": self.provider,
                    "account": self.name,
                    "external_id": external_id,
                    "reason": rejection.reason,
                    "payload": rejection.payload,
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

    def _release_missing(self, listing: Listing, scope: dict[str, str]) -> str | None:
        """Release the live numbers a complete listing lacks; returns why not, if it did not."""
        at = self.clock.now()

        def find(connection: Connection) -> tuple[list[int], int]:
            missing, live = [], 0
            for number in writes.live_numbers(connection, self.provider, self.name, scope):
                live += 1
                if not listing.protects(number.external_id, number.e164):
                    missing.append(number.id)
            return missing, live

        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            missing, live = find(connection)
        if not missing:
            return None
        if len(missing) > self.release_fraction * live and not self.options.allow_mass_release:
            message = (
                f"mass release guard: the listing lacks {len(missing)} of {live} live numbers "
                f"(more than {self.release_fraction:.0%}), so none were released; if they "
                "really are gone, run once with --allow-mass-release"
            )
            log.error("%s: %s", self.name, message)
            return message
        for start in range(0, len(missing), RELEASE_BATCH):
            batch = missing[start : start + RELEASE_BATCH]
            self.counts.released += in_transaction(
                self.engine,
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
        finished = self.clock.now()
        values = dict(
            self.counts.as_dict(),
            status=result.status,
            finished_at=finished,
            listing_complete=result.complete,
            error=result.error,
        )
        try:
            in_transaction(
                self.engine,
                lambda connection: writes.update_run(connection, self.run_id, **values),
                what=f"{self.name}: finish run",
            )
        except Exception as exc:  # noqa: BLE001 - the next run closes it as interrupted
            log.error(
                "%s: could not record the end of run %d: %s",
                self.name,
                self.run_id,
                first_line(exc),
            )
        result.duration = time.monotonic() - self._began
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "%s", describe_result(result), extra=log_fields(result, "run_finished"))


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
    """The HTTP retry policy the config asks for (`request_timeout`, `max_attempts`)."""
    return RetryPolicy(max_attempts=config.max_attempts, timeout=config.request_timeout)


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
    """`syncer sync`: one pass over `accounts` against the configured database."""
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
