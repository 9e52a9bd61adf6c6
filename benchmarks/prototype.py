"""A bare sync of the benchmark's world: how fast syncer's page path could be, as one script.

    python benchmarks/prototype.py CONFIG_TOML ACCOUNTS_JSON DATABASE [--writer-process]
    python benchmarks/prototype.py --digest - - DATABASE

It writes what `syncer sync` writes, into a database of syncer's schema (`syncer db
upgrade`), and checks what syncer checks: syncer's page decoders, fingerprints and compiled
validation, then each item mapped straight to its row values and content hash (no
`NumberRecord`; a time formatted once for both). It leaves out the rest of syncer's
orchestration: no SQLAlchemy, no locks, no retries, no rejections (an item that fails
validation stops the script), no second pass, no progress, no refresh of `last_seen_at`, no
mass-release guard. What is left is the hot path the speed issue describes:

- each account's pages fetched by a thread of their own (one httpx client; TryVox pages four
  at a time after the first, as syncer), up to 32 pages ahead, while the main thread
  compares them;
- the account's live fingerprints read in one query; an item whose fingerprint is stored is
  unchanged and costs a set lookup; the others are validated and mapped, up to 2,000 records
  a batch, then their stored numbers looked up by key (500 keys a query) and the new and
  changed rows written in one transaction (COPY on PostgreSQL, multi-row INSERTs on SQLite);
- releases as a set difference: the fingerprints the listing never showed;
- a first load into an empty mirror drops the history tables' secondary indexes and builds
  them after it;
- with `--writer-process` (SQLite), the database calls run in a second process fed through a
  pipe, so that SQLite's work does not wait for the GIL of the process that fetches and maps.

ACCOUNTS_JSON is the simulator's accounts (with `base_url`); CONFIG_TOML the `syncer.toml`
for them (the Ringyo fee schedules). Prints one JSON line: rows seen, created, updated,
released, and seconds after imports. `--digest` prints a database's digest (`digest`): two
databases with the same one hold the same history; `run.py` compares the prototype's with
syncer's after every job.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from syncer.config import load_config
from syncer.providers import ringyo, tryvox
from syncer.providers.fields import parse_timestamp
from syncer.providers.pages import RawPage, check_storable, compiled
from syncer.records import RELEASED, TRACKED_FIELDS, _decimal_text, state_hash

BATCH_RECORDS = 2_000
KEY_BATCH = 500
PREFETCH = 32
TRYVOX_CONCURRENCY = 4
HISTORY_TABLES = ("phone_numbers", "phone_number_versions", "status_changes", "rate_spans")
# syncer's row shapes (`syncer.store.history`), written here so that the script does not
# import SQLAlchemy: run.py's digest of both databases shows they are the same rows.
NUMBER_COLUMNS = (
    *("provider", "account", "external_id", *TRACKED_FIELDS, "first_seen_at", "last_seen_at"),
    *("released_at", "content_hash", "fingerprint"),
)
OVERWRITTEN = (*TRACKED_FIELDS, "last_seen_at", "released_at", "content_hash", "fingerprint")
VERSION_COLUMNS = ("number_id", *TRACKED_FIELDS, "valid_from", "valid_to", "sync_run_id")
CHANGE_COLUMNS = ("number_id", "provider", "account", "e164", "from_status", "to_status")
CHANGE_COLUMNS += ("changed_at", "sync_run_id")
RATE_COLUMNS = ("status", "monthly_fee", "currency", "provider_created_at", "setup_fee")
SPAN_COLUMNS = ("number_id", "provider", *RATE_COLUMNS, "valid_from", "valid_to")
SPAN_COLUMNS += ("status_before", "fee_before", "currency_before")
_RATE = [TRACKED_FIELDS.index(name) for name in RATE_COLUMNS]


def rate(values: Sequence[Any]) -> tuple[Any, ...]:
    """A number's rate (status first) among its tracked values, as bound."""
    return tuple(values[index] for index in _RATE)


