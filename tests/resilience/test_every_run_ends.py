"""Every run ends: a request has a total deadline and a size cap, a listing a bound on its
pages derived from what the provider said; past any of them the account fails with a clear
error, releases nothing, and its run is recorded failed.

The hostile provider first serves a normal listing (so there is something that could be
released), then misbehaves: a body trickling a byte at a time (each read well inside the
socket timeout, so only a total deadline ends it), headers trickling likewise, a body that
never ends, a `Content-Length` of a gigabyte, `has_more` forever (empty pages, repeated
pages, new records past the total), `total_pages` that `total` and `per_page` cannot make.
The deadlines and caps are shrunk through the policy (and, in the CLI test, the config) so
each case takes about a second.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from syncer.cli import main
from syncer.providers import RetryPolicy
from syncer.store.models import PhoneNumber, SyncRun
from tests.fakes import ringyo_item, tryvox_item
from tests.resilience.hostile import (
    HostileProvider,
    Reply,
    Request,
    account_for,
    as_page_json,
    endless,
    ringyo_listing,
    ringyo_page,
    sync_once,
    trickle,
    tryvox_listing,
    tryvox_page,
)

TIGHT = RetryPolicy(
    max_attempts=2,
    base_delay=0.01,
    max_delay=0.02,
    timeout=0.5,
    deadline=0.6,
    max_response_bytes=64 * 1024,
)
LATE = "kept failing: no complete answer within the 0.6s request deadline"
RINGYO_ITEMS = [ringyo_item(n) for n in range(1, 31)]
TRYVOX_ITEMS = [tryvox_item(n) for n in range(1, 31)]


def page_body(provider: str) -> bytes:
    if provider == "ringyo":
        return as_page_json({"data": RINGYO_ITEMS, "has_more": False, "next_cursor": None,
                             "total": len(RINGYO_ITEMS)})  # fmt: skip
    return tryvox_page(TRYVOX_ITEMS, 1, len(TRYVOX_ITEMS)).body  # type: ignore[return-value]


# -- requests that never end -----------------------------------------------------------------


def trickling_body(request: Request) -> Reply:
    provider = "ringyo" if request.path == "/v1/phone-numbers" else "tryvox"
    return Reply(body=trickle(page_body(provider)), pause=0.02, length=False)


def trickling_headers(request: Request) -> Reply:
    provider = "ringyo" if request.path == "/v1/phone-numbers" else "tryvox"
    return Reply(body=page_body(provider), header_pause=0.02)


def endless_body(_request: Request) -> Reply:
    return Reply(body=endless(b'{"data": [' + b" " * 8192), length=False)


def declared_gigabyte(_request: Request) -> Reply:
    return Reply(body=b"{}", headers={"Content-Type": "application/json",
                                      "Content-Length": str(10**9)}, length=False)  # fmt: skip


# -- listings that never end -----------------------------------------------------------------


def ringyo_forever(items: Callable[[int], list[Any]], total: int) -> Callable[[Request], Reply]:
    """`has_more` forever, a new cursor each time; `items(n)` is page n's data."""
    pages = count(1)

    def respond(request: Request) -> Reply:
        number = next(pages)
        return ringyo_page(items(number), total, has_more=True, next_cursor=f"c{number}")

    return respond


def tryvox_claims(total: int, total_pages: int, empty: bool = False) -> Callable[[Request], Reply]:
    def respond(request: Request) -> Reply:
        page = int(request.query.get("page", 1))
        items = [] if empty else TRYVOX_ITEMS[:100]
        return tryvox_page(items, page, total, 100, total_pages)

    return respond


