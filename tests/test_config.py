"""Config validation: every problem one clear line naming the account and the key; exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import main
from syncer.config import inline_key_warning, load_config, resolve_accounts
from syncer.errors import ConfigError

GOOD = """
database_url = "sqlite:///x.db"

[[accounts]]
name = "ringyo-main"
provider = "ringyo"
api_key_env = "RINGYO_API_KEY"
schedule = "0 * * * *"
fees = { default = "1.00", US = "1.15" }
currency = "USD"

[[accounts]]
name = "vox-main"
provider = "tryvox"
account_id = "acc_123abc"
api_key_env = "TRYVOX_API_KEY"
schedule = "every 30s"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncer.toml"
    path.write_text(text)
    return path


def load_and_resolve(path: Path, env: dict[str, str]) -> None:
    resolve_accounts(load_config(path, environ=env), environ=env)


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    """The problem lines, with the file name shortened to `syncer.toml`."""
    with pytest.raises(ConfigError) as caught:
        load_and_resolve(write(tmp_path, text), env or {})
    return [line.replace(str(tmp_path) + "/", "") for line in caught.value.problems]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    env = {"RINGYO_API_KEY": "rk", "TRYVOX_API_KEY": "tk"}
    config = load_config(write(tmp_path, GOOD), environ=env)
    accounts = resolve_accounts(config, environ=env)
    assert [a.name for a in accounts] == ["ringyo-main", "vox-main"]
    assert str(config.accounts[0].fees["US"]) == "1.15"  # type: ignore[index]
    assert config.accounts[0].url == "https://api.ringyo.ai"
    assert config.accounts[1].parsed_schedule is not None
    assert "tk" not in repr(accounts)


def test_database_url_from_the_environment_wins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"SYNCER_DATABASE_URL": "sqlite:///y.db"})
    assert config.database_url == "sqlite:///y.db"


def test_config_path_from_syncer_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("SYNCER_CONFIG", str(path))
    assert load_config().source == str(path)


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    text = """
[[accounts]]
name = "a"
provider = "plivo"
api_key_env = "A_KEY"

[[accounts]]
name = "b"
provider = "ringyo"
api_key_env = "B_KEY"
schedule = "61 * * * *"
fees = { default = 1.5 }

[[accounts]]
name = "b"
provider = "tryvox"
api_key_env = "B_KEY"
"""
    lines = problems(tmp_path, text)
    assert (
        "syncer.toml:4: account 'a': provider: unknown provider 'plivo' (known: ringyo, tryvox)"
        in lines
    )
    assert any(
        line.startswith("syncer.toml:11: account 'b': schedule: '61 * * * *' is not a valid")
        for line in lines
    )
    assert any(
        line.startswith("syncer.toml:12: account 'b': fees.default: write the fee as a string")
        for line in lines
    )
    assert "syncer.toml:15: account 'b': name: duplicate account name (accounts[1] has it too)" in (
        lines
    )
    assert any(
        line.startswith("syncer.toml:14: ") and "account_id is required for a tryvox" in line
        for line in lines
    )


def test_missing_key_variable_names_account_and_variable(tmp_path: Path) -> None:
    lines = problems(tmp_path, GOOD, env={"RINGYO_API_KEY": "rk"})
    assert lines == [
        "syncer.toml:16: account 'vox-main': api_key_env: environment variable TRYVOX_API_KEY "
        "is not set"
    ]


def test_unknown_keys_and_account_names(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        GOOD.replace('currency = "USD"', 'curency = "USD"'),
        env={"RINGYO_API_KEY": "r", "TRYVOX_API_KEY": "t"},
    )
    assert lines == ["syncer.toml:10: account 'ringyo-main': curency: unknown key"]
    config = load_config(write(tmp_path, GOOD), environ={})
    with pytest.raises(ConfigError, match="account 'nope': no such account"):
        resolve_accounts(config, ["nope"], environ={"RINGYO_API_KEY": "r", "TRYVOX_API_KEY": "t"})


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    lines = problems(tmp_path, "accounts = [")
    assert len(lines) == 1
    assert "not valid TOML" in lines[0]
    assert problems(tmp_path, "max_attempts = 3\nmax_attempts = 4\n") == [
        "syncer.toml:2: not valid TOML: Cannot overwrite a value (at line 2, column 17)"
    ]


