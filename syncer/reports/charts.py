"""Charts for people, drawn with matplotlib (imported only when a chart is asked for).

- `accrual_chart`: accrued cost per month, stacked bars per provider, with the month's total
  as a line; one panel per currency (currencies are never added), the currency on the axis.
- `changes_chart`: status changes per day, stacked by what happened (first seen, or the
  status a number moved to).

The file type follows the name: `.png` or `.svg`. Bar heights are drawn from the exact
figures; the labels on the total line follow the table rounding rule (two decimals).

matplotlib is an extra (`pip install 'syncer[charts]'`): the core install, what a daemon
needs, leaves it out. `check_chart_path` says so before any work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncer.errors import UsageError
from syncer.reports.accrual import AccrualReport
from syncer.reports.changes import FIRST_SEEN, ChangesReport
from syncer.reports.money import table_money
from syncer.reports.periods import local_text, zone_name

CHART_TYPES = (".png", ".svg")
# Colour-blind-safe (Okabe-Ito); providers and transitions keep their colour across charts.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
TRANSITION_COLOURS = {
    FIRST_SEEN: "#0072B2",
    "to active": "#009E73",
    "to pending": "#56B4E9",
    "to suspended": "#E69F00",
    "to inactive": "#CC79A7",
    "to released": "#D55E00",
}


CHARTS_MISSING = (
    "--chart needs matplotlib, which the core install leaves out: pip install 'syncer[charts]'"
)


def check_chart_path(path: str | None) -> None:
    """Refuse a chart we cannot draw (a file type other than .png/.svg, or no matplotlib
    installed), before any work is done."""
    if path is None:
        return
    if Path(path).suffix.lower() not in CHART_TYPES:
        raise UsageError(f"--chart: {path!r} must end in .png or .svg")
    if not charts_installed():
        raise UsageError(CHARTS_MISSING)


def charts_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(CHARTS_MISSING) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str) -> Path:
    check_chart_path(path)
    try:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    except OSError as exc:
        raise UsageError(f"--chart: cannot write {path!r}: {exc.strerror}") from None
    return Path(path).resolve()


def accrual_chart(report: AccrualReport, path: str) -> Path:
    """Stacked bars of the accrual per provider and month, the total as a line; returns
    where the file was written."""
    plt = _pyplot()
    currencies = [c for c in report.currencies if c is not None]
    months = list(dict.fromkeys(str(row.month) for row in report.rows)) or [str(report.first)]
    figure, axes = plt.subplots(
        max(1, len(currencies)),
        1,
        figsize=(max(6.0, 1.0 + 0.9 * len(months)), 4.2 * max(1, len(currencies))),
        squeeze=False,
    )
    if not currencies:
        axes[0, 0].text(0.5, 0.5, "nothing priced was accrued in these months", ha="center")
        axes[0, 0].set_axis_off()
    providers = sorted({p for row in report.rows for p in row.by_provider})
    colours = {provider: PALETTE[i % len(PALETTE)] for i, provider in enumerate(providers)}
    for axis, currency in zip(axes[:, 0], currencies, strict=False):
        _accrual_panel(axis, report, currency, months, colours)
    figure.tight_layout()
    written = _save(figure, path)
    plt.close(figure)
    return written


def _accrual_panel(
    axis: Any, report: AccrualReport, currency: str, months: list[str], colours: dict[str, str]
) -> None:
    rows = {str(row.month): row for row in report.rows if row.currency == currency}
    providers = sorted({p for row in rows.values() for p in row.by_provider})
    positions = list(range(len(months)))
    bottom = [0.0] * len(months)
    partial = [m for m in months if m in rows and not rows[m].complete]
    for provider in providers:
        heights = [
            float(rows[m].by_provider.get(provider, 0)) if m in rows else 0.0 for m in months
        ]
        bars = axis.bar(
            positions,
            heights,
            bottom=bottom,
            width=0.6,
            label=provider,
            color=colours[provider],
        )
        for month, bar in zip(months, bars, strict=True):
            if month in partial:  # a month not over yet: hatched, lighter
                bar.set_hatch("//")
                bar.set_alpha(0.6)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    totals = [rows[m].accrued if m in rows else None for m in months]
    heights = [float(total or 0) for total in totals]
    axis.plot(positions, heights, color="#222222", marker="o", linewidth=1.8, label="total")
    for x, total in zip(positions, totals, strict=True):
        if total:
            axis.annotate(
                table_money(total),
                (x, float(total)),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
    axis.set_xticks(positions, [m + ("*" if m in partial else "") for m in months])
    label = f"Month ({zone_name(report.request.zone)})"
    if partial:
        until = local_text(report.now, report.request.zone)[:16]
        label += f"    * month not over: accrued up to {until}"
    axis.set_xlabel(label)
    axis.set_ylabel(f"Accrued ({currency})")
    axis.set_ylim(0, max([1.0, *heights]) * 1.15)
    axis.set_title(f"Accrued cost per month in {currency}, by provider")
    axis.grid(axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def changes_chart(report: ChangesReport, path: str) -> Path:
    """Stacked bars: status changes per day, by transition; returns where the file was
    written."""
    plt = _pyplot()
    per_day = report.per_day or {}
    day_labels = list(per_day)
    kinds = sorted(
        {kind for counts in per_day.values() for kind in counts},
        key=lambda kind: (
            list(TRANSITION_COLOURS).index(kind) if kind in TRANSITION_COLOURS else 99,
            kind,
        ),
    )
    figure, axis = plt.subplots(figsize=(min(14.0, max(7.0, 3.0 + 0.3 * len(day_labels))), 4.5))
    positions = list(range(len(day_labels)))
    bottom = [0] * len(day_labels)
    for index, kind in enumerate(kinds):
        heights = [per_day[day].get(kind, 0) for day in day_labels]
        axis.bar(
            positions,
            heights,
            bottom=bottom,
            width=0.8,
            label=kind,
            color=TRANSITION_COLOURS.get(kind, PALETTE[index % len(PALETTE)]),
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    step = max(1, len(day_labels) // 15)
    axis.set_xticks(
        positions[::step], day_labels[::step], rotation=45, ha="right", rotation_mode="anchor"
    )
    axis.set_xlabel(f"Day ({zone_name(report.request.zone)})")
    axis.set_ylabel("Status changes (numbers)")
    axis.set_title(f"Status changes per day: {report.total} in total")
    axis.yaxis.get_major_locator().set_params(integer=True)
    axis.grid(axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    if kinds:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        axis.text(0.5, 0.5, "no status changes", ha="center", transform=axis.transAxes)
    figure.tight_layout()
    written = _save(figure, path)
    plt.close(figure)
    return written
