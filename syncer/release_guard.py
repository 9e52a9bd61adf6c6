"""The mass-release guard: a listing may release only a small share of what the account held.

A complete listing proves a number is gone, but an emptied or truncated listing, another
account's key pasted in, or a provider that re-keyed every number would "prove" that nearly
everything is gone. So one run may release at most `max_release_fraction` of the numbers the
account held *before the run* (`state_before_the_run`, counted before its first page is
written, in the run's one read of the account's rows):

- numbers the run itself creates are not counted: a listing of entirely different numbers
  creates as many as it misses, and must not make the missing ones look like a small share;
- nor are numbers created since the account's last successful run by runs that did not
  succeed (the run the guard refused, say): otherwise the same wrong key, on its second run,
  would find the numbers it created the first time and release the real ones.

Missing numbers that were never held in that sense (created by a refused run) are released
along with the rest once the guard lets a release through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from syncer.decide import release_guard as release_guard  # the rule itself, without a database
from syncer.store import history, writes


@dataclass(frozen=True)
class HeldBefore:
    """`count` live numbers (within the listing's scope) first seen by `confirmed_by`, the
    end of the account's last successful run (None when none succeeded: then every live
    number counts)."""

    count: int
    confirmed_by: datetime | None


def state_before_the_run(
    connection: Connection,
    account: history.AccountHistory,
    *,
    scope: dict[str, str],
    stale_before: datetime,
) -> tuple[history.AccountState, HeldBefore]:
    """The account's stored state (`AccountHistory.read_state`) and what it holds now (see
    the module doc), in one read of its rows, before the run writes anything."""
    confirmed_by = writes.last_success_finished(connection, account.provider, account.account)
    state = account.read_state(connection, stale_before, scope=scope, confirmed_by=confirmed_by)
    return state, HeldBefore(state.held, confirmed_by)
