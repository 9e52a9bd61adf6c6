"""Ringyo: `GET /v1/phone-numbers`, cursor pagination, no fees in the API.

A paginator (`RingyoPaginator`) and a mapper (`RingyoMapper`), composed by `listing()`.

Paging: `limit=100` and the opaque `cursor` from the previous page's `next_cursor`, until
`has_more` is false. Every page carries `total`. On `invalid_cursor` the listing starts over
from the first page, once (see `Listing`). Fees come from the account's fee schedule in the
config: the fee of the number's country, else `default`, else unknown (unpriced).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from syncer.clock import Clock
from syncer.config import AccountConfig
from syncer.errors import InvalidCursorError, ProviderError
from syncer.provider_facts import FACTS, RINGYO, RingyoStatus
from syncer.providers.base import Listing, PassPage, release_rules
from syncer.providers.fields import (
    ASSIGNED_TO_LENGTH,
    COUNTRY_COMPILED,
    E164,
    E164_COMPILED,
    FRIENDLY_NAME_LENGTH,
    REGION_LENGTH,
    RINGYO_ID_COMPILED,
    Assignee,
    Country,
    Key,
    Region,
    Text,
    Timestamp,
    parse_timestamp,
    rejection,
)
from syncer.providers.http import ApiClient, ClientError
from syncer.providers.keys import ringyo_id_key
from syncer.providers.pages import (
    PageDecoder,
    RawPage,
    check_storable,
    compiled,
    fingerprinter,
    parse_item,
)
from syncer.records import NumberRecord, Rejection

PATH = FACTS[RINGYO].listing_path
PAGE_LIMIT = 100


class RingyoCapabilities(BaseModel):
    model_config = ConfigDict(extra="ignore")

    voice: StrictBool = False
    sms: StrictBool = False
    mms: StrictBool = False


class RingyoNumber(BaseModel):
    """A phone number object as Ringyo documents it."""

    model_config = ConfigDict(extra="ignore")

    id: Key
    phone_number: E164
    friendly_name: Text | None = None
    country: Country
    region: Region | None = None
    capabilities: RingyoCapabilities
    status: RingyoStatus
    default_agent_id: Assignee | None = None
    created_at: Timestamp


class FeeSchedule:
    """Monthly fee by country from the config (`default` for the rest); None when unpriced."""

    def __init__(self, fees: dict[str, Decimal] | None, currency: str | None) -> None:
        self._fees = fees or {}
        self.currency = currency

    @property
    def salt(self) -> str:
        """The schedule as text, for fingerprints: another schedule gives other fingerprints."""
        fees = ",".join(f"{country}={fee}" for country, fee in sorted(self._fees.items()))
        return f"{fees};{self.currency}"

    def monthly_fee(self, country: str) -> Decimal | None:
        return self._fees.get(country, self._fees.get("default"))


def to_record(item: Any, schedule: FeeSchedule) -> NumberRecord | Rejection:
    """Validate one listing item into a record, or a rejection with the reason."""
    try:
        number = RingyoNumber.model_validate(item)
    except ValidationError as exc:
        return rejection(item, exc, "id", ringyo_id_key)
    fee = schedule.monthly_fee(number.country)
    return NumberRecord(
        external_id=number.id,
        e164=number.phone_number,
        friendly_name=number.friendly_name,
        country=number.country,
        region=number.region,
        number_type=None,
        status=number.status,
        voice=number.capabilities.voice,
        sms=number.capabilities.sms,
        mms=number.capabilities.mms,
        monthly_fee=fee,
        setup_fee=None,
        currency=schedule.currency if fee is not None else None,
        assigned_to=number.default_agent_id,
        provider_created_at=number.created_at,
        provider_updated_at=None,
    )


class _Capabilities(msgspec.Struct):
    voice: bool = False
    sms: bool = False
    mms: bool = False


class _Item(msgspec.Struct):
    """`RingyoNumber` for compiled validation: never laxer than the model (a value it cannot
    judge exactly, such as a timestamp, is checked by the same function afterwards)."""

    id: Annotated[str, msgspec.Meta(pattern=RINGYO_ID_COMPILED)]
    phone_number: Annotated[str, msgspec.Meta(pattern=E164_COMPILED)]
    country: Annotated[str, msgspec.Meta(pattern=COUNTRY_COMPILED)]
    capabilities: _Capabilities
    status: RingyoStatus
    created_at: str
    friendly_name: Annotated[str, msgspec.Meta(max_length=FRIENDLY_NAME_LENGTH)] | None = None
    region: Annotated[str, msgspec.Meta(max_length=REGION_LENGTH)] | None = None
    default_agent_id: Annotated[str, msgspec.Meta(max_length=ASSIGNED_TO_LENGTH)] | None = None


_ITEMS = msgspec.json.Decoder(list[_Item])


class RingyoMapper:
    """Ringyo items to records: compiled per page, or item by item (`to_record`) for a page
    with an item the compiled check refuses, so every rejection gets its exact reason."""

    def __init__(self, schedule: FeeSchedule) -> None:
        self._schedule = schedule
        self.fingerprints = fingerprinter(RINGYO, schedule.salt)

    def map_parsed(self, item: Any) -> NumberRecord | Rejection:
        return to_record(item, self._schedule)

    def map_raw(self, items: Sequence[bytes]) -> list[NumberRecord | Rejection]:
        try:
            return list(self._compiled(items))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            return [to_record(parse_item(item), self._schedule) for item in items]

    def _compiled(self, items: Sequence[bytes]) -> list[NumberRecord]:
        fee_of, currency = self._schedule.monthly_fee, self._schedule.currency
        records = []
        for item in compiled(_ITEMS, items):
            check_storable(item.friendly_name, item.region, item.default_agent_id)
            country = item.country.upper()
            fee = fee_of(country)
            capabilities = item.capabilities
            records.append(
                NumberRecord(
                    external_id=item.id,
                    e164=item.phone_number,
                    friendly_name=item.friendly_name,
                    country=country,
                    region=item.region,
                    number_type=None,
                    status=item.status,
                    voice=capabilities.voice,
                    sms=capabilities.sms,
                    mms=capabilities.mms,
                    monthly_fee=fee,
                    setup_fee=None,
                    currency=currency if fee is not None else None,
                    assigned_to=item.default_agent_id,
                    provider_created_at=parse_timestamp(item.created_at),
                    provider_updated_at=None,
                )
            )
        return records


class RingyoPaginator:
    """Cursor paging; the next page is fetched while the engine writes the current one."""

    prefetch = 2

    def __init__(self, account: str, client: ApiClient, filters: dict[str, str]) -> None:
        self.account = account
        self._client = client
        self._filters = filters

    def one_pass(self) -> Iterator[PassPage]:
        cursor: str | None = None
        used: set[str] = set()
        while True:
            params: dict[str, str | int] = {"limit": PAGE_LIMIT, **self._filters}
            if cursor is not None:
                params["cursor"] = cursor
            page = self._fetch(params)
            total, has_more, next_cursor = self._read_page(page)
            yield PassPage(page, total)
            if not has_more:
                return
            if next_cursor is None or next_cursor in used:
                raise ProviderError(
                    self.account,
                    "Ringyo said has_more but gave "
                    + ("no next_cursor" if next_cursor is None else "a cursor it gave before"),
                )
            used.add(next_cursor)
            cursor = next_cursor

    def _fetch(self, params: dict[str, str | int]) -> RawPage:
        try:
            page: RawPage = self._client.get_json(PATH, params, parse=_PAGES.decode)
            return page
        except ClientError as exc:
            if exc.code == "invalid_cursor" or "invalid_cursor" in exc.body:
                raise InvalidCursorError(self.account, "Ringyo refused the cursor") from None
            if exc.code == "invalid_country" or "invalid_country" in exc.body:
                raise ProviderError(
                    self.account, f"Ringyo refused the country filter {params.get('country')!r}"
                ) from None
            raise

    def _read_page(self, page: RawPage) -> tuple[int, bool, str | None]:
        """The page's paging fields; a malformed field raises instead of guessing."""
        if not page.is_object:
            raise ProviderError(self.account, "Ringyo sent a page that is not a JSON object")
        fields = page.fields
        total, has_more, next_cursor = fields["total"], fields["has_more"], fields["next_cursor"]
        if page.raw is None and page.parsed is None:
            raise ProviderError(self.account, "Ringyo sent a page without a data list")
        if not isinstance(has_more, bool):
            raise ProviderError(self.account, f"Ringyo sent has_more={has_more!r}, not a bool")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ProviderError(self.account, f"Ringyo sent total={total!r}, not a count")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise ProviderError(self.account, "Ringyo sent a next_cursor that is not a string")
        if page.size > PAGE_LIMIT:
            raise ProviderError(
                self.account, f"Ringyo sent {page.size} items for limit={PAGE_LIMIT}"
            )
        return total, has_more, next_cursor or None


_PAGES = PageDecoder("id", ("total", "has_more", "next_cursor"))


def listing(account: AccountConfig, client: ApiClient, clock: Clock) -> Listing:
    """A listing of a Ringyo account (see `Listing`)."""
    scope, blocked = release_rules(account.filter_params)
    return Listing(
        account.name,
        RingyoPaginator(account.name, client, account.filter_params),
        RingyoMapper(FeeSchedule(account.fees, account.fee_currency)),
        clock,
        key_rule=ringyo_id_key,
        per_page=PAGE_LIMIT,
        release_scope=scope,
        release_blocked=blocked,
    )
