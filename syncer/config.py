"""The config file (`syncer.toml`), validated in full at start.

Where the file is: `--config`, else `$SYNCER_CONFIG`, else `./syncer.toml`.
`$SYNCER_DATABASE_URL` overrides `database_url`. Each problem line starts with the file and
the line it is about (`syncer.toml:12: account 'b': schedule: ...`), as compilers do. A
relative SQLite path in the file (and the
default, `syncer.db`) is relative to the file's folder, not to the directory syncer happens
to run in (cron's is the home directory); in `$SYNCER_DATABASE_URL`, or with no config file,
it is relative to the working directory. Every problem found becomes one line naming
the account and the key, and all of them are raised together as one `ConfigError` (exit 2).
API keys are held as `SecretStr`, so no repr, log line or error message ever shows them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncer.errors import ConfigError
from syncer.provider_facts import FACTS, PROVIDERS
from syncer.records import check_fee
from syncer.schedule import Schedule, parse_schedule
from syncer.validation import dotted, field_problems

DEFAULT_CONFIG_PATH = "syncer.toml"
DEFAULT_DATABASE_URL = "sqlite:///syncer.db"
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# What an environment variable's name conventionally looks like (upper case, at most 40).
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,39}$")


def _exact_decimal(value: Any) -> Decimal:
    """Fees are written as strings ("1.15") so they stay exact; floats are refused, and so is
    any fee the database could not store exactly (`syncer.records.check_fee`)."""
    if isinstance(value, bool | float):
        raise ValueError(f'write the fee as a string, e.g. "{value}", so it stays exact')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not a non-negative amount")
    return check_fee(amount)


ExactFee = Annotated[Decimal, BeforeValidator(_exact_decimal)]

KEY_CHARACTERS_PROBLEM = (
    "holds whitespace, control or non-ASCII characters (a trailing newline?), which an HTTP "
    "header cannot carry"
)


def key_is_sendable(key: str) -> bool:
    """Whether an API key can go in an `Authorization` header as it is. httpx would refuse
    it otherwise, quoting the header, key and all, in its error."""
    return key.isascii() and key.isprintable() and not any(c.isspace() for c in key)


class Filters(BaseModel):
    """Optional listing filters; they narrow the scope in which numbers can be released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str | None = None
    country: str | None = None

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        if value is not None and not _COUNTRY.match(value):
            raise ValueError(f'{value!r} is not a two-letter country code such as "US"')
        return value


