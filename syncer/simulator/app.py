"""Request dispatch: both providers' APIs behind the fault layer, and the `/_sim` admin API.

An API request goes through, in order: latency, `fail_after` (503), `drop_rate`, the
provider's authentication (401/404), rate limiting (429, early retries), `error_rate` (5xx),
the listing itself (400s, expired cursors, malformed records), then `truncate_rate` and, after
the page is built, the `drift` purchase. Transport-free: the HTTP server only carries
`Request`s in and `Outcome`s out, which keeps this testable and the server thin.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from syncer.provider_facts import PROVIDERS, RINGYO, TRYVOX
from syncer.simulator import apis
from syncer.simulator.apis import Reply
from syncer.simulator.faults import parse_faults, spec_of
from syncer.simulator.injector import EARLY_RETRY, FaultRuntime
from syncer.simulator.model import RINGYO_PATH, SimAccount
from syncer.simulator.stats import Stats
from syncer.simulator.world import World

_TRYVOX_PATH = re.compile(r"^/v1/account/([^/]+)/numbers$")
_SERVER_ERROR_CODES = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}


@dataclass(frozen=True)
class Request:
    """What the app needs of an HTTP request; header names are lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Outcome:
    """What to send back: a complete response, or (`drop`) nothing but a closed connection."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_outcome(status: int, body: Any, headers: dict[str, str] | None = None) -> Outcome:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Outcome(status, data, {"Content-Type": "application/json", **(headers or {})})


def error_reply(provider: str, status: int, code: str, message: str) -> Reply:
    """An error in the provider's own shape (Ringyo nests it; TryVox does not)."""
    if provider == RINGYO:
        return apis.ringyo_error(status, code, message)
    return apis.tryvox_error(status, code, message)


