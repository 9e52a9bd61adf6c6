"""Secrets stay secret, TLS stays verified, user input reaches SQL only as bound parameters.

The planted-key test syncs through the CLI with every log on (`-vv`, plus httpx's and
httpcore's debug logs, captured raw, before syncer's redaction), makes accounts fail in the
ways that produce messages (a provider that echoes the key in its error body, an outage, a
refused key), and then greps every log record, the command output, every column of every
table, `syncer status`, every report (table and JSON), every `--help` and the config's reprs
for the keys.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr
from sqlalchemy import Engine, event, inspect, select, text

from syncer.cli import main
from syncer.config import AccountConfig, Config, ResolvedAccount, load_config, resolve_accounts
from syncer.errors import ConfigError
from syncer.providers import ProviderClient, RetryPolicy
from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.store.engine import make_engine
from syncer.store.history import AccountHistory
from syncer.store.models import Base
from syncer.sync import AccountSync, sync_accounts
from tests.resilience.conftest import config_toml


class AlwaysIn:
    """A container holding every fingerprint: the release candidates are every live number."""

    def __contains__(self, _item: object) -> bool:
        return True


ECHO_KEY = "rk_live_PLANTED_echo_7f3a9c2e41d8b6a0"
SYNCER_SOURCE = Path(__file__).resolve().parents[2] / "syncer"


# -- helpers ---------------------------------------------------------------------------------


class RawCapture(logging.Handler):
    """Every log record as formatted text, exceptions included, before any redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def raw_logs(keep_logging: None, monkeypatch: pytest.MonkeyPatch) -> RawCapture:
    """Whatever the CLI sets up, also capture every record of every logger, httpx's and
    httpcore's debug logs included."""
    import syncer.logs

    capture = RawCapture()
    original = syncer.logs.setup_logging

    def setup_logging(level: int = logging.WARNING, fmt: str = "text") -> None:
        original(level, fmt)
        logging.getLogger().addHandler(capture)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.DEBUG)

    monkeypatch.setattr(syncer.logs, "setup_logging", setup_logging)
    return capture