def test_schedules(tmp_path: Path) -> None:
    from syncer.schedule import parse_schedule

    assert parse_schedule("every 30s").interval is not None
    assert parse_schedule("every 2h").interval.total_seconds() == 7200  # type: ignore[union-attr]
    assert parse_schedule("*/5 * * * *").crontab == "*/5 * * * *"
    for bad in ("every 0s", "every 5d", "* * *", "every"):
        with pytest.raises(ValueError, match=r"every|crontab|interval"):
            parse_schedule(bad)


def test_inline_key_in_a_world_readable_file_warns(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('api_key_env = "RINGYO_API_KEY"', 'api_key = "rk_x"'))
    os.chmod(path, 0o644)
    config = load_config(path, environ={})
    warning = inline_key_warning(config)
    assert warning is not None
    assert "chmod 600" in warning
    assert "rk_x" not in warning
    os.chmod(path, 0o600)
    assert inline_key_warning(config) is None


def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(
        main, ["sync", "--config", str(path)], env={"RINGYO_API_KEY": "", "TRYVOX_API_KEY": ""}
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {path}:7: account 'ringyo-main': api_key_env: environment variable "
        "RINGYO_API_KEY is not set",
        f"error: {path}:16: account 'vox-main': api_key_env: environment variable "
        "TRYVOX_API_KEY is not set",
    ]
    assert "Traceback" not in result.output


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sync", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_http_settings_reach_the_retry_policy() -> None:
    from syncer.config import Config
    from syncer.sync import retry_policy

    policy = retry_policy(Config(max_attempts=3, request_timeout=5))
    assert (policy.max_attempts, policy.timeout) == (3, 5)


def test_a_key_pasted_as_the_variable_name_is_not_echoed(tmp_path: Path) -> None:
    text = GOOD.replace('api_key_env = "TRYVOX_API_KEY"', 'api_key_env = "tvx_sk_live_9f8e7d"')
    lines = problems(tmp_path, text, env={"RINGYO_API_KEY": "rk"})
    assert lines == [
        "syncer.toml:16: account 'vox-main': api_key_env: no environment variable of that name "
        "is set (the name is not shown: it does not look like one, e.g. RINGYO_API_KEY; put "
        "the variable's name here, not the key)"
    ]
    assert "tvx_sk_live_9f8e7d" not in "\n".join(lines)


def test_an_unparseable_database_url_is_not_echoed() -> None:
    from syncer.errors import DatabaseError
    from syncer.store.engine import make_engine

    with pytest.raises(DatabaseError) as caught:
        make_engine("postgres ql://admin:hunter2@db/prod")
    assert "hunter2" not in str(caught.value)


def test_a_relative_sqlite_path_is_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cron runs in the home directory: syncer.db must not appear there."""
    folder = tmp_path / "etc"
    folder.mkdir()
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = folder / "syncer.toml"
    config.write_text('database_url = "sqlite:///data/mirror.db"\n')
    assert load_config(config, environ={}).database_url == f"sqlite:///{folder}/data/mirror.db"
    config.write_text("max_attempts = 3\n")  # no database_url: the default, beside the file
    assert load_config(config, environ={}).database_url == f"sqlite:///{folder}/syncer.db"
    for kept in ("sqlite:////var/lib/syncer.db", "sqlite:///:memory:", "postgresql://db/x"):
        config.write_text(f'database_url = "{kept}"\n')
        assert load_config(config, environ={}).database_url == kept
    # the environment's URL, and no config file at all: the working directory
    relative = {"SYNCER_DATABASE_URL": "sqlite:///here.db"}
    assert load_config(config, environ=relative).database_url == "sqlite:///here.db"
    assert load_config(None, required=False, environ={}).database_url == "sqlite:///syncer.db"


def test_the_config_accepts_exactly_the_providers_of_the_registry() -> None:
    from typing import get_args

    from syncer.config import AccountConfig
    from syncer.provider_facts import PROVIDERS

    assert get_args(AccountConfig.model_fields["provider"].annotation) == PROVIDERS