class SimulatorApp:
    """Answers requests from a `World`, injecting the world's current faults."""

    def __init__(self, world: World, stats: Stats) -> None:
        self.world = world
        self.stats = stats
        self._lock = threading.Lock()
        self._runtimes: dict[str, FaultRuntime] = {}
        self._runtimes_version = -1
        self._account_requests: Counter[str] = Counter()
        # set by POST /_sim/stop; `syncer simulate` waits on it (as on Ctrl-C)
        self.stop_requested = threading.Event()

    def handle(self, request: Request) -> Outcome:
        if request.path == RINGYO_PATH:
            return self._api(RINGYO, request, None)
        match = _TRYVOX_PATH.match(request.path)
        if match is not None:
            return self._api(TRYVOX, request, match.group(1))
        if request.path.startswith("/_sim/"):
            self.stats.admin_request()
            return self._admin(request)
        message = f"No such endpoint: {request.method} {request.path}"
        return json_outcome(404, {"error": "not_found", "message": message})

    # -- provider APIs ----------------------------------------------------------------------

    def _api(self, provider: str, request: Request, account_id: str | None) -> Outcome:
        if request.method != "GET":
            reply = error_reply(provider, 405, "method_not_allowed", "Only GET is supported")
            return self._send(provider, reply, {"Allow": "GET"})
        key = apis.bearer_key(request.headers)
        self.stats.enter(key)
        try:
            return self._api_request(provider, request, account_id, key, time.monotonic())
        finally:
            self.stats.leave(key)

    def _api_request(
        self,
        provider: str,
        request: Request,
        account_id: str | None,
        key: str | None,
        arrived: float,
    ) -> Outcome:
        runtime = self._runtime(provider)
        if runtime.faults.latency_ms:
            self.stats.fault("latency")
            time.sleep(runtime.faults.latency_ms / 1000)
        with self._lock:
            failing = runtime.count_request()
            dropping = not failing and runtime.roll("drop", runtime.faults.drop_rate)
        if failing:
            self.stats.fault("fail_after")
            message = "Simulated outage (fail_after)"
            return self._send(provider, error_reply(provider, 503, "service_unavailable", message))
        if dropping:
            self.stats.fault("dropped")
            self.stats.answered(provider, "dropped")
            return Outcome(drop=True)
        if provider == RINGYO:
            account = apis.ringyo_auth(self.world, request.headers)
        else:
            account = apis.tryvox_auth(self.world, account_id or "", request.headers)
        if isinstance(account, Reply):
            return self._send(provider, account)
        assert key is not None  # authentication succeeded, so there was a key
        refusal, number = self._admit(provider, runtime, account, key, arrived)
        if refusal is not None:
            return self._send(provider, refusal)
        return self._list(provider, runtime, account, request, number)

    def _admit(
        self, provider: str, runtime: FaultRuntime, account: SimAccount, key: str, arrived: float
    ) -> tuple[Reply | None, int]:
        """Count the account's request; a 429 or 5xx when a fault says so."""
        with self._lock:
            self._account_requests[account.name] += 1
            number = self._account_requests[account.name]
            limit = runtime.rate_limit(key, time.monotonic(), arrived)
            error = runtime.server_error() if limit is None else None
        self.stats.account_request(account.name)
        if limit is not None:
            if limit.kind == EARLY_RETRY:
                self.stats.early_retry()
            else:
                self.stats.fault(limit.kind)
            message = f"Rate limit exceeded; retry after {limit.retry_after} s"
            reply = error_reply(provider, 429, "rate_limited", message)
            return Reply(429, reply.body, {"Retry-After": str(limit.retry_after)}), number
        if error is not None:
            self.stats.fault("server_error")
            message = f"Simulated upstream failure (HTTP {error})"
            return error_reply(provider, error, _SERVER_ERROR_CODES[error], message), number
        return None, number

    def _list(
        self,
        provider: str,
        runtime: FaultRuntime,
        account: SimAccount,
        request: Request,
        number: int,
    ) -> Outcome:
        faults = runtime.faults
        if provider == RINGYO:
            reply = self._ringyo_list(runtime, account, request, number)
        else:
            reply = apis.tryvox_list(self.world, account, request.query)
        if reply.fault is not None:
            self.stats.fault(reply.fault)
        if reply.status != 200:
            return self._send(provider, reply)
        self.stats.fault("malformed_records", reply.malformed)
        outcome = self._send(provider, reply)
        with self._lock:
            truncate = runtime.roll("truncate", faults.truncate_rate)
            drift = runtime.drift_due(account.name, reply.page)
        if drift:
            self.world.add_numbers(account.name, drift)
            self.stats.fault("drift")
        if truncate:
            self.stats.fault("truncated")
            cut = outcome.body[: len(outcome.body) // 2]
            return Outcome(outcome.status, cut, outcome.headers)
        return outcome

    def _ringyo_list(
        self, runtime: FaultRuntime, account: SimAccount, request: Request, number: int
    ) -> Reply:
        with self._lock:
            expire = "cursor" in request.query and runtime.expire_cursor_once()
        if expire:
            return replace(apis.invalid_cursor(": it has expired"), fault="cursor_expired")
        ttl = runtime.faults.cursor_ttl_requests
        return apis.ringyo_list(self.world, account, request.query, number, ttl)

    def _send(self, provider: str, reply: Reply, headers: dict[str, str] | None = None) -> Outcome:
        self.stats.answered(provider, str(reply.status))
        return json_outcome(reply.status, reply.body, {**reply.headers, **(headers or {})})

    def _runtime(self, provider: str) -> FaultRuntime:
        """The provider's fault runtime, fresh whenever the world's faults were replaced."""
        with self._lock:
            version = self.world.faults_version
            if version != self._runtimes_version:
                faults = self.world.faults
                self._runtimes = {
                    name: FaultRuntime(faults[name], f"{self.world.seed}:{name}:{version}")
                    for name in PROVIDERS
                }
                self._runtimes_version = version
            return self._runtimes[provider]

    # -- admin API --------------------------------------------------------------------------

    def _admin(self, request: Request) -> Outcome:
        routes = {
            ("GET", "/_sim/inventory"): lambda: self.world.inventory(),
            ("GET", "/_sim/accounts"): self._accounts,
            ("GET", "/_sim/stats"): self.stats.snapshot,
            ("GET", "/_sim/faults"): self._faults,
            ("POST", "/_sim/churn"): lambda: self._churn(request),
            ("POST", "/_sim/faults"): lambda: self._set_faults(request),
            ("POST", "/_sim/reset-stats"): self._reset_stats,
            ("POST", "/_sim/stop"): self._stop,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            allowed = sorted(method for method, path in routes if path == request.path)
            if allowed:
                message = f"Use {' or '.join(allowed)} for {request.path}"
                return json_outcome(
                    405, _bad("method_not_allowed", message), {"Allow": ", ".join(allowed)}
                )
            return json_outcome(404, _bad("not_found", f"No such endpoint: {request.path}"))
        try:
            return json_outcome(200, route())
        except ValueError as exc:
            return json_outcome(400, _bad("bad_request", str(exc)))

    def _stop(self) -> dict[str, Any]:
        self.stop_requested.set()
        return {"stopping": True}

    def _accounts(self) -> list[dict[str, Any]]:
        return [
            {
                "provider": account.provider,
                "name": account.name,
                "api_key": account.api_key,
                "account_id": account.account_id,
                "path": account.path,
            }
            for account in self.world.accounts
        ]

    def _faults(self) -> dict[str, Any]:
        faults = self.world.faults
        return {"spec": spec_of(faults), **{p: faults[p].as_dict() for p in PROVIDERS}}

    def _churn(self, request: Request) -> dict[str, Any]:
        body = _json_object(request.body)
        fraction, seed = body.get("fraction", 0.05), body.get("seed", 1)
        if not isinstance(fraction, int | float) or isinstance(fraction, bool):
            raise ValueError("fraction must be a number between 0 and 1")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("seed must be an integer")
        summary = self.world.churn(fraction=float(fraction), seed=seed)
        if body.get("details", True) is False:  # the counts alone, for people
            summary = {key: value for key, value in summary.items() if key != "details"}
        return summary

    def _set_faults(self, request: Request) -> dict[str, Any]:
        spec = _json_object(request.body).get("spec", "")
        if not isinstance(spec, str):
            raise ValueError('expected {"spec": "<fault spec>"}')
        self.world.set_faults(parse_faults(spec))
        return self._faults()

    def _reset_stats(self) -> dict[str, Any]:
        self.stats.reset()
        return {"ok": True}


def _json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}`."""
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ValueError("the request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("the request body must be a JSON object")
    return parsed


def _bad(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}
