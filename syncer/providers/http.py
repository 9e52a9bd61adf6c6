"""The HTTP layer every provider client shares: polite, bounded, and quiet about secrets.

- Every request has a timeout; a connection error, a timeout, HTTP 429 or 5xx, and a 200 whose
  body is not JSON are retried with exponential backoff and jitter, up to `max_attempts`.
- A retry never comes sooner than the `Retry-After` the provider asked for. After a 429 the
  pause applies to every request made with that API key (`KeyGate`), because the limit is per
  key: concurrent page fetches of the account wait too.
- 401/403 raise `AuthError`, 404 a `ProviderError`, at once; other 4xx a `ClientError` that
  the provider module interprets (Ringyo's `invalid_cursor`).
- JSON is parsed with `parse_float=Decimal`: money is exact from the first byte.
- The API key is only ever put in the `Authorization` header; no message contains it, even
  when a provider's error body (or a network error) echoes it back: it is scrubbed to `***`.
- TLS certificates are always verified (httpx's default); there is no setting to turn it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from syncer.clock import Clock
from syncer.errors import AuthError, ProviderError

log = logging.getLogger(__name__)

USER_AGENT = "syncer/0.1 (+phone-number inventory sync)"
# Observer of every HTTP attempt: (provider, outcome, retrying). The outcome is the status code
# as text, or the exception class name for a connection-level failure.
RequestObserver = Callable[[str, str, bool], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Delays are seconds; `max_retry_after` bounds what a provider may ask."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0
    max_retry_after: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": between half and all of base x 2^(n-1)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_json(body: bytes) -> Any:
    """A JSON body parsed with exact Decimals for its numbers (`NaN` too)."""
    return json.loads(body, parse_float=Decimal, parse_constant=Decimal)


class ClientError(ProviderError):
    """An HTTP 4xx other than 401/403/404, with the body for the provider to interpret."""

    def __init__(self, account: str, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(
            account, f"the provider rejected the request (HTTP {status_code}): {_excerpt(body)}"
        )


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
    """GETs JSON from one provider account, with the retry rules of the module doc."""

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
        self._key = api_key.get_secret_value()
        self._observer = observer
        self._client = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key.get_secret_value()}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(self.policy.timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
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
        parse: Callable[[bytes], Any] = parse_json,
    ) -> Any:
        """GET `path` and return its JSON body as `parse` reads it (by default: parsed, with
        exact Decimals), retrying transient failures; `parse` raises `ValueError` for a body
        that is not JSON, which is retried like a 5xx.

        Raises `AuthError`, `ProviderError` or `ClientError` when the provider refuses, and
        `ProviderError` naming the account once `max_attempts` transient failures happened.
        """
        last_problem = "no attempt made"
        for attempt in range(1, self.policy.max_attempts + 1):
            self._gate.wait(self._clock)
            retry_after: float | None = None
            try:
                response = self._client.get(path, params=dict(params))
            except httpx.TransportError as exc:
                if _certificate_refused(exc):
                    self._observe(type(exc).__name__, attempt, final=True)
                    raise ProviderError(
                        self.account,
                        f"{self.provider}'s TLS certificate was refused ({_excerpt(str(exc))}); "
                        "check base_url (syncer always verifies certificates)",
                    ) from None
                detail = _excerpt(self._scrub(str(exc))) or "no detail"
                last_problem = f"{type(exc).__name__} ({detail})"
                self._observe(type(exc).__name__, attempt)
            else:
                status = response.status_code
                if status == 200:
                    try:
                        body = parse(response.content)
                    except ValueError as exc:
                        last_problem = f"HTTP 200 with a body that is not JSON ({exc})"
                        self._observe("200-unparseable", attempt)
                    else:
                        self._observe("200", attempt)
                        return body
                elif status == 429 or status >= 500:
                    retry_after = self._retry_after(response)
                    last_problem = f"HTTP {status}"
                    self._observe(str(status), attempt)
                    if status == 429:
                        pause = retry_after if retry_after is not None else 1.0
                        self._gate.pause_until(self._clock.monotonic() + pause)
                else:
                    self._observe(str(status), attempt, final=True)
                    raise self._refusal(response)
            if attempt == self.policy.max_attempts:
                break
            delay = self.policy.backoff(attempt, self._rng)
            if retry_after is not None:
                delay = max(delay, retry_after + self._rng.uniform(0, self.policy.base_delay))
            log.warning(
                "%s: %s from %s, retrying in %.1fs (attempt %d of %d)",
                self.account,
                last_problem,
                self.provider,
                delay,
                attempt + 1,
                self.policy.max_attempts,
            )
            self._clock.sleep(delay)
        raise ProviderError(
            self.account,
            f"{self.provider} kept failing: {last_problem} on {self.policy.max_attempts} "
            f"attempts at {path}",
        )

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

    def _refusal(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status in (401, 403):
            return AuthError(
                self.account,
                f"{self.provider} refused the API key (HTTP {status}): check the key configured "
                "for this account",
            )
        if status == 404:
            return ProviderError(
                self.account,
                f"{self.provider} answered 404 Not Found for {response.request.url.path}: "
                "check base_url and account_id",
            )
        return ClientError(self.account, status, self._scrub(response.text))

    def _scrub(self, text: str) -> str:
        """`text` (from the provider or the network) without the API key, should it echo it."""
        return text.replace(self._key, "***") if self._key else text


def _certificate_refused(exc: httpx.TransportError) -> bool:
    """A failed certificate check: no retry can change it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
