"""Where the history lands: every row shape of `phone_numbers`, `phone_number_versions` and
`status_changes`, read and written in bulk for one account.

The sync engine decides (`syncer.decide`); this module only reads what a decision needs and
writes what it planned:

- `read_state`: at the start of a run, in one read of the account's rows, how many numbers
  are live, how many the mass-release guard counts as held, and their stored fingerprints
  (the listing compares every item against them);
- `stored_by_key`: the stored numbers behind the records that need comparing (new or changed
  items), one query per batch of keys;
- `write`: the plans of several pages in one transaction: rows built as driver tuples with
  ids assigned up front, inserted the dialect's fastest way (`syncer.store.dialects`),
  with the `rate_spans` the new versions open or close;
- `release_candidates` and `release`: after a complete listing, the live numbers the
  listing did not show unchanged, and the release of those that are gone;
- `prepare_indexes` / `build_indexes`: a first load into an empty mirror builds the secondary
  indexes once, after it, instead of maintaining them row by row.

Every function takes an open `Connection` inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.schema import CreateIndex, DropIndex

from syncer.decide import LiveNumber, PageDiff, StoredNumber
from syncer.records import RELEASED, TRACKED_FIELDS, NumberRecord, state_hash
from syncer.store.dialects import BulkDialect, for_connection
from syncer.store.models import (
    RATE_COLUMNS,
    PhoneNumber,
    PhoneNumberVersion,
    RateSpan,
    StatusChange,
)
from syncer.store.spans import BEFORE, SPAN_COLUMNS

NUMBER_COLUMNS = (
    "provider",
    "account",
    "external_id",
    *TRACKED_FIELDS,
    "first_seen_at",
    "last_seen_at",
    "released_at",
    "content_hash",
    "fingerprint",
)
# What overwriting a changed number writes (its key and `first_seen_at` stay).
OVERWRITTEN_COLUMNS = (
    *TRACKED_FIELDS,
    "last_seen_at",
    "released_at",
    "content_hash",
    "fingerprint",
)
VERSION_COLUMNS = ("number_id", *TRACKED_FIELDS, "valid_from", "valid_to", "sync_run_id")
CHANGE_COLUMNS = (
    "number_id",
    "provider",
    "account",
    "e164",
    "from_status",
    "to_status",
    "changed_at",
    "sync_run_id",
)
# Where the values a dialect binds its own way sit among the tracked columns: the two fees
# side by side, the two times last (`_binder` relies on it).
_FEE = TRACKED_FIELDS.index("monthly_fee")
_TIME = TRACKED_FIELDS.index("provider_created_at")
assert TRACKED_FIELDS[_FEE + 1] == "setup_fee"
assert TRACKED_FIELDS[_TIME:] == ("provider_created_at", "provider_updated_at")
_tracked = attrgetter(*TRACKED_FIELDS)
# A number's rate (`RATE_COLUMNS`) among its tracked values, and what a span keeps of the
# rate before it.
_rate = itemgetter(*(TRACKED_FIELDS.index(name) for name in RATE_COLUMNS))
_before = itemgetter(*(RATE_COLUMNS.index(name) for name in BEFORE))
HISTORY_TABLES = ("phone_numbers", "phone_number_versions", "status_changes", "rate_spans")
KEY_LOOKUP_BATCH = 500
# A long result read in batches (a server-side cursor where the driver would otherwise hold
# every row of the account in memory at once).
STREAMED = {"stream_results": True, "max_row_buffer": 5_000}

# The indexes a first load builds after it (the natural key's unique index first).
DEFERRED_INDEXES = tuple(
    index
    for model in (PhoneNumber, PhoneNumberVersion, StatusChange, RateSpan)
    for index in sorted(
        cast(Table, model.__table__).indexes, key=lambda index: (not index.unique, str(index.name))
    )
)


@dataclass
class AccountState:
    """What is stored for one account at the start of a run.

    `fingerprints`: those of its live numbers, 16 bytes each (handed over to the listing's
    `KnownFingerprints`, which keeps this very set);
    `stale`: the fingerprints of live numbers whose `last_seen_at` is due for a refresh, with
    their ids; `live`: numbers not released; `stored`: every number, released or not;
    `unfingerprinted`: live numbers without a fingerprint (not seen since fingerprints exist);
    `held`: live numbers within the release scope first seen by the moment `read_state` was
    given (every live one in scope without it), for the mass-release guard.
    """

    fingerprints: set[bytes] = field(default_factory=set)
    stale: dict[bytes, int] = field(default_factory=dict)
    live: int = 0
    stored: int = 0
    unfingerprinted: int = 0
    held: int = 0


class AccountHistory:
    """The history tables of one account, as one run reads and writes them."""

    def __init__(self, provider: str, account: str, run_id: int) -> None:
        self.provider = provider
        self.account = account
        self.run_id = run_id

    # -- reads --------------------------------------------------------------------------

    def read_state(
        self,
        connection: Connection,
        stale_before: datetime,
        scope: dict[str, str] | None = None,
        confirmed_by: datetime | None = None,
    ) -> AccountState:
        """The account's counts, stale numbers and fingerprints (see `AccountState`), in one
        read of its rows; `held` counts the live numbers within `scope` first seen by
        `confirmed_by` (every live one in scope without it)."""
        dialect = for_connection(connection)
        mark = dialect.placeholder()
        scope = scope or {}
        in_scope = "".join(f" AND {column} = {mark}" for column in scope)
        confirmed_sql, confirmed = _first_seen_by(dialect, confirmed_by)
        rows = connection.exec_driver_sql(
            f"SELECT fingerprint, released_at IS NULL, last_seen_at <= {mark}, id, "
            f"CASE WHEN released_at IS NULL{in_scope} AND {confirmed_sql} THEN 1 ELSE 0 END "
            f"FROM {dialect.account_rows(f'provider = {mark} AND account = {mark}')}",
            (
                dialect.time(stale_before),
                *scope.values(),
                *confirmed,
                self.provider,
                self.account,
            ),
            execution_options=STREAMED,
        )
        state = AccountState()
        fingerprints, stale = state.fingerprints, state.stale
        stored = fingerprinted = held = 0
        for fingerprint, live, is_stale, number_id, is_held in rows:
            stored += 1
            if not live:
                continue
            held += is_held
            if fingerprint is None:
                state.unfingerprinted += 1
                continue
            fingerprinted += 1
            if type(fingerprint) is not bytes:  # a driver's own binary type
                fingerprint = bytes(fingerprint)
            fingerprints.add(fingerprint)
            if is_stale:
                stale[fingerprint] = number_id
        state.stored = stored
        state.held = held
        state.live = fingerprinted + state.unfingerprinted
        return state

    def stored_by_key(
        self, connection: Connection, keys: Sequence[str], stale_before: datetime
    ) -> dict[str, StoredNumber]:
        """The stored numbers of the account among `keys`, by key."""
        dialect = for_connection(connection)
        mark = dialect.placeholder()
        stale = dialect.time(stale_before)
        found: dict[str, StoredNumber] = {}
        for start in range(0, len(keys), KEY_LOOKUP_BATCH):
            batch = keys[start : start + KEY_LOOKUP_BATCH]
            rows = connection.exec_driver_sql(
                "SELECT id, external_id, content_hash, status, fingerprint, released_at IS NULL, "
                f"last_seen_at <= {mark}, {', '.join(RATE_COLUMNS)} "
                "FROM phone_numbers WHERE external_id IN "
                f"({', '.join([mark] * len(batch))}) AND account = {mark} AND provider = {mark}",
                (stale, *batch, self.account, self.provider),
            )
            for row in rows:
                fingerprint = None if row[4] is None else bytes(row[4])
                found[row[1]] = StoredNumber(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    fingerprint,
                    bool(row[5]),
                    bool(row[6]),
                    tuple(row[7:]),
                )
        return found

    def release_candidates(
        self,
        connection: Connection,
        scope: dict[str, str],
        unseen: Container[bytes],
        confirmed_by: datetime | None = None,
    ) -> list[LiveNumber]:
        """The account's live numbers (within `scope`) whose fingerprint is in `unseen` or
        who have none: those a complete listing may not have shown. `confirmed`: first seen
        by `confirmed_by` (always, without it; see `syncer.release_guard`).

        Where the dialect can bind the fingerprints as one array (`any_of`), the database
        picks the numbers; elsewhere each live number's fingerprint is looked up here."""
        dialect = for_connection(connection)
        mark = dialect.placeholder()
        in_scope = "".join(f" AND {column} = {mark}" for column in scope)
        confirmed_sql, confirmed = _first_seen_by(dialect, confirmed_by)
        sql = (
            f"SELECT id, external_id, e164, fingerprint, {confirmed_sql} "
            f"FROM {dialect.account_rows(f'provider = {mark} AND account = {mark}')} "
            f"AND released_at IS NULL{in_scope}"
        )
        params: tuple[Any, ...] = (*confirmed, self.provider, self.account, *scope.values())
        looked_up_here: Container[bytes] | None = unseen
        if dialect.any_of is not None and isinstance(unseen, Collection):
            sql += f" AND (fingerprint IS NULL OR fingerprint {dialect.any_of})"
            params += (list(unseen),)
            looked_up_here = None  # the database picked them
        rows = connection.exec_driver_sql(sql, params, execution_options=STREAMED)
        return [
            LiveNumber(row[0], row[1], row[2], bool(row[4]))
            for row in rows
            if looked_up_here is None or row[3] is None or bytes(row[3]) in looked_up_here
        ]

    # -- writes -------------------------------------------------------------------------

    def write(self, connection: Connection, pages: Iterable[tuple[PageDiff, datetime]]) -> None:
        """Write the plans of several pages (each with the time its page arrived), in one
        statement per kind of row for all of them."""
        dialect = for_connection(connection)
        new: list[tuple[NumberRecord, Any]] = []
        changed: list[tuple[NumberRecord, StoredNumber, Any]] = []
        refingerprinted: list[tuple[int, bytes | None]] = []
        stale: list[tuple[int, Any]] = []
        for diff, at in pages:
            at_db = dialect.time(at)
            new += [(record, at_db) for record in diff.new]
            changed += [(record, current, at_db) for record, current in diff.changed]
            refingerprinted += diff.refingerprinted
            stale += [(number_id, at_db) for number_id in diff.stale_seen]
        if new:
            self._insert_new(connection, dialect, new)
        if changed:
            self._overwrite_changed(connection, dialect, changed)
        mark = dialect.placeholder()
        dialect.execute_many(
            connection,
            f"UPDATE phone_numbers SET fingerprint = {mark} WHERE id = {mark}",
            [(fingerprint, number_id) for number_id, fingerprint in refingerprinted],
        )
        dialect.execute_many(
            connection,
            f"UPDATE phone_numbers SET last_seen_at = {mark} WHERE id = {mark}",
            [(at, number_id) for number_id, at in stale],
        )

    def _number_row(
        self, record: NumberRecord, values: tuple[Any, ...], at: Any
    ) -> tuple[Any, ...]:
        """A `phone_numbers` row in `NUMBER_COLUMNS` order, first and last seen at `at`."""
        return (
            self.provider,
            self.account,
            record.external_id,
            *values,
            at,
            at,
            None,
            record.content_hash,
            record.fingerprint,
        )

    def _insert_new(
        self, connection: Connection, dialect: BulkDialect, new: list[tuple[NumberRecord, Any]]
    ) -> None:
        bind = _binder(dialect)
        tracked = [bind(_tracked(record)) for record, _ in new]
        ids = dialect.reserve_ids(connection, "phone_numbers", len(new))
        number_rows = [
            self._number_row(record, values, at)
            for (record, at), values in zip(new, tracked, strict=True)
        ]
        columns: tuple[str, ...] = NUMBER_COLUMNS
        if ids is not None:
            columns = ("id", *NUMBER_COLUMNS)
            number_rows = [
                (number_id, *row) for number_id, row in zip(ids, number_rows, strict=True)
            ]
        dialect.insert(connection, "phone_numbers", columns, number_rows)
        if ids is None:
            found = self._ids_by_key(connection, dialect, [r.external_id for r, _ in new])
            ids = [found[record.external_id] for record, _ in new]
        run_id, provider, account = self.run_id, self.provider, self.account
        dialect.insert(
            connection,
            "phone_number_versions",
            VERSION_COLUMNS,
            [
                (number_id, *values, at, None, run_id)
                for number_id, values, (_, at) in zip(ids, tracked, new, strict=True)
            ],
        )
        dialect.insert(
            connection,
            "status_changes",
            CHANGE_COLUMNS,
            [
                (number_id, provider, account, record.e164, None, record.status, at, run_id)
                for number_id, (record, at) in zip(ids, new, strict=True)
            ],
        )
        dialect.insert(
            connection,
            "rate_spans",
            SPAN_COLUMNS,
            [
                (number_id, provider, *_rate(values), at, None, None, None, None)
                for number_id, values, (_, at) in zip(ids, tracked, new, strict=True)
            ],
        )

    def _overwrite_changed(
        self,
        connection: Connection,
        dialect: BulkDialect,
        changed: list[tuple[NumberRecord, StoredNumber, Any]],
    ) -> None:
        bind = _binder(dialect)
        tracked = [bind(_tracked(record)) for record, _, _ in changed]
        dialect.overwrite(
            connection,
            "phone_numbers",
            ("id", *NUMBER_COLUMNS),
            [
                (current.id, *self._number_row(record, values, at))
                for (record, current, at), values in zip(changed, tracked, strict=True)
            ],
            OVERWRITTEN_COLUMNS,
        )
        dialect.close_open(
            connection, "phone_number_versions", [(current.id, at) for _, current, at in changed]
        )
        run_id = self.run_id
        dialect.insert(
            connection,
            "phone_number_versions",
            VERSION_COLUMNS,
            [
                (current.id, *values, at, None, run_id)
                for (_, current, at), values in zip(changed, tracked, strict=True)
            ],
        )
        dialect.insert(
            connection,
            "status_changes",
            CHANGE_COLUMNS,
            [
                (
                    current.id,
                    self.provider,
                    self.account,
                    record.e164,
                    current.status,
                    record.status,
                    at,
                    run_id,
                )
                for record, current, at in changed
                if current.status != record.status
            ],
        )
        self._start_spans(
            connection,
            dialect,
            [
                (current.id, _rate(values), current.rate, at)
                for (_, current, at), values in zip(changed, tracked, strict=True)
                if _rate(values) != current.rate
            ],
        )

    def release(self, connection: Connection, number_ids: Sequence[int], at: datetime) -> int:
        """Mark the numbers released at `at` (those still live): a new version each, and a
        status change; returns how many were released."""
        dialect = for_connection(connection)
        mark = dialect.placeholder()
        numbers = cast(Table, PhoneNumber.__table__)
        query = select(numbers.c.id, *(numbers.c[name] for name in TRACKED_FIELDS)).where(
            numbers.c.id.in_(bindparam("ids", expanding=True)), numbers.c.released_at.is_(None)
        )
        rows = connection.execute(query, {"ids": list(number_ids)}).all()
        if not rows:
            return 0
        at_db = dialect.time(at)
        updates, versions, changes, ids = [], [], [], []
        spans: list[tuple[int, tuple[Any, ...], tuple[Any, ...], Any]] = []
        for row in rows:
            values = row[1:]
            state = dict(zip(TRACKED_FIELDS, values, strict=True))
            before = state["status"]
            state["status"] = RELEASED
            content_hash = state_hash(state)
            db_values = self._bound(dialect, [state[name] for name in TRACKED_FIELDS])
            updates.append((RELEASED, at_db, content_hash, row[0]))
            versions.append((row[0], *db_values, at_db, None, self.run_id))
            changes.append(
                (
                    row[0],
                    self.provider,
                    self.account,
                    state["e164"],
                    before,
                    RELEASED,
                    at_db,
                    self.run_id,
                )
            )
            ids.append(row[0])
            rate = _rate(db_values)  # status first (see RATE_COLUMNS)
            spans.append((row[0], rate, (before, *rate[1:]), at_db))
        dialect.execute_many(
            connection,
            f"UPDATE phone_numbers SET status = {mark}, released_at = {mark}, "
            f"content_hash = {mark}, fingerprint = NULL WHERE id = {mark}",
            updates,
        )
        dialect.close_open(
            connection, "phone_number_versions", [(number_id, at_db) for number_id in ids]
        )
        dialect.insert(connection, "phone_number_versions", VERSION_COLUMNS, versions)
        dialect.insert(connection, "status_changes", CHANGE_COLUMNS, changes)
        self._start_spans(connection, dialect, spans)
        return len(rows)

    def _start_spans(
        self,
        connection: Connection,
        dialect: BulkDialect,
        starts: list[tuple[int, tuple[Any, ...], tuple[Any, ...], Any]],
    ) -> None:
        """Close the open rate span of each number and open its next one: (number id, its
        new rate, its rate before, the time), rates in `RATE_COLUMNS` order as bound."""
        dialect.close_open(
            connection, "rate_spans", [(number_id, at) for number_id, _, _, at in starts]
        )
        dialect.insert(
            connection,
            "rate_spans",
            SPAN_COLUMNS,
            [
                (number_id, self.provider, *rate, at, None, *_before(before))
                for number_id, rate, before, at in starts
            ],
        )

    # -- rows -----------------------------------------------------------------------------

    @staticmethod
    def _tracked(dialect: BulkDialect, record: NumberRecord) -> tuple[Any, ...]:
        """The record's tracked values as the driver binds them."""
        return _binder(dialect)(_tracked(record))

    @staticmethod
    def _bound(dialect: BulkDialect, values: Sequence[Any]) -> tuple[Any, ...]:
        return _binder(dialect)(tuple(values))

    def _ids_by_key(
        self, connection: Connection, dialect: BulkDialect, keys: Sequence[str]
    ) -> dict[str, int]:
        mark = dialect.placeholder()
        rows = connection.exec_driver_sql(
            f"SELECT external_id, id FROM phone_numbers WHERE external_id IN "
            f"({', '.join([mark] * len(keys))}) AND account = {mark} AND provider = {mark}",
            (*keys, self.account, self.provider),
        )
        return {row[0]: row[1] for row in rows}


