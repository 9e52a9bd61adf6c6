"""The provider simulator: faithful to both providers' pages, deterministic, fault-injectable.

Every test runs a real `SimulatorServer` on a loopback port and talks to it with httpx, the
way the sync client does.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from syncer.simulator import Faults, SimAccount, SimulatorServer, World, parse_faults, run
from syncer.simulator.faults import spec_of
from syncer.simulator.injector import FaultRuntime, RateLimitVerdict
from syncer.simulator.runner import Plan

RINGYO_FIELDS = {
    "id", "phone_number", "friendly_name", "country", "region", "capabilities", "status",
    "default_agent_id", "created_at",
}  # fmt: skip
TRYVOX_FIELDS = {
    "e164", "country", "type", "region", "status", "capabilities", "monthly_fee", "setup_fee",
    "currency", "trunk_id", "application_id", "created_at", "updated_at",
}  # fmt: skip
NATIONAL_FORMATS = {
    "US": r"^\+1[2-9]\d\d[2-9]\d{6}$",
    "CA": r"^\+1[2-9]\d\d[2-9]\d{6}$",
    "GB": r"^\+44(20|161|131|2920|7[479]|800)\d{6,8}$",
    "DE": r"^\+49(30|89|40|15[17]|160|800)\d{7,8}$",
    "FR": r"^\+33[14678]\d{8}$",
    "IN": r"^\+91(22|80|11|9[789])\d{8}$",
    "AU": r"^\+61([2347]\d{8}|1800\d{6})$",
}
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
def world() -> World:
    return World.generate(numbers=400, seed=7, accounts_per_provider=2, clock=fixed_clock)


@pytest.fixture
def server(world: World) -> Iterator[SimulatorServer]:
    with SimulatorServer(world) as server:
        yield server


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def account(world: World, name: str) -> SimAccount:
    return next(a for a in world.accounts if a.name == name)


def auth(acc: SimAccount) -> dict[str, str]:
    return {"Authorization": f"Bearer {acc.api_key}"}


def get(client: httpx.Client, acc: SimAccount, **params: Any) -> httpx.Response:
    return client.get(acc.path, params=params, headers=auth(acc))


def decimal_json(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


def ringyo_walk(
    client: httpx.Client, acc: SimAccount, limit: int = 37, filters: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], set[int]]:
    """Every item of a cursor listing, and the totals the pages reported."""
    items: list[dict[str, Any]] = []
    totals: set[int] = set()
    params: dict[str, Any] = {"limit": limit, **(filters or {})}
    while True:
        response = get(client, acc, **params)
        assert response.status_code == 200, response.text
        body = decimal_json(response)
        items += body["data"]
        totals.add(body["total"])
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return items, totals
        params["cursor"] = body["next_cursor"]


def tryvox_walk(
    client: httpx.Client, acc: SimAccount, per_page: int = 23, filters: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], set[int]]:
    """Every item of a page-number listing, and the totals the pages reported."""
    items: list[dict[str, Any]] = []
    totals: set[int] = set()
    page, total_pages = 1, 1
    while page <= total_pages:
        response = get(client, acc, page=page, per_page=per_page, **(filters or {}))
        assert response.status_code == 200, response.text
        body = decimal_json(response)
        pagination = body["pagination"]
        assert pagination["current_page"] == page
        assert pagination["per_page"] == per_page
        assert pagination["count"] == len(body["data"])
        items += body["data"]
        totals.add(pagination["total"])
        total_pages = pagination["total_pages"]
        page += 1
    return items, totals


def as_served(item: dict[str, Any]) -> dict[str, Any]:
    """An inventory item (fees as strings) the way a Decimal JSON parser reads the API."""
    return {k: Decimal(v) if k.endswith("_fee") else v for k, v in item.items()}


# -- the generated world ---------------------------------------------------------------------


def test_same_seed_same_world_other_seed_other_world() -> None:
    first = World.generate(numbers=300, seed=11, accounts_per_provider=3)
    second = World.generate(numbers=300, seed=11, accounts_per_provider=3)
    other = World.generate(numbers=300, seed=12, accounts_per_provider=3)
    assert first.inventory() == second.inventory()
    assert first.accounts == second.accounts
    assert [a.api_key for a in first.accounts] == [a.api_key for a in second.accounts]
    assert first.inventory() != other.inventory()
    assert [a.name for a in first.accounts] == [
        "ringyo-1", "ringyo-2", "ringyo-3", "tryvox-1", "tryvox-2", "tryvox-3",
    ]  # fmt: skip
    assert sum(first.count(a.name) for a in first.accounts) == 300


def test_accounts_have_provider_shaped_keys(world: World) -> None:
    for acc in world.accounts:
        if acc.provider == "ringyo":
            assert re.fullmatch(r"rk_sim_[0-9a-f]{32}", acc.api_key)
            assert acc.account_id is None
            assert acc.path == "/v1/phone-numbers"
        else:
            assert re.fullmatch(r"tvx_sk_sim_[0-9a-f]{32}", acc.api_key)
            assert acc.account_id is not None
            assert re.fullmatch(r"acc_[0-9a-f]{12}", acc.account_id)
            assert acc.path == f"/v1/account/{acc.account_id}/numbers"
        assert acc.api_key not in repr(acc)


def test_numbers_look_real_and_are_unique() -> None:
    inventory = World.generate(numbers=2000, seed=3).inventory()
    ringyo = [i for items in inventory["ringyo"].values() for i in items]
    tryvox = [i for items in inventory["tryvox"].values() for i in items]
    numbers = [i["phone_number"] for i in ringyo] + [i["e164"] for i in tryvox]
    assert len(numbers) == len(set(numbers)) == 2000
    countries = [i["country"] for i in ringyo + tryvox]
    assert set(countries) == set(NATIONAL_FORMATS)
    assert countries.count("US") > 2000 * 0.35
    for item in ringyo:
        assert set(item) == RINGYO_FIELDS
        assert re.fullmatch(NATIONAL_FORMATS[item["country"]], item["phone_number"])
        assert re.fullmatch(r"pn_[0-9a-f]{12}", item["id"])
        assert set(item["capabilities"]) == {"voice", "sms"}
    for item in tryvox:
        assert set(item) == TRYVOX_FIELDS
        assert re.fullmatch(NATIONAL_FORMATS[item["country"]], item["e164"])
        assert item["updated_at"] >= item["created_at"]
        assert item["currency"] == "USD"
        assert set(item["capabilities"]) <= {"voice", "sms", "mms"}
        if item["type"] == "toll_free":
            assert item["region"]
            assert Decimal(item["setup_fee"]) > 0
    ringyo_active = sum(i["status"] == "active" for i in ringyo) / len(ringyo)
    assert 0.78 < ringyo_active < 0.92
    assert {i["status"] for i in ringyo} == {"active", "pending", "inactive"}
    assert {i["status"] for i in tryvox} == {"active", "pending", "suspended"}
    assert {i["type"] for i in tryvox} == {"local", "mobile", "toll_free"}
    us_local = {i["monthly_fee"] for i in tryvox if (i["country"], i["type"]) == ("US", "local")}
    assert us_local == {"1.15"}
    assert sum(i["setup_fee"] == "0.00" for i in tryvox) > len(tryvox) * 0.8


# -- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "active"},
        {"status": "pending"},
        {"country": "US"},
        {"country": "GB", "status": "active"},
    ],
)
def test_ringyo_cursor_listing_walks_the_whole_inventory(
    world: World, client: httpx.Client, filters: dict[str, str]
) -> None:
    truth = world.inventory()["ringyo"]
    for name, items in truth.items():
        expected = [i for i in items if all(i[k] == v for k, v in filters.items())]
        listed, totals = ringyo_walk(client, account(world, name), filters=filters)
        assert listed == expected
        assert totals == {len(expected)}
        created = [(i["created_at"], i["id"]) for i in listed]
        assert created == sorted(created)


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "suspended"}, {"country": "US"}, {"country": "in", "status": "active"}],
)
def test_tryvox_page_listing_walks_the_whole_inventory(
    world: World, client: httpx.Client, filters: dict[str, str]
) -> None:
    truth = world.inventory()["tryvox"]
    for name, items in truth.items():
        wanted = {k: v.upper() if k == "country" else v for k, v in filters.items()}
        expected = [as_served(i) for i in items if all(i[k] == v for k, v in wanted.items())]
        listed, totals = tryvox_walk(client, account(world, name), filters=filters)
        assert listed == expected
        assert totals == {len(expected)}
        created = [i["created_at"] for i in listed]
        assert created == sorted(created, reverse=True)


def test_tryvox_fees_are_json_numbers(world: World, client: httpx.Client) -> None:
    body = get(client, account(world, "tryvox-1"), per_page=100).json()
    fees = [(i["monthly_fee"], i["setup_fee"]) for i in body["data"]]
    assert all(isinstance(fee, float) for pair in fees for fee in pair)
    assert '"setup_fee":0.0' in get(client, account(world, "tryvox-1")).text


def test_defaults_and_pages_beyond_the_last(world: World, client: httpx.Client) -> None:
    ringyo = get(client, account(world, "ringyo-1")).json()
    assert len(ringyo["data"]) == 20
    assert ringyo["has_more"] is True
    tryvox = account(world, "tryvox-1")
    total = world.count("tryvox-1")
    first = get(client, tryvox).json()["pagination"]
    assert first == {
        "total": total, "count": 20, "per_page": 20, "current_page": 1,
        "total_pages": -(-total // 20),
    }  # fmt: skip
    beyond = get(client, tryvox, page=99).json()
    assert beyond["data"] == []
    assert beyond["pagination"]["count"] == 0
    assert beyond["pagination"]["current_page"] == 99
    empty = get(client, tryvox, country="ZZ").json()["pagination"]
    assert (empty["total"], empty["total_pages"]) == (0, 1)


# -- errors ----------------------------------------------------------------------------------


def ringyo_error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()["error"]["code"]


def test_ringyo_refuses_bad_requests(world: World, client: httpx.Client) -> None:
    ringyo = account(world, "ringyo-1")
    path = ringyo.path
    assert ringyo_error(client.get(path)) == (401, "unauthorized")
    assert ringyo_error(client.get(path, headers={"Authorization": "Bearer nope"})) == (
        401,
        "unauthorized",
    )
    for limit in ("0", "101", "ten"):
        assert ringyo_error(get(client, ringyo, limit=limit)) == (400, "invalid_limit")
    assert ringyo_error(get(client, ringyo, status="suspended")) == (400, "invalid_status")
    for country in ("USA", "U1", "1"):
        assert ringyo_error(get(client, ringyo, country=country)) == (400, "invalid_country")
    assert ringyo_error(get(client, ringyo, cursor="not-a-cursor")) == (400, "invalid_cursor")


def test_ringyo_cursor_is_bound_to_its_filters_and_account(
    world: World, client: httpx.Client
) -> None:
    ringyo = account(world, "ringyo-1")
    cursor = get(client, ringyo, limit=5, status="active").json()["next_cursor"]
    assert get(client, ringyo, limit=5, status="active", cursor=cursor).status_code == 200
    assert ringyo_error(get(client, ringyo, limit=5, cursor=cursor)) == (400, "invalid_cursor")
    other = account(world, "ringyo-2")
    refused = get(client, other, limit=5, status="active", cursor=cursor)
    assert ringyo_error(refused) == (400, "invalid_cursor")


def test_tryvox_refuses_bad_requests(world: World, client: httpx.Client) -> None:
    tryvox, other = account(world, "tryvox-1"), account(world, "tryvox-2")
    unknown = client.get("/v1/account/acc_nope/numbers", headers=auth(tryvox))
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    for headers in ({}, auth(other), {"Authorization": "Basic xyz"}):
        refused = client.get(tryvox.path, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")
    for params in (
        {"per_page": 0}, {"per_page": 101}, {"page": 0}, {"page": "x"},
        {"status": "inactive"}, {"country": "GBR"},
    ):  # fmt: skip
        refused = get(client, tryvox, **params)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_parameter")
        assert refused.json()["message"]


def test_unknown_paths_and_methods(world: World, client: httpx.Client) -> None:
    missing = client.get("/v2/numbers")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (
        client.post("/v1/phone-numbers", headers=auth(account(world, "ringyo-1"))).status_code
        == 405
    )
    assert client.get("/_sim/churn").status_code == 405
    assert client.get("/_sim/nothing").status_code == 404


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_sends_retry_after_and_counts_early_retries(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("ringyo:rate_limit_every=3,retry_after=1"))
    first, second = account(world, "ringyo-1"), account(world, "ringyo-2")
    assert [get(client, first).status_code for _ in range(2)] == [200, 200]
    limited = get(client, first)
    limited_at = time.monotonic()
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limited"
    time.sleep(0.15)  # past the grace for requests that were already on their way
    early = get(client, first)
    assert (early.status_code, early.headers["retry-after"]) == (429, "1")
    assert get(client, second).status_code == 200  # the limit is per key
    time.sleep(max(0.0, limited_at + 1.05 - time.monotonic()))
    assert get(client, first).status_code == 200
    stats = server.stats()
    assert stats["early_retries"] == 1
    assert stats["requests"]["ringyo"] == {"200": 4, "429": 2}
    assert stats["faults"] == {"early_retry": 1, "rate_limited": 1}
    assert stats["accounts"] == {"ringyo-1": 5, "ringyo-2": 1}


def test_requests_already_in_flight_at_a_429_are_not_early_retries() -> None:
    runtime = FaultRuntime(Faults(rate_limit_every=1, retry_after=2), seed="1")
    started = runtime.rate_limit("key", now=10.0, arrived=10.0)
    assert started == RateLimitVerdict(2, "rate_limited")
    concurrent = runtime.rate_limit("key", now=10.3, arrived=10.05)
    assert concurrent == RateLimitVerdict(2, "rate_limited_in_flight")
    impatient = runtime.rate_limit("key", now=10.5, arrived=10.5)
    assert impatient == RateLimitVerdict(2, "early_retry")
    assert runtime.rate_limit("other", now=10.5, arrived=10.5) == RateLimitVerdict(
        2, "rate_limited"
    )


def test_server_errors_rotate_and_fail_after_cuts_a_run(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    tryvox = account(world, "tryvox-1")
    server.set_faults(parse_faults("tryvox:error_rate=1"))
    assert [get(client, tryvox).status_code for _ in range(4)] == [500, 502, 503, 500]
    assert get(client, account(world, "ringyo-1")).status_code == 200
    server.set_faults(parse_faults("fail_after=2"))
    assert [get(client, tryvox).status_code for _ in range(4)] == [200, 200, 503, 503]
    assert server.stats()["faults"]["fail_after"] == 2


def test_truncation_gives_a_complete_but_unparseable_200(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("truncate_rate=1"))
    for name in ("ringyo-1", "tryvox-1"):
        response = get(client, account(world, name))
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    assert server.stats()["faults"]["truncated"] == 2


def test_drop_closes_the_connection_without_an_answer(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("ringyo:drop_rate=1"))
    with pytest.raises(httpx.TransportError):
        get(client, account(world, "ringyo-1"))
    assert get(client, account(world, "tryvox-1")).status_code == 200
    assert server.stats()["requests"]["ringyo"] == {"dropped": 1}


def test_rates_are_shares_of_requests(world: World, server: SimulatorServer) -> None:
    server.set_faults(parse_faults("ringyo:error_rate=0.3"))
    with httpx.Client(base_url=server.url) as client:
        statuses = [get(client, account(world, "ringyo-1")).status_code for _ in range(100)]
    assert 15 <= sum(status >= 500 for status in statuses) <= 45


def test_latency_delays_every_answer_and_in_flight_requests_are_counted(
    world: World, server: SimulatorServer
) -> None:
    server.set_faults(parse_faults("tryvox:latency_ms=200"))
    tryvox = account(world, "tryvox-1")
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(
                lambda page: (
                    httpx.get(
                        server.url + tryvox.path, params={"page": page}, headers=auth(tryvox)
                    ).status_code
                ),
                range(1, 5),
            )
        )
    assert statuses == [200] * 4
    assert time.perf_counter() - started >= 0.2
    assert server.stats()["max_requests_per_key_in_flight"] >= 2  # served concurrently


def test_drift_shifts_later_tryvox_pages_once(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("tryvox:drift_after_page=1,drift_count=5"))
    tryvox = account(world, "tryvox-1")
    before = world.count("tryvox-1")
    page1 = get(client, tryvox, per_page=10).json()
    page2 = get(client, tryvox, page=2, per_page=10).json()
    assert page1["pagination"]["total"] == before
    assert page2["pagination"]["total"] == before + 5
    assert page2["data"][:5] == page1["data"][5:]  # the end of page 1 moved to page 2
    again = get(client, tryvox, per_page=10).json()
    assert again["pagination"]["total"] == before + 5  # once per account
    new = {i["e164"] for i in again["data"][:5]}
    assert new.isdisjoint(i["e164"] for i in page1["data"])
    assert all(i["created_at"] >= "2026-11-20T12:00:00Z" for i in again["data"][:5])
    assert server.stats()["faults"]["drift"] == 1


def test_drift_appends_to_a_ringyo_listing(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("ringyo:drift_after_page=2,drift_count=3"))
    ringyo = account(world, "ringyo-1")
    before = world.count("ringyo-1")
    listed, totals = ringyo_walk(client, ringyo, limit=20)
    assert totals == {before, before + 3}
    assert len({i["id"] for i in listed}) == len(listed) == before + 3


def test_cursor_ttl_counts_the_accounts_requests(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("ringyo:cursor_ttl_requests=1"))
    ringyo = account(world, "ringyo-1")
    cursor = get(client, ringyo, limit=5).json()["next_cursor"]
    assert get(client, ringyo, limit=5, cursor=cursor).status_code == 200
    get(client, account(world, "ringyo-2"), limit=5)  # another account's request is no matter
    fresh = get(client, ringyo, limit=5).json()["next_cursor"]
    get(client, ringyo, limit=5)
    expired = get(client, ringyo, limit=5, cursor=fresh)
    assert ringyo_error(expired) == (400, "invalid_cursor")
    assert "expired" in expired.json()["error"]["message"]
    assert server.stats()["faults"]["cursor_expired"] == 1


def test_cursor_expire_once_refuses_only_the_first_cursor(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("ringyo:cursor_expire_once=true"))
    ringyo = account(world, "ringyo-1")
    cursor = get(client, ringyo, limit=5).json()["next_cursor"]
    assert ringyo_error(get(client, ringyo, limit=5, cursor=cursor)) == (400, "invalid_cursor")
    assert get(client, ringyo, limit=5, cursor=cursor).status_code == 200
    listed, _ = ringyo_walk(client, ringyo)
    assert len(listed) == world.count("ringyo-1")


def test_malformed_records_are_stable_and_listed_in_the_inventory(
    world: World, server: SimulatorServer, client: httpx.Client
) -> None:
    server.set_faults(parse_faults("malformed_rate=0.3"))
    inventory = world.inventory()
    kinds_seen: dict[str, set[str]] = {"ringyo": set(), "tryvox": set()}
    for acc in world.accounts:
        walk = ringyo_walk if acc.provider == "ringyo" else tryvox_walk
        listed, _ = walk(client, acc)
        assert walk(client, acc)[0] == listed  # the same records, spoiled the same way
        truth = inventory[acc.provider][acc.name]
        malformed = inventory["malformed"][acc.name]
        assert 0.15 * len(truth) < len(malformed) < 0.45 * len(truth)
        for served, true in zip(listed, truth, strict=True):
            key = true["id"] if acc.provider == "ringyo" else true["e164"]
            kind = malformed.get(key)
            if kind is None:
                assert served == as_served(true)
                continue
            kinds_seen[acc.provider].add(kind)
            check_malformation(kind, served, as_served(true))
    assert kinds_seen["ringyo"] == {"bad_e164", "unknown_status", "missing_field", "bad_timestamp"}
    assert kinds_seen["tryvox"] == {
        "bad_e164", "unknown_status", "fee_string", "negative_fee", "missing_field",
        "bad_timestamp",
    }  # fmt: skip
    assert server.stats()["faults"]["malformed_records"] > 0
    server.set_faults(None)
    assert world.inventory()["malformed"] == {acc.name: {} for acc in world.accounts}


def check_malformation(kind: str, served: dict[str, Any], true: dict[str, Any]) -> None:
    """`served` differs from `true` in exactly the way `kind` says."""
    number_field = "phone_number" if "id" in true else "e164"
    changed = {k for k in true if served.get(k, object()) != true[k]}
    if kind == "bad_e164":
        assert changed == {number_field}
        assert not E164.match(served[number_field])
        assert re.sub(r"\D", "", served[number_field]) == true[number_field][1:]
    elif kind == "unknown_status":
        assert (changed, served["status"]) == ({"status"}, "decommissioned")
    elif kind == "fee_string":
        assert (changed, served["monthly_fee"]) == ({"monthly_fee"}, str(true["monthly_fee"]))
    elif kind == "negative_fee":
        assert changed == {"monthly_fee"}
        assert served["monthly_fee"] < 0
    elif kind == "missing_field":
        missing = "phone_number" if "id" in true else "status"
        assert changed == {missing}
        assert missing not in served
    else:
        assert (changed, served["created_at"]) == ({"created_at"}, "yesterday")


# -- changing the world ----------------------------------------------------------------------


def test_mutations_show_in_the_api(world: World, client: httpx.Client) -> None:
    ringyo, tryvox = account(world, "ringyo-1"), account(world, "tryvox-1")
    first_id = world.inventory()["ringyo"]["ringyo-1"][0]["id"]
    world.set_status("ringyo", "ringyo-1", first_id, "inactive")
    assert get(client, ringyo, limit=1).json()["data"][0]["status"] == "inactive"
    e164 = world.inventory()["tryvox"]["tryvox-1"][0]["e164"]
    world.set_monthly_fee("tryvox-1", e164, Decimal("9.99"))
    changed = decimal_json(get(client, tryvox, per_page=1))["data"][0]
    assert (changed["monthly_fee"], changed["updated_at"]) == (
        Decimal("9.99"),
        "2026-11-20T12:00:00Z",
    )
    world.release("tryvox-1", e164)
    assert e164 not in {i["e164"] for i in tryvox_walk(client, tryvox)[0]}
    added = world.add_numbers("tryvox-1", 2)
    assert [i["e164"] for i in get(client, tryvox).json()["data"][:2]] == added[::-1]
    new_ids = world.add_numbers("ringyo-1", 2)
    assert [i["id"] for i in ringyo_walk(client, ringyo)[0][-2:]] == new_ids
    with pytest.raises(ValueError, match="suspended"):
        world.set_status("ringyo", "ringyo-1", first_id, "suspended")
    with pytest.raises(ValueError, match="Ringyo"):
        world.set_monthly_fee("ringyo-1", first_id, Decimal("1.00"))
    with pytest.raises(KeyError):
        world.release("ringyo-1", "pn_missing")


def test_churn_changes_about_the_requested_share() -> None:
    worlds = [World.generate(numbers=1000, seed=5, clock=fixed_clock) for _ in range(2)]
    before = worlds[0].inventory()
    summary = worlds[0].churn(fraction=0.1, seed=3)
    assert worlds[1].churn(fraction=0.1, seed=3) == summary
    assert worlds[0].inventory() == worlds[1].inventory()
    touched = summary["status_changes"] + summary["releases"] + summary["fee_changes"]
    assert touched == 100
    assert summary["new_numbers"] == 25
    assert summary["releases"] > 0
    assert summary["fee_changes"] > 0
    after = worlds[0].inventory()
    differences = 0
    for provider, key in (("ringyo", "id"), ("tryvox", "e164")):
        for name, items in before[provider].items():
            now = {i[key]: i for i in after[provider][name]}
            differences += sum(now.get(i[key]) != i for i in items)
    assert differences == touched
    assert (
        sum(worlds[0].count(a.name) for a in worlds[0].accounts) == 1000 - summary["releases"] + 25
    )
    with pytest.raises(ValueError, match="fraction"):
        worlds[0].churn(fraction=1.5)


# -- admin API, HTTP behaviour, run() --------------------------------------------------------


def test_admin_endpoints(world: World, server: SimulatorServer, client: httpx.Client) -> None:
    accounts = client.get("/_sim/accounts").json()
    assert [(a["name"], a["api_key"], a["account_id"]) for a in accounts] == [
        (a.name, a.api_key, a.account_id) for a in world.accounts
    ]
    assert client.get("/_sim/inventory").json() == world.inventory()
    churned = client.post("/_sim/churn", json={"fraction": 0.05, "seed": 2}).json()
    assert churned["status_changes"] + churned["releases"] + churned["fee_changes"] == 20
    assert client.post("/_sim/churn", json={"fraction": "lots"}).status_code == 400
    spec = "latency_ms=0;tryvox:drift_after_page=2"
    faults = client.post("/_sim/faults", json={"spec": spec}).json()
    assert faults["tryvox"]["drift_after_page"] == 2
    assert world.faults["tryvox"] == Faults(drift_after_page=2)
    refused = client.post("/_sim/faults", json={"spec": "latency_ms=slow"})
    assert refused.status_code == 400
    assert "latency_ms" in refused.json()["message"]
    get(client, account(world, "ringyo-1"))
    assert client.get("/_sim/stats").json()["requests"] == {"ringyo": {"200": 1}}
    assert client.post("/_sim/reset-stats").json() == {"ok": True}
    assert server.stats()["requests"] == {}


def test_connections_are_kept_alive_until_stop(world: World) -> None:
    server = SimulatorServer(world).start()
    ringyo = account(world, "ringyo-1")
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    for _ in range(2):
        connection.request("GET", ringyo.path, headers=auth(ringyo))
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert not response.will_close
    socket_before = connection.sock
    connection.request("GET", "/_sim/stats")
    connection.getresponse().read()
    assert connection.sock is socket_before
    server.stop()

    def ask_again() -> None:
        connection.request("GET", ringyo.path, headers=auth(ringyo))
        connection.getresponse()

    with pytest.raises((http.client.HTTPException, OSError)):
        ask_again()
    connection.close()
    server.stop()  # twice is harmless


def test_a_20000_number_world_lists_fast() -> None:
    world = World.generate(numbers=20_000, seed=1)
    with SimulatorServer(world) as server, httpx.Client(base_url=server.url) as client:
        started = time.perf_counter()
        for acc in world.accounts:
            if acc.provider == "tryvox":
                listed, _ = tryvox_walk(client, acc, per_page=100)
                assert len(listed) == 5000
        elapsed = time.perf_counter() - started
    assert elapsed < 3.0


def test_parse_faults_grammar() -> None:
    faults = parse_faults("latency_ms=50,rate_limit_every=10;tryvox:drift_after_page=2")
    assert faults["ringyo"] == Faults(latency_ms=50, rate_limit_every=10)
    assert faults["tryvox"] == Faults(latency_ms=50, rate_limit_every=10, drift_after_page=2)
    assert parse_faults("") == {"ringyo": Faults(), "tryvox": Faults()}
    flags = parse_faults(" ringyo : cursor_expire_once = yes , fail_after=0 ; ")["ringyo"]
    assert (flags.cursor_expire_once, flags.fail_after) == (True, 0)
    assert parse_faults(spec_of(faults)) == faults
    for spec, named in (
        ("bogus=1", "bogus"),
        ("latency_ms=abc", "latency_ms"),
        ("error_rate=1.5", "error_rate"),
        ("rate_limit_every=0", "rate_limit_every"),
        ("acme:latency_ms=1", "acme"),
        ("drop_rate", "drop_rate"),
        ("cursor_expire_once=maybe", "cursor_expire_once"),
    ):
        with pytest.raises(ValueError, match=named):
            parse_faults(spec)
    with pytest.raises(ValueError, match="truncate_rate"):
        Faults(truncate_rate=-0.1)


def test_run_prints_a_ready_config_and_serves_until_stopped() -> None:
    import tomllib

    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=run,
        args=(Plan("127.0.0.1", 0, 40, 9, 1, "tryvox:latency_ms=1"), lines.append),
        kwargs={"stop": stop},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not any(line.startswith("Press Ctrl-C") for line in lines):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert url is not None
        exports = [line for line in lines if line.startswith("export ")]
        assert [e.split("=")[0] for e in exports] == [
            "export RINGYO_1_API_KEY",
            "export TRYVOX_1_API_KEY",
        ]
        start = lines.index("syncer.toml:") + 2
        end = next(i for i, line in enumerate(lines) if line.startswith("Admin API"))
        config = tomllib.loads("\n".join(lines[start:end]))
        assert [a["name"] for a in config["accounts"]] == ["ringyo-1", "tryvox-1"]
        assert {a["base_url"] for a in config["accounts"]} == {url.group(0)}
        accounts = httpx.get(url.group(0) + "/_sim/accounts").json()
        assert accounts[1]["account_id"] == config["accounts"][1]["account_id"]
        assert "Faults: tryvox:latency_ms=1" in lines
    finally:
        stop.set()
        thread.join(5)
    assert lines[-1] == "Simulator stopped."
    with pytest.raises(ValueError, match="nonsense"):
        run(Plan("127.0.0.1", 0, 10, 1, 1, "nonsense=1"), lines.append)
