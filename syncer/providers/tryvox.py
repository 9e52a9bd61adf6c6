"""TryVox: `GET /v1/account/{account_id}/numbers`, page-number pagination, fees in the API.

A paginator (`TryVoxPaginator`) and a mapper (`TryVoxMapper`), composed by `listing()`.

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
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from syncer.clock import Clock
from syncer.config import AccountConfig
from syncer.errors import ProviderError
from syncer.provider_facts import FACTS, TRYVOX, TryVoxStatus
from syncer.providers.base import Listing, PassPage, release_rules
from syncer.providers.fields import (
    ASSIGNED_TO_LENGTH,
    COUNTRY_COMPILED,
    CURRENCY_COMPILED,
    E164,
    E164_COMPILED,
    NUMBER_TYPE_LENGTH,
    REGION_LENGTH,
    Assignee,
    Country,
    Currency,
    Fee,
    NumberType,
    Region,
    Timestamp,
    parse_timestamp,
    rejection,
)
from syncer.providers.http import ApiClient
from syncer.providers.keys import e164_key
from syncer.providers.pages import (
    PageDecoder,
    RawPage,
    check_storable,
    compiled,
    fingerprinter,
    parse_item,
)
from syncer.records import NumberRecord, Rejection, check_fee

PER_PAGE = 100


class TryVoxNumber(BaseModel):
    """A number as TryVox documents it."""

    model_config = ConfigDict(extra="ignore")

    e164: E164
    country: Country
    type: NumberType
    region: Region | None = None
    status: TryVoxStatus
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
        return rejection(item, exc, "e164", e164_key)
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


class _Item(msgspec.Struct):
    """`TryVoxNumber` for compiled validation: never laxer than the model. Fees are decoded
    as any JSON value (numbers as exact Decimals) and checked by `_fee_of`, because msgspec's
    Decimal type would also accept a string, which TryVox's contract refuses."""

    e164: Annotated[str, msgspec.Meta(pattern=E164_COMPILED)]
    country: Annotated[str, msgspec.Meta(pattern=COUNTRY_COMPILED)]
    type: Annotated[str, msgspec.Meta(max_length=NUMBER_TYPE_LENGTH)]
    status: TryVoxStatus
    capabilities: list[str]
    monthly_fee: Any
    setup_fee: Any
    currency: Annotated[str, msgspec.Meta(pattern=CURRENCY_COMPILED)]
    created_at: str
    region: Annotated[str, msgspec.Meta(max_length=REGION_LENGTH)] | None = None
    trunk_id: Annotated[str, msgspec.Meta(max_length=ASSIGNED_TO_LENGTH)] | None = None
    application_id: Annotated[str, msgspec.Meta(max_length=ASSIGNED_TO_LENGTH)] | None = None
    updated_at: str | None = None


_ITEMS = msgspec.json.Decoder(list[_Item], float_hook=Decimal)


def _fee_of(value: Any) -> Decimal:
    """A fee sent as a JSON number (an exact Decimal, or an int), checked like `Fee`."""
    kind = type(value)
    if kind is not Decimal and kind is not int:
        raise ValueError("a fee that is not a JSON number")
    fee = check_fee(Decimal(value))
    if fee < 0:
        raise ValueError("a negative fee")
    return fee


