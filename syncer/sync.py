"""Where a run is orchestrated: list an account, compare with what is stored, write the
differences, release what a complete listing proves gone, record how it ended.

The decisions are `syncer.decide`'s (pure); the rows are `syncer.store.history`'s; the run's
own row is the ledger's (`syncer.store.writes`). A run:

1. reads the account's stored state once: its live numbers' fingerprints (what the provider
   last sent for each) and counts, among them what the mass-release guard weighs (the
   first pages are fetched meanwhile, and wait to be compared);
2. lists the account: an item whose fingerprint is stored is unchanged and is not even
   validated; the rest become records (or rejections);
3. writes the pages a few at a time: each batch is one transaction that looks up its
   records' stored numbers, compares content hashes (`diff_page`: new, changed, only a new
   fingerprint, unchanged), writes the differences with the batch's rejections, and records
   the run's counts so far. An unchanged number costs no write, except that `last_seen_at`
   is refreshed once it is more than `LAST_SEEN_REFRESH` old;
4. after a *complete* listing, counts first: if every live number was shown, nothing is
   missing; otherwise the live numbers not shown are read and those not protected by the
   listing are released in batches, unless that would be more than `max_release_fraction` of
   the numbers held before the run (`syncer.release_guard`), unless `allow_mass_release`.

One writer: the run does all its work on the database session that holds the account's
writer lock (`syncer.store.locks.AccountLock`), and every write transaction proves that the
session still holds it. A run that lost it stops at once, releases nothing more, and records
itself as failed, saying so. The run's row is written last, on a fresh connection (touching
only that row), and what the run returns is what the row says. A kill at any moment leaves
whole batches written, every number with exactly one open version, and the next run
converges to the truth.
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
from syncer.decide import PageDiff, diff_page, plan_release
from syncer.errors import (
    AccountBusyError,
    LockLostError,
    ProviderError,
    SyncerError,
    lost_lock_message,
)
from syncer.outcomes import RunOutcome, RunStatus, run_outcome, status_label
from syncer.providers import KnownFingerprints, Listing, Page, ProviderClient, RetryPolicy
from syncer.release_guard import HeldBefore, state_before_the_run
from syncer.secrets import scrub
from syncer.store import writes
from syncer.store.dialects import for_connection
from syncer.store.engine import first_line, in_transaction
from syncer.store.history import AccountHistory, AccountState, build_indexes, prepare_indexes
from syncer.store.locks import AccountLock, account_lock
from syncer.store.storable import storable_rejection

log = logging.getLogger(__name__)

LAST_SEEN_REFRESH = timedelta(days=1)
RELEASE_BATCH = 500
PROGRESS_WRITE_SECONDS = 5.0
# A write transaction holds the plans of pages up to this many rows, or this old.
BATCH_ROWS = 2_000
BATCH_SECONDS = 1.0


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
    """How one account's run ended: `status` is its row's (`RunStatus`), or `skipped` when
    there was no run; `complete` means: listed completely, nothing withheld. Together they
    are the run's `outcome`. `interrupted`: ended by a stop request (SIGTERM, Ctrl-C)."""

    account: str
    provider: str
    status: str
    counts: RunCounts = field(default_factory=RunCounts)
    run_id: int | None = None
    complete: bool = False
    error: str | None = None
    started_at: datetime | None = None
    duration: float = 0.0
    interrupted: bool = False

    @property
    def outcome(self) -> RunOutcome:
        return run_outcome(self.status, self.complete)

    @property
    def ok(self) -> bool:
        return self.outcome is RunOutcome.SUCCEEDED

    def end(self, outcome: RunOutcome, note: str | None) -> None:
        """The run ended as `outcome` (not skipped), its row keeping `note`."""
        assert outcome.row_status is not None, "a run that ended has a row"
        self.status = outcome.row_status
        self.complete = outcome is RunOutcome.SUCCEEDED
        self.error = note

    def fail(self, error: str) -> None:
        """The run failed (`complete` still says whether it had listed completely)."""
        self.status = RunStatus.FAILED
        self.error = error


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
class WriteBatch:
    """Pages listed but not yet compared with the store: compared and written together, in
    one transaction (one lookup of their records' stored numbers, one set of writes)."""

    pages: list[Page] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    counts: RunCounts = field(default_factory=RunCounts)
    records: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, page: Page, rejections: list[dict[str, Any]]) -> None:
        self.pages.append(page)
        self.rejections += rejections
        self.records += len(page.records) + len(rejections)

    def needs_store(self, stale: dict[bytes, int]) -> bool:
        """Whether writing the batch touches the database: records to compare, rejections,
        or unchanged numbers whose `last_seen_at` is due."""
        if self.records:
            return True
        return bool(stale) and any(f in stale for page in self.pages for f in page.unchanged)


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
        self.history = AccountHistory(self.provider, self.name, 0)
        self.state = AccountState()
        self._written = RunCounts()
        self._last_progress_write = 0.0
        self._rejection_keys: set[str] = set()
        self._began = time.monotonic()

    def run(self) -> AccountResult:
        """Sync the account once; never raises for a provider or data problem."""
        started = self.clock.now()
        self._began = time.monotonic()
        result = AccountResult(self.name, self.provider, RunOutcome.SKIPPED, started_at=started)
        try:
            with account_lock(self.engine, self.name) as lock:
                result = self._run_locked(lock, started)
        except AccountBusyError as exc:
            result.error = str(exc)
            log.info("%s", exc, extra=log_fields(result, "run_skipped"))
        except (SQLAlchemyError, LockLostError) as exc:  # before the run's row was written
            result.fail(scrub(_run_error(exc, self.name)))
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
        self.history = AccountHistory(self.provider, self.name, self.run_id)
        self.progress.started(self.name)
        result = AccountResult(
            self.name, self.provider, RunStatus.FAILED, self.counts, self.run_id, started_at=started
        )
        listing: Listing | None = None
        try:
            listing = self.client.listing()
            listing.start()  # the first pages are fetched while the stored state is read
            self.state, held_before = lock.read(
                partial(
                    state_before_the_run,
                    account=self.history,
                    scope=listing.release_scope,
                    stale_before=self.clock.now() - LAST_SEEN_REFRESH,
                )
            )
            listing.known = KnownFingerprints.adopt(self.state.fingerprints)
            self.state.fingerprints = set()
            self._write_pages(lock, listing)
            result.complete = listing.outcome.complete
            result.end(*self._conclude(lock, listing, held_before))
            lock.prove()  # the run ends holding the lock, or it did not end as it says
        except LockLostError as exc:
            # Numbers released before it was lost went in batches that each proved the lock.
            released = self.counts.released
            result.fail(lost_lock_message(exc.cause, released=released) if released else exc.detail)
        except SyncInterrupted as exc:
            result.interrupted = True
            result.fail(_run_error(exc, self.name))
        except (SyncerError, SQLAlchemyError) as exc:
            result.fail(_run_error(exc, self.name))
        except Exception as exc:
            log.exception("%s: unexpected error", self.name)
            result.fail(f"internal error: {type(exc).__name__}: {first_line(exc)}")
        finally:
            if listing is not None:
                listing.close()
        self._finish(result)
        return result

    def _conclude(
        self, lock: AccountLock, listing: Listing, held_before: HeldBefore
    ) -> tuple[RunOutcome, str | None]:
        """How a run whose listing ended, ends, with the note its row keeps: it released
        what a complete listing proved gone (succeeded); it stored what it saw but proved
        nothing gone (incomplete: the listing was incomplete, or a rejected item blocks
        releases); or the mass-release guard refused the releases (failed)."""
        outcome = listing.outcome
        if not outcome.complete:
            return RunOutcome.INCOMPLETE, f"listing incomplete, nothing released: {outcome.problem}"
        if outcome.release_blocked:
            return RunOutcome.INCOMPLETE, f"nothing released: {outcome.release_blocked}"
        refused = self._release_missing(lock, listing, outcome.release_scope, held_before)
        if refused is not None:
            return RunOutcome.FAILED, refused
        return RunOutcome.SUCCEEDED, None

    # -- pages ------------------------------------------------------------------------------

    def _write_pages(self, lock: AccountLock, listing: Listing) -> None:
        """Compare and write several pages per transaction.

        A batch is written once it holds `BATCH_ROWS` records to compare or is
        `BATCH_SECONDS` old, and at the end of the listing. Each batch is one transaction,
        with the run's counts up to its last page, so a kill at any moment leaves whole pages
        written and the run's row counting exactly them.
        """
        pages = listing.pages()
        batch = WriteBatch()
        try:
            for page in pages:
                if self.options.stop.is_set():
                    raise SyncInterrupted(
                        f"{self.name}: interrupted by a stop request before the listing ended"
                    )
                self._compare(page, batch)
                self.counts.pages = listing.pages_fetched
                batch.counts.pages = listing.pages_fetched
                self.progress.advanced(self.name, self.counts, listing.expected_total)
                if self._batch_due(batch):
                    self._flush(lock, listing, batch)
                    batch = WriteBatch()
            self._flush(lock, listing, batch)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _compare(self, page: Page, batch: WriteBatch) -> None:
        """Add one page to `batch`, counting what needs no comparison: the items seen, the
        unchanged ones (their fingerprint is stored), the rejections."""
        rejection_rows, rejected = self._rejection_rows(page)
        self._rejection_keys.update(rejected)
        counts = RunCounts(
            seen=len(page.records) + len(page.rejections) + len(page.unchanged),
            unchanged=len(page.unchanged),
            rejected=len(rejected),
        )
        self.counts.add(counts)
        batch.counts.add(counts)
        batch.add(page, rejection_rows)

    def _batch_due(self, batch: WriteBatch) -> bool:
        if batch.records >= BATCH_ROWS:
            return True
        return bool(batch.pages) and time.monotonic() - batch.started >= BATCH_SECONDS

    def _flush(self, lock: AccountLock, listing: Listing, batch: WriteBatch) -> None:
        """Compare `batch`'s records with the store and write the differences, with the run's
        counts so far, in one transaction (retried whole after a deadlock)."""
        progress_due = time.monotonic() - self._last_progress_write >= PROGRESS_WRITE_SECONDS
        if not batch.needs_store(self.state.stale) and not progress_due:
            self._written.add(batch.counts)
            self._written.pages = batch.counts.pages or self._written.pages
            return

        def write(connection: Connection) -> tuple[RunCounts, list[PageDiff]]:
            diffs = self._diff(connection, batch)
            found = RunCounts(
                created=sum(len(diff.new) for diff in diffs),
                updated=sum(len(diff.changed) for diff in diffs),
                unchanged=sum(diff.unchanged for diff in diffs),
            )
            totals = replace(self._written)
            totals.add(batch.counts)
            totals.add(found)
            totals.pages = batch.counts.pages or totals.pages
            self.history.write(
                connection,
                [(diff, page.received_at) for diff, page in zip(diffs, batch.pages, strict=True)],
            )
            writes.insert_rejections(connection, batch.rejections)
            writes.update_run(connection, self.run_id, **totals.as_dict())
            return found, diffs

        found, diffs = lock.write(write, what=f"{self.name}: pages")
        for diff in diffs:  # shown, though not unchanged: not a release candidate
            for fingerprint in diff.matched_fingerprints:
                listing.known.discard(fingerprint)
        self.counts.add(found)
        self._written.add(batch.counts)
        self._written.add(found)
        self._written.pages = batch.counts.pages or self._written.pages
        self._last_progress_write = time.monotonic()

    def _diff(self, connection: Connection, batch: WriteBatch) -> list[PageDiff]:
        """Each page of `batch` compared with the stored numbers of its records (read in
        one go: a page-number listing's pages rarely change much)."""
        keys = [record.external_id for page in batch.pages for record in page.records]
        stored = {}
        if keys and self.state.stored:
            oldest = min(page.received_at for page in batch.pages)
            stored = self.history.stored_by_key(connection, keys, oldest - LAST_SEEN_REFRESH)
        stale = self.state.stale
        diffs = []
        for page in batch.pages:
            diff = diff_page(page.records, stored)
            if stale:
                diff.stale_seen += [stale[f] for f in page.unchanged if f in stale]
            diffs.append(diff)
        return diffs

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

    # -- releases ---------------------------------------------------------------------------

    def _release_missing(
        self, lock: AccountLock, listing: Listing, scope: dict[str, str], before: HeldBefore
    ) -> str | None:
        """Release the live numbers a complete listing lacks; returns the guard's refusal,
        if it refused.

        Counts first: when every live number with a fingerprint was shown by the listing
        (none is left untaken in `listing.known`) and none lacks a fingerprint, nothing is
        missing and the store is not read. Otherwise the live numbers that may be missing are
        read, and those the listing does not protect are released (`plan_release`), unless
        the guard refuses: it weighs the missing numbers the account held before this run
        (see `syncer.release_guard`) against how many it held.
        """
        at = self.clock.now()
        if not listing.known.remaining() and not self.state.unfingerprinted:
            return None
        unseen = listing.known.untaken()
        candidates = lock.read(
            partial(
                self.history.release_candidates,
                scope=scope,
                unseen=unseen,
                confirmed_by=before.confirmed_by,
            )
        )
        plan = plan_release(
            candidates,
            listing.protects,
            held_before=before.count,
            max_fraction=self.release_fraction,
            allow_mass_release=self.options.allow_mass_release,
        )
        if plan.blocked:
            return plan.blocked
        for start in range(0, len(plan.release), RELEASE_BATCH):
            batch = plan.release[start : start + RELEASE_BATCH]
            self.counts.released += lock.write(
                partial(self.history.release, number_ids=batch, at=at),
                what=f"{self.name}: release",
            )
        return None

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
            unrecorded = f"the end of run {self.run_id} could not be recorded: {first_line(exc)}"
            result.fail(scrub("; ".join(filter(None, [result.error, unrecorded]))))
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
    line = (
        f"{result.account}: {status_label(result.status, result.complete)}"
        f" in {result.duration:.1f}s: pages={c.pages} seen={c.seen} created={c.created} "
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
    """Sync the accounts concurrently (`parallel_accounts` at a time; one at a time where the
    database has one writer, SQLite); results in order. Into an empty mirror, the history
    tables' secondary indexes are built after the load (see `prepare_indexes`)."""
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
    workers = min(workers, for_connection(engine).max_writers or workers)
    first_load = in_transaction(engine, prepare_indexes, what="prepare indexes")
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
        if first_load:
            log.info("building the history tables' indexes after the first load")
            in_transaction(engine, build_indexes, what="build indexes")
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
    from syncer.store.engine import make_engine
    from syncer.store.schema import check_schema, check_writable

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
