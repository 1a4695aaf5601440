"""The report as one self-contained HTML page: inline CSS and SVG, no script, no external URL."""

from __future__ import annotations

import re

from tfcompare import __version__
from tfcompare.report.markup import html_text
from tfcompare.report.model import Finding, Table
from tfcompare.report.svg import render

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d1d1f; background: #fff; margin: 0 auto; max-width: 980px; padding: 24px 32px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #555; margin: 0 0 18px; }
.answers { border: 1px solid #cfd8e3; background: #f5f8fb; border-radius: 6px; padding: 8px 16px; }
.answers li { margin: 6px 0; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px;
         border-radius: 9px; margin-right: 6px; vertical-align: 1px; }
.decided { background: #d9efe4; color: #135c38; }
.undecided { background: #f6e3c9; color: #7a4a00; }
.question { color: #444; font-style: italic; margin: 0 0 6px; }
.verdict { font-size: 15px; margin: 6px 0 10px; }
.details { color: #444; margin: 4px 0 12px; padding-left: 20px; }
figure { margin: 10px 0 16px; break-inside: avoid; page-break-inside: avoid; }
svg.chart { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 6px 0 16px; font-size: 12.5px; break-inside: auto; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid #e2e2e2; padding: 3px 10px 3px 0; text-align: right;
         vertical-align: top; }
th { border-bottom: 1px solid #999; font-weight: 600; }
th.text, td.text { text-align: left; }
/* names are the users': one without spaces (a 200-character backend or file name) wraps
   instead of widening the page */
h1, h2, caption, td.text, th.text, .verdict, .details li, .answers li, .caveats li, .sub {
  overflow-wrap: anywhere; }
tr { break-inside: avoid; page-break-inside: avoid; }
.caveats li { margin: 4px 0; }
footer { color: #666; font-size: 12px; margin-top: 32px; border-top: 1px solid #ddd;
         padding-top: 8px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  section { break-before: auto; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 16mm 14mm; }
"""


_NUMERIC = re.compile(r"^[-+−–]?[\d.,]*\d[\d.,]*( ?(%|×|ms|B|KB|MB|GB|pp|\*))*$|^–$")


def _table(t: Table) -> str:
    def text_col(i: int) -> bool:  # left-aligned unless every cell of the column is a number
        return i == 0 or not all(_NUMERIC.match(row[i]) for row in t.rows if i < len(row))

    cls = [' class="text"' if text_col(i) else "" for i in range(len(t.header))]
    head = "".join(f"<th{c}>{html_text(h)}</th>" for h, c in zip(t.header, cls))
    rows = [
        "<tr>" + "".join(f"<td{c}>{html_text(cell)}</td>" for cell, c in zip(row, cls)) + "</tr>"
        for row in t.rows
    ]
    caption = f"<caption>{html_text(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _badge(f: Finding) -> str:
    if f.decided:
        return '<span class="badge decided">answered</span>'
    return '<span class="badge undecided">not enough data</span>'


def _finding(i: int, f: Finding, colors: dict[str, str] | None = None) -> str:
    parts = [
        f'<section class="finding" id="{f.key}">',
        f"<h2>{i}. {html_text(f.title)}</h2>",
        f'<p class="question">{html_text(f.question)}</p>',
        f'<p class="verdict">{_badge(f)}{html_text(f.verdict)}</p>',
    ]
    if f.details:
        parts.append(
            '<ul class="details">'
            + "".join(f"<li>{html_text(d)}</li>" for d in f.details)
            + "</ul>"
        )
    for chart in f.charts:
        parts.append(f"<figure>{render(chart, colors)}</figure>")
    parts.extend(_table(t) for t in f.tables)
    parts.append("</section>")
    return "\n".join(parts)


def render_page(
    *,
    title: str,
    subtitle: str,
    findings: list[Finding],
    setup: tuple[Table, ...],
    caveats: list[str],
    generated: str,
    colors: dict[str, str] | None = None,
) -> str:
    """The page; ``colors`` gives each backend its colour in every chart (the window's)."""
    answers = "".join(
        f'<li>{_badge(f)}<a href="#{f.key}"><strong>{html_text(f.title.split(":")[0])}</strong></a>: '
        f"{html_text(f.verdict)}</li>"
        for f in findings
    )
    body = [
        f"<h1>{html_text(title)}</h1>",
        f'<p class="sub">{html_text(subtitle)}</p>',
        f'<div class="answers"><ul>{answers}</ul></div>',
        *(_finding(i, f, colors) for i, f in enumerate(findings, 1)),
        '<section id="setup"><h2>Setup</h2>' + "".join(_table(t) for t in setup) + "</section>",
        '<section id="caveats"><h2>Caveats</h2><ul class="caveats">'
        + ("".join(f"<li>{html_text(c)}</li>" for c in caveats) or "<li>None known.</li>")
        + "</ul></section>",
        f"<footer>Made by tfcompare {html_text(__version__)} on {html_text(generated)}. Latency: wall time "
        "of each request as the client saw it (warm-up excluded); quality: the top-1 class compared "
        "with the same backend's answer on the original image.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html_text(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
