"""What syncer knows about each provider before asking it: one registry, read by the config
(which statuses a filter may name, the default `base_url`), the reports (which statuses exist)
and the simulator (which statuses it serves).

The facts come from the providers' own API pages. A provider's status vocabulary is closed:
an item with any other status is rejected, not stored. `released` is syncer's own status for
a number gone from its account's complete listing; no provider sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncer.records import RELEASED


@dataclass(frozen=True)
class ProviderFacts:
    """One provider: its name in the config and tables, the statuses its API documents (in
    the order its pages list them), and its public API URL (the default `base_url`)."""

    name: str
    statuses: tuple[str, ...]
    public_base_url: str


RINGYO = "ringyo"
TRYVOX = "tryvox"
FACTS: dict[str, ProviderFacts] = {
    RINGYO: ProviderFacts(RINGYO, ("active", "pending", "inactive"), "https://api.ringyo.ai"),
    TRYVOX: ProviderFacts(TRYVOX, ("active", "pending", "suspended"), "https://api.tryvox.io"),
}
PROVIDERS: tuple[str, ...] = tuple(FACTS)

# Every status a number can have in the mirror: each provider's, once, then `released`.
MIRROR_STATUSES: tuple[str, ...] = (
    *dict.fromkeys(status for facts in FACTS.values() for status in facts.statuses),
    RELEASED,
)
