"""How long syncer takes to list one TryVox account at a given page concurrency.

Lists the account with syncer's own provider client (validation included, no database) and
prints the seconds from the first request to the last page, and the records listed.

    python benchmarks/listing.py CONFIG ACCOUNT CONCURRENCY
"""

from __future__ import annotations

import argparse
import json
import time

from syncer.config import load_config, resolve_accounts
from syncer.providers import ProviderClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a syncer.toml naming the account")
    parser.add_argument("account", help="the TryVox account to list")
    parser.add_argument("concurrency", type=int, help="pages fetched at once")
    args = parser.parse_args()
    config = load_config(args.config)
    (account,) = resolve_accounts(config, [args.account])
    account = type(account)(
        account.config.model_copy(update={"concurrency": args.concurrency}), account.api_key
    )
    with ProviderClient(account) as client:
        started = time.perf_counter()
        listing = client.listing()
        records = sum(len(page.records) for page in listing.pages())
        seconds = time.perf_counter() - started
    if not listing.outcome.complete:
        raise SystemExit(f"listing incomplete: {listing.outcome.problem}")
    print(json.dumps({"records": records, "pages": listing.pages_fetched, "seconds": seconds}))


if __name__ == "__main__":
    main()
