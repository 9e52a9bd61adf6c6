"""Secrets at the edges: a key a provider echoes back in any encoding reaches no output or
table; a key never goes over plain http:// to another machine; credentials in `base_url`
are refused.

The echo test runs one `syncer sync` over thirteen accounts, each with its own key, against
a hostile provider that answers every request with HTTP 400 quoting that request's key in
one encoding (JSON escapes, percent-encoding, base64 of the key and of `user:key`, ...).
Then it looks for every key, in the form it was echoed and raw, in the command's output
(`-vv`: every log line), `syncer report runs` (table and JSON), `syncer status`, and every
column of every table. The detector here is independent of syncer's scrubber.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from syncer.cli import main
from syncer.config import load_config
from syncer.errors import ConfigError
from syncer.store.engine import make_engine
from tests.resilience.hostile import HostileProvider, Reply, Request
from tests.resilience.test_security import every_cell


def json_escaped(key: str, upper: bool) -> str:
    """Every other character as `\\uXXXX` (the hex in the given case), `/` as `\\/`."""
    out = []
    for index, char in enumerate(key):
        if char == "/":
            out.append("\\/")
        elif index % 2:
            code = f"{ord(char):04x}"
            out.append("\\u" + (code.upper() if upper else code))
        else:
            out.append(char)
    return "".join(out)


def percent(key: str, *, every: bool, upper: bool) -> str:
    """Percent-encoded: the reserved characters only, or every character."""
    out = []
    for char in key:
        if every or not (char.isalnum() or char in "-_.~"):
            code = f"%{ord(char):02x}"
            out.append(code.upper() if upper else code)
        else:
            out.append(char)
    return "".join(out)


def b64(data: str, *, url: bool = False, pad: bool = True) -> str:
    encoded = (base64.urlsafe_b64encode if url else base64.b64encode)(data.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda key: key,
    "json_upper_hex": lambda key: json_escaped(key, upper=True),
    "json_lower_hex": lambda key: json_escaped(key, upper=False),
    "percent_reserved_upper": lambda key: percent(key, every=False, upper=True),
    "percent_reserved_lower": lambda key: percent(key, every=False, upper=False),
    "percent_every_character": lambda key: percent(key, every=True, upper=False),
    "percent_twice": lambda key: percent(percent(key, every=False, upper=True), every=False,
                                         upper=True),
    "base64": lambda key: b64(key),
    "base64_unpadded": lambda key: b64(key, pad=False),
    "base64_url_safe": lambda key: b64("\xff" + key, url=True),
    "basic_auth_user_key": lambda key: "Basic " + b64(f"user:{key}"),
    "basic_auth_key_colon": lambda key: "Basic " + b64(f"{key}:"),
    "html_entities": lambda key: "".join(f"&#x{ord(char):X};" for char in key),
}  # fmt: skip


def key_of(form: str) -> str:
    """A distinct key per form, with `/` and `+` in it (escaped differently everywhere)."""
    return f"rk_live/{form}+PLANTED_9f3a7c2e41d8b6a0"


def echo(request: Request) -> Reply:
    """HTTP 400 quoting the request's key in the encoding its account was given."""
    key = request.key
    form = key.split("/")[1].split("+")[0]
    message = f"invalid key {ENCODINGS[form](key)} for this account"
    body = json.dumps({"error": {"code": "bad_request", "message": message}})
    if form.startswith("json"):  # written by hand: json.dumps would escape the backslashes
        message = f"invalid key {ENCODINGS[form](key)}, sorry"
        body = '{"error": {"code": "bad_request", "message": "' + message + '"}}'
    return Reply(status=400, body=body.encode())


def leaks(text: str, key: str, form: str) -> list[str]:
    """Where `key` shows in `text`: raw, as echoed, or as the base64 of its middle."""
    found = []
    echoed = ENCODINGS[form](key)
    if key in text:
        found.append("raw")
    if echoed in text:
        found.append(form)
    middle = b64(key)[8:-8]
    if len(middle) > 12 and middle in text.replace("-", "+").replace("_", "/"):
        found.append("base64 middle")
    return found


def test_a_key_echoed_in_any_encoding_reaches_no_output_or_table(
    db_url: str, tmp_path: Path, keep_logging: None
) -> None:
    lines = [f'database_url = "{db_url}"', "max_attempts = 1", "parallel_accounts = 4"]
    env = {}
    with HostileProvider(echo) as server:
        for form in ENCODINGS:
            variable = f"KEY_{form.upper()}"
            env[variable] = key_of(form)
            lines += [
                "[[accounts]]",
                f'name = "echo-{form}"',
                'provider = "ringyo"',
                f'api_key_env = "{variable}"',
                f'base_url = "{server.url}"',
            ]
        config = tmp_path / "syncer.toml"
        config.write_text("\n".join(lines) + "\n")
        os.chmod(config, 0o600)
        runner = CliRunner()
        args = ["--config", str(config)]
        synced = runner.invoke(main, ["-vv", *args, "sync"], env=env)
        assert synced.exit_code == 1, synced.output
        assert len(server.requests) == len(ENCODINGS)
        shown = [synced.output]
        for command in (["report", "runs", "--format", "table"],
                        ["report", "runs", "--format", "json"], ["status"]):  # fmt: skip
            result = runner.invoke(main, [*args, *command], env=env)
            shown.append(result.output)
    engine: Engine = make_engine(db_url)
    try:
        cells = list(every_cell(engine))
    finally:
        engine.dispose()
    errors = [cell for cell in cells if "bad_request" in cell]
    assert len(errors) == len(ENCODINGS), "each run stored the provider's error code"
    for form in ENCODINGS:
        key = key_of(form)
        for where, texts in (("the output and logs", shown), ("a table", cells)):
            found = [(kind, text[:200]) for text in texts for kind in leaks(text, key, form)]
            assert not found, f"{form}: the key shows in {where}: {found[0]}"
    line = next(li for li in synced.stdout.splitlines() if li.startswith("echo-base64:"))
    assert "HTTP 400 bad_request" in line
    print("each form echoed, none shown; for example: " + line)