class AccountConfig(BaseModel):
    """One `[[accounts]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    provider: Literal["ringyo", "tryvox"]  # the names in `provider_facts.PROVIDERS`
    api_key_env: str | None = None
    api_key: SecretStr | None = None
    # Declared before base_url, whose check reads it.
    allow_insecure_http: bool = False
    base_url: str | None = None
    account_id: str | None = None
    schedule: str | None = None
    fees: dict[str, ExactFee] | None = None
    currency: str | None = None
    filters: Filters | None = None
    concurrency: int = Field(default=4, ge=1, le=32)
    max_release_fraction: float | None = Field(default=None, gt=0, le=1)

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if value != value.strip() or not value.isprintable():
            raise ValueError(f"{value!r}: use printable characters without surrounding spaces")
        return value

    @field_validator("api_key")
    @classmethod
    def _sendable_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not key_is_sendable(value.get_secret_value()):
            raise ValueError(f"the key {KEY_CHARACTERS_PROBLEM}")
        return value

    @field_validator("base_url")
    @classmethod
    def _safe_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        problem = base_url_problem(value, allow_http=bool(info.data.get("allow_insecure_http")))
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value

    @field_validator("fees")
    @classmethod
    def _fee_keys(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for key in value or {}:
            if key != "default" and not _COUNTRY.match(key):
                raise ValueError(f'{key!r} is neither "default" nor a two-letter country code')
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str | None) -> str | None:
        if value is not None and not _CURRENCY.match(value):
            raise ValueError(f'{value!r} is not a three-letter currency code such as "USD"')
        return value

    @model_validator(mode="after")
    def _provider_rules(self) -> AccountConfig:
        problems = []
        if (self.api_key_env is None) == (self.api_key is None):
            problems.append("give exactly one of api_key_env (recommended) and api_key")
        if self.provider == "tryvox":
            if not self.account_id:
                problems.append("account_id is required for a tryvox account")
            if self.fees is not None or self.currency is not None:
                problems.append("fees and currency are for ringyo accounts; TryVox sends its own")
        elif self.account_id is not None:
            problems.append("account_id is only for tryvox accounts")
        if self.filters and self.filters.status is not None:
            allowed = FACTS[self.provider].statuses
            if self.filters.status not in allowed:
                problems.append(
                    f"filters.status {self.filters.status!r} is not one of {', '.join(allowed)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def url(self) -> str:
        return self.base_url or FACTS[self.provider].public_base_url

    @property
    def parsed_schedule(self) -> Schedule | None:
        return parse_schedule(self.schedule) if self.schedule else None

    @property
    def filter_params(self) -> dict[str, str]:
        """The configured listing filters as query parameters (empty when unfiltered)."""
        return self.filters.model_dump(exclude_none=True) if self.filters else {}

    @property
    def fee_currency(self) -> str | None:
        """Currency of the Ringyo fee schedule: `currency`, or USD when only fees are given."""
        if self.fees is None:
            return None
        return self.currency or "USD"


class Config(BaseModel):
    """The whole file, after validation. `source` is where it was read from (or None).

    `request_timeout` bounds each socket operation of a request (connect, each read);
    `request_deadline` the whole request, however slowly its answer trickles in;
    `max_response_bytes` the body of one answer (reading stops past it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    max_release_fraction: float = Field(default=0.5, gt=0, le=1)
    parallel_accounts: int = Field(default=4, ge=1, le=64)
    request_timeout: float = Field(default=30.0, gt=0, le=600)
    request_deadline: float = Field(default=120.0, gt=0, le=3600)
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024, le=1 << 30)
    max_attempts: int = Field(default=6, ge=1, le=20)
    accounts: list[AccountConfig] = Field(default_factory=list)
    source: str | None = None

    def account(self, name: str) -> AccountConfig:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def release_fraction(self, account: AccountConfig) -> float:
        return account.max_release_fraction or self.max_release_fraction


@dataclass(frozen=True)
class ResolvedAccount:
    """An account with its API key looked up; the key is never shown in a repr."""

    config: AccountConfig
    api_key: SecretStr

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def provider(self) -> str:
        return self.config.provider


