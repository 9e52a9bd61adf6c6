"""The run-time side of faults: counters, per-key rate-limit windows and seeded dice.

A `FaultRuntime` lives as long as one setting of a provider's faults; setting faults again
starts a fresh one, so "every Nth", "after the Nth" and "once" count from that moment. The
dice (`error_rate`, `drop_rate`, `truncate_rate`) are separate `random.Random` streams seeded
from the world's seed, so a run with the same requests in the same order meets the same
faults. All methods are called under the app's lock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from syncer.simulator.faults import Faults

SERVER_ERRORS = (500, 502, 503)
# A request arriving this soon after a 429 was sent to its key was already on its way (a
# concurrent page fetch): it is refused too, but it did not ignore a Retry-After it had read.
# Shorter than any sensible backoff, so an impatient retry is still caught.
IN_FLIGHT_GRACE = 0.1

RATE_LIMITED = "rate_limited"
EARLY_RETRY = "early_retry"
IN_FLIGHT = "rate_limited_in_flight"


@dataclass
class RateLimitVerdict:
    """A 429 to send: `retry_after` whole seconds; `kind` is RATE_LIMITED (a new pause),
    EARLY_RETRY (the key ignored an announced pause) or IN_FLIGHT (sent before it could know).
    """

    retry_after: int
    kind: str


@dataclass
class _Pause:
    announced_at: float
    until: float


@dataclass
class FaultRuntime:
    """State of one provider's faults since they were set."""

    faults: Faults
    seed: str
    requests: int = 0
    rate_counted: int = 0
    errors_sent: int = 0
    pauses: dict[str, _Pause] = field(default_factory=dict)
    drifted: set[str] = field(default_factory=set)
    cursor_expired_once: bool = False
    _dice: dict[str, random.Random] = field(default_factory=dict)

    def roll(self, kind: str, rate: float) -> bool:
        """True with probability `rate`, from the `kind` stream (no draw when rate is 0)."""
        if rate <= 0:
            return False
        dice = self._dice.setdefault(kind, random.Random(f"{self.seed}:{kind}"))
        return dice.random() < rate

    def count_request(self) -> bool:
        """Count an API request; True when `fail_after` says it must fail."""
        self.requests += 1
        return self.faults.fail_after is not None and self.requests > self.faults.fail_after

    def rate_limit(self, key: str, now: float, arrived: float) -> RateLimitVerdict | None:
        """A 429 for this authenticated request (which `arrived` at that monotonic time), or
        None. A key inside its pause is refused again; otherwise every Nth request starts a
        pause."""
        pause = self.pauses.get(key)
        if pause is not None and now < pause.until:
            early = arrived >= pause.announced_at + IN_FLIGHT_GRACE
            retry_after = max(1, math.ceil(pause.until - now))
            return RateLimitVerdict(retry_after, EARLY_RETRY if early else IN_FLIGHT)
        every = self.faults.rate_limit_every
        if every is None:
            return None
        self.rate_counted += 1
        if self.rate_counted % every:
            return None
        self.pauses[key] = _Pause(announced_at=now, until=now + self.faults.retry_after)
        return RateLimitVerdict(self.faults.retry_after, RATE_LIMITED)

    def server_error(self) -> int | None:
        """500, 502 or 503 in turn when `error_rate` strikes, else None."""
        if not self.roll("error", self.faults.error_rate):
            return None
        self.errors_sent += 1
        return SERVER_ERRORS[(self.errors_sent - 1) % len(SERVER_ERRORS)]

    def expire_cursor_once(self) -> bool:
        """True for the first cursor-bearing request when `cursor_expire_once` is set."""
        if not self.faults.cursor_expire_once or self.cursor_expired_once:
            return False
        self.cursor_expired_once = True
        return True

    def drift_due(self, account: str, page: int | None) -> int:
        """How many numbers to add to `account` after serving `page` (once per account)."""
        after = self.faults.drift_after_page
        if after is None or page != after or account in self.drifted:
            return 0
        self.drifted.add(account)
        return self.faults.drift_count
