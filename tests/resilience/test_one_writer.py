"""One writer per account, even when the connection holding the lock dies; and a run's row
tells the truth about how it ended.

The lock tests run on PostgreSQL (`pg_terminate_backend` on the lock's backend) and MariaDB
(`KILL` on its connection): run A is held mid-listing by the hostile provider, its lock
session is ended, run B takes the account and syncs a changed world, then A gets its stale
page. A must stop writing (its next database step fails), end `failed` saying it lost the
lock, release nothing; B's state must stand, with unbroken history.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, func, select, text

from syncer.cli import main
from syncer.errors import AccountBusyError, DatabaseError, LockLostError
from syncer.store import writes
from syncer.store.engine import make_engine
from syncer.store.locks import account_lock, check_lockable, lock_file_for, lock_holder
from syncer.store.models import PhoneNumber, PhoneNumberVersion, SyncRun
from tests.conftest import MYSQL_URL, POSTGRES_URL, database_for
from tests.fakes import ringyo_item
from tests.invariants import assert_history_invariants, running_runs
from tests.resilience.hostile import (
    HostileProvider,
    Reply,
    Request,
    account_for,
    ringyo_listing,
    sync_once,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
SERVERS = (["postgresql"] if POSTGRES_URL else []) + (["mysql"] if MYSQL_URL else [])
LOST = "lost the account's writer lock"


@pytest.fixture(params=SERVERS)
def server_engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Engine]:
    """An empty database at schema head on PostgreSQL and on MariaDB."""
    engine = make_engine(database_for(request.param, tmp_path, sqlite_template))
    yield engine
    engine.dispose()


def end_session(engine: Engine, account: str) -> int:
    """End the database session holding the account's lock, as an operator or a network
    would, and wait until the server has let the lock go. Returns the session's id."""
    holder = lock_holder(engine, account)
    assert holder is not None, "nobody holds the lock"
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        else:
            connection.execute(text(f"KILL {int(holder)}"))
    wait_for(lambda: lock_holder(engine, account) is None)
    return holder


class HeldListing:
    """Ringyo's listing of `items`. Once `armed`, the next request for the page at
    `hold_cursor` waits until `release` is set, then gets that page of `stale` (the items as
    they were when it was asked for); every other request gets `items`."""

    def __init__(self, items: list[dict[str, Any]], hold_cursor: str) -> None:
        self.items = items
        self.stale = list(items)
        self.hold_cursor = hold_cursor
        self.armed = False
        self.reached = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            hold = self.armed and request.query.get("cursor") == self.hold_cursor
            self.armed = self.armed and not hold
        if hold:
            self.reached.set()
            assert self.release.wait(30), "the test never released the held page"
            return ringyo_listing(self.stale)(request)
        return ringyo_listing(self.items)(request)


def counts(engine: Engine, run_id: int | None) -> tuple[int, int]:
    with engine.connect() as connection:
        versions = connection.execute(
            select(func.count()).where(PhoneNumberVersion.sync_run_id == run_id)
        ).scalar_one()
        row = connection.execute(select(SyncRun).where(SyncRun.id == run_id)).one()
    return versions, row.released


# -- a lock session that dies mid-run ---------------------------------------------------------


def test_a_run_whose_lock_session_dies_stops_writing(server_engine: Engine) -> None:
    engine = server_engine
    items = [ringyo_item(n) for n in range(1, 251)]  # three pages of 100
    listing = HeldListing(items, hold_cursor="100")
    outcome: dict[str, Any] = {}
    with HostileProvider(listing) as server:
        account = account_for(server.url, "ringyo")
        assert sync_once(engine, account).ok
        # The world changes: every number of the second page is suspended.
        listing.items = [
            dict(item, status="inactive") if 100 <= index < 200 else item
            for index, item in enumerate(items)
        ]
        listing.stale = items
        listing.armed = True
        run_a = threading.Thread(target=lambda: outcome.update(a=sync_once(engine, account)))
        run_a.start()
        assert listing.reached.wait(30)
        ended = end_session(engine, account.name)
        b = sync_once(engine, account)
        listing.release.set()
        run_a.join(30)
    a = outcome["a"]
    assert b.ok, b.error
    assert b.counts.updated == 100
    assert a.status == "failed"
    assert a.error is not None
    assert a.error.startswith(LOST)
    assert "stopped writing, nothing released" in a.error
    assert a.counts.released == 0
    with engine.connect() as connection:
        row = connection.execute(select(SyncRun).where(SyncRun.id == a.run_id)).one()
        stored = dict(connection.execute(select(PhoneNumber.external_id, PhoneNumber.status)).all())
    assert (row.status, row.error) == ("failed", a.error)
    assert row.finished_at is not None
    # A wrote nothing after its session ended: B's suspensions stand, no number has two open
    # versions or a broken chain, and A's stale page 2 never reached the tables.
    assert sum(status == "inactive" for status in stored.values()) == 100
    assert_history_invariants(engine)
    assert counts(engine, a.run_id) == (0, 0)
    assert running_runs(engine) == 0
    print(
        f"{engine.dialect.name}: ended lock session {ended}; run A: {a.status}: {a.error}; "
        f"run B: {b.status}, updated={b.counts.updated}"
    )