class _EchoHandler(BaseHTTPRequestHandler):
    """A provider whose error body quotes the request's Authorization header back."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "bad_request",
                    "message": f"cannot serve {self.headers.get('Authorization')}",
                }
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def every_help(command: click.Command, path: list[str]) -> Iterator[list[str]]:
    yield [*path, "--help"]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from every_help(sub, [*path, name])


def every_cell(engine: Engine) -> Iterator[str]:
    """Every value of every column of every syncer table, as text."""
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    yield (
                        json.dumps(value, default=str)
                        if isinstance(value, dict | list)
                        else str(value)
                    )


def assert_no_key(keys: list[str], where: str, texts: list[str]) -> None:
    for key in keys:
        leaks = [t for t in texts if key in t]
        assert not leaks, f"an API key appears in {where}: {leaks[0][:300]!r}"


# -- a planted key appears nowhere ---------------------------------------------------------


def test_planted_keys_appear_in_no_log_error_table_output_or_repr(
    backend_url: str, tmp_path: Path, raw_logs: RawCapture, echo_server: str
) -> None:
    world = World.generate(numbers=300, seed=31, accounts_per_provider=1)
    keys = [account.api_key for account in world.accounts] + [ECHO_KEY]
    runner = CliRunner()
    outputs: list[str] = []
    with SimulatorServer(world, faults=parse_faults("error_rate=0.2,malformed_rate=0.1")) as sim:
        toml, env = config_toml(backend_url, sim.url, world, settings="max_attempts = 3")
        toml += (
            '\n[[accounts]]\nname = "ringyo-echo"\nprovider = "ringyo"\n'
            f'api_key_env = "ECHO_KEY"\nbase_url = "{echo_server}"\n'
        )
        env["ECHO_KEY"] = ECHO_KEY
        config = tmp_path / "syncer.toml"
        config.write_text(toml)
        os.chmod(config, 0o600)

        first = runner.invoke(main, ["-vv", "--config", str(config), "sync"], env=env)
        assert first.exit_code == 1, first.output  # the echoing provider fails its account
        assert "ringyo-echo: failed" in first.stdout
        outputs.append(first.output)

        sim.set_faults(parse_faults("tryvox:fail_after=0;ringyo:malformed_rate=0.2"))
        debug = ["--debug", "--log-format", "json", "--config", str(config), "sync"]
        second = runner.invoke(main, debug, env=env)
        assert second.exit_code == 1, second.output
        outputs.append(second.output)

        wrong_key = {**env, "RINGYO_1_KEY": "rk_sim_" + "0" * 32}
        third = runner.invoke(main, ["-vv", "--config", str(config), "sync"], env=wrong_key)
        assert "refused the API key" in third.output
        outputs.append(third.output)

        status = runner.invoke(main, ["--config", str(config), "status"], env=env)
        assert "ringyo-echo" in status.output
        outputs.append(status.output)
        for report in ("runs", "costs", "changes", "accrual"):
            for form in ("table", "json"):
                args = ["--config", str(config), "report", report, "--format", form]
                shown = runner.invoke(main, args, env=env)
                assert shown.exit_code == 0, shown.output
                outputs.append(shown.output)
        this_month = f"{datetime.now(UTC):%Y-%m}"  # the month of these syncs: its statement
        for form in ("html", "json"):
            args = ["--config", str(config), "report", "statement", "--month", this_month]
            shown = runner.invoke(main, [*args, "--format", form], env=env)
            assert shown.exit_code == 0, shown.output
            outputs.append(shown.output)
        assert any("***" in output for output in outputs), "report runs shows no scrubbed error"

    helps = [runner.invoke(main, args, env=env).output for args in every_help(main, [])]
    assert len(helps) > 5
    loaded = load_config(config, environ=env)
    resolved = resolve_accounts(loaded, environ=env)
    reprs = [repr(loaded), str(loaded), loaded.model_dump_json(), repr(resolved), str(resolved)]
    reprs += [repr(account.config) for account in resolved]

    engine = make_engine(backend_url)
    try:
        cells = list(every_cell(engine))
        with engine.connect() as connection:
            errors = [r for (r,) in connection.execute(text("SELECT error FROM sync_runs")) if r]
            rejected = connection.execute(text("SELECT count(*) FROM rejected_records")).scalar()
    finally:
        engine.dispose()

    assert any("HTTP 400" in error and "***" in error for error in errors), errors
    assert rejected, "no rejected records to check"
    assert any(line.startswith("httpx ") for line in raw_logs.lines), "httpx logs not captured"
    assert any(line.startswith("httpcore") for line in raw_logs.lines)
    assert_no_key(keys, "the log records", raw_logs.lines)
    assert_no_key(keys, "the command output", outputs)
    assert_no_key(keys, "a table", cells)
    assert_no_key(keys, "--help", helps)
    assert_no_key(keys, "the config's repr", reprs)


def test_a_provider_echoing_the_key_has_it_scrubbed(engine: Engine) -> None:
    """The provider's error body, quoted in the run's error, loses the key (every backend)."""

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"message": f"bad key {request.headers['authorization']}, try again"}
        )

    account = ResolvedAccount(
        AccountConfig(
            name="r", provider="ringyo", api_key_env="K", base_url="https://api.ringyo.test"
        ),
        SecretStr(ECHO_KEY),
    )
    client = ProviderClient(
        account, policy=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(echo)
    )
    with client:
        result = AccountSync(engine, Config(), client).run()
    assert result.error is not None
    assert "bad key Bearer ***, try again" in result.error
    assert_no_key([ECHO_KEY], "sync_runs", list(every_cell(engine)))


@pytest.mark.parametrize(
    ("where", "key"),
    [("env", "rk_live_PLANTED_nl_5e1d\n"), ("env", " rk_live_PLANTED_sp_5e1d"),
     ("inline", "rk_live_PLANTED_tab\t5e1d")],
    ids=["trailing_newline", "leading_space", "inline_tab"],
)  # fmt: skip
def test_a_key_no_header_can_carry_is_refused_without_quoting_it(
    tmp_path: Path, where: str, key: str, keep_logging: None
) -> None:
    """httpx would refuse such a key mid-sync, quoting the header (key and all) in an error
    that reached sync_runs.error and the log; the config now refuses it, exit 2."""
    config = tmp_path / "syncer.toml"
    source = f"api_key = {json.dumps(key)}" if where == "inline" else 'api_key_env = "THE_KEY"'
    config.write_text(
        f'database_url = "sqlite:///{tmp_path}/x.db"\n[[accounts]]\nname = "r"\n'
        f'provider = "ringyo"\n{source}\n'
    )
    os.chmod(config, 0o600)
    result = CliRunner().invoke(main, ["--config", str(config), "sync"], env={"THE_KEY": key})
    assert result.exit_code == 2, result.output
    assert re.match(r"error: (\S+:\d+: )?account 'r': api_key", result.stderr), result.stderr
    assert "cannot carry" in result.stderr
    assert key.strip() not in result.output


# -- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["verify", "insecure", "tls_verify", "verify_ssl", "ssl"])
def test_no_config_setting_turns_certificate_checks_off(tmp_path: Path, setting: str) -> None:
    for where in ("top", "account"):
        lines = ['database_url = "sqlite:///x.db"']
        if where == "top":
            lines.append(f"{setting} = false")
        lines += ["[[accounts]]", 'name = "r"', 'provider = "ringyo"', 'api_key_env = "K"']
        if where == "account":
            lines.append(f"{setting} = false")
        path = tmp_path / "syncer.toml"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(ConfigError, match=f"{setting}: unknown key"):
            load_config(path, environ={})


def test_the_http_client_verifies_certificates_and_hostnames() -> None:
    account = ResolvedAccount(
        AccountConfig(name="r", provider="ringyo", api_key_env="K"), SecretStr("rk_x")
    )
    plain = ResolvedAccount(
        AccountConfig(name="p", provider="ringyo", api_key_env="K", base_url="http://127.0.0.1:9"),
        SecretStr("rk_y"),
    )
    contexts = []
    for resolved in (account, account, plain):
        with ProviderClient(resolved) as client:
            transport = client._client._client._transport
            context = transport._pool._ssl_context  # type: ignore[attr-defined]
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname
            contexts.append(context)
    verified, again, unused = contexts
    assert verified is again  # built once per process
    assert verified.cert_store_stats()["x509_ca"] > 0
    assert unused.cert_store_stats()["x509_ca"] == 0  # http://: could never accept a certificate


def test_no_code_turns_certificate_checks_off() -> None:
    """No `verify=` but the one that passes `tls_context` (tested above), no unverified
    context, no CERT_NONE anywhere in syncer."""
    pattern = re.compile(
        r"verify\s*=(?!\s*tls_context\()|CERT_NONE|check_hostname\s*=|_create_unverified_context"
    )
    offenders = [
        f"{path.relative_to(SYNCER_SOURCE)}:{number}"
        for path in SYNCER_SOURCE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_a_provider_with_an_untrusted_certificate_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A man in the middle with a self-signed certificate gets no request and no key."""
    cert, key = self_signed_certificate(tmp_path)
    served: list[str] = []

    class Handler(_EchoHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    account = ResolvedAccount(
        AccountConfig(
            name="r",
            provider="ringyo",
            api_key_env="K",
            base_url=f"https://127.0.0.1:{server.server_address[1]}",
        ),
        SecretStr(ECHO_KEY),
    )
    engine = make_engine(sqlite_url)
    attempts: list[str] = []
    try:
        client = ProviderClient(
            account,
            policy=RetryPolicy(max_attempts=3, base_delay=0.01),
            observer=lambda _provider, outcome, _retrying: attempts.append(outcome),
        )
        with client:
            result = AccountSync(engine, Config(), client).run()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        engine.dispose()
    assert result.status == "failed"
    assert result.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert "TLS certificate was refused" in result.error
    assert len(attempts) == 1  # no retry can make a refused certificate acceptable
    assert served == []


# -- SQL gets user input only as bound parameters -----------------------------------------------

HOSTILE_ACCOUNT = "x'); DROP TABLE sync_runs; --"
HOSTILE_COUNTRY = "US' OR '1'='1"


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL text of every statement any engine sends (parameters not included)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield sent
    event.remove(Engine, "before_cursor_execute", record)


def test_user_input_reaches_sql_only_as_bound_parameters(
    db_url: str, engine: Engine, statements: list[str], keep_logging: None
) -> None:
    """An account name and filter values written to break out of a string literal reach the
    database as parameters, from the sync and from the reports' filters (every backend): the
    SQL text never holds them, the account's own rows are found, and nothing else is."""
    world = World.generate(numbers=120, seed=3, accounts_per_provider=1)
    ringyo = world.account("ringyo-1")
    with SimulatorServer(world) as server:
        account = ResolvedAccount(
            AccountConfig(
                name=HOSTILE_ACCOUNT, provider="ringyo", api_key_env="K", base_url=server.url
            ),
            SecretStr(ringyo.api_key),
        )
        policy = RetryPolicy(max_attempts=2, base_delay=0.01)
        results = sync_accounts(
            engine,
            Config(),
            [account],
            client_factory=lambda a: ProviderClient(a, policy=policy),
        )
    assert results[0].ok, results[0].error
    history = AccountHistory("ringyo", HOSTILE_ACCOUNT, 0)
    everything = AlwaysIn()
    with engine.connect() as connection:
        live = history.release_candidates(connection, {}, everything)
        scoped = history.release_candidates(connection, {"country": HOSTILE_COUNTRY}, everything)
        stored = history.stored_by_key(connection, [HOSTILE_COUNTRY], datetime.now(UTC))
    assert len(live) == world.count("ringyo-1")
    assert scoped == []
    assert stored == {}

    reports = {
        "runs": ["report", "runs", "--format", "json", "--account", HOSTILE_ACCOUNT],
        "changes": ["report", "changes", "--format", "json", "--since", "2000-01-01",
                    "--account", HOSTILE_ACCOUNT],
        "changes_country": ["report", "changes", "--format", "json", "--since", "2000-01-01",
                            "--country", HOSTILE_COUNTRY],
    }  # fmt: skip
    env = {"SYNCER_DATABASE_URL": db_url, "SYNCER_CONFIG": None}
    answers = {name: CliRunner().invoke(main, args, env=env) for name, args in reports.items()}
    for name, answer in answers.items():
        assert answer.exit_code == 0, f"{name}: {answer.output}"
    runs = json.loads(answers["runs"].stdout)
    assert HOSTILE_ACCOUNT in json.dumps(runs), "the account filter found nothing"
    changes = json.loads(answers["changes"].stdout)
    assert len(changes["changes"]) == world.count("ringyo-1")
    assert json.loads(answers["changes_country"].stdout)["changes"] == []
    assert "sync_runs" in inspect(engine).get_table_names()
    assert len(statements) > 20
    for statement in statements:
        assert HOSTILE_ACCOUNT not in statement
        assert HOSTILE_COUNTRY not in statement


# -- an inline key in a file others can read -------------------------------------------------


def test_an_inline_key_in_a_file_others_can_read_warns_through_the_cli(
    sqlite_url: str, tmp_path: Path, keep_logging: None
) -> None:
    world = World.generate(numbers=60, seed=4, accounts_per_provider=1)
    runner = CliRunner()
    with SimulatorServer(world) as server:
        config = tmp_path / "syncer.toml"

        def sync(inline: bool, mode: int) -> Result:
            toml, env = config_toml(sqlite_url, server.url, world, inline_keys=inline)
            config.write_text(toml)
            os.chmod(config, mode)
            return runner.invoke(main, ["--config", str(config), "sync"], env=env)

        shared = sync(inline=True, mode=0o644)
        private = sync(inline=True, mode=0o600)
        by_env = sync(inline=False, mode=0o644)
    assert shared.exit_code == private.exit_code == by_env.exit_code == 0
    warning = (
        f"warning: {config} holds an inline api_key and is readable by other users; "
        f"run: chmod 600 {config} (or use api_key_env)"
    )
    assert shared.stderr.splitlines() == [warning]
    assert private.stderr == by_env.stderr == ""
    assert_no_key([a.api_key for a in world.accounts], "the warning", [shared.output])
