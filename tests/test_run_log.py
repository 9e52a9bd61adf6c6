"""One log line per run, with the account and its counts; as JSON keys with --log-format json."""

from __future__ import annotations

import io
import json
import logging

from sqlalchemy import Engine

from syncer.config import Config
from syncer.logs import _JsonFormatter, register_secrets
from syncer.sync import AccountSync
from tests.conftest import FakeClock
from tests.simulated import SimulatedProviders, world_of


def test_run_line_is_structured_json_without_the_key(engine: Engine, clock: FakeClock) -> None:
    world = world_of(7)
    key = world.account("tryvox-1").api_key
    register_secrets([key])
    providers = SimulatedProviders(world)
    account = providers.account("tryvox-1", name="vox-log")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonFormatter())
    logger = logging.getLogger("syncer.sync")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        with providers.client(account, clock) as client:
            AccountSync(engine, Config(), client, clock=clock).run()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "run_finished"
    assert entry["account"] == "vox-log"
    assert entry["provider"] == "tryvox"
    assert entry["status"] == "succeeded"
    assert entry["listing_complete"] is True
    assert entry["counts"]["seen"] == 7
    assert entry["counts"]["created"] == 7
    assert isinstance(entry["run_id"], int)
    assert entry["message"].startswith("vox-log: succeeded in ")
    assert key not in stream.getvalue()