def test_a_replaced_session_holds_no_lock(server_engine: Engine) -> None:
    """SQLAlchemy reconnects an invalidated connection silently on its next use; the new
    session holds no lock, so the next write proves nothing and writes nothing, while
    another writer may already hold the account."""
    engine = server_engine
    with account_lock(engine, "acct") as lock:
        lock.connection.invalidate()  # what a dropped connection does; the lock goes with it
        with account_lock(engine, "acct"):  # a second writer takes the account
            with pytest.raises(LockLostError, match="does not hold it"):
                lock.write(lambda c: writes.start_run(c, "ringyo", "acct", _now()))
            with pytest.raises(LockLostError):
                lock.prove()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SyncRun)).scalar_one() == 0


def test_a_held_lock_proves_itself_and_is_exclusive(db_url: str) -> None:
    """On every backend: the holder's writes go through; a second taker is refused."""
    engine = make_engine(db_url)
    try:
        with account_lock(engine, "acct") as lock:
            run_id = lock.write(lambda c: writes.start_run(c, "ringyo", "acct", _now()))
            lock.prove()
            with pytest.raises(AccountBusyError):
                account_lock(engine, "acct").__enter__()
        assert run_id > 0
    finally:
        engine.dispose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# -- the run's row tells the truth --------------------------------------------------------------


def test_a_lock_lost_at_the_end_is_printed_and_recorded_as_failed(
    server_engine: Engine, tmp_path: Path, keep_logging: None
) -> None:
    """`syncer sync`; its lock session is ended while the last page is held back (nothing on
    that page needs writing). Before, the run wrote `succeeded` and then failed giving the
    lock back, so it printed one thing and recorded another. Now the printed line, the exit
    code and the row all say failed, and why."""
    engine = server_engine
    items = [ringyo_item(n) for n in range(1, 151)]  # pages at cursor None and "100"
    listing = HeldListing(items, hold_cursor="100")
    url = engine.url.render_as_string(hide_password=False)
    outcome: dict[str, Any] = {}
    with HostileProvider(listing) as server:
        config = tmp_path / "syncer.toml"
        config.write_text(
            f'database_url = "{url}"\nmax_attempts = 2\n[[accounts]]\nname = "ringyo-held"\n'
            f'provider = "ringyo"\napi_key_env = "HELD_KEY"\nbase_url = "{server.url}"\n'
        )
        env = {"HELD_KEY": "held_key_0123456789", "SYNCER_DATABASE_URL": None}
        args = ["--config", str(config), "sync"]
        first = CliRunner().invoke(main, args, env=env)
        assert first.exit_code == 0, first.output
        listing.armed = True
        sync = threading.Thread(
            target=lambda: outcome.update(result=CliRunner().invoke(main, args, env=env))
        )
        sync.start()
        assert listing.reached.wait(30)
        end_session(engine, "ringyo-held")
        listing.release.set()
        sync.join(60)
    result = outcome["result"]
    assert result.exit_code == 1, result.output
    [line] = result.stdout.splitlines()
    assert line.startswith("ringyo-held: failed")
    assert LOST in line
    assert "Traceback" not in result.output
    with engine.connect() as connection:
        row = connection.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(1)).one()
    assert row.status == "failed"
    assert row.error.startswith(LOST)
    assert row.error in line
    print(f"{engine.dialect.name}: printed {line!r}; sync_runs: {row.status}: {row.error}")