# -- plain http and credentials in base_url --------------------------------------------------


def config_with(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    path = tmp_path / "syncer.toml"
    path.write_text(
        '[[accounts]]\nname = "r"\nprovider = "ringyo"\napi_key_env = "K"\n'
        f'base_url = "{base_url}"\n{extra}'
    )
    return path


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("http://api.ringyo.example", "plain http:// to api.ringyo.example would send the API key"),
        ("http://10.0.0.7:8080", "plain http:// to 10.0.0.7 would send the API key"),
        ("https://alice:s3cr3t-pw@api.ringyo.example", "holds credentials"),
        ("https://:tok3n-x@api.ringyo.example", "holds credentials"),
        ("http://alice:s3cr3t-pw@127.0.0.1:8080", "holds credentials"),
        ("https://api.ringyo.example/?api_key=abc", "holds a query"),
        ("ftp://api.ringyo.example", "is not an http(s) URL"),
    ],
    ids=["http_remote", "http_private_ip", "userinfo", "token_only", "userinfo_loopback",
         "query", "ftp"],
)  # fmt: skip
def test_an_unsafe_base_url_is_refused_at_start(
    tmp_path: Path, base_url: str, says: str, keep_logging: None
) -> None:
    """Exit 2 with one line naming the account and the key; a URL holding credentials is
    not repeated."""
    path = config_with(tmp_path, base_url)
    result = CliRunner().invoke(main, ["--config", str(path), "sync"], env={"K": "k_0123456789"})
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}:")
    assert ": account 'r': base_url: " in line
    assert says in line
    assert "s3cr3t" not in result.output
    assert "tok3n" not in result.output
    print(f"{base_url}: {line}")


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
        "https://api.ringyo.ai",
    ],
)
def test_loopback_and_https_are_accepted(tmp_path: Path, base_url: str) -> None:
    assert load_config(config_with(tmp_path, base_url), environ={}).accounts[0].base_url


def test_plain_http_elsewhere_needs_the_accounts_explicit_consent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allow_insecure_http = true"):
        load_config(config_with(tmp_path, "http://sim.internal:8765"), environ={})
    allowed = config_with(tmp_path, "http://sim.internal:8765", "allow_insecure_http = true\n")
    account = load_config(allowed, environ={}).accounts[0]
    assert account.allow_insecure_http
    assert account.url == "http://sim.internal:8765"


# -- a provider's error is a code and a bounded, scrubbed message ------------------------------


def test_a_provider_error_is_stored_as_a_code_and_a_bounded_message(engine: Engine) -> None:
    """Not the raw body: an HTML page is summarised, a long message cut to 200 characters."""
    from tests.resilience.hostile import account_for, sync_once

    bodies = {
        "html": Reply(400, b"<html>" + b"x" * 100_000 + b"</html>", {"Content-Type": "text/html"}),
        "long": Reply(400, json.dumps({"error": "too_long", "message": "word " * 500}).encode()),
    }
    errors = {}
    for name, reply in bodies.items():
        with HostileProvider(lambda _request, reply=reply: reply) as server:
            result = sync_once(engine, account_for(server.url, "tryvox"))
        assert result.status == "failed"
        errors[name] = result.error or ""
    assert errors["html"].endswith(
        "the provider rejected the request (HTTP 400): a text/html body of 65536 bytes, not shown"
    )
    assert "HTTP 400 too_long): word word" in errors["long"]
    assert len(errors["long"]) < 300
    print(errors)


def test_keys_are_compiled_when_first_needed_and_every_key_registered_is_hidden() -> None:
    """Registering a key compiles nothing (a run that goes well may never scrub a text); the
    first text scrubbed after it hides it in every form, and so does every later one, for
    keys registered before and after."""
    from syncer import secrets

    first, second = "sk_lazy_one_" + os.urandom(6).hex(), "sk_lazy_two_" + os.urandom(6).hex()
    secrets.register_secrets([first])
    assert first not in secrets._compiled[0]
    assert secrets.scrub(f"a {first} b") == "a *** b"
    assert first in secrets._compiled[0]
    secrets.register_secrets([second])
    assert second not in secrets._compiled[0]
    text = f"{json_escaped(second, upper=True)} / {base64.b64encode(first.encode()).decode()}"
    assert secrets.scrub(text) == "*** / ***"
    assert {first, second} <= secrets._compiled[0]
