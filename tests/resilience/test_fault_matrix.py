"""The fault matrix: every provider fault the simulator can inject, through the real client.

Each case syncs a simulated world, changes it (status and fee changes, releases, purchases),
syncs again, and ends with the database compared to the simulator's inventory field by field
(`tests.truth`). Figures per case (requests served, retries, rejected records)
are printed; `pytest -rP tests/resilience` shows them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from syncer.cli import main
from syncer.config import load_config
from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.store.engine import make_engine
from tests.invariants import assert_history_invariants, running_runs
from tests.resilience.conftest import (
    FAST_RETRIES,
    SimulationFactory,
    SyncReport,
    config_toml,
    rejected_records,
    runs,
)
from tests.truth import assert_mirror, assert_no_false_release, expected_mirror, stored_mirror

# Faults that cost a retry and nothing else. Rates are high so that a small world (a dozen
# pages over two syncs) meets each fault several times; Retry-After stays at 1 s.
TRANSIENT = {
    "latency": "latency_ms=20",
    "rate_limit": "rate_limit_every=4,retry_after=1",
    "server_errors": "error_rate=0.3",
    "dropped_connections": "drop_rate=0.25",
    "truncated_bodies": "truncate_rate=0.25",
    "all_transient": (
        "latency_ms=5,rate_limit_every=6,retry_after=1,error_rate=0.15,drop_rate=0.1,"
        "truncate_rate=0.1"
    ),
}
RETRIED_FAULTS = ("rate_limited", "rate_limited_in_flight", "server_error", "dropped", "truncated")


def assert_polite_and_complete(report: SyncReport) -> None:
    """Every account listed completely; every injected fault cost exactly one retry, none
    came before Retry-After, and every request the server saw was an attempt we counted."""
    for result in report.results:
        assert result.ok, f"{result.account}: {result.status}, {result.error}"
    stats = report.stats
    assert stats["early_retries"] == 0
    injected = sum(stats["faults"].get(kind, 0) for kind in RETRIED_FAULTS)
    assert report.attempts.retries == injected
    assert report.served == report.attempts.attempts == report.pages + report.attempts.retries
    assert report.served <= report.pages * FAST_RETRIES.max_attempts


@pytest.mark.parametrize("spec", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_faults_cost_nothing(simulation: SimulationFactory, spec: str) -> None:
    sim = simulation(numbers=600, faults=spec)
    first = sim.sync()
    assert_polite_and_complete(first)
    assert_mirror(sim.engine, expected_mirror(sim.world.inventory(), sim.config))

    changes = sim.world.churn(fraction=0.1, seed=3)
    second = sim.sync()
    assert_polite_and_complete(second)
    stored = assert_mirror(sim.engine, expected_mirror(sim.world.inventory(), sim.config))
    assert len(stored.released) == changes["releases"] > 0
    if spec != TRANSIENT["latency"]:
        assert first.attempts.retries + second.attempts.retries > 0, "no fault was met"
    print(f"{spec}: first sync {first.figures()}; after churn {second.figures()}")


def unreadable_accounts(inventory: dict[str, Any]) -> set[str]:
    """The accounts served an item whose key cannot be read beyond doubt (TryVox's bad_e164:
    the number written the human way): their listings may release nothing."""
    return {
        account
        for account, spoiled in inventory["malformed"].items()
        if account.startswith("tryvox") and "bad_e164" in spoiled.values()
    }


def assert_blocked(result: Any) -> None:
    """The run stored what it could, released nothing, and said why."""
    assert result.status == "succeeded"
    assert not result.complete
    assert result.counts.released == 0
    assert result.error.startswith("nothing released:")
    assert "had no readable number or id" in result.error


def test_every_fault_at_once(simulation: SimulationFactory) -> None:
    """Transient faults, page drift, an expiring cursor and malformed records together. A
    TryVox listing holding a number written the human way releases nothing."""
    sim = simulation(numbers=600)
    sim.sync()
    last_good = expected_mirror(sim.world.inventory(), sim.config)
    sim.set_faults(
        TRANSIENT["all_transient"]
        + ",malformed_rate=0.05;tryvox:drift_after_page=1,drift_count=4;"
        + "ringyo:cursor_expire_once=true,drift_after_page=2,drift_count=3"
    )
    sim.world.churn(fraction=0.1, seed=4)
    report = sim.sync()
    assert sim.server.stats()["early_retries"] == 0
    inventory = sim.world.inventory()
    blocked = unreadable_accounts(inventory)
    assert blocked == {"tryvox-1"}
    for result in report.results:
        if result.account in blocked:
            assert_blocked(result)
        else:
            assert result.ok, f"{result.account}: {result.error}"
    assert_mirror(
        sim.engine,
        expected_mirror(inventory, sim.config, last_good=last_good),
        accounts={"ringyo-1"},
    )
    assert_no_false_release(sim.engine, inventory)
    spoiled = sum(len(keys) for keys in inventory["malformed"].values())
    assert sum(r.counts.rejected for r in report.results) == spoiled > 0
    assert report.stats["faults"]["drift"] == 2
    print(f"everything at once: {report.figures()}")


# -- malformed records ---------------------------------------------------------------------

# The field each malformation spoils, as the rejection reason names it.
SPOILED_FIELD = {
    ("ringyo", "bad_e164"): "phone_number",
    ("ringyo", "unknown_status"): "status",
    ("ringyo", "missing_field"): "phone_number",
    ("ringyo", "bad_timestamp"): "created_at",
    ("tryvox", "bad_e164"): "e164",
    ("tryvox", "unknown_status"): "status",
    ("tryvox", "fee_string"): "monthly_fee",
    ("tryvox", "negative_fee"): "monthly_fee",
    ("tryvox", "missing_field"): "status",
    ("tryvox", "bad_timestamp"): "created_at",
}


def identity(provider: str, key: str) -> str:
    """A rejected record's key as comparable: TryVox's bad_e164 arrives as "+1 (415) ...",
    which still carries every digit of the number."""
    return re.sub(r"\D", "", key) if provider == "tryvox" else key


def assert_rejections_match(
    report: SyncReport, engine: Any, malformed: dict[str, dict[str, str]]
) -> int:
    """Every malformed record is in rejected_records once, with its key, payload and a reason
    naming the spoiled field; nothing else is. Returns how many there were."""
    run_ids = [result.run_id for result in report.results if result.run_id is not None]
    provider_of = {result.account: result.provider for result in report.results}
    rows = rejected_records(engine, run_ids)
    by_account: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        assert row["external_id"], f"rejection without its key: {row}"
        by_account.setdefault(row["account"], {})[identity(row["provider"], row["external_id"])] = (
            row
        )
    for account, spoiled in malformed.items():
        provider = provider_of[account]
        stored = by_account.get(account, {})
        wanted = {identity(provider, key): kind for key, kind in spoiled.items()}
        assert set(stored) == set(wanted), (
            f"{account}: rejected {sorted(stored)} != {sorted(wanted)}"
        )
        for key, kind in wanted.items():
            row = stored[key]
            field = SPOILED_FIELD[(provider, kind)]
            assert row["reason"].startswith(f"{field}:"), f"{kind}: reason {row['reason']!r}"
            assert isinstance(row["payload"], dict)
        counted = next(r.counts.rejected for r in report.results if r.account == account)
        assert counted == len(spoiled)
    return len(rows)


def test_malformed_records_are_rejected_and_keep_their_numbers(
    simulation: SimulationFactory,
) -> None:
    """A bad record is never stored, never lost (rejected_records, with why) and never the
    reason its number is released; once it is good again it is stored."""
    sim = simulation(numbers=600, accounts_per_provider=2, faults="malformed_rate=0.08")
    first = sim.sync()
    inventory = sim.world.inventory()
    rejected_first = assert_rejections_match(first, sim.engine, inventory["malformed"])
    assert rejected_first > 0
    assert {kind for spoiled in inventory["malformed"].values() for kind in spoiled.values()} == {
        kind for _, kind in SPOILED_FIELD
    }
    blocked = unreadable_accounts(inventory)
    assert blocked
    for result in first.results:
        if result.account in blocked:
            assert_blocked(result)
        else:
            assert result.ok, result.error
        assert result.counts.seen == sim.world.count(result.account)
    assert_mirror(sim.engine, expected_mirror(inventory, sim.config))

    sim.set_faults("")
    sim.sync()
    last_good = expected_mirror(sim.world.inventory(), sim.config)
    assert_mirror(sim.engine, last_good)

    sim.set_faults("malformed_rate=0.08")
    sim.world.churn(fraction=0.1, seed=8)
    third = sim.sync()
    inventory = sim.world.inventory()
    rejected_third = assert_rejections_match(third, sim.engine, inventory["malformed"])
    blocked = unreadable_accounts(inventory)
    releasing = {result.account for result in third.results} - blocked
    assert blocked
    assert releasing
    expected = expected_mirror(inventory, sim.config, last_good=last_good)
    stored = assert_mirror(sim.engine, expected, accounts=releasing)
    gone = {key for key in last_good if key[1] in releasing} - set(expected)
    assert set(stored.released) == gone
    assert gone
    for result in third.results:
        if result.account in blocked:
            assert_blocked(result)
    assert_no_false_release(sim.engine, inventory)
    stored = stored_mirror(sim.engine)
    for account, spoiled in inventory["malformed"].items():
        provider = "ringyo" if account.startswith("ringyo") else "tryvox"
        for key in spoiled:
            if (provider, account, key) in last_good:
                assert (provider, account, key) in stored.live
    print(
        f"malformed_rate=0.08: first sync rejected={rejected_first} {first.figures()}; "
        f"after churn rejected={rejected_third} {third.figures()}"
    )


# -- drift and cursors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "tryvox:drift_after_page=1,drift_count=7",
        "ringyo:drift_after_page=1,drift_count=7",
        "ringyo:cursor_expire_once=true",
        "tryvox:drift_after_page=2,drift_count=150",
    ],
    ids=["tryvox_drift", "ringyo_drift", "ringyo_cursor_expires", "tryvox_drift_a_page_and_more"],
)
def test_shifting_listings_miss_nothing_and_release_nothing_falsely(
    simulation: SimulationFactory, spec: str
) -> None:
    sim = simulation(numbers=600)
    sim.sync()
    changes = sim.world.churn(fraction=0.1, seed=5)
    sim.set_faults(spec)
    report = sim.sync()
    for result in report.results:
        assert result.ok, f"{result.account}: {result.error}"
    faults = report.stats["faults"]
    assert faults.get("drift", 0) + faults.get("cursor_expired", 0) == 1
    after = stored_mirror(sim.engine)
    truth = expected_mirror(sim.world.inventory(), sim.config)
    assert not set(truth) & set(after.released), "a listed number was released"
    assert len(after.released) == changes["releases"] > 0
    # TryVox pages are fetched concurrently: the page after which numbers are added may be
    # served last, and then the listing was a complete picture from before they existed.
    # Whatever the order, numbers added during a listing are in the mirror after the next.
    sim.set_faults("")
    sim.sync()
    stored = assert_mirror(sim.engine, expected_mirror(sim.world.inventory(), sim.config))
    assert len(stored.released) == changes["releases"]
    print(f"{spec}: {report.figures()}")


def test_cursors_that_always_expire_fail_the_account_and_release_nothing(
    simulation: SimulationFactory,
) -> None:
    sim = simulation(numbers=600)
    sim.sync()
    before = stored_mirror(sim.engine)
    sim.world.churn(fraction=0.1, seed=6)
    sim.set_faults("ringyo:cursor_ttl_requests=0")
    report = sim.sync()
    ringyo, tryvox = report.by_account()["ringyo-1"], report.by_account()["tryvox-1"]
    assert tryvox.ok
    assert ringyo.status == "failed"
    # One clear line; the run's row has the account in a column of its own.
    assert ringyo.error == "Ringyo refused the cursor again after restarting the listing"
    after = stored_mirror(sim.engine)
    ringyo_live = {key for key in before.live if key[1] == "ringyo-1"}
    assert ringyo_live <= after.live.keys(), "a failed listing released numbers"
    assert_mirror(
        sim.engine, expected_mirror(sim.world.inventory(), sim.config), accounts={"tryvox-1"}
    )
    print(f"ringyo cursor_ttl_requests=0: {report.figures()}")


# -- persistent failure of one account -------------------------------------------------------


def test_persistent_failure_of_one_account(
    backend_url: str, tmp_path: Path, keep_logging: None
) -> None:
    """`syncer sync` with one account failing on every request after its first page: the
    others commit, the failed run is recorded with its error, exit 1, nothing released."""
    world = World.generate(numbers=900, seed=9, accounts_per_provider=2)
    names = ["ringyo-1", "ringyo-2", "tryvox-1"]
    with SimulatorServer(world) as server:
        text, env = config_toml(backend_url, server.url, world, names, settings="max_attempts = 3")
        path = tmp_path / "syncer.toml"
        path.write_text(text)
        config = load_config(path, environ={})
        sync = ["--config", str(path), "sync"]

        first = CliRunner().invoke(main, sync, env=env)
        assert first.exit_code == 0, first.output
        engine = make_engine(backend_url)
        try:
            before = stored_mirror(engine)
            changes = world.churn(fraction=0.1, seed=10)
            assert any(
                d["account"] == "tryvox-1" for d in changes["details"] if d["change"] == "release"
            )
            server.set_faults(parse_faults("tryvox:fail_after=1"))
            server.reset_stats()
            second = CliRunner().invoke(main, sync, env=env)
            stats = server.stats()

            assert second.exit_code == 1, second.output
            assert "Traceback" not in second.output
            summary = {line.split(":")[0]: line for line in second.stdout.splitlines()}
            failed_line = summary["tryvox-1"]
            assert failed_line.startswith("tryvox-1: failed")
            assert "kept failing: HTTP 503 on 3 attempts" in failed_line
            assert_mirror(
                engine,
                expected_mirror(world.inventory(), config),
                accounts={"ringyo-1", "ringyo-2"},
            )
            after = stored_mirror(engine)
            tryvox_keys = {key for key in before.live if key[1] == "tryvox-1"}
            assert tryvox_keys <= after.live.keys(), "a failed listing released numbers"
            assert not [key for key in after.released if key[1] == "tryvox-1"]
            last = {row["account"]: row for row in runs(engine)[-3:]}
            assert last["tryvox-1"]["status"] == "failed"
            assert "HTTP 503" in last["tryvox-1"]["error"]
            assert not last["tryvox-1"]["listing_complete"]
            assert last["tryvox-1"]["released"] == 0
            assert {last[n]["status"] for n in ("ringyo-1", "ringyo-2")} == {"succeeded"}
            # Bounded: the first page, then at most max_attempts tries of each other page.
            pages = -(-world.count("tryvox-1") // 100)
            assert stats["faults"]["fail_after"] <= (pages - 1) * 3
            assert stats["early_retries"] == 0
            assert running_runs(engine) == 0
            assert_history_invariants(engine)
            print(
                f"tryvox:fail_after=1, max_attempts=3: served {stats['requests_total']}, "
                f"503s after the cut {stats['faults']['fail_after']}, exit {second.exit_code}"
            )
        finally:
            engine.dispose()


# -- a database failing under one account ------------------------------------------------------


def test_a_database_error_fails_that_account_only(
    simulation: SimulationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses tryvox-1's page writes (a full disk, a lost connection): its run
    fails as a database error, not a bug (no traceback in the log), nothing of it is released,
    ringyo-1 commits, and the next run converges."""
    sim = simulation(numbers=400)
    sim.sync()
    sim.world.churn(fraction=0.1, seed=12)
    before = stored_mirror(sim.engine)

    def refuse(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (
            statement.startswith("SELECT")
            and "phone_numbers" in statement
            and "tryvox-1" in repr(parameters)
        ):
            raise connection.dialect.loaded_dbapi.OperationalError("simulated: disk is full")

    event.listen(sim.engine, "before_cursor_execute", refuse)
    try:
        report = sim.sync()
    finally:
        event.remove(sim.engine, "before_cursor_execute", refuse)
    tryvox, ringyo = report.by_account()["tryvox-1"], report.by_account()["ringyo-1"]
    assert ringyo.ok
    assert tryvox.status == "failed"
    assert tryvox.error == "database error: simulated: disk is full"
    assert not [r for r in caplog.records if r.exc_info], "a database error logged as a bug"
    last = {row["account"]: row for row in runs(sim.engine)[-2:]}
    assert last["tryvox-1"]["error"] == tryvox.error
    after = stored_mirror(sim.engine)
    assert {k for k in before.live if k[1] == "tryvox-1"} <= after.live.keys()
    assert_mirror(
        sim.engine, expected_mirror(sim.world.inventory(), sim.config), accounts={"ringyo-1"}
    )
    assert sim.sync().results[0].ok
    assert_mirror(sim.engine, expected_mirror(sim.world.inventory(), sim.config))
