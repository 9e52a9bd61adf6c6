"""Where data enters: one module per provider, behind one small interface.

`ProviderClient(account, ...)` holds the account's HTTP connection; `listing()` starts a new
listing of the account (see `syncer.providers.base.Listing`). Providers never touch the
database: they hand `NumberRecord`s and `Rejection`s to the sync engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module

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
from syncer.provider_facts import PROVIDERS  # noqa: E402
from syncer.providers.base import Listing, ListingOutcome, Page  # noqa: E402
from syncer.providers.http import ApiClient, RequestObserver, RetryPolicy  # noqa: E402
from syncer.providers.known import KnownFingerprints  # noqa: E402

__all__ = [
    "KnownFingerprints",
    "Listing",
    "ListingOutcome",
    "Page",
    "ProviderClient",
    "RetryPolicy",
    "listing_for",
]


def listing_for(provider: str) -> Callable[..., Listing]:
    """How to list an account of `provider`, one of `provider_facts.PROVIDERS` (the registry):
    the `listing(account_config, api_client, clock)` of its module, which is named
    after it and imported only when an account of it is listed."""
    if provider not in PROVIDERS:
        raise KeyError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
    listing: Callable[..., Listing] = import_module(f"{__name__}.{provider}").listing
    return listing


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

    def listing(self) -> Listing:
        """A new listing of every number of the account (the engine sets its `known`
        fingerprints once it has read them; see `Listing`)."""
        listing = listing_for(self.account.provider)
        return listing(self.account.config, self._client, self._clock)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
