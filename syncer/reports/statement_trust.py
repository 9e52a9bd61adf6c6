"""The statement's last two sections: what it cannot vouch for, and what it rests on.

Section 5 holds the unpriced numbers, the time the mirror did not cover (by account, with the
rule that decides it, see `syncer.reports.coverage`) and the rejected records; section 6 the
time it was made, the database (password hidden), the sync runs of the month, and the
commands that give the same figures.
"""

from __future__ import annotations

from syncer.reports.accrual import DEFAULT_BILLABLE
from syncer.reports.coverage import BEFORE_FIRST_SYNC, SYNC_GAP, AccountCoverage, Gap
from syncer.reports.periods import zone_name
from syncer.reports.statement import StatementReport
from syncer.reports.statement_cells import (
    count_cell,
    day_ranges,
    esc,
    section,
    table,
    text_cell,
    when,
)
from syncer.reports.status import format_age

COVERAGE_RULE = (
    "The mirror knows an account from its successful syncs (a complete listing). Not covered: "
    "the time before an account's first one, and gaps between two of them longer than three "
    "times its schedule's period (the age at which <code>syncer status</code> calls it "
    "unhealthy); an account with no schedule in the config is held to the default, every "
    "hour. A day counts when any part of it is not covered."
)


def cannot_vouch_for(report: StatementReport, month: str) -> str:
    """Section 5: unpriced numbers, time not covered, rejected records."""
    parts = ["<h3>Numbers without a known fee</h3>\n", *_unpriced(report, month)]
    parts += ["<h3>Time the mirror did not cover</h3>\n", f'<p class="lead">{COVERAGE_RULE}</p>\n']
    rows = [_coverage_row(account, report) for account in report.coverage.accounts]
    parts.append(
        table(
            ["Account", "Schedule", "Allowed gap", "Days not covered", "Why"],
            rows,
            [],
            empty="No account has been synced yet.",
        )
    )
    parts += ["<h3>Rejected records</h3>\n", *_rejected(report, month)]
    return section("vouch", "5. What it cannot vouch for", parts, new_page=True)


def _unpriced(report: StatementReport, month: str) -> list[str]:
    by_account = [row for row in report.breakdown["account"].rows if row.unpriced_numbers]
    if not (report.unpriced_in_month or by_account):
        return [f'<p class="lead">Every number held in {esc(month)} had a known fee.</p>\n']
    rows = [[text_cell(str(row.keys[0])), count_cell(row.unpriced_numbers)] for row in by_account]
    return [
        f'<p class="lead">{report.unpriced_in_month} numbers held in a billable status in '
        f"{esc(month)} have no known fee (a Ringyo account without a fee schedule in the "
        "config): they are counted, never priced as zero, and are in no amount above. "
        "At the month's end, by account:</p>\n",
        table(["Account", "Unpriced numbers"], rows, [], empty="None at the month's end."),
    ]


def _coverage_row(account: AccountCoverage, report: StatementReport) -> list[str]:
    schedule = account.schedule + ("" if account.schedule_source == "config" else " (default)")
    why = "; ".join(_gap_text(gap, report) for gap in account.gaps) or "synced within schedule"
    return [
        text_cell(account.account),
        text_cell(schedule),
        text_cell(format_age(account.allowed_gap)),
        text_cell(day_ranges(account.uncovered_days) or "none"),
        text_cell(why),
    ]


def _gap_text(gap: Gap, report: StatementReport) -> str:
    zone = report.request.zone
    if gap.kind == BEFORE_FIRST_SYNC:
        if gap.next_success is None:
            return "no successful sync yet"
        return f"before its first successful sync, {when(gap.next_success, zone)}"
    assert gap.last_success is not None
    since = when(gap.last_success, zone)
    if gap.kind == SYNC_GAP and gap.next_success is not None:
        length = format_age(gap.next_success - gap.last_success)
        return f"none from {since} to {when(gap.next_success, zone)} ({length})"
    return f"none since {since}"


def _rejected(report: StatementReport, month: str) -> list[str]:
    coverage = report.coverage
    if not coverage.rejected_records:
        return [f'<p class="lead">No record was rejected in {esc(month)}.</p>\n']
    rows = [
        [
            text_cell(rejection.account),
            text_cell(rejection.external_id or "(none)", "mono"),
            text_cell(rejection.reason, "wrap"),
            count_cell(rejection.times),
            text_cell(when(rejection.last_at, report.request.zone)),
        ]
        for rejection in coverage.rejections
    ]
    parts = [
        f'<p class="lead">{coverage.rejected_records} records the providers sent in '
        f"{esc(month)} failed validation ({coverage.rejections_total} rejections over all "
        "runs). They are not in the figures; each such number kept its last good state.</p>\n",
        table(["Account", "Record", "Reason", "Times", "Last"], rows, []),
    ]
    if coverage.rejected_records > len(coverage.rejections):
        parts.append(
            f'<p class="note">The {len(coverage.rejections)} most frequent of '
            f"{coverage.rejected_records}; the table rejected_records holds them all.</p>\n"
        )
    return parts


def rests_on(report: StatementReport) -> str:
    """Section 6: when, from which database and sync runs, and how to get the same figures."""
    zone = report.request.zone
    rows = []
    for account in report.coverage.accounts:
        runs = account.runs
        ids = "" if runs.first_id is None else f"first #{runs.first_id}"
        if runs.last_id != runs.first_id:
            ids += f", last #{runs.last_id}"
        before = "none"
        if runs.previous_success_id is not None and runs.previous_success_at is not None:
            before = f"#{runs.previous_success_id}, {when(runs.previous_success_at, zone)}"
        rows.append(
            [
                text_cell(account.account),
                count_cell(runs.total),
                count_cell(runs.complete),
                count_cell(runs.incomplete),
                count_cell(runs.failed + runs.running),
                text_cell(ids),
                text_cell(before),
            ]
        )
    headers = ["Account", "Runs", "Complete", "Incomplete", "Failed", "Run ids", "Success before"]
    facts = [
        ("Generated", when(report.generated_at, zone)),
        ("Database", report.database),
        ("Made by", f"syncer {report.version}"),
        ("Time zone", zone_name(zone)),
        ("Billable statuses", ", ".join(DEFAULT_BILLABLE)),
    ]
    listing = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>\n" for k, v in facts)
    commands = "".join(f"<li><code>{esc(c)}</code></li>\n" for c in report.commands().values())
    parts = [
        f'<dl class="facts">\n{listing}</dl>\n',
        "<h3>Sync runs of the month</h3>\n",
        table(headers, rows, [], empty="No sync runs."),
        '<p class="note">Complete: the run listed every number. Incomplete: it stored what it '
        "saw but could not prove its listing complete, so it released nothing. Failed: it "
        "stopped (or is still running). Success before: the last successful run before the "
        "month, on which its first days rest.</p>\n",
        "<h3>The same figures from the command line</h3>\n",
        f'<ul class="commands">\n{commands}</ul>\n',
    ]
    return section("sources", "6. What it rests on", parts, new_page=True)