def _binder(dialect: BulkDialect) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function turning a tuple of tracked values into what the dialect's driver binds."""
    if dialect.binds_python_values:
        return _as_is
    money, time = dialect.money, dialect.time
    fee, after_fees, at = _FEE, _FEE + 2, _TIME

    def bind(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return (
            *values[:fee],
            money(values[fee]),
            money(values[fee + 1]),
            *values[after_fees:at],
            time(values[at]),
            time(values[at + 1]),
        )

    return bind


def _as_is(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return values


def _first_seen_by(dialect: BulkDialect, moment: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """SQL that is true for a number first seen by `moment` (always true without one)."""
    if moment is None:
        return "1 = 1", ()
    return f"first_seen_at <= {dialect.placeholder()}", (dialect.time(moment),)


# -- indexes after a first load ------------------------------------------------------------


def mirror_is_empty(connection: Connection) -> bool:
    return connection.exec_driver_sql("SELECT 1 FROM phone_numbers LIMIT 1").first() is None


def prepare_indexes(connection: Connection) -> bool:
    """At the start of a sync: when the mirror is empty and the database allows it, drop the
    secondary indexes of the history tables, so the first load writes rows only, and return
    True (the caller then calls `build_indexes` after the load). Otherwise create any of them
    that is missing (a process died during a first load) and return False."""
    if for_connection(connection).defers_indexes and mirror_is_empty(connection):
        for index in DEFERRED_INDEXES:
            connection.execute(DropIndex(index, if_exists=True))
        return True
    if missing_indexes(connection):
        build_indexes(connection)
    return False


def missing_indexes(connection: Connection) -> list[str]:
    from sqlalchemy import inspect

    inspector = inspect(connection)
    present = {index["name"] for table in HISTORY_TABLES for index in inspector.get_indexes(table)}
    return [str(index.name) for index in DEFERRED_INDEXES if index.name not in present]


def build_indexes(connection: Connection) -> None:
    """Create every secondary index of the history tables that is missing, then let the
    planner know what the load wrote (see the dialect's `after_load`)."""
    for index in DEFERRED_INDEXES:
        connection.execute(CreateIndex(index, if_not_exists=True))
    for_connection(connection).after_load(connection, HISTORY_TABLES)
