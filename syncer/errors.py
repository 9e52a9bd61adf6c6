"""One exception hierarchy for everything syncer reports to its user.

Every error a user can cause or meet derives from `SyncerError` and carries the process exit
code it maps to, so the command line turns any of them into one clear line and the right code
in one place (`syncer.cli`). Messages never contain an API key.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ACCOUNT_FAILED = 1
EXIT_USAGE = 2


class SyncerError(Exception):
    """Base of every error syncer reports to its user; `exit_code` says how the process ends."""

    exit_code = EXIT_ACCOUNT_FAILED


class ConfigError(SyncerError):
    """The config file or the environment is wrong; `problems` holds one line per problem."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(SyncerError):
    """A command was called with arguments that cannot work (an unknown account, a bad date)."""

    exit_code = EXIT_USAGE


class DatabaseError(SyncerError):
    """The database cannot be reached, or its schema is not the one this syncer expects."""

    exit_code = EXIT_USAGE


class ProviderError(SyncerError):
    """A provider answered in a way that stops an account's listing (after any retries)."""

    def __init__(self, account: str, message: str) -> None:
        self.account = account
        self.detail = message  # the message without the account's name in front
        super().__init__(f"{account}: {message}")


class AuthError(ProviderError):
    """The provider refused the account's credentials (HTTP 401/403); retrying cannot help."""


class InvalidCursorError(ProviderError):
    """Ringyo refused a pagination cursor (`invalid_cursor`): the listing must start over."""


class AccountBusyError(SyncerError):
    """Another syncer process holds the account's writer lock; this run skips the account."""

    def __init__(self, account: str) -> None:
        self.account = account
        super().__init__(
            f"{account}: skipped: another syncer process is syncing this account right now"
        )


class LockLostError(SyncerError):
    """The run can no longer prove it holds the account's writer lock (the database session
    holding it ended, or was replaced): it stops writing at once, and releases nothing."""

    def __init__(self, account: str, cause: str) -> None:
        self.account = account
        self.cause = cause
        self.detail = lost_lock_message(cause)
        super().__init__(f"{account}: {self.detail}")


def lost_lock_message(cause: str, *, released: int = 0) -> str:
    """What a run that lost its lock says: why, and that it wrote nothing after."""
    after = (
        f"{released} released before that, while it was held" if released else "nothing released"
    )
    return f"lost the account's writer lock: {cause}; stopped writing, {after}"
