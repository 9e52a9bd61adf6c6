"""The shared HTTP layer: retries, Retry-After, the per-key pause, fast failures, secrecy."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from syncer.errors import AuthError, ProviderError
from syncer.providers.http import ApiClient, ClientError, RetryPolicy, gate_for
from tests.conftest import FakeClock

KEY = "rk_live_SECRET_4f9a1c"


def client(
    handler: httpx.MockTransport, clock: FakeClock, key: str = KEY, attempts: int = 5
) -> ApiClient:
    return ApiClient(
        account="ringyo-main",
        provider="ringyo",
        base_url="https://api.example.test",
        api_key=SecretStr(key),
        clock=clock,
        policy=RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=8),
        transport=handler,
    )


def scripted(
    responses: list[httpx.Response | Exception], seen: list[float], clock: FakeClock
) -> httpx.MockTransport:
    """Answers requests from `responses` in order, noting the (fake) time of each."""
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(clock.monotonic())
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


def test_retry_after_seconds_is_honoured(clock: FakeClock) -> None:
    times: list[float] = []
    transport = scripted(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})],
        times,
        clock,
    )
    with client(transport, clock, key="k-retry-after-seconds") as api:
        assert api.get_json("/v1/x", {}) == {"ok": 1}
    assert times[1] - times[0] >= 7


def test_retry_after_http_date_is_honoured(clock: FakeClock) -> None:
    times: list[float] = []
    when = format_datetime(
        clock.now().replace(microsecond=0) + timedelta(seconds=20),
        usegmt=True,
    )
    transport = scripted(
        [httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json=[])],
        times,
        clock,
    )
    with client(transport, clock, key="k-retry-after-date") as api:
        api.get_json("/v1/x", {})
    assert times[1] - times[0] >= 20


def test_backoff_grows_and_attempts_are_bounded(clock: FakeClock) -> None:
    times: list[float] = []
    transport = scripted([httpx.Response(502)] * 4, times, clock)
    with (
        client(transport, clock, attempts=4, key="k-bounded") as api,
        pytest.raises(ProviderError) as caught,
    ):
        api.get_json("/v1/x", {})
    assert len(times) == 4
    assert "ringyo-main" in str(caught.value)
    assert "4 attempts" in str(caught.value)
    # equal jitter: attempt n waits between half and all of 0.5 * 2^(n-1)
    for n, sleep in enumerate(clock.sleeps, start=1):
        assert 0.25 * 2 ** (n - 1) <= sleep <= 0.5 * 2 ** (n - 1)


def test_connection_errors_and_unparseable_bodies_are_retried(clock: FakeClock) -> None:
    times: list[float] = []
    transport = scripted(
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, content=b'{"data": [1, 2'),
            httpx.Response(200, content=b'{"fee": 1.15}'),
        ],
        times,
        clock,
    )
    with client(transport, clock, key="k-conn") as api:
        body = api.get_json("/v1/x", {})
    assert len(times) == 4
    assert str(body["fee"]) == "1.15"
    assert type(body["fee"]).__name__ == "Decimal"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_fails_fast_without_the_key(clock: FakeClock, status: int) -> None:
    times: list[float] = []
    transport = scripted([httpx.Response(status, json={"error": "unauthorized"})], times, clock)
    with client(transport, clock) as api, pytest.raises(AuthError) as caught:
        api.get_json("/v1/x", {})
    assert len(times) == 1
    assert "ringyo-main" in str(caught.value)
    assert KEY not in str(caught.value)


def test_not_found_fails_fast(clock: FakeClock) -> None:
    times: list[float] = []
    transport = scripted([httpx.Response(404, json={"error": "not_found"})], times, clock)
    with client(transport, clock) as api, pytest.raises(ProviderError, match="404"):
        api.get_json("/v1/account/acc_x/numbers", {})
    assert len(times) == 1


def test_other_client_errors_carry_the_body(clock: FakeClock) -> None:
    times: list[float] = []
    body = {"error": {"code": "invalid_cursor", "message": "bad"}}
    transport = scripted([httpx.Response(400, json=body)], times, clock)
    with client(transport, clock) as api, pytest.raises(ClientError) as caught:
        api.get_json("/v1/x", {})
    assert "invalid_cursor" in caught.value.body


def test_a_429_pauses_every_request_of_the_key(clock: FakeClock) -> None:
    """After a 429, a second client with the same key waits too (the limit is per key)."""
    times: list[float] = []
    lock = threading.Lock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "30"})])

    def handle(request: httpx.Request) -> httpx.Response:
        with lock:
            times.append(clock.monotonic())
            return next(answers, httpx.Response(200, json={}))

    transport = httpx.MockTransport(handle)
    key = "k-shared-gate"
    with client(transport, clock, key=key) as first, client(transport, clock, key=key) as second:
        first_start = clock.monotonic()
        first.get_json("/v1/x", {})  # 429, waits 30s, succeeds
        assert clock.monotonic() - first_start >= 30
        # a pause set now holds the second client back as well
        gate_for("https://api.example.test", SecretStr(key)).pause_until(clock.monotonic() + 12)
        before = clock.monotonic()
        second.get_json("/v1/x", {})
        assert times[-1] - before >= 12


def test_retry_after_beyond_the_bound_fails_clearly(clock: FakeClock) -> None:
    times: list[float] = []
    transport = scripted([httpx.Response(429, headers={"Retry-After": "86400"})], times, clock)
    with (
        client(transport, clock, key="k-long") as api,
        pytest.raises(ProviderError, match="86400s"),
    ):
        api.get_json("/v1/x", {})


def test_the_key_is_only_in_the_authorization_header(clock: FakeClock) -> None:
    captured: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={})

    with client(httpx.MockTransport(handle), clock) as api:
        api.get_json("/v1/phone-numbers", {"limit": 100})
    request = captured[0]
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.url)
