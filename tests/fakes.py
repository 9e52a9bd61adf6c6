"""Provider answers the simulator would never give, written field by field by the test.

Accounts that only need to be listed come from the simulator's app, in-process
(`tests.simulated`) or on loopback. These handlers (for `httpx.MockTransport`) serve what a
test must control exactly: a chosen answer at a chosen request (`on_request`), a total that
never adds up (`total_override`), pages that shift at a chosen moment (`after_page`), records
spoiled in a precise way; and the report tests' histories (`tests.history`), whose listings
name the currencies, setup fees and purchase dates each figure rests on, which the
simulator's generated worlds do not choose.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable
from typing import Any

import httpx


def ringyo_item(n: int, status: str = "active", country: str = "US") -> dict[str, Any]:
    return {
        "id": f"pn_{n:06d}",
        "phone_number": f"+1415555{n:04d}",
        "friendly_name": f"Line {n}",
        "country": country,
        "region": "CA",
        "capabilities": {"voice": True, "sms": n % 2 == 0},
        "status": status,
        "default_agent_id": None,
        "created_at": "2026-01-10T08:00:00Z",
    }


def tryvox_item(n: int, status: str = "active", fee: str = "1.25") -> dict[str, Any]:
    return {
        "e164": f"+4420700{n:05d}",
        "country": "GB",
        "type": "local",
        "region": "England",
        "status": status,
        "capabilities": ["voice", "sms"],
        "monthly_fee": fee,
        "setup_fee": "0.00",
        "currency": "USD",
        "trunk_id": None,
        "application_id": "app_1",
        "created_at": "2026-03-15T08:20:00Z",
        "updated_at": "2026-04-01T14:30:00Z",
    }


def as_json(body: Any) -> httpx.Response:
    """A JSON response in which strings that look like fees are written as bare numbers."""
    text = json.dumps(body)
    for key in ("monthly_fee", "setup_fee"):
        text = _unquote_numbers(text, key)
    return httpx.Response(200, content=text.encode(), headers={"Content-Type": "application/json"})


def _unquote_numbers(text: str, key: str) -> str:
    import re

    return re.sub(rf'"{key}": "(-?[0-9.]+)"', rf'"{key}": \1', text)


class FakeRingyo:
    """Cursor pagination over `items`; `on_request(n, cursor)` may return a response to inject."""

    def __init__(self, items: list[dict[str, Any]], limit_cap: int = 100) -> None:
        self.items = items
        self.requests = 0
        self.limit_cap = limit_cap
        self.on_request: Callable[[int, str | None], httpx.Response | None] | None = None
        self.total_override: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        cursor = request.url.params.get("cursor")
        if self.on_request is not None:
            injected = self.on_request(self.requests, cursor)
            if injected is not None:
                return injected
        limit = min(int(request.url.params.get("limit", 20)), self.limit_cap)
        status = request.url.params.get("status")
        items = [i for i in self.items if status is None or i.get("status") == status]
        offset = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        next_cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        total = len(items) if self.total_override is None else self.total_override
        return as_json(
            {
                "data": page,
                "has_more": more,
                "next_cursor": next_cursor if more else None,
                "total": total,
            }
        )


class FakeTryVox:
    """Page-number pagination over `items` (newest first); `after_page(n)` may mutate items."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.requests = 0
        self.after_page: Callable[[int], None] | None = None
        self.total_override: int | None = None
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests += 1
            page = int(request.url.params.get("page", 1))
            per_page = int(request.url.params.get("per_page", 20))
            items = list(self.items)
            chunk = items[(page - 1) * per_page : page * per_page]
            total = len(items) if self.total_override is None else self.total_override
            body = {
                "data": chunk,
                "pagination": {
                    "total": total,
                    "count": len(chunk),
                    "per_page": per_page,
                    "current_page": page,
                    "total_pages": max(1, math.ceil(total / per_page)),
                },
            }
            if self.after_page is not None:
                self.after_page(page)
        return as_json(body)
