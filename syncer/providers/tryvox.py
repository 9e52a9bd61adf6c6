"""TryVox: `GET /v1/account/{account_id}/numbers`, page-number pagination, fees in the API.

Paging: `page` from 1 and `per_page=100`; the first page tells `total_pages`, then the other
pages are fetched concurrently (the account's `concurrency`, default 4) and handed over in
page order. The listing ends at `current_page >= total_pages`. Items can shift between pages
while we list (a number added at the front pushes the rest down), so records are
de-duplicated by `e164` and a listing whose distinct count disagrees with
`pagination.total` is incomplete (see `Listing`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from syncer.clock import Clock
from syncer.config import AccountConfig
from syncer.errors import ProviderError
from syncer.providers.base import Listing, Page, prefetched, release_rules
from syncer.providers.fields import (
    E164,
    Assignee,
    Country,
    Currency,
    Fee,
    NumberType,
    Region,
    Timestamp,
    describe,
)
from syncer.providers.http import ApiClient
from syncer.providers.keys import e164_key
from syncer.records import NumberRecord, Rejection

PER_PAGE = 100


class TryVoxNumber(BaseModel):
    """A number as TryVox documents it."""

    model_config = ConfigDict(extra="ignore")

    e164: E164
    country: Country
    type: NumberType
    region: Region | None = None
    status: Literal["active", "pending", "suspended"]
    capabilities: list[StrictStr]
    monthly_fee: Fee
    setup_fee: Fee
    currency: Currency
    trunk_id: Assignee | None = None
    application_id: Assignee | None = None
    created_at: Timestamp
    updated_at: Timestamp | None = None


def to_record(item: Any) -> NumberRecord | Rejection:
    """Validate one listing item into a record, or a rejection with the reason."""
    try:
        number = TryVoxNumber.model_validate(item)
    except ValidationError as exc:
        raw = item.get("e164") if isinstance(item, dict) else None
        key = e164_key(raw)
        shown = key if key is not None else raw if isinstance(raw, str) else None
        return Rejection(describe(exc), item, external_id=shown, seen_key=key)
    capabilities = set(number.capabilities)
    return NumberRecord(
        external_id=number.e164,
        e164=number.e164,
        country=number.country,
        region=number.region,
        number_type=number.type,
        status=number.status,
        voice="voice" in capabilities,
        sms="sms" in capabilities,
        mms="mms" in capabilities,
        monthly_fee=number.monthly_fee,
        setup_fee=number.setup_fee,
        currency=number.currency,
        assigned_to=number.application_id or number.trunk_id,
        provider_created_at=number.created_at,
        provider_updated_at=number.updated_at,
    )


class TryVoxListing(Listing):
    """A page-number listing, fetched `concurrency` pages at a time after the first."""

    def __init__(self, account: AccountConfig, client: ApiClient, clock: Clock) -> None:
        super().__init__(account.name, to_record, clock, key_rule=e164_key, per_page=PER_PAGE)
        assert account.account_id is not None
        self._client = client
        self._path = f"/v1/account/{quote(account.account_id, safe='')}/numbers"
        self._filters = account.filter_params
        self._concurrency = account.concurrency
        self.release_scope, self.release_blocked = release_rules(self._filters)

    def pages(self) -> Iterator[Page]:
        return prefetched(super().pages(), depth=max(2, self._concurrency))

    def _one_pass(self) -> Iterator[tuple[list[Any], int]]:
        items, total, total_pages = self._fetch(1)
        yield items, total
        if self._concurrency == 1 or total_pages <= 2:
            for page in range(2, total_pages + 1):
                items, total, _ = self._fetch(page)
                yield items, total
            return
        yield from self._fetch_concurrently(range(2, total_pages + 1))

    def _fetch_concurrently(self, pages: range) -> Iterator[tuple[list[Any], int]]:
        """Pages in order, with at most `concurrency` requests in flight."""
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="syncer-page") as pool:
            waiting: deque[Future[tuple[list[Any], int, int]]] = deque()
            upcoming = iter(pages)
            try:
                for page in upcoming:
                    waiting.append(pool.submit(self._fetch, page))
                    if len(waiting) >= self._concurrency:
                        break
                while waiting:
                    items, total, _ = waiting.popleft().result()
                    next_page = next(upcoming, None)
                    if next_page is not None:
                        waiting.append(pool.submit(self._fetch, next_page))
                    yield items, total
            finally:
                for future in waiting:
                    future.cancel()

    def _fetch(self, page: int) -> tuple[list[Any], int, int]:
        params: dict[str, str | int] = {"page": page, "per_page": PER_PAGE, **self._filters}
        body = self._client.get_json(self._path, params)
        return self._read_page(body, page)

    def _read_page(self, body: Any, page: int) -> tuple[list[Any], int, int]:
        """The page's items, total and page count; a malformed field raises, never guesses."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ProviderError(self.account, f"TryVox page {page} has no data list")
        pagination = body.get("pagination")
        if not isinstance(pagination, dict):
            raise ProviderError(self.account, f"TryVox page {page} has no pagination object")
        fields = {}
        for name in ("total", "count", "per_page", "current_page", "total_pages"):
            value = pagination.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProviderError(
                    self.account, f"TryVox page {page}: pagination.{name}={value!r}, not a count"
                )
            fields[name] = value
        self._check_page_count(page, fields["total"], fields["per_page"], fields["total_pages"])
        items: list[Any] = body["data"]
        if len(items) > PER_PAGE:
            raise ProviderError(
                self.account, f"TryVox page {page} holds {len(items)} items for per_page=100"
            )
        if fields["current_page"] != page:
            self._flag_inconsistent(
                f"TryVox answered page {fields['current_page']} when asked for page {page}"
            )
            return [], fields["total"], fields["total_pages"]
        if fields["count"] != len(items):
            self._flag_inconsistent(
                f"TryVox page {page} says count={fields['count']} but holds {len(items)} items"
            )
        return items, fields["total"], fields["total_pages"]

    def _check_page_count(self, page: int, total: int, per_page: int, total_pages: int) -> None:
        """`total_pages` must be what `total` and `per_page` make: the listing's plan comes
        from it, so a count that does not add up (an endless one) fails the listing."""
        if not 1 <= per_page <= PER_PAGE:
            raise ProviderError(
                self.account,
                f"TryVox page {page}: pagination.per_page={per_page}, asked for {PER_PAGE}",
            )
        needed = math.ceil(total / per_page)
        if total_pages != needed and not (total == 0 and total_pages == 1):
            raise ProviderError(
                self.account,
                f"TryVox page {page}: pagination.total_pages={total_pages}, but total={total} "
                f"at per_page={per_page} makes {needed} pages: the listing cannot be bounded, "
                "stopped; nothing released",
            )
