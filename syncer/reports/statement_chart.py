"""The statement's chart, drawn with matplotlib as SVG to go inline into the HTML.

matplotlib is optional (`syncer[charts]`): `charts_available` says whether it can be
imported, and the statement goes without charts when it cannot. No pyplot (no global state,
no GUI backend): a `Figure` on matplotlib's SVG canvas. Text is drawn as paths, so the SVG
needs no font; `inline_svg` strips what an inline SVG must not carry (the XML prolog, the
DOCTYPE and the RDF metadata, which name URLs; a style sheet that would apply to the whole
page) and prefixes its ids, so that several charts in one page cannot collide.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

from syncer.reports.money import signed_money

ACCENT = "#1f5f8b"
DECREASE = "#b9c2cc"
NET = "#1b1f24"

_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.IGNORECASE)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_STYLE = re.compile(r"<style[^>]*>.*?</style>\s*", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_SIZE = re.compile(r'^(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')


def charts_available() -> bool:
    """Whether matplotlib (the `charts` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def attribution_svg(
    labels: Sequence[str], amounts: Sequence[Decimal], net: Decimal, currency: str, chart_id: str
) -> str:
    """Horizontal bars of the parts of a month's change and, last, the net change; an
    increase in the accent colour, a decrease grey and hatched, each labelled with its
    signed amount, so the chart reads the same without colour."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    names = [*labels, "Net change"]
    values = [float(amount) for amount in (*amounts, net)]
    style: Any = {
        "svg.hashsalt": chart_id,
        "font.size": 8,
        "font.family": "DejaVu Sans",
        "hatch.color": "#5b6570",
        "hatch.linewidth": 0.6,
    }
    with matplotlib.rc_context(style):
        figure = Figure(figsize=(4.4, 0.42 + 0.3 * len(names)), layout="constrained")
        FigureCanvasSVG(figure)
        axis = figure.add_subplot()
        positions = list(range(len(names)))[::-1]
        for position, value, name in zip(positions, values, names, strict=True):
            is_net = name == names[-1]
            axis.barh(
                position,
                value,
                height=0.62,
                color=NET if is_net else ACCENT if value >= 0 else DECREASE,
                hatch=None if is_net or value >= 0 else "////",
                edgecolor="none",
            )
        span = max([abs(value) for value in values] + [0.01])
        for position, value, amount in zip(positions, values, (*amounts, net), strict=True):
            axis.annotate(
                signed_money(amount),
                (value, position),
                xytext=(4 if value >= 0 else -4, 0),
                textcoords="offset points",
                ha="left" if value >= 0 else "right",
                va="center",
                fontweight="bold" if position == 0 else "normal",
            )
        axis.set_xlim(-span * 1.45 if min(values) < 0 else 0, span * 1.45)
        axis.set_yticks(positions, names)
        axis.axvline(0, color="#444444", linewidth=0.8)
        axis.set_xlabel(f"Change from the month before ({currency})")
        axis.grid(axis="x", alpha=0.25)
        axis.set_axisbelow(True)
        for side in ("top", "right", "left"):
            axis.spines[side].set_visible(False)
        axis.tick_params(axis="y", length=0)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return inline_svg(buffer.getvalue(), chart_id, f"Change from the month before, {currency}")


def inline_svg(svg: str, prefix: str, label: str) -> str:
    """An SVG document as an element for inline use in HTML (see the module doc)."""
    svg = _PROLOG.sub("", svg)
    svg = _METADATA.sub("", svg)
    svg = _STYLE.sub("", svg)
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = svg.replace('href="#', f'href="#{prefix}-').replace("url(#", f"url(#{prefix}-")
    svg = svg.replace("<defs>\n </defs>", "").strip()
    svg = _SIZE.sub(r"\1", svg, count=1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