def test_a_run_whose_end_cannot_be_recorded_is_not_reported_succeeded(engine: Engine) -> None:
    """The database refuses the row's final update: the run returns (and `syncer sync`
    prints) failed, saying its end was not recorded; the row stays `running`, which the next
    run closes as interrupted. Nothing claims a success the row does not hold."""
    items = [ringyo_item(n) for n in range(1, 11)]

    def refuse(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("UPDATE sync_runs") and "succeeded" in repr(parameters):
            raise connection.dialect.loaded_dbapi.OperationalError("simulated: disk is full")

    with HostileProvider(ringyo_listing(items)) as server:
        account = account_for(server.url, "ringyo")
        event.listen(engine, "before_cursor_execute", refuse)
        try:
            result = sync_once(engine, account)
        finally:
            event.remove(engine, "before_cursor_execute", refuse)
        assert result.status == "failed"
        assert result.error is not None
        assert "could not be recorded: simulated: disk is full" in result.error
        assert running_runs(engine) == 1
        assert sync_once(engine, account).ok
    with engine.connect() as connection:
        first = connection.execute(select(SyncRun).order_by(SyncRun.id).limit(1)).one()
    assert first.status == "failed"
    assert first.error.startswith("interrupted")


# -- SQLite: every URL form gets the file lock, or is refused -------------------------------------


def test_every_sqlite_url_form_gets_the_same_file_lock(sqlite_url: str, tmp_path: Path) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    forms = [
        f"sqlite:///file:{path}?uri=true",
        f"sqlite:///file:{path}?mode=rw&uri=true",
        f"sqlite:///file://localhost{path}?uri=true",
        f"sqlite:///file:{str(path).replace('/', '%2F', 2)}?uri=true",
    ]
    plain = make_engine(sqlite_url)
    try:
        with account_lock(plain, "acct"):
            for form in forms:
                other = make_engine(form)
                try:
                    check_lockable(other)
                    with pytest.raises(AccountBusyError):
                        account_lock(other, "acct").__enter__()
                finally:
                    other.dispose()
    finally:
        plain.dispose()
    assert lock_file_for(path.resolve(), "acct").exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:///file://otherhost/data/x.db?uri=true", "names the host 'otherhost'"),
        ("sqlite:///file:?uri=true", "names no file"),
        ("mssql+pymssql://sa@db/x", "cannot keep one writer per account on mssql"),
    ],
    ids=["remote_host", "no_file", "other_dialect"],
)
def test_a_url_that_cannot_be_locked_is_refused(url: str, says: str) -> None:
    from sqlalchemy.engine import make_url

    from syncer.store.locks import unlockable_reason

    reason = unlockable_reason(make_url(url))
    assert reason is not None
    assert says in reason


def test_sync_through_a_sqlite_uri_skips_an_account_held_through_the_plain_path(
    sqlite_url: str, tmp_path: Path, keep_logging: None
) -> None:
    """Before, a `file:` URI silently skipped the file lock: two processes could write the
    same account. Now `syncer sync` over the URI finds the account held and skips it."""
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    items = [ringyo_item(n) for n in range(1, 6)]
    with HostileProvider(ringyo_listing(items)) as server:
        config = tmp_path / "syncer.toml"
        config.write_text(
            f'database_url = "sqlite:///file:{path}?uri=true"\n[[accounts]]\nname = "r"\n'
            f'provider = "ringyo"\napi_key_env = "R_KEY"\nbase_url = "{server.url}"\n'
        )
        env = {"R_KEY": "r_key_0123456789", "SYNCER_DATABASE_URL": None}
        args = ["--config", str(config), "sync"]
        plain = make_engine(sqlite_url)
        try:
            with account_lock(plain, "r"):
                held = CliRunner().invoke(main, args, env=env)
            free = CliRunner().invoke(main, args, env=env)
        finally:
            plain.dispose()
    assert held.exit_code == 1, held.output
    assert "r: skipped in" in held.output
    assert "skipped: another syncer process is syncing this account" in held.output
    assert free.exit_code == 0, free.output
    print(f"held: {held.stdout.strip()}; free: {free.stdout.strip()}")


def test_check_lockable_refuses_before_any_account_runs(tmp_path: Path) -> None:
    engine = make_engine("sqlite:///file:?uri=true")
    try:
        with pytest.raises(DatabaseError, match="names no file"):
            check_lockable(engine)
    finally:
        engine.dispose()
