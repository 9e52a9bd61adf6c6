"""The two list-numbers endpoints as their pages document them, without any fault.

Each function takes the parsed request and returns a `Reply` (status, JSON body, headers);
the fault layer (`app.py`) decides whether it is actually sent.

Ringyo's cursor is base64url JSON holding the account, the filters it was issued for, the
(`created_at`, `id`) of the last item served (a keyset position, so releases and purchases
between pages neither skip nor repeat numbers), the account's request number when it was
issued (for `cursor_ttl_requests`) and the page number it leads to.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from syncer.provider_facts import FACTS, RINGYO, TRYVOX
from syncer.simulator.model import SimAccount
from syncer.simulator.world import SortKey, World

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_INTEGER = re.compile(r"^-?[0-9]{1,9}$")
_CURSOR_FIELDS = {"a": str, "t": int, "k": str, "q": int, "p": int}


@dataclass(frozen=True)
class Reply:
    """An answer to send: HTTP status, JSON-ready body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    page: int | None = None  # the listing page served, for the drift fault
    malformed: int = 0  # items served malformed
    fault: str | None = None  # the fault this reply is, when the API itself injected one


@dataclass(frozen=True)
class Cursor:
    account: str
    status: str | None
    country: str | None
    last: SortKey
    issued_at: int
    page: int

    def encode(self) -> str:
        fields = {
            "a": self.account,
            "s": self.status,
            "c": self.country,
            "t": self.last[0],
            "k": self.last[1],
            "q": self.issued_at,
            "p": self.page,
        }
        raw = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str) -> Cursor | None:
        """The cursor in `token`, or None when it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            fields = json.loads(raw)
        except (binascii.Error, ValueError):
            return None
        if not isinstance(fields, dict) or any(
            not isinstance(fields.get(name), kind) for name, kind in _CURSOR_FIELDS.items()
        ):
            return None
        status, country = fields.get("s"), fields.get("c")
        if not all(value is None or isinstance(value, str) for value in (status, country)):
            return None
        return cls(
            fields["a"], status, country, (fields["t"], fields["k"]), fields["q"], fields["p"]
        )


def bearer_key(headers: Mapping[str, str]) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, else None."""
    scheme, _, key = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


# -- Ringyo ---------------------------------------------------------------------------------


def ringyo_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def ringyo_auth(world: World, headers: Mapping[str, str]) -> SimAccount | Reply:
    key = bearer_key(headers)
    account = world.ringyo_account(key) if key else None
    if account is None:
        return ringyo_error(401, "unauthorized", "Missing or invalid API key")
    return account


def ringyo_list(
    world: World,
    account: SimAccount,
    query: Mapping[str, str],
    request_number: int,
    cursor_ttl: int | None,
) -> Reply:
    """GET /v1/phone-numbers for `account`; `request_number` is this request's number among
    the account's requests, which new cursors carry and `cursor_ttl` measures against."""
    params = _ringyo_params(query)
    if isinstance(params, Reply):
        return params
    limit, status, country = params
    position = _resume(query.get("cursor"), account, status, country, request_number, cursor_ttl)
    if isinstance(position, Reply):
        return position
    after, page = position
    listed = world.ringyo_page(account.name, status, country, after, limit)
    next_cursor = None
    if listed.has_more and listed.last is not None:
        cursor = Cursor(account.name, status, country, listed.last, request_number, page + 1)
        next_cursor = cursor.encode()
    body = {
        "data": listed.items,
        "has_more": next_cursor is not None,
        "next_cursor": next_cursor,
        "total": listed.total,
    }
    return Reply(200, body, page=page, malformed=listed.malformed)


def _ringyo_params(query: Mapping[str, str]) -> tuple[int, str | None, str | None] | Reply:
    """(limit, status, country upper-cased) or the 400 that refuses them."""
    limit = _int_param(query, "limit", DEFAULT_PAGE_SIZE)
    if limit is None or not 1 <= limit <= MAX_PAGE_SIZE:
        return ringyo_error(400, "invalid_limit", "limit must be an integer from 1 to 100")
    status = query.get("status")
    if status is not None and status not in FACTS[RINGYO].statuses:
        return ringyo_error(400, "invalid_status", "status must be active, pending or inactive")
    country = query.get("country")
    if country is not None and not _COUNTRY.match(country):
        return ringyo_error(400, "invalid_country", "Country code is not valid")
    return limit, status, country.upper() if country else None


def _resume(
    token: str | None,
    account: SimAccount,
    status: str | None,
    country: str | None,
    request_number: int,
    ttl: int | None,
) -> tuple[SortKey | None, int] | Reply:
    """Where the page starts (after which key, and its page number), or invalid_cursor."""
    if token is None:
        return None, 1
    cursor = Cursor.decode(token)
    if cursor is None:
        return invalid_cursor(": it was not issued by this API")
    if cursor.account != account.name:
        return invalid_cursor(": it was issued to another account")
    if (cursor.status, cursor.country) != (status, country):
        return invalid_cursor(": it was issued for other filters")
    if ttl is not None and request_number - cursor.issued_at - 1 >= ttl:
        return replace(invalid_cursor(": it has expired"), fault="cursor_expired")
    return cursor.last, cursor.page


def invalid_cursor(reason: str) -> Reply:
    return ringyo_error(400, "invalid_cursor", f"The pagination cursor is invalid{reason}")


# -- TryVox ---------------------------------------------------------------------------------


def tryvox_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": code, "message": message})


def tryvox_auth(world: World, account_id: str, headers: Mapping[str, str]) -> SimAccount | Reply:
    """404 for an unknown account, 401 unless the key is that account's key."""
    account = world.tryvox_account(account_id)
    if account is None:
        return tryvox_error(404, "not_found", f"Account {account_id!r} not found")
    key = bearer_key(headers) or ""
    if not hmac.compare_digest(key.encode(), account.api_key.encode()):
        return tryvox_error(401, "unauthorized", "Missing or invalid API key for this account")
    return account


def tryvox_list(world: World, account: SimAccount, query: Mapping[str, str]) -> Reply:
    """GET /v1/account/{account_id}/numbers; a page past the last is empty, not an error."""
    page = _int_param(query, "page", 1)
    if page is None or page < 1:
        return _invalid_parameter("page must be an integer >= 1")
    per_page = _int_param(query, "per_page", DEFAULT_PAGE_SIZE)
    if per_page is None or not 1 <= per_page <= MAX_PAGE_SIZE:
        return _invalid_parameter("per_page must be an integer from 1 to 100")
    status = query.get("status")
    if status is not None and status not in FACTS[TRYVOX].statuses:
        return _invalid_parameter("status must be active, pending or suspended")
    country = query.get("country")
    if country is not None and not _COUNTRY.match(country):
        return _invalid_parameter("country must be an ISO 3166-1 alpha-2 code")
    listed = world.tryvox_page(account.name, status, country and country.upper(), page, per_page)
    pagination = {
        "total": listed.total,
        "count": len(listed.items),
        "per_page": per_page,
        "current_page": page,
        "total_pages": max(1, -(-listed.total // per_page)),
    }
    body = {"data": listed.items, "pagination": pagination}
    return Reply(200, body, page=page, malformed=listed.malformed)


def _invalid_parameter(message: str) -> Reply:
    return tryvox_error(400, "invalid_parameter", message)


def _int_param(query: Mapping[str, str], name: str, default: int) -> int | None:
    """The parameter as an int (its default when absent), None when it is not an integer."""
    raw = query.get(name)
    if raw is None:
        return default
    return int(raw) if _INTEGER.match(raw) else None
