"""The floor: the least any sync of the simulated accounts can cost, as a bare script.

One httpx client fetches every page of every account, one after the other (Ringyo by cursor,
TryVox by page number), parses each body with `response.json()`, and, unless `--fetch-only`,
inserts the page's raw fields with one `executemany` into an empty table and commits. No
validation, no history, no diff: what is left when a sync does nothing but move the rows.

    python benchmarks/floor.py ACCOUNTS_JSON DATABASE [--fetch-only]

ACCOUNTS_JSON is the simulator's `/_sim/accounts` answer plus `base_url`; DATABASE is a
SQLite file path or a `postgresql://` URL. Prints the number of rows and the seconds spent
after imports.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

COLUMNS = ("account", "external_id", "e164", "country", "region", "status", "monthly_fee")


def ringyo_pages(client: httpx.Client, account: dict[str, Any]) -> Iterator[list[Any]]:
    headers = {"Authorization": f"Bearer {account['api_key']}"}
    params: dict[str, Any] = {"limit": 100}
    while True:
        body = client.get(account["base_url"] + account["path"], params=params, headers=headers)
        page = body.raise_for_status().json()
        yield page["data"]
        if not page["has_more"]:
            return
        params = {"limit": 100, "cursor": page["next_cursor"]}


def tryvox_pages(client: httpx.Client, account: dict[str, Any]) -> Iterator[list[Any]]:
    headers = {"Authorization": f"Bearer {account['api_key']}"}
    number = 1
    while True:
        params = {"page": number, "per_page": 100}
        body = client.get(account["base_url"] + account["path"], params=params, headers=headers)
        page = body.raise_for_status().json()
        yield page["data"]
        if number >= page["pagination"]["total_pages"]:
            return
        number += 1


def raw_row(account: str, item: dict[str, Any]) -> tuple[Any, ...]:
    key = item.get("id") or item.get("e164")
    e164 = item.get("phone_number") or item.get("e164")
    fee = item.get("monthly_fee")
    return (account, key, e164, item.get("country"), item.get("region"), item.get("status"), fee)


def connect(database: str) -> tuple[Any, str]:
    """A DB-API connection and its parameter placeholder."""
    if database.startswith("postgresql"):
        import psycopg

        return psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")), "%s"
    import sqlite3

    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection, "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("accounts", help="JSON file: the accounts with base_url")
    parser.add_argument("database", nargs="?", default="", help="SQLite path or PostgreSQL URL")
    parser.add_argument("--fetch-only", action="store_true", help="fetch and parse, store nothing")
    args = parser.parse_args()
    with open(args.accounts) as file:
        accounts = json.load(file)

    started = time.perf_counter()
    connection = insert = None
    if not args.fetch_only:
        connection, mark = connect(args.database)
        columns = ", ".join(COLUMNS)
        connection.execute("DROP TABLE IF EXISTS floor_numbers")
        connection.execute(
            f"CREATE TABLE floor_numbers ({', '.join(f'{c} TEXT' for c in COLUMNS[:-1])}, "
            "monthly_fee NUMERIC)"
        )
        connection.commit()
        insert = f"INSERT INTO floor_numbers ({columns}) VALUES ({', '.join([mark] * 7)})"
    rows = 0
    with httpx.Client() as client:
        for account in accounts:
            pages = ringyo_pages if account["provider"] == "ringyo" else tryvox_pages
            for items in pages(client, account):
                rows += len(items)
                if connection is not None:
                    cursor = connection.cursor()
                    cursor.executemany(insert, [raw_row(account["name"], i) for i in items])
                    connection.commit()
    if connection is not None:
        connection.close()
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
