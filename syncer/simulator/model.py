"""The simulated accounts and numbers, and the factory that makes new numbers from a seed.

A `SimNumber` holds the union of what Ringyo and TryVox say about a number; `wire.py` turns it
into each provider's JSON. Everything random comes from one `random.Random`, so a world is
the same for the same seed. Times are aware UTC datetimes at whole seconds.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from syncer.provider_facts import FACTS, RINGYO, TRYVOX
from syncer.simulator.countries import draw_number

# Cumulative percentages of each provider's statuses (in `provider_facts` order): about
# 85/8/7 (Ringyo), 85/7/8 (TryVox).
_STATUS_CUMULATIVE = {RINGYO: (85, 93, 100), TRYVOX: (85, 92, 100)}
RINGYO_PATH = "/v1/phone-numbers"
TRYVOX_PATH = "/v1/account/{account_id}/numbers"

# Generated numbers were bought in the three years before this instant; later ones get the
# wall clock (see `NumberFactory.next_created_at`). Fixed, so a seed always gives one world.
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)
_HISTORY_SECONDS = 3 * 365 * 24 * 3600

_LINE_NAMES = (
    "Support line", "Sales line", "Main line", "Billing", "Agent pool", "Outbound",
    "Callback", "Marketing", "Front desk", "After hours",
)  # fmt: skip


@dataclass(frozen=True)
class SimAccount:
    """One provider account: how a client authenticates and where its listing lives.

    `account_id` is TryVox's path parameter (None for Ringyo, where the key names the
    account). `path` is the listing endpoint, relative to the server URL.
    """

    provider: str
    name: str
    api_key: str = field(repr=False)
    account_id: str | None
    path: str


@dataclass(slots=True)
class SimNumber:
    """A number as the simulated provider knows it; `key` is what the provider lists it by.

    Times are whole seconds since the Unix epoch (UTC), cheap to sort and format.
    `fault_draw` (0..1) and `fault_kind` are fixed per number, so the `malformed_rate` fault
    picks the same records, with the same malformation, on every request.
    """

    serial: int
    provider: str
    account: str
    key: str
    e164: str
    country: str
    region: str
    number_type: str
    status: str
    voice: bool
    sms: bool
    mms: bool
    friendly_name: str | None
    default_agent_id: str | None
    monthly_fee: Decimal
    setup_fee: Decimal
    trunk_id: str | None
    application_id: str | None
    created_ts: int
    updated_ts: int
    fault_draw: float
    fault_kind: int

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ts, UTC)

    @property
    def updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.updated_ts, UTC)


class NumberFactory:
    """Draws new numbers, unique across the world, from one seeded random stream.

    `make` is the hot path of `World.generate` (200,000 numbers in benchmarks): plain
    `random()` draws and string formatting only.
    """

    def __init__(self, seed: int, history_end: datetime = HISTORY_END) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.taken_e164: set[str] = set()
        self.taken_ids: set[str] = set()
        self.serial = 0
        self.history_end = int(history_end.timestamp())
        self.history_start = self.history_end - _HISTORY_SECONDS
        self.latest_created = self.history_start

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(4 * digits):0{digits}x}"

    def historic_created_ts(self) -> int:
        """A purchase time in the generated history (before `HISTORY_END`)."""
        created = self.history_start + int(self.rng.random() * _HISTORY_SECONDS)
        self.latest_created = max(self.latest_created, created)
        return created

    def next_created_ts(self, now: datetime) -> int:
        """A purchase time later than every number so far: new numbers list last (Ringyo)
        or first (TryVox), as they do at the real providers."""
        created = max(int(now.timestamp()), self.latest_created + 1)
        self.latest_created = created
        return created

    def make(self, account: SimAccount, created_ts: int) -> SimNumber:
        """A new number for `account`, bought at `created_ts`."""
        rng = self.rng
        draw = rng.random
        drawn = draw_number(rng)
        while drawn.e164 in self.taken_e164:
            drawn = draw_number(rng)
        self.taken_e164.add(drawn.e164)
        self.serial += 1
        bits = rng.getrandbits
        return SimNumber(  # positional, in field order: this runs once per generated number
            self.serial,
            account.provider,
            account.name,
            drawn.e164 if account.provider == TRYVOX else self._ringyo_id(),
            drawn.e164,
            drawn.country,
            drawn.region,
            drawn.number_type,
            self.status(account.provider),
            draw() < 0.97,
            draw() < (0.9 if drawn.number_type != "toll_free" else 0.5),
            drawn.country in ("US", "CA") and draw() < 0.6,
            self._friendly_name(),
            f"agent_{bits(40):010x}" if draw() < 0.6 else None,
            drawn.monthly_fee,
            drawn.setup_fee,
            f"trunk_{bits(32):08x}" if draw() < 0.5 else None,
            f"app_{bits(32):08x}" if draw() < 0.6 else None,
            created_ts,
            self._updated_ts(created_ts),
            draw(),
            bits(16),
        )

    def status(self, provider: str) -> str:
        cumulative = _STATUS_CUMULATIVE[provider]
        return FACTS[provider].statuses[bisect.bisect_right(cumulative, self.rng.random() * 100)]

    def _ringyo_id(self) -> str:
        key = f"pn_{self.rng.getrandbits(48):012x}"
        while key in self.taken_ids:
            key = f"pn_{self.rng.getrandbits(48):012x}"
        self.taken_ids.add(key)
        return key

    def _friendly_name(self) -> str | None:
        if self.rng.random() < 0.3:
            return None
        name = _LINE_NAMES[int(self.rng.random() * len(_LINE_NAMES))]
        return f"{name} {1 + int(self.rng.random() * 99)}"

    def _updated_ts(self, created_ts: int) -> int:
        """Equal to `created_ts` for a third of the numbers, else some time later, never
        after the history ends (or after `created_ts` for numbers bought later)."""
        room = self.history_end - created_ts
        if room <= 0 or self.rng.random() < 0.33:
            return created_ts
        return created_ts + int(self.rng.random() * room)
