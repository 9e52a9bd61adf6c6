"""What syncer knows about each provider before asking it: one registry, read by the config
(which providers exist, which statuses a filter may name, the default `base_url`), the
providers (the statuses they accept, where the listing is), the reports (which statuses
exist) and the simulator (which statuses it serves, at which paths).

The facts come from the providers' own API pages. A provider's status vocabulary is closed:
an item with any other status is rejected, not stored. `released` is syncer's own status for
a number gone from its account's complete listing; no provider sends it. The vocabularies
are `Literal` types, so the validators of provider items check them as written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from syncer.records import RELEASED

ProviderName = Literal["ringyo", "tryvox"]
RingyoStatus = Literal["active", "pending", "inactive"]
TryVoxStatus = Literal["active", "pending", "suspended"]


@dataclass(frozen=True)
class ProviderFacts:
    """One provider: its name in the config and tables, the statuses its API documents (in
    the order its pages list them), its public API URL (the default `base_url`), and the
    path of its list-numbers endpoint (TryVox's names the account: `{account_id}`)."""

    name: str
    statuses: tuple[str, ...]
    public_base_url: str
    listing_path: str


RINGYO = "ringyo"
TRYVOX = "tryvox"
FACTS: dict[str, ProviderFacts] = {
    RINGYO: ProviderFacts(
        RINGYO, get_args(RingyoStatus), "https://api.ringyo.ai", "/v1/phone-numbers"
    ),
    TRYVOX: ProviderFacts(
        TRYVOX,
        get_args(TryVoxStatus),
        "https://api.tryvox.io",
        "/v1/account/{account_id}/numbers",
    ),
}
PROVIDERS: tuple[str, ...] = get_args(ProviderName)
if tuple(FACTS) != PROVIDERS:  # pragma: no cover - a provider added to one and not the other
    raise RuntimeError(f"provider facts {tuple(FACTS)} disagree with ProviderName {PROVIDERS}")

# Every status a number can have in the mirror: each provider's, once, then `released`.
MIRROR_STATUSES: tuple[str, ...] = (
    *dict.fromkeys(status for facts in FACTS.values() for status in facts.statuses),
    RELEASED,
)
