"""How a sync run ended, in the words every output uses: one home for them.

A run's row in `sync_runs` has a `status` (`RunStatus`: running, succeeded, failed) and a
`listing_complete` flag. What people and monitoring are told is the `RunOutcome` made of the
two (plus `skipped`, a tick that ran nothing because another process had the account):

- **succeeded**: listed completely, and whatever was missing released (or nothing was);
- **incomplete**: stored what it saw, but could not prove anything released (the listing was
  incomplete, or a release was withheld); `syncer sync` exits 1 for it, `syncer status`
  counts it as a failure, `report runs` shows "succeeded (incomplete)";
- **failed**: ended by an error (the provider, the database, a stop request);
- **skipped**: no run at all (another process holds the account, or ran it moments ago).
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """The values of `sync_runs.status`."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunOutcome(StrEnum):
    """How a run (or a tick of the daemon) ended, as the metrics and summaries count it."""

    SUCCEEDED = "succeeded"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    SKIPPED = "skipped"


def run_outcome(status: str, listing_complete: bool) -> RunOutcome:
    """The outcome of a run that ended with `status` (a `RunStatus`, or `skipped`).

    A run still `running` has no outcome yet: ValueError.
    """
    if status == RunOutcome.SKIPPED:
        return RunOutcome.SKIPPED
    if status == RunStatus.SUCCEEDED:
        return RunOutcome.SUCCEEDED if listing_complete else RunOutcome.INCOMPLETE
    if status == RunStatus.FAILED:
        return RunOutcome.FAILED
    raise ValueError(f"a run with status {status!r} has no outcome yet")


def status_label(status: str, listing_complete: bool) -> str:
    """A run's status for people: the stored status, or "succeeded (incomplete)"."""
    if status == RunStatus.SUCCEEDED and not listing_complete:
        return f"{RunStatus.SUCCEEDED} ({RunOutcome.INCOMPLETE})"
    return status
