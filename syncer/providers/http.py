"""The HTTP layer every provider client shares: polite, bounded, and quiet about secrets.

- Every request is bounded three ways: `timeout` per socket operation (connect, each read),
  a total `deadline` for the whole request however slowly its answer trickles in (every
  socket operation is cut to the time left, and the body is read in chunks checked against
  the deadline on the injected clock), and `max_response_bytes` for its body (reading stops
  past it, and a `Content-Length` above it is refused unread).
- A connection error, a timeout (a passed deadline too), HTTP 429 or 5xx, and a 200 whose
  body is not JSON are retried with exponential backoff and jitter, up to `max_attempts`.
  What retrying cannot fix fails at once: an unknown host (DNS), a TLS protocol error
  (https:// against an http server), a refused certificate, a body over the size cap. A
  refused connection is tried `refused_attempts` times (2: one retry, for a provider or
  proxy that is restarting), then the account fails.
- A retry never comes sooner than the `Retry-After` the provider asked for. After a 429 the
  pause applies to every request made with that API key (`KeyGate`), because the limit is per
  key: concurrent page fetches of the account wait too.
- 401/403 raise `AuthError`, 404 a `ProviderError`, at once; other 4xx a `ClientError` that
  the provider module interprets (Ringyo's `invalid_cursor`), carrying the provider's error
  code and a scrubbed message of at most 200 characters, never the raw body.
- Every failure names the URL it was about: scheme, host, port and path (never the query,
  never the key).
- JSON is parsed with `parse_float=Decimal`: money is exact from the first byte.
- The API key is only ever put in the `Authorization` header. It is registered with the one
  scrubber (`syncer.secrets`), so no message shows it in any form a provider may echo it in.
- TLS certificates are always verified (httpx's default); there is no setting to turn it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from pydantic import SecretStr

from syncer.clock import Clock
from syncer.errors import AuthError, ProviderError
from syncer.secrets import register_secrets, scrub

log = logging.getLogger(__name__)

USER_AGENT = "syncer/0.1 (+phone-number inventory sync)"
# Observer of every HTTP attempt: (provider, outcome, retrying). The outcome is the status code
# as text, or the exception class name for a connection-level failure.
RequestObserver = Callable[[str, str, bool], None]
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# An error answer's body is read this far at most (its code and message are at its start).
ERROR_BODY_BYTES = 64 * 1024
MESSAGE_CHARACTERS = 200
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try, and how long to wait. Times are seconds; `max_retry_after` bounds
    what a provider may ask; `deadline` bounds one whole request, `timeout` each socket
    operation of it; `refused_attempts` how often a refused connection is tried."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0
    max_retry_after: float = 300.0
    deadline: float = 120.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    refused_attempts: int = 2

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": between half and all of base x 2^(n-1)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_json(body: bytes) -> Any:
    """A JSON body parsed with exact Decimals for its numbers (`NaN` too)."""
    return json.loads(body, parse_float=Decimal, parse_constant=Decimal)


class ClientError(ProviderError):
    """An HTTP 4xx other than 401/403/404: the provider's error `code` (or None), and `body`,
    the start of its body, scrubbed, for the provider module to interpret."""

    def __init__(
        self, account: str, status_code: int, code: str | None, message: str, body: str
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.body = body
        label = f"HTTP {status_code}" + (f" {code}" if code else "")
        super().__init__(account, f"the provider rejected the request ({label}): {message}")


class KeyGate:
    """A pause shared by every request made with one API key (after a 429)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def pause_until(self, deadline: float) -> None:
        with self._lock:
            self._until = max(self._until, deadline)

    def wait(self, clock: Clock) -> None:
        while True:
            with self._lock:
                remaining = self._until - clock.monotonic()
            if remaining <= 0:
                return
            clock.sleep(remaining)


_gates: dict[str, KeyGate] = {}
_gates_lock = threading.Lock()


