"""The statement's style sheet: for the screen, and for A4 paper.

One accent colour (`ACCENT`, the chart's too), the system's own fonts (nothing to fetch),
tabular figures right-aligned in every money column. On paper: A4 with margins, a running
header and "page N of M" in the page margins (CSS page margin boxes, which Chromium prints
on every page), each section after the first starting a new page, table headers repeated where
a table continues, rows kept whole, and every table as wide as the page at most (text cells
wrap; a money cell never does).
"""

from __future__ import annotations

from syncer.reports.statement_chart import ACCENT

FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", '
    '"Liberation Sans", Arial, sans-serif'
)
MONO = 'ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace'

STYLE = f"""\
:root {{ --accent: {ACCENT}; --ink: #1b1f24; --muted: #5b6570; --rule: #d5dae0;
  --wash: #f2f5f8; }}
* {{ box-sizing: border-box; }}
html {{ background: #e9ecef; }}
body {{ margin: 0; color: var(--ink); font: 14px/1.45 {FONTS};
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
.sheet {{ max-width: 860px; margin: 24px auto; padding: 40px 48px 48px; background: #fff;
  box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
.masthead {{ border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 18px; }}
.kicker {{ margin: 0; color: var(--accent); font-weight: 600; letter-spacing: .06em;
  text-transform: uppercase; font-size: 12px; }}
h1 {{ margin: 2px 0 4px; font-size: 30px; line-height: 1.15; font-weight: 700; }}
.meta {{ margin: 0; color: var(--muted); font-size: 13px; }}
h2 {{ font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--rule); }}
h3 {{ font-size: 15px; margin: 20px 0 6px; }}
p {{ margin: 6px 0; }}
.lead {{ color: var(--ink); }}
.note {{ color: var(--muted); font-size: 12.5px; }}
.empty {{ color: var(--muted); font-style: italic; }}
code {{ font-family: {MONO}; font-size: 12px; background: var(--wash); padding: 1px 4px;
  border-radius: 3px; overflow-wrap: anywhere; }}
a {{ color: var(--accent); }}
.banner {{ border: 1px solid var(--ink); border-left: 6px solid var(--accent); padding: 9px 12px;
  margin: 10px 0; background: var(--wash); }}
.banner strong {{ font-weight: 700; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 16px;
  margin: 12px 0; }}
.card {{ border: 1px solid var(--rule); border-top: 4px solid var(--accent); padding: 12px 16px;
  break-inside: avoid; }}
.card-label {{ margin: 0; color: var(--muted); font-size: 12.5px; }}
.card-main {{ margin: 2px 0 8px; font-size: 30px; font-weight: 700;
  font-variant-numeric: tabular-nums; }}
.card-main .cur {{ font-size: 16px; color: var(--muted); font-weight: 600; }}
table {{ width: 100%; border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }}
thead {{ display: table-header-group; }}
th, td {{ padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: break-word; }}
thead th {{ border-bottom: 1.5px solid var(--ink); font-weight: 600; font-size: 12px;
  color: var(--muted); }}
tbody tr {{ border-bottom: 1px solid var(--rule); break-inside: avoid; }}
tr.total {{ border-top: 1.5px solid var(--ink); border-bottom: none; font-weight: 700; }}
tr.total + tr.total {{ border-top: none; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums lining-nums; white-space: nowrap; }}
.mono {{ font-family: {MONO}; font-size: 12px; white-space: nowrap; }}
.days {{ white-space: normal; }}
.wrap {{ overflow-wrap: anywhere; }}
table.figures {{ margin: 0; font-size: 13.5px; table-layout: fixed; }}
table.figures th {{ width: 62%; }}
table.figures td.num {{ width: 20%; }}
table.figures th {{ font-weight: 400; color: var(--muted); padding-left: 0; }}
table.figures tr {{ border-bottom: none; }}
table.figures td.unit {{ color: var(--muted); padding-left: 0; white-space: nowrap; }}
.pct {{ color: var(--muted); }}
.bridge {{ display: grid; grid-template-columns: 1fr; gap: 12px; align-items: start;
  margin: 8px 0 14px; break-inside: avoid; }}
.bridge.with-chart {{ grid-template-columns: minmax(0, 1.15fr) minmax(0, 1fr); }}
.chart {{ margin: 0; }}
.chart svg {{ width: 100%; height: auto; display: block; }}
.chart svg * {{ stroke-linejoin: round; stroke-linecap: butt; }}
table.attribution th small {{ display: block; color: var(--muted); font-weight: 400;
  font-size: 11.5px; }}
.facts {{ display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }}
.facts dt {{ color: var(--muted); }}
.facts dd {{ margin: 0; overflow-wrap: anywhere; }}
.commands {{ padding-left: 18px; }}
@media print {{
  html {{ background: none; }}
  body {{ font-size: 9.5pt; }}
  .sheet {{ max-width: none; margin: 0; padding: 0; box-shadow: none; }}
  table {{ font-size: 8.5pt; }}
  h1 {{ font-size: 22pt; }}
  h2 {{ font-size: 13pt; margin-top: 0; }}
  h2, h3 {{ break-after: avoid; }}
  section {{ margin-top: 14pt; }}
  section.new-page {{ break-before: page; margin-top: 0; }}
  .card-main {{ font-size: 20pt; }}
  a {{ color: inherit; text-decoration: none; }}
}}
"""


def page_rules(title: str, generated: str) -> str:
    """The A4 page with its running header and page numbers (CSS page margin boxes)."""
    margin = f"font: 7.5pt {FONTS}; color: #5b6570;"
    return (
        "@page { size: A4; margin: 18mm 14mm 16mm 14mm;\n"
        f"  @top-left {{ content: {_css_string(title)}; {margin} vertical-align: bottom;"
        " padding-bottom: 2mm; }\n"
        f"  @top-right {{ content: {_css_string('generated ' + generated)}; {margin}"
        " vertical-align: bottom; padding-bottom: 2mm; }\n"
        f'  @bottom-right {{ content: "page " counter(page) " of " counter(pages); {margin} }}\n'
        "}\n"
    )


def _css_string(text: str) -> str:
    """`text` as a CSS string: quotes and backslashes escaped, no line break, no `<`."""
    cleaned = " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + cleaned.replace("<", "\\3c ") + '"'
