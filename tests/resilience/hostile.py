"""A provider on loopback that misbehaves on purpose: the resilience tests' hostile server.

`HostileProvider(respond)` serves HTTP/1.1 on 127.0.0.1 from a thread; `respond(request)`
decides each answer. A `Reply` is a status line, headers and a body given as chunks with a
pause between them, written to the socket as they are: a test can trickle headers or a body
a byte at a time, send a body that never ends, or send exactly the bytes it wants (a lone
surrogate escape, a NUL, a key echoed back encoded). Nothing in syncer is patched: the real
httpx client talks to a real server that behaves badly.

`ringyo_listing(items)` and `tryvox_listing(items)` page a list of items the way each API
does (`as_page_json` writes fees as bare JSON numbers, as the providers do); tests wrap them
to spoil the answer they want spoiled.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.clock import SYSTEM_CLOCK, Clock
from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.sync import AccountResult, AccountSync, SyncOptions
from tests.conftest import FakeClock

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


@dataclass
class Reply:
    """What to send. `body` is bytes, or chunks (an iterable; it may never end) sent with
    `pause` seconds before each; `header_pause` trickles the status line and headers byte by
    byte. Without `length`, the body's end is the connection's close."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    pause: float = 0.0
    header_pause: float = 0.0
    length: bool = True


Responder = Callable[[Request], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            url.path,
            dict(parse_qsl(url.query)),
            {name.lower(): value for name, value in self.headers.items()},
        )
        self.server.requests.append(request)
        reply = self.server.respond(request)
        with contextlib.suppress(OSError):
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        stop = self.server.stopping
        body = reply.body
        head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if isinstance(body, bytes) and reply.length:
            head.append(f"Content-Length: {len(body)}")
        else:
            head.append("Connection: close")
            self.close_connection = True
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
        if reply.header_pause:
            for byte in raw_head:
                if stop.wait(reply.header_pause):
                    return
                self._write(bytes([byte]))
        else:
            self._write(raw_head)
        chunks = [body] if isinstance(body, bytes) else body
        for chunk in chunks:
            if reply.pause and stop.wait(reply.pause):
                return
            if stop.is_set():
                return
            self._write(chunk)

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up on a reply it will not read to the end is the point."""


class HostileProvider:
    """`with HostileProvider(respond) as server:` serves at `server.url`."""

    def __init__(self, respond: Responder) -> None:
        self._server = _Server(respond)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    @property
    def respond(self) -> Responder:
        return self._server.respond

    @respond.setter
    def respond(self, respond: Responder) -> None:
        self._server.respond = respond

    def __enter__(self) -> HostileProvider:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the providers' pages ------------------------------------------------------------------


def as_page_json(body: Any) -> bytes:
    """JSON as the providers write it: fees as bare numbers, anything else as json.dumps
    writes it (a lone surrogate becomes the escape `\\ud800`, NUL `\\u0000`)."""
    text = json.dumps(body)
    for key in ("monthly_fee", "setup_fee"):
        text = re.sub(rf'"{key}": "(-?[0-9.]+)"', rf'"{key}": \1', text)
    return text.encode()


def ringyo_page(
    items: list[Any], total: int, has_more: bool, next_cursor: str | None = None
) -> Reply:
    body = {"data": items, "has_more": has_more, "next_cursor": next_cursor, "total": total}
    return Reply(body=as_page_json(body))


def tryvox_page(
    items: list[Any], page: int, total: int, per_page: int = 100, total_pages: int | None = None
) -> Reply:
    pages = max(1, math.ceil(total / per_page)) if total_pages is None else total_pages
    pagination = {
        "total": total,
        "count": len(items),
        "per_page": per_page,
        "current_page": page,
        "total_pages": pages,
    }
    return Reply(body=as_page_json({"data": items, "pagination": pagination}))


def ringyo_listing(items: list[Any]) -> Responder:
    """Ringyo's cursor paging over `items` (the cursor is the offset, as text)."""

    def respond(request: Request) -> Reply:
        limit = int(request.query.get("limit", 20))
        offset = int(request.query.get("cursor", 0))
        chunk = items[offset : offset + limit]
        more = offset + limit < len(items)
        return ringyo_page(chunk, len(items), more, str(offset + limit) if more else None)

    return respond


def tryvox_listing(items: list[Any]) -> Responder:
    """TryVox's page-number paging over `items`."""

    def respond(request: Request) -> Reply:
        page = int(request.query.get("page", 1))
        per_page = int(request.query.get("per_page", 20))
        chunk = items[(page - 1) * per_page : page * per_page]
        return tryvox_page(chunk, page, len(items), per_page)

    return respond


def endless(chunk: bytes) -> Iterator[bytes]:
    """A body that never ends."""
    while True:
        yield chunk


def trickle(data: bytes) -> Iterator[bytes]:
    """`data` one byte at a time."""
    for byte in data:
        yield bytes([byte])


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (really) until `condition()` holds; for the few tests that coordinate threads."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.01)


# -- syncing an account against it -----------------------------------------------------------

QUICK = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=5)


def account_for(
    base_url: str, provider: str = "ringyo", key: str = "hostile_key_0123456789abcdef", **extra: Any
) -> ResolvedAccount:
    """A resolved account of `provider` at `base_url`."""
    if provider == "tryvox":
        extra.setdefault("account_id", "acc_hostile")
    config = AccountConfig(
        name=f"{provider}-hostile", provider=provider, api_key_env="K", base_url=base_url, **extra
    )
    return ResolvedAccount(config, SecretStr(key))


def sync_once(
    engine: Engine,
    account: ResolvedAccount,
    *,
    policy: RetryPolicy = QUICK,
    clock: Clock = SYSTEM_CLOCK,
    config: Config | None = None,
    allow_mass_release: bool = False,
) -> AccountResult:
    """One run of `account` through the real HTTP client; its `AccountResult`."""
    with ProviderClient(account, clock=clock, policy=policy) as client:
        options = SyncOptions(allow_mass_release=allow_mass_release)
        return AccountSync(engine, config or Config(), client, clock=clock, options=options).run()


def resync_after(
    engine: Engine, provider: str, before: Responder, after: Responder
) -> AccountResult:
    """Sync an account of `provider` once against `before` (which must succeed), then, an hour
    later, against `after`; the second run's `AccountResult`."""
    clock = FakeClock()
    with HostileProvider(before) as server:
        account = account_for(server.url, provider)
        first = sync_once(engine, account, clock=clock)
        assert first.ok, first.error
        clock.advance(3600)
        server.respond = after
        return sync_once(engine, account, clock=clock)
