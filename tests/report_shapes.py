"""The report JSON shapes of docs/reports.md, checked key by key (scripts parse them)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

MONEY = re.compile(r"^-?\d+\.\d{2,6}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
COSTS_FIELDS = {"currency", "numbers", "monthly_fee_total", "unpriced_numbers"}
DELTA_FIELDS = {
    "total",
    "numbers_added",
    "numbers_released",
    "price_changes",
    "status_changes",
    "setup_fees",
    "not_yet_accrued",
}


def is_money(value: Any, *, nullable: bool = False) -> bool:
    return (value is None and nullable) or (isinstance(value, str) and bool(MONEY.match(value)))


def is_instant(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("Z") and bool(datetime.fromisoformat(value))


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_costs(doc: dict[str, Any]) -> None:
    assert set(doc) == {"as_of", "group_by", "rows", "totals"}
    assert is_instant(doc["as_of"])
    assert isinstance(doc["group_by"], list)
    for row in doc["rows"]:
        assert set(row) == set(doc["group_by"]) | COSTS_FIELDS, row
        _check_costs_fields(row)
    for row in doc["totals"]:
        assert set(row) == COSTS_FIELDS, row
        _check_costs_fields(row)
    currencies = [row["currency"] for row in doc["totals"]]
    assert len(currencies) == len(set(currencies)), "one totals row per currency"


def _check_costs_fields(row: dict[str, Any]) -> None:
    assert row["currency"] is None or re.match(r"^[A-Z]{3}$", row["currency"])
    assert is_count(row["numbers"])
    assert is_count(row["unpriced_numbers"])
    assert row["unpriced_numbers"] <= row["numbers"]
    assert is_money(row["monthly_fee_total"], nullable=True)
    if row["monthly_fee_total"] is None:
        assert row["unpriced_numbers"] == row["numbers"]


def check_accrual(doc: dict[str, Any]) -> None:
    assert set(doc) == {"from", "to", "timezone", "billable", "accrued_until", "months"}
    assert MONTH.match(doc["from"])
    assert MONTH.match(doc["to"])
    assert is_instant(doc["accrued_until"])
    for row in doc["months"]:
        assert set(row) == {
            "month",
            "currency",
            "accrued",
            "setup_fees",
            "numbers",
            "unpriced_numbers",
            "complete",
            "delta",
        }, row
        assert MONTH.match(row["month"])
        assert doc["from"] <= row["month"] <= doc["to"]
        priced = row["currency"] is not None
        assert is_money(row["accrued"], nullable=not priced)
        assert is_money(row["setup_fees"], nullable=not priced)
        assert is_count(row["numbers"])
        assert is_count(row["unpriced_numbers"])
        assert isinstance(row["complete"], bool)
        if row["delta"] is not None:
            assert set(row["delta"]) == DELTA_FIELDS
            assert all(is_money(value) for value in row["delta"].values())


def check_changes(doc: dict[str, Any]) -> None:
    assert set(doc) == {"since", "until", "changes", "summary"}
    assert is_instant(doc["since"])
    assert is_instant(doc["until"])
    for change in doc["changes"]:
        assert set(change) == {
            "provider",
            "account",
            "e164",
            "from_status",
            "to_status",
            "changed_at",
        }
        assert is_instant(change["changed_at"])
        assert doc["since"] <= change["changed_at"] < doc["until"]
        assert change["from_status"] is None or isinstance(change["from_status"], str)
        assert isinstance(change["to_status"], str)
    for line in doc["summary"]:
        assert set(line) == {"from_status", "to_status", "count"}
        assert is_count(line["count"])


def check_runs(doc: dict[str, Any]) -> None:
    assert set(doc) == {"runs"}
    for run in doc["runs"]:
        assert set(run) == {
            "id",
            "provider",
            "account",
            "started_at",
            "finished_at",
            "duration_seconds",
            "status",
            "listing_complete",
            "pages",
            "seen",
            "created",
            "updated",
            "unchanged",
            "released",
            "rejected",
            "error",
        }
        assert is_instant(run["started_at"])
        assert run["finished_at"] is None or is_instant(run["finished_at"])
        assert run["status"] in ("running", "succeeded", "failed")
        for name in ("pages", "seen", "created", "updated", "unchanged", "released", "rejected"):
            assert is_count(run[name])


STATEMENT_KEYS = {
    "month",
    "timezone",
    "period",
    "generated_at",
    "complete",
    "accrued_until",
    "covered",
    "database",
    "syncer_version",
    "billable",
    "currencies",
    "where_it_goes",
    "what_changed",
    "cannot_vouch_for",
    "sync_runs",
}
STATEMENT_CURRENCY_KEYS = {
    "currency",
    "accrued",
    "setup_fees",
    "numbers",
    "unpriced_numbers",
    "previous_month",
    "difference",
    "difference_parts",
    "accrued_by_provider",
    "run_rate",
}


def check_statement(doc: dict[str, Any]) -> None:
    """`report statement --format json`, key by key (docs/statement.md)."""
    assert set(doc) == STATEMENT_KEYS
    assert MONTH.match(doc["month"])
    assert set(doc["period"]) == {"start", "end"}
    for key in ("generated_at", "accrued_until"):
        assert is_instant(doc[key])
    assert isinstance(doc["complete"], bool)
    assert isinstance(doc["covered"], bool)
    currencies = [row["currency"] for row in doc["currencies"]]
    assert len(currencies) == len(set(currencies))
    assert None not in currencies
    for row in doc["currencies"]:
        assert set(row) == STATEMENT_CURRENCY_KEYS, row
        for key in ("accrued", "setup_fees", "difference"):
            assert is_money(row[key])
        assert is_count(row["numbers"])
        assert is_count(row["unpriced_numbers"])
        assert set(row["previous_month"]) == {"month", "accrued"}
        assert is_money(row["previous_month"]["accrued"])
        assert set(row["difference_parts"]) == DELTA_FIELDS - {"total"}
        assert all(is_money(value) for value in row["difference_parts"].values())
        for line in row["accrued_by_provider"]:
            assert set(line) == {"provider", "accrued"}
            assert is_money(line["accrued"])
        assert set(row["run_rate"]) == {
            "as_of",
            "numbers",
            "monthly_fee_total",
            "billable_monthly_fee_total",
        }
        assert is_money(row["run_rate"]["monthly_fee_total"], nullable=True)
    where = doc["where_it_goes"]
    assert set(where) == {"as_of", "by", "totals"}
    assert set(where["by"]) == {"provider", "account", "country", "type", "status"}
    for key, rows in where["by"].items():
        check_costs({"as_of": where["as_of"], "group_by": [key], "rows": rows, "totals": []})
    check_costs({"as_of": where["as_of"], "group_by": [], "rows": [], "totals": where["totals"]})
    changed = doc["what_changed"]
    assert set(changed) == {
        "since",
        "until",
        "summary",
        "list_limit",
        "added",
        "released",
        "suspended",
    }
    for name in ("added", "released", "suspended"):
        assert set(changed[name]) == {"count", "listed"}
        assert len(changed[name]["listed"]) <= min(changed[name]["count"], changed["list_limit"])
        check_changes(
            {"since": changed["since"], "until": changed["until"],
             "changes": changed[name]["listed"], "summary": changed["summary"]}
        )  # fmt: skip
    vouch = doc["cannot_vouch_for"]
    assert set(vouch) == {"unpriced_numbers", "unpriced_by_account", "coverage", "rejected"}
    coverage = vouch["coverage"]
    assert set(coverage) == {"complete", "days_in_month", "uncovered_days", "accounts"}
    assert coverage["complete"] == doc["covered"] == (not coverage["uncovered_days"])
    for account in coverage["accounts"]:
        assert set(account) == {
            "provider",
            "account",
            "schedule",
            "schedule_source",
            "allowed_gap_seconds",
            "uncovered_days",
            "gaps",
        }
        assert account["schedule_source"] in ("config", "default")
        for gap in account["gaps"]:
            assert set(gap) == {"start", "end", "kind", "last_success", "next_success"}
            assert gap["kind"] in ("before_first_sync", "gap", "since_last_sync")
            assert gap["start"] < gap["end"]
    rejected = vouch["rejected"]
    assert set(rejected) == {"records", "rejections", "list_limit", "listed"}
    for line in rejected["listed"]:
        assert set(line) == {
            "provider",
            "account",
            "external_id",
            "reason",
            "times",
            "last_rejected_at",
        }
    for runs in doc["sync_runs"]:
        assert set(runs) == {
            "provider",
            "account",
            "runs",
            "complete",
            "incomplete",
            "failed",
            "running",
            "first_run_id",
            "last_run_id",
            "previous_success_run_id",
            "previous_success_at",
        }
        assert (
            runs["runs"] == runs["complete"] + runs["incomplete"] + runs["failed"] + runs["running"]
        )
