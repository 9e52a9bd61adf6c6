"""Ringyo: `GET /v1/phone-numbers`, cursor pagination, no fees in the API.

Paging: `limit=100` and the opaque `cursor` from the previous page's `next_cursor`, until
`has_more` is false. Every page carries `total`. On `invalid_cursor` the listing starts over
from the first page, once (see `Listing`). Fees come from the account's fee schedule in the
config: the fee of the number's country, else `default`, else unknown (unpriced).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from syncer.clock import Clock
from syncer.config import AccountConfig
from syncer.errors import InvalidCursorError, ProviderError
from syncer.providers.base import Listing, Page, prefetched, release_rules
from syncer.providers.fields import (
    E164,
    Assignee,
    Country,
    Key,
    Region,
    Text,
    Timestamp,
    describe,
)
from syncer.providers.http import ApiClient, ClientError
from syncer.providers.keys import ringyo_id_key
from syncer.records import NumberRecord, Rejection

PATH = "/v1/phone-numbers"
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
    status: Literal["active", "pending", "inactive"]
    default_agent_id: Assignee | None = None
    created_at: Timestamp


class FeeSchedule:
    """Monthly fee by country from the config (`default` for the rest); None when unpriced."""

    def __init__(self, fees: dict[str, Decimal] | None, currency: str | None) -> None:
        self._fees = fees or {}
        self.currency = currency

    def monthly_fee(self, country: str) -> Decimal | None:
        return self._fees.get(country, self._fees.get("default"))


def to_record(item: Any, schedule: FeeSchedule) -> NumberRecord | Rejection:
    """Validate one listing item into a record, or a rejection with the reason."""
    try:
        number = RingyoNumber.model_validate(item)
    except ValidationError as exc:
        raw = item.get("id") if isinstance(item, dict) else None
        key = ringyo_id_key(raw)
        shown = key if key is not None else raw if isinstance(raw, str) else None
        return Rejection(describe(exc), item, external_id=shown, seen_key=key)
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


class RingyoListing(Listing):
    """A cursor listing; the next page is fetched while the engine writes the current one."""

    def __init__(self, account: AccountConfig, client: ApiClient, clock: Clock) -> None:
        schedule = FeeSchedule(account.fees, account.fee_currency)
        super().__init__(
            account.name,
            lambda item: to_record(item, schedule),
            clock,
            key_rule=ringyo_id_key,
            per_page=PAGE_LIMIT,
        )
        self._client = client
        self._filters = account.filter_params
        self.release_scope, self.release_blocked = release_rules(self._filters)

    def pages(self) -> Iterator[Page]:
        return prefetched(super().pages())

    def _one_pass(self) -> Iterator[tuple[list[Any], int]]:
        cursor: str | None = None
        used: set[str] = set()
        while True:
            params: dict[str, str | int] = {"limit": PAGE_LIMIT, **self._filters}
            if cursor is not None:
                params["cursor"] = cursor
            body = self._fetch(params)
            items, total, has_more, next_cursor = self._read_page(body)
            yield items, total
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

    def _fetch(self, params: dict[str, str | int]) -> Any:
        try:
            return self._client.get_json(PATH, params)
        except ClientError as exc:
            if exc.code == "invalid_cursor" or "invalid_cursor" in exc.body:
                raise InvalidCursorError(self.account, "Ringyo refused the cursor") from None
            if exc.code == "invalid_country" or "invalid_country" in exc.body:
                raise ProviderError(
                    self.account, f"Ringyo refused the country filter {params.get('country')!r}"
                ) from None
            raise

    def _read_page(self, body: Any) -> tuple[list[Any], int, bool, str | None]:
        """The page's items and paging fields; a malformed field raises instead of guessing."""
        if not isinstance(body, dict):
            raise ProviderError(self.account, "Ringyo sent a page that is not a JSON object")
        items, total = body.get("data"), body.get("total")
        has_more, next_cursor = body.get("has_more"), body.get("next_cursor")
        if not isinstance(items, list):
            raise ProviderError(self.account, "Ringyo sent a page without a data list")
        if not isinstance(has_more, bool):
            raise ProviderError(self.account, f"Ringyo sent has_more={has_more!r}, not a bool")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ProviderError(self.account, f"Ringyo sent total={total!r}, not a count")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise ProviderError(self.account, "Ringyo sent a next_cursor that is not a string")
        if len(items) > PAGE_LIMIT:
            raise ProviderError(
                self.account, f"Ringyo sent {len(items)} items for limit={PAGE_LIMIT}"
            )
        return items, total, has_more, next_cursor or None