class TryVoxMapper:
    """TryVox items to records: compiled per page, or item by item (`to_record`) for a page
    with an item the compiled check refuses, so every rejection gets its exact reason."""

    fingerprints = staticmethod(fingerprinter(TRYVOX))

    def map_parsed(self, item: Any) -> NumberRecord | Rejection:
        return to_record(item)

    def map_raw(self, items: Sequence[bytes]) -> list[NumberRecord | Rejection]:
        try:
            return list(self._compiled(items))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            return [to_record(parse_item(item)) for item in items]

    def _compiled(self, items: Sequence[bytes]) -> list[NumberRecord]:
        records = []
        for item in compiled(_ITEMS, items):
            check_storable(item.type, item.region, item.trunk_id, item.application_id)
            capabilities = item.capabilities
            updated_at = item.updated_at
            records.append(
                NumberRecord(
                    external_id=item.e164,
                    e164=item.e164,
                    country=item.country.upper(),
                    region=item.region,
                    number_type=item.type,
                    status=item.status,
                    voice="voice" in capabilities,
                    sms="sms" in capabilities,
                    mms="mms" in capabilities,
                    monthly_fee=_fee_of(item.monthly_fee),
                    setup_fee=_fee_of(item.setup_fee),
                    currency=item.currency.upper(),
                    assigned_to=item.application_id or item.trunk_id,
                    provider_created_at=parse_timestamp(item.created_at),
                    provider_updated_at=None if updated_at is None else parse_timestamp(updated_at),
                )
            )
        return records


class TryVoxPaginator:
    """Page numbers, fetched `concurrency` pages at a time after the first, in page order."""

    def __init__(self, account: AccountConfig, client: ApiClient) -> None:
        assert account.account_id is not None
        self.account = account.name
        self._client = client
        self._path = FACTS[TRYVOX].listing_path.format(
            account_id=quote(account.account_id, safe="")
        )
        self._filters = account.filter_params
        self._concurrency = account.concurrency
        self.prefetch = max(2, self._concurrency)

    def one_pass(self) -> Iterator[PassPage]:
        first, total_pages = self._fetch(1)
        yield first
        if self._concurrency == 1 or total_pages <= 2:
            for page in range(2, total_pages + 1):
                yield self._fetch(page)[0]
            return
        yield from self._fetch_concurrently(range(2, total_pages + 1))

    def _fetch_concurrently(self, pages: range) -> Iterator[PassPage]:
        """Pages in order, with at most `concurrency` requests in flight."""
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="syncer-page") as pool:
            waiting: deque[Future[tuple[PassPage, int]]] = deque()
            upcoming = iter(pages)
            try:
                for page in upcoming:
                    waiting.append(pool.submit(self._fetch, page))
                    if len(waiting) >= self._concurrency:
                        break
                while waiting:
                    fetched, _ = waiting.popleft().result()
                    next_page = next(upcoming, None)
                    if next_page is not None:
                        waiting.append(pool.submit(self._fetch, next_page))
                    yield fetched
            finally:
                for future in waiting:
                    future.cancel()

    def _fetch(self, page: int) -> tuple[PassPage, int]:
        params: dict[str, str | int] = {"page": page, "per_page": PER_PAGE, **self._filters}
        body = self._client.get_json(self._path, params, parse=_PAGES.decode)
        return self._read_page(body, page)

    def _read_page(self, body: RawPage, page: int) -> tuple[PassPage, int]:
        """The page with its total, and the page count; a malformed field raises."""
        if body.raw is None and body.parsed is None:
            raise ProviderError(self.account, f"TryVox page {page} has no data list")
        pagination = body.fields["pagination"]
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
        if body.size > PER_PAGE:
            raise ProviderError(
                self.account, f"TryVox page {page} holds {body.size} items for per_page=100"
            )
        total, total_pages = fields["total"], fields["total_pages"]
        if fields["current_page"] != page:
            wrong = f"TryVox answered page {fields['current_page']} when asked for page {page}"
            return PassPage(RawPage([], None, [], body.fields), total, wrong), total_pages
        flaw: str | None = None
        if fields["count"] != body.size:
            flaw = f"TryVox page {page} says count={fields['count']} but holds {body.size} items"
        return PassPage(body, total, flaw), total_pages

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


_PAGES = PageDecoder("e164", ("pagination",))


def listing(account: AccountConfig, client: ApiClient, clock: Clock) -> Listing:
    """A listing of a TryVox account (see `Listing`)."""
    scope, blocked = release_rules(account.filter_params)
    return Listing(
        account.name,
        TryVoxPaginator(account, client),
        TryVoxMapper(),
        clock,
        key_rule=e164_key,
        per_page=PER_PAGE,
        release_scope=scope,
        release_blocked=blocked,
    )