PG_TYPES = dict.fromkeys(OVERWRITTEN, "varchar") | {"id": "bigint", "fingerprint": "bytea"}
PG_TYPES |= dict.fromkeys(("voice", "sms", "mms"), "boolean")
PG_TYPES |= dict.fromkeys(("monthly_fee", "setup_fee"), "numeric")
PG_TYPES |= dict.fromkeys(
    ("provider_created_at", "provider_updated_at", "last_seen_at", "released_at"), "timestamptz"
)
_FEE = TRACKED_FIELDS.index("monthly_fee")
_TIME = TRACKED_FIELDS.index("provider_created_at")


def sqlite_time(value: datetime | None) -> str | None:
    """An aware time as syncer stores it on SQLite (UTC, `YYYY-MM-DD HH:MM:SS.ffffff`)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the fastest way
        *(value.year, value.month, value.day, value.hour, value.minute, value.second),
        value.microsecond,
    )


def sqlite_bind(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Tracked values as syncer binds them on SQLite: fees as floats, times as text."""
    fee, at = _FEE, _TIME
    return (
        *values[:fee],
        None if values[fee] is None else float(values[fee]),
        None if values[fee + 1] is None else float(values[fee + 1]),
        *values[fee + 2 : at],
        sqlite_time(values[at]),
        sqlite_time(values[at + 1]),
    )


def as_is(value: Any) -> Any:
    return value


# -- fetching -----------------------------------------------------------------------------------


def ringyo_pages(client: httpx.Client, account: dict[str, Any]) -> Iterator[RawPage]:
    params: dict[str, Any] = {"limit": ringyo.PAGE_LIMIT}
    while True:
        response = client.get(account["path"], params=params)
        page = ringyo._PAGES.decode(response.raise_for_status().content)
        yield page
        if not page.fields["has_more"]:
            return
        params = {"limit": ringyo.PAGE_LIMIT, "cursor": page.fields["next_cursor"]}


