"""Release only on proof, at the edges: a listing of entirely different numbers, and rejected
items whose key arrives malformed.

- Another account's key pasted in (the simulator's other account: every number different)
  releases nothing, on every run while the key is wrong, exits 1 and says why; once the key
  is right again the mirror equals the truth. A provider that re-keys every number likewise.
- A rejected item protects the stored number its key names only through the one
  normalisation (NFKC, surrounding whitespace dropped, whole-string match); a key that cannot
  be read that way (other scripts' digits, a number written the human way, an id that is not
  a string) blocks every release of that listing, and the run says why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from syncer.cli import main
from syncer.config import load_config
from syncer.release_guard import release_guard
from syncer.simulator import SimulatorServer, World
from syncer.store.engine import make_engine
from syncer.store.models import PhoneNumber
from tests.fakes import ringyo_item, tryvox_item
from tests.invariants import assert_history_invariants
from tests.resilience.conftest import config_toml, runs
from tests.resilience.hostile import (
    resync_after,
    ringyo_listing,
    tryvox_listing,
)
from tests.truth import assert_mirror, expected_mirror, stored_mirror


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(select(PhoneNumber.external_id, PhoneNumber.status))
        return dict(rows.all())


# -- a listing of entirely different numbers -------------------------------------------------


def test_another_accounts_key_releases_nothing_on_any_run(
    backend_url: str, tmp_path: Path, keep_logging: None
) -> None:
    """ringyo-1 and tryvox-1 synced with their own keys; then ringyo-1 gets ringyo-2's key
    and tryvox-1 tryvox-2's key and account id (an operator's paste): two runs that each
    see only numbers the mirror does not hold. Each exits 1 naming the guard and releases
    nothing. Put right, the next run exits 0 and the mirror equals the truth (the numbers
    the wrong listings created are released)."""
    world = World.generate(numbers=240, seed=12, accounts_per_provider=2)
    own = ["ringyo-1", "tryvox-1"]
    runner = CliRunner()
    config_path = tmp_path / "syncer.toml"
    with SimulatorServer(world) as server:
        good, env = config_toml(backend_url, server.url, world, own)
        config_path.write_text(good)
        os.chmod(config_path, 0o600)

        def sync(toml: str, environ: dict[str, str]) -> Any:
            config_path.write_text(toml)
            return runner.invoke(main, ["--config", str(config_path), "sync"], env=environ)

        first = sync(good, env)
        assert first.exit_code == 0, first.output
        engine = make_engine(backend_url)
        try:
            before = stored_mirror(engine).live
            assert len(before) == world.count("ringyo-1") + world.count("tryvox-1")

            tryvox_1, tryvox_2 = world.account("tryvox-1"), world.account("tryvox-2")
            assert tryvox_1.account_id
            assert tryvox_2.account_id
            pasted = good.replace(tryvox_1.account_id, tryvox_2.account_id)
            wrong_env = {
                "RINGYO_1_KEY": world.account("ringyo-2").api_key,
                "TRYVOX_1_KEY": tryvox_2.api_key,
            }
            outputs = []
            for _ in range(2):
                wrong = sync(pasted, wrong_env)
                outputs.append(wrong.output)
                assert wrong.exit_code == 1, wrong.output
                for name in own:
                    line = next(li for li in wrong.stdout.splitlines() if li.startswith(name))
                    assert f"{name}: failed" in line
                    assert "released=0" in line
                    assert "mass release guard: the listing lacks" in line
                    assert "so none were released" in line
                after = stored_mirror(engine)
                assert set(before) <= set(after.live), "a number was released on proof of nothing"
                assert not after.released
            rows = [row for row in runs(engine) if row["account"] in own]
            assert [row["status"] for row in rows] == ["succeeded"] * 2 + ["failed"] * 4
            assert all(row["error"].startswith("mass release guard") for row in rows[2:])

            fixed = sync(good, env)
            assert fixed.exit_code == 0, fixed.output
            config = load_config(config_path, environ=env)
            stored = assert_mirror(engine, expected_mirror(world.inventory(), config))
            created_by_mistake = world.count("ringyo-2") + world.count("tryvox-2")
            assert len(stored.released) == created_by_mistake
            assert_history_invariants(engine)
        finally:
            engine.dispose()
    print(
        "pasted key, run 1 and run 2: "
        + " | ".join(o.strip().replace("\n", " / ") for o in outputs)
        + f"; put right: {fixed.stdout.strip()}"
    )


def test_a_provider_that_rekeys_every_number_releases_nothing(engine: Engine) -> None:
    """Ringyo answers the same numbers under new ids: every stored id is missing and every
    listed one new. The run fails on the guard, nothing is released (every backend)."""
    items = [ringyo_item(n) for n in range(1, 41)]
    rekeyed = ringyo_listing([dict(item, id="re" + item["id"]) for item in items])
    result = resync_after(engine, "ringyo", ringyo_listing(items), rekeyed)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("mass release guard: the listing lacks 40 of the 40 numbers")
    assert result.counts.created == 40
    assert result.counts.released == 0
    assert set(statuses(engine).values()) == {"active"}
    assert_history_invariants(engine)
    print(f"re-keyed provider: {result.status}: {result.error}")


def test_the_guard_weighs_the_numbers_held_before_the_run() -> None:
    assert release_guard(missing=0, held_before=0, fraction=0.5) is None
    assert release_guard(missing=5, held_before=10, fraction=0.5) is None
    refusal = release_guard(missing=6, held_before=10, fraction=0.5)
    assert refusal is not None
    assert "lacks 6 of the 10 numbers live before this run" in refusal


# -- rejected items protect only the number they name -----------------------------------------

GONE = 6  # the number of each listing that really is gone


def spoiled_listing(provider: str, key: Any) -> tuple[list[dict[str, Any]], str]:
    """Numbers 1..6, where number 6 is gone and number 3's key arrives as `key` (another
    field is spoiled too, so the item is rejected whatever its key); and number 3's key."""
    build = ringyo_item if provider == "ringyo" else tryvox_item
    field = "id" if provider == "ringyo" else "e164"
    items = [build(n) for n in range(1, GONE)]
    stored_key = items[2][field]
    items[2] = dict(items[2], **{field: key, "status": "no-such-status"})
    return items, stored_key


