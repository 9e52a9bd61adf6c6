"""Network failures name the URL, fail at once when retrying cannot help, and print once.

- an unknown host (DNS), a TLS protocol error (https:// against an http server) and a
  refused certificate (`test_security.py`) fail on the first attempt;
- a refused connection is tried twice (one retry: a provider or proxy restarting), then the
  account fails;
- every message names scheme, host, port and path, never the query or the key;
- `syncer sync` off a terminal shows a failed account once: its summary line on stdout, no
  log line repeating it on stderr (before, the run's end was also logged at warning level).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from syncer.cli import main
from syncer.config import Config
from syncer.providers import ProviderClient, RetryPolicy
from syncer.sync import AccountSync
from tests.fakes import ringyo_item
from tests.resilience.hostile import HostileProvider, account_for, free_port, ringyo_listing

KEY = "rk_live_network_0123456789abcdef"
POLICY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.02, timeout=5)


def run(engine: Engine, base_url: str) -> tuple[Any, list[str]]:
    attempts: list[str] = []
    account = account_for(base_url, "ringyo", key=KEY)
    client = ProviderClient(
        account, policy=POLICY, observer=lambda _p, outcome, _r: attempts.append(outcome)
    )
    with client:
        return AccountSync(engine, Config(), client).run(), attempts


def test_an_unknown_host_fails_at_once_naming_it(engine: Engine) -> None:
    result, attempts = run(engine, "https://no-such-host.invalid")
    assert result.status == "failed"
    assert attempts == ["ConnectError"]
    assert result.error is not None
    assert result.error.startswith(
        "cannot resolve the host no-such-host.invalid of "
        "https://no-such-host.invalid:443/v1/phone-numbers"
    )
    assert "unknown host; check base_url (not retried)" in result.error
    print(result.error)


def test_https_against_an_http_server_fails_at_once(engine: Engine) -> None:
    with HostileProvider(ringyo_listing([ringyo_item(1)])) as server:
        port = server.url.rsplit(":", 1)[1]
        result, attempts = run(engine, f"https://127.0.0.1:{port}")
        assert server.requests == []
    assert result.status == "failed"
    assert attempts == ["ConnectError"]
    assert result.error is not None
    assert result.error.startswith(
        f"the TLS handshake with https://127.0.0.1:{port}/v1/phone-numbers failed"
    )
    assert "is it an https:// server? check base_url (not retried)" in result.error
    print(result.error)


def test_a_refused_connection_is_tried_twice(engine: Engine) -> None:
    port = free_port()
    result, attempts = run(engine, f"http://127.0.0.1:{port}")
    assert result.status == "failed"
    assert attempts == ["ConnectError", "ConnectError"]
    assert result.error is not None
    assert result.error.startswith(
        f"http://127.0.0.1:{port}/v1/phone-numbers refused the connection on 2 attempts"
    )
    print(result.error)


def test_a_transient_failure_names_the_url_without_query_or_key(engine: Engine) -> None:
    """Ringyo's second page carries a cursor in its query; the failure names the path."""
    from tests.resilience.hostile import Reply, Request

    def second_page_fails(request: Request) -> Reply:
        if "cursor" in request.query:
            return Reply(status=500, body=b"{}")
        return ringyo_listing([ringyo_item(n) for n in range(150)])(request)

    with HostileProvider(second_page_fails) as server:
        result, attempts = run(engine, server.url)
    assert attempts.count("500") == POLICY.max_attempts
    assert result.error is not None
    assert result.error.startswith(
        "ringyo kept failing: HTTP 500 on 5 attempts at http://127.0.0.1:"
    )
    assert result.error.endswith("/v1/phone-numbers")
    assert "cursor" not in result.error
    assert KEY not in result.error


@pytest.mark.parametrize("where", ["refused", "unknown_host"])
def test_a_failure_prints_once_off_a_terminal(
    sqlite_url: str, tmp_path: Path, where: str, keep_logging: None
) -> None:
    base_url = (
        f"http://127.0.0.1:{free_port()}" if where == "refused" else "https://no-such-host.invalid"
    )
    config = tmp_path / "syncer.toml"
    config.write_text(
        f'database_url = "{sqlite_url}"\n[[accounts]]\nname = "r"\nprovider = "ringyo"\n'
        f'api_key_env = "K"\nbase_url = "{base_url}"\n'
    )
    os.chmod(config, 0o600)
    result = CliRunner().invoke(main, ["--config", str(config), "sync"], env={"K": KEY})
    assert result.exit_code == 1
    failure = "refused the connection" if where == "refused" else "cannot resolve the host"
    assert result.output.count(failure) == 1, result.output
    assert result.stdout.startswith("r: failed")
    print(f"{where}: stdout {result.stdout.strip()!r}; stderr {result.stderr.strip()!r}")
