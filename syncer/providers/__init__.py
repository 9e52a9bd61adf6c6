"""Where data enters: one module per provider, behind one small interface.

`ProviderClient(account, ...)` holds the account's HTTP connection; `listing()` starts a new
listing of the account (see `syncer.providers.base.Listing`). Providers never touch the
database: they hand `NumberRecord`s and `Rejection`s to the sync engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# httpx imports its own command-line client when it is imported (click, rich and pygments:
# about a tenth of a second at every start of syncer), unless that module cannot be
# imported. syncer never uses it, so it is made unavailable while httpx loads.
_hide_cli = "httpx" not in sys.modules and "httpx._main" not in sys.modules
if _hide_cli:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
try:
    import httpx
finally:
    if _hide_cli and sys.modules.get("httpx._main", 0) is None:
        del sys.modules["httpx._main"]

# After the httpx import above, on purpose:
from syncer.clock import SYSTEM_CLOCK, Clock  # noqa: E402
from syncer.config import ResolvedAccount  # noqa: E402
from syncer.providers.base import Listing, ListingOutcome, Page  # noqa: E402
from syncer.providers.http import ApiClient, RequestObserver, RetryPolicy  # noqa: E402
from syncer.providers.known import KnownFingerprints  # noqa: E402

__all__ = [
    "PROVIDERS",
    "KnownFingerprints",
    "Listing",
    "ListingOutcome",
    "Page",
    "ProviderClient",
    "RetryPolicy",
]


def _ringyo(*args: Any) -> Listing:
    from syncer.providers import ringyo

    return ringyo.listing(*args)


def _tryvox(*args: Any) -> Listing:
    from syncer.providers import tryvox

    return tryvox.listing(*args)


# The provider registry: a provider's name in the config -> how to list one of its accounts
# (`listing(account_config, api_client, clock, known)`; each provider module is imported only
# when an account of it is listed).
PROVIDERS: dict[str, Callable[..., Listing]] = {"ringyo": _ringyo, "tryvox": _tryvox}


class ProviderClient:
    """The API of one account at its provider; reuse it across runs to keep connections."""

    def __init__(
        self,
        account: ResolvedAccount,
        *,
        clock: Clock = SYSTEM_CLOCK,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.account = account
        self._clock = clock
        self._client = ApiClient(
            account=account.name,
            provider=account.provider,
            base_url=account.config.url,
            api_key=account.api_key,
            clock=clock,
            policy=policy,
            transport=transport,
            max_connections=max(2, account.config.concurrency),
            observer=observer,
        )

    def listing(self, known: KnownFingerprints | None = None) -> Listing:
        """A new listing of every number of the account; `known`: the fingerprints stored for
        the account's live numbers (see `Listing`)."""
        provider = PROVIDERS[self.account.provider]
        return provider(self.account.config, self._client, self._clock, known)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