def tryvox_pages(client: httpx.Client, account: dict[str, Any]) -> Iterator[RawPage]:
    """Page 1, then the rest `TRYVOX_CONCURRENCY` at a time, in page order (as syncer)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def page(number: int) -> RawPage:
        params = {"page": number, "per_page": tryvox.PER_PAGE}
        response = client.get(account["path"], params=params)
        return tryvox._PAGES.decode(response.raise_for_status().content)

    first = page(1)
    yield first
    pages = iter(range(2, first.fields["pagination"]["total_pages"] + 1))
    with ThreadPoolExecutor(TRYVOX_CONCURRENCY) as pool:
        ahead = deque(pool.submit(page, number) for number in itertools.islice(pages, 8))
        while ahead:
            yield ahead.popleft().result()
            for number in itertools.islice(pages, 1):
                ahead.append(pool.submit(page, number))


def fetched(account: dict[str, Any]) -> Iterator[tuple[RawPage, datetime]]:
    """The account's pages with the moment each arrived, fetched by a thread of their own."""
    pages: queue.Queue[Any] = queue.Queue(PREFETCH)
    listing = ringyo_pages if account["provider"] == "ringyo" else tryvox_pages

    def produce() -> None:
        headers = {"Authorization": f"Bearer {account['api_key']}"}
        try:
            with httpx.Client(base_url=account["base_url"], headers=headers) as client:
                for page in listing(client, account):
                    pages.put((page, datetime.now(UTC)))
            pages.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            pages.put(exc)

    threading.Thread(target=produce, daemon=True).start()
    while (item := pages.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


# -- items to rows -------------------------------------------------------------------------------

# A mapped item: (key, e164, status, tracked values as the driver binds them, content hash,
# fingerprint); syncer's mappers build a `NumberRecord` (and hash it) instead.
Mapped = tuple[str, str, str, tuple[Any, ...], str, bytes]
NUL = "\x00"


class RowMapper:
    """Items decoded and checked by syncer's compiled decoders, then mapped straight to row
    values and the content hash, each time formatted once for both (syncer formats it for the
    hash and again for SQLite). An item syncer would reject stops the script."""

    def __init__(self, provider: str, config: Any, sqlite: bool) -> None:
        self.sqlite = sqlite
        if provider == "ringyo":
            self.schedule = ringyo.FeeSchedule(config.fees, config.fee_currency)
            self.fingerprints = ringyo.RingyoMapper(self.schedule).fingerprints
            self.map = self._ringyo
        else:
            self.fingerprints = tryvox.TryVoxMapper.fingerprints
            self.map = self._tryvox

    def _time(self, text: str | None) -> tuple[Any, str]:
        """A provider's timestamp as bound, and as hashed."""
        if text is None:
            return None, NUL
        moment = parse_timestamp(text)
        stored = sqlite_time(moment)
        assert stored is not None
        return (stored if self.sqlite else moment), stored[:10] + "T" + stored[11:]

    def _ringyo(self, raw: Sequence[bytes], fingerprints: list[bytes]) -> list[Mapped]:
        fee_of, currency, sqlite = self.schedule.monthly_fee, self.schedule.currency, self.sqlite
        out = []
        for item, fingerprint in zip(compiled(ringyo._ITEMS, raw), fingerprints, strict=True):
            name, region, agent = item.friendly_name, item.region, item.default_agent_id
            check_storable(name, region, agent)
            country = item.country.upper()
            fee = fee_of(country)
            unit = currency if fee is not None else None
            caps = item.capabilities
            created, created_text = self._time(item.created_at)
            values = (item.phone_number, name, country, region, None, item.status, caps.voice)
            values += (caps.sms, caps.mms, float(fee) if sqlite and fee is not None else fee)
            values += (None, unit, agent, created, None)
            text = "\x1f".join(
                (
                    *(item.phone_number, NUL if name is None else name, country),
                    *(NUL if region is None else region, NUL, item.status),
                    *("1" if caps.voice else "0", "1" if caps.sms else "0"),
                    *("1" if caps.mms else "0", NUL if fee is None else _decimal_text(fee)),
                    *(NUL, NUL if unit is None else unit, NUL if agent is None else agent),
                    *(created_text, NUL),
                )
            )
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            out.append((item.id, item.phone_number, item.status, values, digest, fingerprint))
        return out

    def _tryvox(self, raw: Sequence[bytes], fingerprints: list[bytes]) -> list[Mapped]:
        sqlite, fee_of = self.sqlite, tryvox._fee_of
        out = []
        for item, fingerprint in zip(compiled(tryvox._ITEMS, raw), fingerprints, strict=True):
            kind, region = item.type, item.region
            trunk, application = item.trunk_id, item.application_id
            check_storable(kind, region, trunk, application)
            caps = item.capabilities
            voice, sms, mms = "voice" in caps, "sms" in caps, "mms" in caps
            monthly, setup = fee_of(item.monthly_fee), fee_of(item.setup_fee)
            currency, country = item.currency.upper(), item.country.upper()
            assigned = application or trunk
            created, created_text = self._time(item.created_at)
            updated, updated_text = self._time(item.updated_at)
            e164 = item.e164
            values = (e164, None, country, region, kind, item.status, voice, sms, mms)
            values += (float(monthly), float(setup)) if sqlite else (monthly, setup)
            values += (currency, assigned, created, updated)
            text = "\x1f".join(
                (
                    *(e164, NUL, country, NUL if region is None else region, kind, item.status),
                    *("1" if voice else "0", "1" if sms else "0", "1" if mms else "0"),
                    *(_decimal_text(monthly), _decimal_text(setup), currency),
                    *(NUL if assigned is None else assigned, created_text, updated_text),
                )
            )
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            out.append((e164, e164, item.status, values, digest, fingerprint))
        return out


# -- the database -------------------------------------------------------------------------------


class Store:
    """syncer's tables through the bare driver: SQLite (`sqlite3`) or PostgreSQL (psycopg)."""

    def __init__(self, database: str) -> None:
        self.postgres = database.startswith("postgresql")
        if self.postgres:
            import psycopg

            url = database.replace("postgresql+psycopg://", "postgresql://")
            self.db: Any = psycopg.connect(url)
            self.mark = "%s"
            self.time: Callable[[datetime | None], Any] = as_is
            self.bind: Callable[[tuple[Any, ...]], tuple[Any, ...]] = as_is
        else:
            self.db = sqlite3.connect(database, isolation_level=None)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.mark = "?"
            self.time = sqlite_time
            self.bind = sqlite_bind
        self.deferred: list[str] = []
        self.next_id: int | None = None

    def begin(self) -> None:
        if not self.postgres:
            self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.commit() if self.postgres else self.db.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.db.execute(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.db.execute(sql, params)

    def close(self) -> None:
        self.db.close()

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.db.cursor().executemany(sql, rows)

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.postgres:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with self.db.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        one = "(" + ", ".join("?" * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        per = 128
        full, rest = divmod(len(rows), per)
        if full:
            sql = head + ", ".join([one] * per)
            self.db.executemany(
                sql,
                [
                    tuple(v for row in rows[i * per : (i + 1) * per] for v in row)
                    for i in range(full)
                ],
            )
        if rest:
            self.db.execute(head + ", ".join([one] * rest), [v for r in rows[-rest:] for v in r])

    def reserve_ids(self, count: int) -> list[int]:
        """Ids for new numbers: the sequence's on PostgreSQL; on SQLite, after the largest
        one (read once: this script is the only writer)."""
        if self.postgres:
            return [
                row[0]
                for row in self.rows(
                    "SELECT nextval(pg_get_serial_sequence('phone_numbers', 'id')) "
                    "FROM generate_series(1, %s)",
                    (count,),
                )
            ]
        return ids_after_largest(self, count)

    def overwrite(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (id, *OVERWRITTEN values)."""
        if self.postgres:
            columns = ("id", *OVERWRITTEN)
            arrays = ", ".join(f"%s::{PG_TYPES[column]}[]" for column in columns)
            sets = ", ".join(f"{column} = given.{column}" for column in OVERWRITTEN)
            self.db.execute(
                f"UPDATE phone_numbers SET {sets} FROM unnest({arrays}) AS given("
                f"{', '.join(columns)}) WHERE phone_numbers.id = given.id",
                [list(values) for values in zip(*rows, strict=True)],
            )
            return
        sets = ", ".join(f"{column} = ?" for column in OVERWRITTEN)
        self.execute_many(
            f"UPDATE phone_numbers SET {sets} WHERE id = ?", [(*r[1:], r[0]) for r in rows]
        )

    def close_open(self, table: str, pairs: list[tuple[int, Any]]) -> None:
        """End the open version (or rate span) of each number at its time."""
        if not pairs:
            return
        if self.postgres:
            self.db.execute(
                f"UPDATE {table} SET valid_to = closing.at FROM "
                "unnest(%s::bigint[], %s::timestamptz[]) AS closing(number_id, at) "
                f"WHERE {table}.number_id = closing.number_id AND {table}.valid_to IS NULL",
                ([number_id for number_id, _ in pairs], [at for _, at in pairs]),
            )
            return
        self.execute_many(
            f"UPDATE {table} SET valid_to = ? WHERE number_id = ? AND valid_to IS NULL",
            [(at, number_id) for number_id, at in pairs],
        )

    def start_spans(
        self, provider: str, starts: list[tuple[int, tuple[Any, ...], tuple[Any, ...], Any]]
    ) -> None:
        """Close each number's open rate span and open the next: (id, rate, rate before, at)."""
        self.close_open("rate_spans", [(number_id, at) for number_id, _, _, at in starts])
        self.insert(
            "rate_spans",
            SPAN_COLUMNS,
            [
                (number_id, provider, *new, at, None, before[0], before[1], before[2])
                for number_id, new, before, at in starts
            ],
        )

    # A first load builds the secondary indexes after it.

    def defer_indexes(self) -> None:
        if self.rows("SELECT 1 FROM phone_numbers LIMIT 1"):
            return
        if self.postgres:
            found = self.rows(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                "AND indexname NOT LIKE 'pk_%%'",
                (list(HISTORY_TABLES),),
            )
        else:
            names = ", ".join("?" * len(HISTORY_TABLES))
            found = self.rows(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({names})",
                HISTORY_TABLES,
            )
        for name, sql in found:
            self.db.execute(f"DROP INDEX {name}")
            self.deferred.append(sql)
        self.commit() if self.postgres else None

    def build_indexes(self) -> None:
        for sql in self.deferred:
            self.db.execute(sql)
        if self.deferred and self.postgres:
            self.db.execute(f"ANALYZE {', '.join(HISTORY_TABLES)}")
        self.commit() if self.postgres else None


class Writer:
    """A `Store` in a process of its own (SQLite): the main process sends each call through a
    pipe and goes on; only reads wait for their answer. Calls run in the order sent."""

    def __init__(self, database: str) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")  # before any thread is started
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(database, child), daemon=True)
        self.process.start()
        child.close()
        self.postgres = False
        self.mark = "?"
        self.time = sqlite_time
        self.bind = sqlite_bind
        self.next_id: int | None = None

    def reserve_ids(self, count: int) -> list[int]:
        return ids_after_largest(self, count)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.pipe.send(("rows", (sql, params), True))
        return self._answer()

    def close(self) -> None:
        self.pipe.send(("close", (), True))
        self._answer()
        self.process.join()

    def _answer(self) -> Any:
        ok, value = self.pipe.recv()
        if not ok:
            raise RuntimeError(f"the writer failed: {value}")
        return value

    def __getattr__(self, name: str) -> Callable[..., None]:
        def send(*args: Any) -> None:
            self.pipe.send((name, args, False))

        return send


def ids_after_largest(store: Store | Writer, count: int) -> list[int]:
    """`count` ids after the largest in `phone_numbers`, read once (SQLite: this script is the
    only writer), the rest counted here."""
    if store.next_id is None:
        store.next_id = store.rows("SELECT COALESCE(MAX(id), 0) FROM phone_numbers")[0][0] + 1
    first = store.next_id
    store.next_id += count
    return list(range(first, first + count))


def _serve(database: str, pipe: Any) -> None:
    store = Store(database)
    failed = None
    while True:
        name, args, answer = pipe.recv()
        try:
            result = None if failed else getattr(store, name)(*args)
        except Exception as exc:  # noqa: BLE001 - told at the next answer
            failed = f"{name}: {exc!r}"
        if answer:
            pipe.send((False, failed) if failed else (True, result))
        if name == "close":
            return


# -- one account --------------------------------------------------------------------------------


class AccountRun:
    def __init__(self, store: Store, account: dict[str, Any], mapper: RowMapper) -> None:
        self.store = store
        self.provider = account["provider"]
        self.name = account["name"]
        self.account = account
        self.mapper = mapper
        self.counts = {"pages": 0, "seen": 0, "created": 0, "updated": 0, "unchanged": 0}
        self.counts |= {"released": 0}
        self.stored_any = False
        self.shown: set[int] = set()  # stored numbers the listing showed changed

    def run(self) -> dict[str, int]:
        store, mark = self.store, self.store.mark
        pages = fetched(self.account)  # the first pages come while the state is read
        now = datetime.now(UTC)
        store.begin()
        self.run_id = store.rows(
            f"INSERT INTO sync_runs (provider, account, started_at, status, pages, seen, "
            f"created, updated, unchanged, released, rejected, listing_complete) VALUES "
            f"({mark}, {mark}, {mark}, 'running', 0, 0, 0, 0, 0, 0, 0, {mark}) RETURNING id",
            (self.provider, self.name, store.time(now), False),
        )[0][0]
        store.commit()
        # The live numbers' fingerprints, and whether the account has any row at all.
        known: dict[bytes, int] = {}
        for fingerprint, number_id, live in store.rows(
            f"SELECT fingerprint, id, released_at IS NULL FROM phone_numbers "
            f"WHERE provider = {mark} AND account = {mark}",
            (self.provider, self.name),
        ):
            self.stored_any = True
            if live and fingerprint is not None:
                known[bytes(fingerprint)] = number_id
        unfingerprinted = store.rows(
            f"SELECT id FROM phone_numbers WHERE provider = {mark} AND account = {mark} "
            f"AND released_at IS NULL AND fingerprint IS NULL",
            (self.provider, self.name),
        )
        seen_keys: set[Any] = set()
        batch: list[tuple[Mapped, datetime]] = []
        fingerprints_of = self.mapper.fingerprints
        for page, at in pages:
            raw = page.raw
            if raw is None:
                raise RuntimeError(f"{self.name}: a page the compiled path cannot read")
            self.counts["pages"] += 1
            self.counts["seen"] += len(raw)
            if not seen_keys.isdisjoint(page.keys) or len(set(page.keys)) < len(raw):
                # syncer skips a key seen before in the pass (pages shifted under it)
                raise RuntimeError(f"{self.name}: a key listed twice, which this script leaves out")
            seen_keys.update(page.keys)
            fingerprints = fingerprints_of(raw)
            misses = []
            for index, fingerprint in enumerate(fingerprints):
                if known.pop(fingerprint, None) is None:
                    misses.append(index)
            self.counts["unchanged"] += len(raw) - len(misses)
            if misses:
                mapped = self.mapper.map(
                    [raw[index] for index in misses], [fingerprints[index] for index in misses]
                )
                batch += [(row, at) for row in mapped]
            if len(batch) >= BATCH_RECORDS:
                self.flush(batch)
                batch = []
        self.flush(batch)
        # A complete listing: what it never showed is gone.
        shown = self.shown
        gone = [number_id for number_id in known.values() if number_id not in shown]
        gone += [row[0] for row in unfingerprinted if row[0] not in shown]
        if gone:
            self.release(gone, datetime.now(UTC))
        store.begin()
        store.execute(
            f"UPDATE sync_runs SET status = 'succeeded', finished_at = {mark}, "
            f"listing_complete = {mark}, "
            + ", ".join(f"{name} = {mark}" for name in self.counts)
            + f" WHERE id = {mark}",
            (store.time(datetime.now(UTC)), True, *self.counts.values(), self.run_id),
        )
        store.commit()
        return self.counts

    def stored_by_key(self, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        """id, status, content hash and rate of the account's stored numbers with these keys."""
        found = {}
        mark = self.store.mark
        for start in range(0, len(keys), KEY_BATCH):
            part = keys[start : start + KEY_BATCH]
            for key, number_id, status, content_hash, *stored_rate in self.store.rows(
                f"SELECT external_id, id, status, content_hash, {', '.join(RATE_COLUMNS)} "
                f"FROM phone_numbers WHERE provider = {mark} AND account = {mark} "
                f"AND external_id IN ({', '.join([mark] * len(part))})",
                (self.provider, self.name, *part),
            ):
                found[key] = (number_id, status, content_hash, tuple(stored_rate))
        return found

    def flush(self, batch: list[tuple[Mapped, datetime]]) -> None:
        store = self.store
        stored = {}
        if self.stored_any and batch:
            stored = self.stored_by_key([row[0] for row, _ in batch])
        new: list[tuple[Mapped, Any]] = []
        changed: list[tuple[Mapped, tuple[Any, ...], Any]] = []
        refingerprinted = []
        for row, at in batch:
            current = stored.get(row[0])
            if current is None:
                new.append((row, store.time(at)))
            elif current[2] == row[4]:
                refingerprinted.append((row[5], current[0]))
                self.shown.add(current[0])
            else:
                changed.append((row, current, store.time(at)))
                self.shown.add(current[0])
        self.counts["created"] += len(new)
        self.counts["updated"] += len(changed)
        self.counts["unchanged"] += len(refingerprinted)
        store.begin()
        run_id, provider, name = self.run_id, self.provider, self.name
        if new:
            ids = store.reserve_ids(len(new))
            store.insert(
                "phone_numbers",
                ("id", *NUMBER_COLUMNS),
                [
                    (number_id, provider, name, row[0], *row[3], at, at, None, row[4], row[5])
                    for number_id, (row, at) in zip(ids, new, strict=True)
                ],
            )
            store.insert(
                "phone_number_versions",
                VERSION_COLUMNS,
                [
                    (number_id, *row[3], at, None, run_id)
                    for number_id, (row, at) in zip(ids, new, strict=True)
                ],
            )
            store.insert(
                "status_changes",
                CHANGE_COLUMNS,
                [
                    (number_id, provider, name, row[1], None, row[2], at, run_id)
                    for number_id, (row, at) in zip(ids, new, strict=True)
                ],
            )
            store.insert(
                "rate_spans",
                SPAN_COLUMNS,
                [
                    (number_id, provider, *rate(row[3]), at, None, None, None, None)
                    for number_id, (row, at) in zip(ids, new, strict=True)
                ],
            )
        if changed:
            store.overwrite(
                [(current[0], *row[3], at, None, row[4], row[5]) for row, current, at in changed]
            )
            store.close_open("phone_number_versions", [(c[0], at) for _, c, at in changed])
            store.insert(
                "phone_number_versions",
                VERSION_COLUMNS,
                [(current[0], *row[3], at, None, run_id) for row, current, at in changed],
            )
            store.insert(
                "status_changes",
                CHANGE_COLUMNS,
                [
                    (current[0], provider, name, row[1], current[1], row[2], at, run_id)
                    for row, current, at in changed
                    if current[1] != row[2]
                ],
            )
            store.start_spans(
                provider,
                [
                    (current[0], rate(row[3]), current[3], at)
                    for row, current, at in changed
                    if rate(row[3]) != current[3]
                ],
            )
        mark = store.mark
        store.execute_many(
            f"UPDATE phone_numbers SET fingerprint = {mark} WHERE id = {mark}", refingerprinted
        )
        store.execute(
            f"UPDATE sync_runs SET pages = {mark}, seen = {mark}, created = {mark}, "
            f"updated = {mark}, unchanged = {mark} WHERE id = {mark}",
            (*list(self.counts.values())[:5], run_id),
        )
        store.commit()

    def release(self, number_ids: list[int], at: datetime) -> None:
        store, mark = self.store, self.store.mark
        at_db = store.time(at)
        updates, versions, changes, closing, spans = [], [], [], [], []
        for start in range(0, len(number_ids), KEY_BATCH):
            part = number_ids[start : start + KEY_BATCH]
            for row in store.rows(
                f"SELECT id, {', '.join(TRACKED_FIELDS)} FROM phone_numbers WHERE id IN "
                f"({', '.join([mark] * len(part))})",
                part,
            ):
                state = dict(zip(TRACKED_FIELDS, row[1:], strict=True))
                if not store.postgres:  # SQLite's text and floats, as syncer reads them back
                    state = _sqlite_state(state)
                before, state["status"] = state["status"], RELEASED
                values = store.bind(tuple(state[name] for name in TRACKED_FIELDS))
                updates.append((RELEASED, at_db, state_hash(state), row[0]))
                versions.append((row[0], *values, at_db, None, self.run_id))
                changes.append(
                    (
                        *(row[0], self.provider, self.name, state["e164"], before, RELEASED),
                        *(at_db, self.run_id),
                    )
                )
                closing.append((row[0], at_db))
                after = rate(values)
                spans.append((row[0], after, (before, *after[1:]), at_db))
        store.begin()
        store.execute_many(
            f"UPDATE phone_numbers SET status = {mark}, released_at = {mark}, "
            f"content_hash = {mark}, fingerprint = NULL WHERE id = {mark}",
            updates,
        )
        store.close_open("phone_number_versions", closing)
        store.insert("phone_number_versions", VERSION_COLUMNS, versions)
        store.insert("status_changes", CHANGE_COLUMNS, changes)
        store.start_spans(self.provider, spans)
        store.commit()
        self.counts["released"] += len(updates)


def _sqlite_state(state: dict[str, Any]) -> dict[str, Any]:
    """A row read back from SQLite as syncer's column types read it: booleans, fees as
    `NUMERIC(18, 6)` Decimals, aware UTC times."""
    out = dict(state)
    for name in ("voice", "sms", "mms"):
        out[name] = bool(out[name])
    for name in ("monthly_fee", "setup_fee"):
        value = out[name]
        out[name] = None if value is None else Decimal(f"{value:.6f}")
    for name in ("provider_created_at", "provider_updated_at"):
        value = out[name]
        out[name] = None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)
    return out


# -- the same rows? -------------------------------------------------------------------------------

_KEY = "n.provider, n.account, n.external_id"
_TRACKED = ", ".join(f"t.{name}" for name in TRACKED_FIELDS)
DIGESTED = {
    "phone_numbers": f"SELECT {_KEY}, {_TRACKED.replace('t.', 'n.')}, n.released_at IS NULL, "
    "n.content_hash, n.fingerprint FROM phone_numbers n",
    "phone_number_versions": f"SELECT {_KEY}, {_TRACKED}, t.valid_to IS NULL, "
    "t.sync_run_id IS NULL FROM phone_number_versions t JOIN phone_numbers n ON n.id = t.number_id",
    "status_changes": f"SELECT {_KEY}, t.provider, t.account, t.e164, t.from_status, "
    "t.to_status FROM status_changes t JOIN phone_numbers n ON n.id = t.number_id",
    "rate_spans": f"SELECT {_KEY}, t.provider, {', '.join(f't.{c}' for c in RATE_COLUMNS)}, "
    "t.valid_to IS NULL, t.status_before, t.fee_before, t.currency_before "
    "FROM rate_spans t JOIN phone_numbers n ON n.id = t.number_id",
    "sync_runs": "SELECT provider, account, status, pages, seen, created, updated, unchanged, "
    "released, rejected, listing_complete, error FROM sync_runs",
    "rejected_records": "SELECT provider, account, external_id, reason FROM rejected_records",
}


def digest(database: str) -> dict[str, str]:
    """Per table: its row count and a hash of its rows (sorted), times and ids left out, each
    row's number named by its key: two databases that agree here hold the same history."""
    import hashlib

    store = Store(database)
    out = {}
    for table, sql in DIGESTED.items():
        rows = sorted(repr([_plain(value) for value in row]) for row in store.rows(sql))
        text = "\n".join(rows).encode()
        out[table] = f"{len(rows)} rows {hashlib.sha256(text).hexdigest()[:16]}"
    store.close()
    return out


def _plain(value: Any) -> Any:
    """A value as both drivers' reads compare: bytes for binary, bools as ints."""
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="the syncer.toml of the accounts (fee schedules)")
    parser.add_argument(
        "--digest", action="store_true", help="print DATABASE's digest (see `digest`) instead"
    )
    parser.add_argument("accounts", help="JSON file: the simulator's accounts with base_url")
    parser.add_argument("database", help="SQLite path or PostgreSQL URL, syncer's schema")
    parser.add_argument(
        "--writer-process",
        action="store_true",
        help="SQLite: write from a second process fed through a pipe",
    )
    args = parser.parse_args()
    if args.digest:
        print(json.dumps(digest(args.database)))
        return
    with open(args.accounts) as file:
        accounts = json.load(file)
    configs = {account.name: account for account in load_config(args.config).accounts}

    started = time.perf_counter()
    store: Any = Writer(args.database) if args.writer_process else Store(args.database)
    store.defer_indexes()
    totals: dict[str, int] = {}
    for account in accounts:
        config = configs[account["name"]]
        mapper = RowMapper(account["provider"], config, sqlite=not store.postgres)
        for name, value in AccountRun(store, account, mapper).run().items():
            totals[name] = totals.get(name, 0) + value
    store.build_indexes()
    store.close()
    print(json.dumps(totals | {"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
