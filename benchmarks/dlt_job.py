"""dlt doing syncer's job, for comparison: every account listed into SQL with history.

Two resources, one per provider, each listing every account of that provider with dlt's own
REST client: Ringyo with `JSONResponseCursorPaginator` (`next_cursor` -> `cursor`), TryVox with
`PageNumberPaginator` (`page` from 1, `pagination.total_pages`). Both are loaded with
`write_disposition={"disposition": "merge", "strategy": "scd2"}`: a changed record closes its
current row and opens a new one, a record missing from the full listing is retired. That is
dlt's way of doing what syncer does (current state, exact history, releases), with its
defaults (nested fields flattened, lists into child tables).

    python benchmarks/dlt_job.py ACCOUNTS_JSON DATABASE PIPELINES_DIR

DATABASE is a SQLite file path (dlt's `sqlalchemy` destination) or a `postgresql://` URL (its
`postgres` destination). Needs the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import dlt  # dlt reads the settings above when it is imported
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import (
    JSONResponseCursorPaginator,
    PageNumberPaginator,
)

SCD2 = {"disposition": "merge", "strategy": "scd2"}


def provider_resource(provider: str, accounts: list[dict[str, Any]]) -> Any:
    @dlt.resource(name=f"{provider}_numbers", write_disposition=SCD2)  # type: ignore[call-overload]
    def numbers() -> Iterator[list[dict[str, Any]]]:
        for account in accounts:
            if provider == "ringyo":
                paginator: Any = JSONResponseCursorPaginator(
                    cursor_path="next_cursor", cursor_param="cursor"
                )
                params = {"limit": 100}
            else:
                paginator = PageNumberPaginator(
                    base_page=1, page_param="page", total_path="pagination.total_pages"
                )
                params = {"per_page": 100}
            client = RESTClient(
                base_url=account["base_url"],
                auth=BearerTokenAuth(account["api_key"]),
                paginator=paginator,
                data_selector="data",
            )
            for page in client.paginate(account["path"], params=params):
                yield [dict(item, account=account["name"]) for item in page]

    return numbers


def destination(database: str) -> Any:
    if database.startswith("postgresql"):
        url = urlsplit(database.replace("postgresql+psycopg://", "postgresql://"))
        if url.username and url.password is None:  # dlt insists on a password, even an empty one
            url = url._replace(netloc=url.netloc.replace("@", ":@", 1))
        return dlt.destinations.postgres(credentials=urlunsplit(url))
    return dlt.destinations.sqlalchemy(credentials=f"sqlite:///{database}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("accounts", help="JSON file: the accounts with base_url")
    parser.add_argument("database", help="SQLite path or PostgreSQL URL")
    parser.add_argument("pipelines_dir", help="where dlt keeps its pipeline state")
    args = parser.parse_args()
    with open(args.accounts) as file:
        accounts = json.load(file)

    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="syncer_bench",
        destination=destination(args.database),
        dataset_name="numbers",
        pipelines_dir=args.pipelines_dir,
    )
    resources = [
        provider_resource(provider, [a for a in accounts if a["provider"] == provider])
        for provider in ("ringyo", "tryvox")
    ]
    info = pipeline.run(resources)
    info.raise_on_failed_jobs()
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
