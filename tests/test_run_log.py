"""One log line per run, with the account and its counts; as JSON keys with --log-format json."""

from __future__ import annotations

import io
import json
import logging

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.logs import _JsonFormatter, register_secrets
from syncer.providers import ProviderClient
from syncer.sync import AccountSync
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox, tryvox_item


def test_run_line_is_structured_json_without_the_key(engine: Engine, clock: FakeClock) -> None:
    key = "tvx_live_secret_for_the_log_test"
    register_secrets([key])
    account = ResolvedAccount(
        AccountConfig(
            name="vox-log",
            provider="tryvox",
            account_id="acc_1",
            api_key_env="UNUSED",
            base_url="https://api.tryvox.test",
        ),
        SecretStr(key),
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonFormatter())
    logger = logging.getLogger("syncer.sync")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        transport = httpx.MockTransport(FakeTryVox([tryvox_item(n) for n in range(7)]))
        with ProviderClient(account, clock=clock, transport=transport) as client:
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