CASES: dict[str, tuple[str, Callable[[Request], Reply], str]] = {
    "ringyo_trickling_body": ("ringyo", trickling_body, LATE),
    "tryvox_trickling_body": ("tryvox", trickling_body, LATE),
    "ringyo_trickling_headers": ("ringyo", trickling_headers, LATE),
    "ringyo_endless_body": ("ringyo", endless_body, "larger than max_response_bytes (65536)"),
    "tryvox_endless_body": ("tryvox", endless_body, "larger than max_response_bytes (65536)"),
    "declared_gigabyte": ("tryvox", declared_gigabyte, "it declares 1000000000 bytes"),
    "ringyo_empty_pages_forever": (
        "ringyo",
        ringyo_forever(lambda _n: [], total=10**6),
        "4 pages in a row listed no new record",
    ),
    "ringyo_same_page_forever": (
        "ringyo",
        ringyo_forever(lambda _n: RINGYO_ITEMS, total=10**6),
        "4 pages in a row listed no new record",
    ),
    "ringyo_empty_pages_past_a_small_total": (
        "ringyo",
        ringyo_forever(lambda _n: [], total=30),
        "the listing went on past 3 pages, more than its total of 30 records needs",
    ),
    "ringyo_new_records_past_its_total": (
        "ringyo",
        ringyo_forever(lambda n: [ringyo_item(1000 * n + i) for i in range(100)], total=150),
        "the listing went on past 4 pages, more than its total of 150 records needs",
    ),
    "tryvox_total_pages_it_cannot_have": (
        "tryvox",
        tryvox_claims(total=30, total_pages=1_000_000),
        "pagination.total_pages=1000000, but total=30 at per_page=100 makes 1 pages",
    ),
    "tryvox_empty_pages_up_to_a_huge_total": (
        "tryvox",
        tryvox_claims(total=10**9, total_pages=10**7, empty=True),
        "4 pages in a row listed no new record",
    ),
}


@pytest.mark.parametrize(("provider", "respond", "says"), CASES.values(), ids=CASES.keys())
def test_a_provider_that_never_ends_fails_the_account_and_releases_nothing(
    sqlite_url: str, provider: str, respond: Callable[[Request], Reply], says: str
) -> None:
    from syncer.store.engine import make_engine

    engine = make_engine(sqlite_url)
    listing = ringyo_listing(RINGYO_ITEMS) if provider == "ringyo" else tryvox_listing(TRYVOX_ITEMS)
    try:
        with HostileProvider(listing) as server:
            account = account_for(server.url, provider)
            assert sync_once(engine, account, policy=TIGHT).ok
            server.respond = respond
            result = sync_once(engine, account, policy=TIGHT)
            requests = len(server.requests) - 1
        assert result.status == "failed"
        assert result.error is not None
        assert says in result.error
        assert result.counts.released == 0
        with engine.connect() as connection:
            statuses = set(connection.execute(select(PhoneNumber.status)).scalars())
            row = connection.execute(select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert statuses == {"active"}
        assert row is not None
        assert (row.status, row.error) == ("failed", result.error)
        assert requests <= 12  # bounded: a few pages, or max_attempts tries of one
    finally:
        engine.dispose()
    print(f"{provider}: {requests} request(s) after the first sync; {result.error}")


def test_the_config_bounds_each_request(
    tmp_path: Path, sqlite_url: str, keep_logging: None
) -> None:
    """`request_deadline` and `max_response_bytes` from syncer.toml reach the client: a
    trickling account and an endless one fail with one line each; exit 1."""
    with HostileProvider(trickling_body) as slow, HostileProvider(endless_body) as big:
        config = tmp_path / "syncer.toml"
        config.write_text(
            f'database_url = "{sqlite_url}"\nrequest_timeout = 0.5\nrequest_deadline = 0.6\n'
            "max_response_bytes = 65536\nmax_attempts = 1\n"
            f'[[accounts]]\nname = "slow"\nprovider = "ringyo"\napi_key_env = "K"\n'
            f'base_url = "{slow.url}"\n'
            f'[[accounts]]\nname = "big"\nprovider = "tryvox"\naccount_id = "a"\n'
            f'api_key_env = "K"\nbase_url = "{big.url}"\n'
        )
        os.chmod(config, 0o600)
        result = CliRunner().invoke(
            main, ["--config", str(config), "sync"], env={"K": "k_0123456789abcdef"}
        )
    assert result.exit_code == 1, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert "no complete answer within the 0.6s request deadline" in lines["slow"]
    assert "larger than max_response_bytes (65536)" in lines["big"]
    print(result.stdout)
