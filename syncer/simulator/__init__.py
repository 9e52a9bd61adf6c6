"""The provider simulator: Ringyo's and TryVox's list-numbers APIs on loopback.

Tests, the demo, benchmarks and `syncer simulate` run the real sync client against it. The
data is generated from a seed (`World.generate`), served at the providers' real paths with
their documented fields, paging and errors, and can be changed (`World.churn`, `set_status`,
...) and spoiled (`Faults`) while a client lists. Standard library only, plus two leaf
modules of syncer (`provider_facts`: the statuses each provider documents; `timestamps`);
nothing else in `syncer` imports it except the CLI and the demo.

    world = World.generate(numbers=1000, seed=7, accounts_per_provider=2)
    with SimulatorServer(world, faults=parse_faults("tryvox:drift_after_page=2")) as server:
        ...  # sync against server.url with world.accounts; compare with world.inventory()

Module map: `countries` (number plans, fees), `model` (accounts, numbers, their factory),
`world` (state, listing, mutations), `churn`, `wire` (JSON and malformations), `apis` (the
two endpoints), `faults` + `injector` (fault settings and their run-time state), `app`
(dispatch and admin API), `stats`, `server` (HTTP), `runner` (`syncer simulate`).
"""

from syncer.simulator.faults import FAULT_KEYS, Faults, parse_faults
from syncer.simulator.model import SimAccount, SimNumber
from syncer.simulator.runner import run
from syncer.simulator.server import SimulatorServer
from syncer.simulator.world import World

__all__ = [
    "FAULT_KEYS",
    "Faults",
    "SimAccount",
    "SimNumber",
    "SimulatorServer",
    "World",
    "parse_faults",
    "run",
]