def full_width(text: str) -> str:
    """`text` in full-width forms (`+44` as `＋４４`), which NFKC turns back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


PROTECTS = [
    ("tryvox", "+442070000003\n", "a trailing newline"),
    ("tryvox", "  +442070000003 ", "surrounding spaces"),
    ("tryvox", full_width("+442070000003"), "full-width digits (NFKC)"),
    ("ringyo", "pn_000003\n", "a trailing newline"),
    ("ringyo", full_width("pn_000003"), "full-width letters and digits (NFKC)"),
]
BLOCKS = [
    ("tryvox", "+" + "".join(chr(0x0660 + int(d)) for d in "442070000003"), "Arabic-Indic digits"),
    ("tryvox", "+44 20 7000 0003", "a number written the human way"),
    ("tryvox", "+442070000003\u200b", "a zero-width space"),
    ("tryvox", None, "no number at all"),
    ("ringyo", "pn_0000 03", "a space inside"),
    ("ringyo", 3, "an id that is not a string"),
]


@pytest.mark.parametrize(
    ("provider", "key", "what"), PROTECTS, ids=[f"{p}-{w}" for p, _, w in PROTECTS]
)
def test_a_malformed_key_that_normalises_protects_its_number(
    engine: Engine, provider: str, key: Any, what: str
) -> None:
    """The rejected item protects the stored number its key names; the number that is
    really gone is released; the run is complete."""
    build = ringyo_item if provider == "ringyo" else tryvox_item
    listing = ringyo_listing if provider == "ringyo" else tryvox_listing
    items, stored_key = spoiled_listing(provider, key)
    before = listing([build(n) for n in range(1, GONE + 1)])
    result = resync_after(engine, provider, before, listing(items))
    assert result.ok, result.error
    assert (result.counts.rejected, result.counts.released) == (1, 1)
    stored = statuses(engine)
    assert stored[stored_key] == "active", f"{what}: its number was released"
    assert sum(status == "released" for status in stored.values()) == 1
    print(f"{provider} key with {what}: {result.status}, released={result.counts.released}")


@pytest.mark.parametrize(
    ("provider", "key", "what"), BLOCKS, ids=[f"{p}-{w}" for p, _, w in BLOCKS]
)
def test_a_key_that_cannot_be_read_beyond_doubt_blocks_every_release(
    engine: Engine, provider: str, key: Any, what: str
) -> None:
    """Nothing is released, not even the number that really is gone, and the run says why
    (exit 1 for `syncer sync`: the listing is not counted complete)."""
    build = ringyo_item if provider == "ringyo" else tryvox_item
    listing = ringyo_listing if provider == "ringyo" else tryvox_listing
    items, _ = spoiled_listing(provider, key)
    before = listing([build(n) for n in range(1, GONE + 1)])
    result = resync_after(engine, provider, before, listing(items))
    assert result.status == "succeeded"
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(
        "nothing released: 1 rejected record(s) had no readable number or id"
    )
    assert (result.counts.rejected, result.counts.released) == (1, 0)
    assert set(statuses(engine).values()) == {"active"}
    print(f"{provider} key with {what}: {result.error}")
