"""Checks of the history invariants docs/design.md promises, run against any database."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

from sqlalchemy import Engine, select

from syncer.records import TRACKED_FIELDS, state_hash
from syncer.store.models import (
    RATE_COLUMNS,
    PhoneNumber,
    PhoneNumberVersion,
    RateSpan,
    RejectedRecord,
    StatusChange,
    SyncRun,
)
from syncer.store.spans import SPAN_COLUMNS


def assert_history_invariants(engine: Engine) -> None:
    """Exactly one open version per number, equal to its current state; versions contiguous;
    a status change for every status move between consecutive versions; no orphans (every
    version, status change and rejected record belongs to a stored number and run); the rate
    spans exactly those the versions make (`expected_spans`)."""
    with engine.connect() as connection:
        run_ids = set(connection.execute(select(SyncRun.id)).scalars())
        for model in (PhoneNumberVersion, StatusChange, RejectedRecord):
            referenced = set(connection.execute(select(model.sync_run_id).distinct()).scalars())
            orphans = referenced - run_ids - {None}
            assert not orphans, f"{model.__tablename__} rows of unknown runs {sorted(orphans)}"
        numbers = {row.id: row._mapping for row in connection.execute(select(PhoneNumber))}
        versions: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(
            select(PhoneNumberVersion).order_by(
                PhoneNumberVersion.valid_from, PhoneNumberVersion.id
            )
        ):
            versions[row.number_id].append(row._mapping)
        changes: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(select(StatusChange).order_by(StatusChange.id)):
            changes[row.number_id].append(row._mapping)
        spans: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in connection.execute(select(RateSpan).order_by(RateSpan.valid_from)):
            spans[row.number_id].append(_span(row._mapping))
    assert set(spans) <= set(numbers), "rate spans of unknown numbers"
    assert set(versions) <= set(numbers), "versions of unknown numbers"
    assert set(changes) <= set(numbers), "status changes of unknown numbers"
    for number_id, number in numbers.items():
        history = versions[number_id]
        assert history, f"number {number['e164']} has no version"
        open_versions = [v for v in history if v["valid_to"] is None]
        assert len(open_versions) == 1, f"{number['e164']}: {len(open_versions)} open versions"
        assert history[-1]["valid_to"] is None, f"{number['e164']}: open version is not last"
        for before, after in pairwise(history):
            assert before["valid_to"] == after["valid_from"], f"{number['e164']}: gap in history"
            assert state_hash(dict(before)) != state_hash(dict(after)), (
                f"{number['e164']}: two consecutive versions hold the same state"
            )
        current = history[-1]
        assert {f: current[f] for f in TRACKED_FIELDS} == {f: number[f] for f in TRACKED_FIELDS}
        assert number["content_hash"] == state_hash(dict(number))
        assert (number["status"] == "released") == (number["released_at"] is not None)
        moves = [(None, history[0]["status"])] + [
            (a["status"], b["status"]) for a, b in pairwise(history) if a["status"] != b["status"]
        ]
        recorded = [(c["from_status"], c["to_status"]) for c in changes[number_id]]
        assert recorded == moves, f"{number['e164']}: status changes {recorded} != {moves}"
        expected = expected_spans(number["provider"], history)
        assert spans[number_id] == expected, (
            f"{number['e164']}: rate spans {spans[number_id]} != {expected}"
        )


SPAN_FIELDS = SPAN_COLUMNS[1:]  # all but the number's id
assert SPAN_FIELDS[0] == "provider"


def _span(row: Any) -> tuple[Any, ...]:
    return tuple(row[name] for name in SPAN_FIELDS)


def expected_spans(provider: str, history: list[Any]) -> list[tuple[Any, ...]]:
    """The rate spans of a number's versions (in order), as `_span` tuples: a version
    starts one when it is the first or differs from the one before in a `RATE_COLUMNS`."""
    found: list[dict[str, Any]] = []
    before = None
    for version in history:
        rate = {name: version[name] for name in RATE_COLUMNS}
        if before is None or rate != {name: before[name] for name in RATE_COLUMNS}:
            found.append(
                {
                    "provider": provider,
                    **rate,
                    "valid_from": version["valid_from"],
                    "status_before": None if before is None else before["status"],
                    "fee_before": None if before is None else before["monthly_fee"],
                    "currency_before": None if before is None else before["currency"],
                }
            )
        found[-1]["valid_to"] = version["valid_to"]
        before = version
    return [_span(span) for span in found]


def running_runs(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(SyncRun.id).where(SyncRun.status == "running")).all())