def base_url_problem(url: str, *, allow_http: bool) -> str | None:
    """What is wrong with `url` as a provider's base URL, or None.

    The key goes in the `Authorization` header of every request, so: an http(s) URL to a
    host; no credentials in it (they would replace the Bearer key, and be shown with the
    URL); no query or fragment (paths are appended to it); and `https://`, unless the host is
    this machine (loopback) or the account says `allow_insecure_http = true`. Messages never
    repeat a URL that holds credentials.
    """
    if any(char.isspace() for char in url):
        return "is not a URL (it holds whitespace)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if "@" in parts.netloc:
        return (
            "holds credentials (user:password@host): syncer sends the account's key as a "
            "Bearer token; remove them from base_url (the URL is not shown here)"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.query or parts.fragment:
        return (
            "holds a query (?...) or fragment (#...): give base_url without them (the URL is "
            "not shown: a query may hold a secret)"
        )
    if port == 0:
        return f"{url!r}: port 0 is not a port"
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        return (
            f"plain http:// to {parts.hostname} would send the API key unencrypted: use "
            "https://, or set allow_insecure_http = true for this account if the network "
            "between them is trusted"
        )
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: `localhost`, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """`--config`, else `$SYNCER_CONFIG`, else `./syncer.toml`."""
    return Path(explicit or os.environ.get("SYNCER_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    required: bool = True,
    environ: dict[str, str] | None = None,
) -> Config:
    """Read and validate the config file, raising `ConfigError` with every problem found.

    With `required=False` a missing file is not an error: the defaults (and
    `$SYNCER_DATABASE_URL`) apply, which is what `db upgrade` and the reports need.
    """
    env = os.environ if environ is None else environ
    file = config_path(path)
    raw: dict[str, Any] = {}
    if file.exists():
        raw = _read_toml(file)
        raw["source"] = str(file)
        url = raw.get("database_url", DEFAULT_DATABASE_URL)
        if isinstance(url, str):
            raw["database_url"] = sqlite_beside(url, file.resolve().parent)
    elif required or path is not None:
        raise ConfigError(
            f"config file {str(file)!r} not found: pass --config FILE or set SYNCER_CONFIG"
        )
    if env.get("SYNCER_DATABASE_URL"):
        raw["database_url"] = env["SYNCER_DATABASE_URL"]
    where = KeyLines.of(file) if file.exists() else KeyLines.none()
    problems = _duplicate_names(raw.get("accounts"), where)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, where) + problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def sqlite_beside(url: str, folder: Path) -> str:
    """`url` with a relative SQLite file path made relative to `folder`; any other URL
    (a server database, an absolute path, `:memory:`) as it is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported, without the URL, when the engine is made
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).expanduser().is_absolute():
        return url
    return parsed.set(database=str(folder / database)).render_as_string(hide_password=False)


def resolve_accounts(
    config: Config, names: list[str] | tuple[str, ...] = (), environ: dict[str, str] | None = None
) -> list[ResolvedAccount]:
    """The accounts to sync (all, or those named) with their API keys looked up.

    Raises `ConfigError` listing every unknown name and every unset key variable.
    """
    env = os.environ if environ is None else environ
    known = {account.name for account in config.accounts}
    problems = [
        f"account {name!r}: no such account in the config (known: {', '.join(sorted(known))})"
        for name in names
        if name not in known
    ]
    if not config.accounts:
        problems.append("the config lists no [[accounts]]")
    chosen = [a for a in config.accounts if not names or a.name in names]
    where = KeyLines.of(Path(config.source)) if config.source else KeyLines.none()
    resolved = []
    for account in chosen:
        if account.api_key is not None:
            resolved.append(ResolvedAccount(account, account.api_key))
            continue
        variable = account.api_key_env or ""
        value = env.get(variable, "")
        at = where.prefix(("accounts", config.accounts.index(account), "api_key_env"))
        if not value and not _ENV_NAME.match(variable):
            # Not a conventional variable name: perhaps the key itself. Never echo it.
            problems.append(
                f"{at}account {account.name!r}: api_key_env: no environment variable of that "
                "name is set (the name is not shown: it does not look like one, e.g. "
                "RINGYO_API_KEY; put the variable's name here, not the key)"
            )
        elif not value:
            problems.append(
                f"{at}account {account.name!r}: api_key_env: environment variable {variable} "
                "is not set"
            )
        elif not key_is_sendable(value):
            problems.append(
                f"{at}account {account.name!r}: api_key_env: the value of "
                f"{account.api_key_env} {KEY_CHARACTERS_PROBLEM}"
            )
        else:
            resolved.append(ResolvedAccount(account, SecretStr(value)))
    if problems:
        raise ConfigError(problems)
    return resolved


def known_keys(config: Config, environ: dict[str, str] | None = None) -> list[str]:
    """The API keys this config names and the environment holds (for the scrubber of a
    command that does not use them, such as a report: it hides them if they show)."""
    env = os.environ if environ is None else environ
    keys = [a.api_key.get_secret_value() for a in config.accounts if a.api_key is not None]
    keys += [
        env[a.api_key_env] for a in config.accounts if a.api_key_env and env.get(a.api_key_env)
    ]
    return keys


def inline_key_warning(config: Config) -> str | None:
    """A warning when the file holds an inline api_key and others may read it."""
    if not config.source or not any(a.api_key is not None for a in config.accounts):
        return None
    try:
        mode = Path(config.source).stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return (
            f"warning: {config.source} holds an inline api_key and is readable by other users; "
            f"run: chmod 600 {config.source} (or use api_key_env)"
        )
    return None


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        at = f"{file}:{line.group(1)}" if line else str(file)
        raise ConfigError(f"{at}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read: {exc.strerror}") from None


class KeyLines:
    """Where each key of a config file is: its line number, for messages.

    TOML parsers give values, not positions, so the text is scanned on its own: top-level
    keys, each `[[accounts]]` table in order (and its `[accounts.filters]` sub-table), and
    dotted keys. `prefix(path)` is `"file:line: "` for the key at `path` (for example
    `("accounts", 1, "schedule")`), else for its closest enclosing table, else the file.
    """

    _KEY = re.compile(
        r'^\s*((?:[A-Za-z0-9_-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"))*)\s*='
    )

    def __init__(self, file: str | None, lines: dict[tuple[Any, ...], int]) -> None:
        self.file = file
        self.lines = lines

    @classmethod
    def none(cls) -> KeyLines:
        return cls(None, {})

    @classmethod
    def of(cls, file: Path) -> KeyLines:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls(str(file), {})
        lines: dict[tuple[Any, ...], int] = {}
        table: tuple[Any, ...] = ()
        accounts = -1
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("[[") and stripped.split("]]")[0].strip("[ ") == "accounts":
                accounts += 1
                table = ("accounts", accounts)
            elif stripped.startswith("["):
                names = tuple(n.strip() for n in stripped.strip("[] ").split("."))
                table = ("accounts", accounts, *names[1:]) if names[0] == "accounts" else names
            else:
                match = cls._KEY.match(line)
                if match is None:
                    continue
                key = tuple(part.strip().strip('"') for part in match.group(1).split("."))
                lines.setdefault((*table, *key), number)
                continue
            lines.setdefault(table, number)
        return cls(str(file), lines)

    def prefix(self, path: tuple[Any, ...]) -> str:
        if self.file is None:
            return ""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return f"{self.file}:{self.lines[path[:end]]}: "
        return f"{self.file}: "


def _duplicate_names(accounts: Any, where: KeyLines) -> list[str]:
    if not isinstance(accounts, list):
        return []
    first_index: dict[str, int] = {}
    problems = []
    for index, account in enumerate(accounts):
        name = account.get("name") if isinstance(account, dict) else None
        if not isinstance(name, str):
            continue
        if name in first_index:
            problems.append(
                f"{where.prefix(('accounts', index, 'name'))}account {name!r}: name: "
                f"duplicate account name (accounts[{first_index[name]}] has it too)"
            )
        else:
            first_index[name] = index
    return problems


def _describe(exc: ValidationError, raw: dict[str, Any], at: KeyLines) -> list[str]:
    """One line per pydantic error: `file:line: account 'name': key: message`."""
    lines = []
    listed = raw.get("accounts")
    accounts: list[Any] = listed if isinstance(listed, list) else []
    for problem in field_problems(exc):
        loc = problem.loc
        position = at.prefix(tuple(loc))
        where = "config"
        if len(loc) >= 2 and loc[0] == "accounts" and isinstance(loc[1], int):
            index = loc[1]
            entry = accounts[index] if index < len(accounts) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"account {name!r}" if isinstance(name, str) else f"accounts[{index}]"
            loc = loc[2:]
        message = problem.message
        if problem.kind == "extra_forbidden":
            message = "unknown key"
        elif problem.kind == "missing":
            message = "required key is missing"
        elif problem.kind == "literal_error" and loc == ("provider",):
            message = f"unknown provider {problem.input!r} (known: {', '.join(PROVIDERS)})"
        lines.append(f"{position}{where}: {dotted(loc, '(account)')}: {message}")
    return lines
