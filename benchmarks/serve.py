"""The benchmark's provider world, served on loopback until stdin closes or SIGTERM.

`syncer simulate` splits a world evenly; the benchmark's world is the one the speed issue
measured: two accounts per provider, the first holding four times the numbers of the second
(80,000 and 20,000 each at 200,000 numbers). Prints one JSON line once it is serving: the
base URL, the accounts (with their keys and paths, as the floor and dlt scripts read them),
the environment variables holding the keys and a `syncer.toml` for them.

    python benchmarks/serve.py --numbers 200000 [--accounts 2] [--weights 4,1] [--faults SPEC]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.simulator.runner import config_toml, env_var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, required=True, help="numbers in the world")
    parser.add_argument("--seed", type=int, default=1, help="seed of the world (1)")
    parser.add_argument("--accounts", type=int, default=2, help="accounts per provider (2)")
    parser.add_argument("--weights", default="4,1", help="relative account sizes (4,1)")
    parser.add_argument("--faults", help="a fault spec, as `syncer simulate --faults`")
    args = parser.parse_args()
    weights = [int(weight) for weight in args.weights.split(",")]
    if len(weights) != args.accounts:
        weights = [1] * args.accounts
    world = World.generate(args.numbers, args.seed, args.accounts, weights=weights)
    faults = parse_faults(args.faults) if args.faults else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimulatorServer(world, faults=faults) as server:
        accounts = [
            {
                "name": account.name,
                "provider": account.provider,
                "api_key": account.api_key,
                "account_id": account.account_id,
                "path": account.path,
                "base_url": server.url,
            }
            for account in world.accounts
        ]
        banner = {
            "url": server.url,
            "accounts": accounts,
            "keys": {env_var(account): account.api_key for account in world.accounts},
            "config_toml": "\n".join(config_toml(server.url, world.accounts)),
        }
        print(json.dumps(banner), flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()


if __name__ == "__main__":
    main()
