"""The smaller edges: fees near the largest accepted amount report exactly on SQLite, and a
database URL whose options the driver refuses is one line and exit 2, for every command.

Why the fees failed: SQLite keeps NUMERIC as a double, so `report costs` summed integer
micro-units, and a 64-bit integer holds about 9.2 x 10^18 of them: ten fees near the old
maximum (10^12), or 9,224 near 10^9, overflowed it. Now a fee must be below 10^9 (with six
decimals: the 15 digits a double, and so SQLite, keeps exactly) and SQLite sums whole units
and micro-units apart, neither of which can overflow.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from syncer.cli import main
from syncer.records import MAX_FEE
from syncer.store.engine import make_engine
from syncer.store.models import RejectedRecord
from tests.conftest import MYSQL_URL, POSTGRES_URL, FakeClock, prepared_server_url
from tests.fakes import tryvox_item
from tests.resilience.hostile import HostileProvider, account_for, sync_once, tryvox_listing

LARGEST = "999999999.999999"
MANY = 9_300  # past 9,223: one sum of micro-units of LARGEST overflows 64 bits


@pytest.mark.slow
def test_fees_near_the_largest_accepted_amount_report_exactly(
    sqlite_url: str, keep_logging: None
) -> None:
    items = [tryvox_item(n, fee=LARGEST) for n in range(MANY)]
    items += [dict(tryvox_item(90_000 + n), monthly_fee="999999999999.99") for n in range(10)]
    engine = make_engine(sqlite_url)
    try:
        with HostileProvider(tryvox_listing(items)) as server:
            result = sync_once(engine, account_for(server.url, "tryvox"), clock=FakeClock())
        assert result.counts.created == MANY
        assert result.counts.rejected == 10
        with engine.connect() as connection:
            reasons = set(connection.execute(select(RejectedRecord.reason)).scalars())
        assert reasons == {
            "monthly_fee: 999999999999.99 is not a plausible fee (at most 999999999.999999) "
            "(got Decimal('999999999999.99'))"
        }
    finally:
        engine.dispose()
    env = {"SYNCER_DATABASE_URL": sqlite_url, "SYNCER_CONFIG": None}
    runner = CliRunner()
    answers = {}
    for as_of in (None, "2026-10-02"):
        args = ["report", "costs", "--format", "json"] + (["--as-of", as_of] if as_of else [])
        shown = runner.invoke(main, args, env=env)
        assert shown.exit_code == 0, shown.output
        answers[as_of] = json.loads(shown.stdout)["totals"]
    exact = Decimal(LARGEST) * MANY
    for totals in answers.values():
        [total] = totals
        assert (total["currency"], total["numbers"]) == ("USD", MANY)
        assert Decimal(total["monthly_fee_total"]) == exact
    assert Decimal(10) ** 9 == MAX_FEE
    print(f"{MANY} numbers at {LARGEST}: report costs total {exact} (now and --as-of)")


def test_a_fee_in_the_config_is_bounded_like_a_providers(tmp_path: Path) -> None:
    from syncer.config import load_config
    from syncer.errors import ConfigError

    path = tmp_path / "syncer.toml"
    path.write_text(
        '[[accounts]]\nname = "r"\nprovider = "ringyo"\napi_key_env = "K"\n'
        'fees = { default = "1000000000", US = "1.1234567" }\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert [problem.split(": ", 1)[1] for problem in refused.value.problems] == [
        "account 'r': fees.default: 1000000000 is not a plausible fee (at most 999999999.999999)",
        "account 'r': fees.US: has more than 6 decimal places: 1.1234567",
    ]


# -- a URL whose options the driver refuses ------------------------------------------------------

SERVERS = (["postgresql"] if POSTGRES_URL else []) + (["mysql"] if MYSQL_URL else [])
OPTIONS = {
    "postgresql": [("foo=bar", 'invalid connection option "foo"'),
                   ("connect_timeout=abc", "bad value for connect_timeout"),
                   ("sslmode=nonsense", 'invalid sslmode value: "nonsense"')],
    "mysql": [("foo=bar", "unexpected keyword argument 'foo'")],
}  # fmt: skip
CASES = [(backend, option, says) for backend in SERVERS for option, says in OPTIONS[backend]]
COMMANDS = [["sync"], ["report", "runs"], ["status"], ["db", "upgrade"]]


@pytest.mark.parametrize(("backend", "option", "says"), CASES)
def test_a_url_option_the_driver_refuses_is_one_line_and_exit_2(
    backend: str, option: str, says: str, tmp_path: Path, keep_logging: None
) -> None:
    url = prepared_server_url(backend) + "?" + option
    config = tmp_path / "syncer.toml"
    config.write_text('[[accounts]]\nname = "r"\nprovider = "ringyo"\napi_key_env = "K"\n')
    lines = []
    for command in COMMANDS:
        result = CliRunner().invoke(
            main,
            ["--config", str(config), *command],
            env={"SYNCER_DATABASE_URL": url, "K": "k_0123456789", "SYNCER_CONFIG": None},
        )
        assert result.exit_code == 2, f"{command}: {result.output}"
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ")
        assert says in line
        assert "internal error" not in line
        lines.append(line)
    print(f"{backend} ?{option}: {lines[0]}")