def gate_for(base_url: str, api_key: SecretStr) -> KeyGate:
    """The process-wide gate of one key at one provider (accounts sharing a key share it)."""
    digest = hashlib.blake2b(
        f"{base_url}\x00{api_key.get_secret_value()}".encode(), digest_size=16
    ).hexdigest()
    with _gates_lock:
        return _gates.setdefault(digest, KeyGate())


class ApiClient:
    """GETs JSON from one provider account, with the rules of the module doc."""

    def __init__(
        self,
        *,
        account: str,
        provider: str,
        base_url: str,
        api_key: SecretStr,
        clock: Clock,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 8,
        rng: random.Random | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.account = account
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        self._gate = gate_for(base_url, api_key)
        key = api_key.get_secret_value()
        register_secrets([key])
        self._key_bytes = key.encode()
        self._observer = observer
        self._urls: dict[str, str] = {}
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(self.policy.timeout),
            transport=transport if transport is not None else deadline_transport(limits, base_url),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get_json(
        self,
        path: str,
        params: Mapping[str, str | int],
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """GET `path` and return its JSON body as `parse` reads it (by default: parsed, with
        exact Decimals), retrying transient failures; `parse` raises `ValueError` for a body
        that is not JSON, which is retried like a 5xx.

        Raises `AuthError`, `ProviderError` or `ClientError` when the provider refuses or
        retrying cannot help, and `ProviderError` naming the URL once `max_attempts`
        transient failures happened.
        """
        url = self.url_of(path)
        last_problem = "no attempt made"
        refused = 0
        attempts = 0
        for attempt in range(1, self.policy.max_attempts + 1):
            attempts = attempt
            self._gate.wait(self._clock)
            outcome = self._attempt(path, params, url, attempt, refused, parse or parse_json)
            if not isinstance(outcome, _Retry):
                return outcome
            last_problem = outcome.problem
            refused += outcome.refused
            if outcome.refused and refused >= self.policy.refused_attempts:
                raise ProviderError(
                    self.account,
                    f"{url} refused the connection on {refused} attempts: {last_problem}; "
                    "check base_url, or whether the provider is up",
                )
            if attempt == self.policy.max_attempts:
                break
            delay = self.policy.backoff(attempt, self._rng)
            if outcome.retry_after is not None:
                delay = max(
                    delay, outcome.retry_after + self._rng.uniform(0, self.policy.base_delay)
                )
            log.warning(
                "%s: %s from %s at %s, retrying in %.1fs (attempt %d of %d)",
                self.account,
                last_problem,
                self.provider,
                url,
                delay,
                attempt + 1,
                self.policy.max_attempts,
            )
            self._clock.sleep(delay)
        raise ProviderError(
            self.account,
            f"{self.provider} kept failing: {last_problem} on {attempts} "
            f"attempt{'s' if attempts != 1 else ''} at {url}",
        )

    def url_of(self, path: str) -> str:
        """The URL of `path` as failures name it: scheme, host, port and path only."""
        url = self._urls.get(path)
        if url is None:  # built once per path: building a request costs more than a page's map
            url = self._urls[path] = describe_url(self._client.build_request("GET", path).url)
        return url

    # -- one attempt -------------------------------------------------------------------------

    def _attempt(
        self,
        path: str,
        params: Mapping[str, str | int],
        url: str,
        attempt: int,
        refused: int,
        parse: Callable[[bytes], Any],
    ) -> Any:
        """The parsed body, or a `_Retry`; raises for what retrying cannot fix. `refused`:
        how many earlier attempts found the connection refused."""
        deadline = self._clock.monotonic() + self.policy.deadline
        _deadline.until = until = time.monotonic() + self.policy.deadline
        late = f"no complete answer within the {self.policy.deadline:g}s request deadline"
        try:
            with self._client.stream("GET", path, params=dict(params)) as response:
                return self._answer(response, url, deadline, attempt, parse)
        except httpx.TimeoutException as exc:
            if time.monotonic() < until:
                return self._transport_failure(exc, url, attempt, refused)
            self._observe(type(exc).__name__, attempt)
            return _Retry(f"{late} ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return self._transport_failure(exc, url, attempt, refused)
        except _DeadlinePassed:
            self._observe("DeadlineExceeded", attempt)
            return _Retry(late)
        finally:
            _deadline.until = None

    def _answer(
        self,
        response: httpx.Response,
        url: str,
        deadline: float,
        attempt: int,
        parse: Callable[[bytes], Any],
    ) -> Any:
        status = response.status_code
        if status == 200:
            content = self._read(response, url, deadline)
            if self._key_bytes and self._key_bytes in content:
                content = content.replace(self._key_bytes, b"***")
            try:
                body = parse(content)
            except ValueError as exc:
                self._observe("200-unparseable", attempt)
                return _Retry(f"HTTP 200 with a body that is not JSON ({exc})")
            self._observe("200", attempt)
            return body
        if status == 429 or status >= 500:
            self._read(response, url, deadline, cut_at=ERROR_BODY_BYTES)  # keeps the connection
            retry_after = self._retry_after(response)
            self._observe(str(status), attempt)
            if status == 429:
                pause = retry_after if retry_after is not None else 1.0
                self._gate.pause_until(self._clock.monotonic() + pause)
            return _Retry(f"HTTP {status}", retry_after=retry_after)
        self._observe(str(status), attempt, final=True)
        raise self._refusal(response, url, deadline)

    def _read(
        self, response: httpx.Response, url: str, deadline: float, *, cut_at: int | None = None
    ) -> bytes:
        """The body, read in chunks against the deadline and the size cap (past which the
        answer fails); with `cut_at`, only its first `cut_at` bytes (an error's start)."""
        limit = self.policy.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if cut_at is None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(url, f"it declares {int(declared)} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if cut_at is not None and size >= cut_at:
                return b"".join(chunks)[:cut_at]
            if size > limit:
                raise self._too_large(url, f"more than {limit} bytes arrived")
            if self._clock.monotonic() > deadline:
                raise _DeadlinePassed
        return b"".join(chunks)

    def _too_large(self, url: str, detail: str) -> ProviderError:
        return ProviderError(
            self.account,
            f"the answer from {url} is larger than max_response_bytes "
            f"({self.policy.max_response_bytes}): {detail}; stopped reading, not retried",
        )

    def _transport_failure(
        self, exc: httpx.TransportError, url: str, attempt: int, refused: int
    ) -> _Retry:
        """A `_Retry` for a transient network failure; raises for a permanent one."""
        name = type(exc).__name__
        detail = _excerpt(scrub(str(exc))) or "no detail"
        kind = classify_network_error(exc)
        if kind == "refused":
            self._observe(name, attempt, final=refused + 1 >= self.policy.refused_attempts)
            return _Retry(f"{name} ({detail})", refused=True)
        if kind == "transient":
            self._observe(name, attempt)
            return _Retry(f"{name} ({detail})")
        self._observe(name, attempt, final=True)
        host = httpx.URL(url).host
        if kind == "dns":
            raise ProviderError(
                self.account,
                f"cannot resolve the host {host} of {url} ({detail}): unknown host; check "
                "base_url (not retried)",
            ) from None
        if kind == "certificate":
            raise ProviderError(
                self.account,
                f"{self.provider}'s TLS certificate was refused at {url} ({detail}); "
                "check base_url (syncer always verifies certificates; not retried)",
            ) from None
        raise ProviderError(
            self.account,
            f"the TLS handshake with {url} failed ({detail}): is it an https:// server? "
            "check base_url (not retried)",
        ) from None

    def _observe(self, outcome: str, attempt: int, *, final: bool = False) -> None:
        if self._observer is not None:
            retrying = not final and outcome != "200" and attempt < self.policy.max_attempts
            self._observer(self.provider, outcome, retrying)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the provider asked us to wait (`Retry-After`: seconds or an HTTP date)."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                log.warning("%s: ignoring unreadable Retry-After %r", self.account, value)
                return None
            seconds = (when - self._clock.now()).total_seconds()
        seconds = max(0.0, seconds)
        if seconds > self.policy.max_retry_after:
            raise ProviderError(
                self.account,
                f"{self.provider} asked to wait {seconds:.0f}s before retrying (Retry-After), "
                f"longer than the {self.policy.max_retry_after:.0f}s syncer waits within a run",
            )
        return seconds

    def _refusal(self, response: httpx.Response, url: str, deadline: float) -> ProviderError:
        status = response.status_code
        if status in (401, 403):
            return AuthError(
                self.account,
                f"{self.provider} refused the API key (HTTP {status}) at {url}: check the key "
                "configured for this account",
            )
        if status == 404:
            return ProviderError(
                self.account,
                f"{self.provider} answered 404 Not Found for {url}: check base_url and account_id",
            )
        try:
            raw = self._read(response, url, deadline, cut_at=ERROR_BODY_BYTES)
        except (_DeadlinePassed, httpx.TransportError):
            raw = b""
        text = scrub(raw.decode("utf-8", "replace"))
        code, message = provider_message(text)
        if message is None:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            message = f"a {kind} body of {len(raw)} bytes, not shown"
        return ClientError(self.account, status, code, message, text)


@dataclass(frozen=True)
class _Retry:
    """An attempt that may be tried again: why, and what the provider asked for."""

    problem: str
    retry_after: float | None = None
    refused: bool = False


class _DeadlinePassed(Exception):
    """The request's total deadline passed while its body was being read."""


def provider_message(body: str) -> tuple[str | None, str | None]:
    """The error code and message of a provider's JSON error body (Ringyo nests them under
    `error`; TryVox puts a code string in `error` and the text in `message`), the message
    scrubbed, on one line, at most 200 characters; (None, None) for a body that is neither."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    nested = error if isinstance(error, dict) else {}
    code = nested.get("code", error if isinstance(error, str) else data.get("code"))
    message = nested.get("message", data.get("message"))
    code = code if isinstance(code, str) and _CODE.fullmatch(code) else None
    if not isinstance(message, str):
        return code, None
    return code, _excerpt(scrub(message), MESSAGE_CHARACTERS)


def describe_url(url: httpx.URL) -> str:
    """`scheme://host:port/path` of `url`: what a failure may name (no query, no userinfo)."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.scheme}://{host}:{port}{url.path}"


def classify_network_error(exc: BaseException) -> str:
    """What a connection-level failure means for retrying it: "dns" (an unknown host),
    "certificate", "tls" (a TLS protocol error, e.g. https:// against an http server) fail at
    once; "refused" is tried `refused_attempts` times; anything else is "transient"."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "certificate"
        if isinstance(cause, ssl.SSLEOFError):
            return "transient"  # the connection dropped during the handshake
        if isinstance(cause, ssl.SSLError):
            return "tls"
        if isinstance(cause, socket.gaierror):
            return "transient" if cause.errno == socket.EAI_AGAIN else "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
    return "transient"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 16:
        yield cause
        cause = cause.__cause__ or cause.__context__
        seen += 1


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the total deadline, at the socket -------------------------------------------------------


class _Deadline(threading.local):
    """The deadline (on `time.monotonic`) of the request this thread is making, if any."""

    until: float | None = None


_deadline = _Deadline()


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` cut to what is left of the thread's request deadline; `expired` when none is."""
    until = _deadline.until
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current request's deadline, so a
    provider trickling its headers or body a byte at a time cannot hold a request open."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(limits: httpx.Limits, base_url: str) -> httpx.HTTPTransport:
    """httpx's own transport (certificates verified), whose connections keep the request
    deadline at every socket operation (`_DeadlineStream`)."""
    transport = httpx.HTTPTransport(limits=limits, verify=tls_context(base_url))
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def tls_context(base_url: str) -> ssl.SSLContext:
    """The TLS context of a client of `base_url`: for https, one context for every client,
    which verifies certificates and host names against httpx's trusted authorities (building
    one loads them all: some 50 ms, once per process instead of once per account); for
    plain http, where TLS is never used, a context that requires a certificate and trusts
    none, so that it could never accept one."""
    if base_url.lower().startswith("https:"):
        return _verifying_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
