"""Charts as inline SVG text: no script, no external file, readable when printed.

Colours are ``tfcompare.palette`` (Okabe-Ito first: distinguishable with colour-vision deficiencies
and in grey print), each backend in its own colour as the window draws it; every bar also carries
its number as text, so nothing depends on colour alone.
"""

from __future__ import annotations

import math

from tfcompare.palette import PALETTE
from tfcompare.report.markup import html_text
from tfcompare.report.model import BarChart, LineChart

WIDTH = 900
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"


def nice_ticks(hi: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``hi``."""
    if hi <= 0:
        return [0.0, 1.0]
    raw = hi / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.3g}"


def _colors(names: list[str], fixed: dict[str, str] | None = None) -> dict[str, str]:
    """A colour per series: a backend's own (``fixed``, from the session's order, as in the
    window), other series (formats…) the palette's colours in turn."""
    fixed = fixed or {}
    free = iter([c for c in PALETTE if c not in {fixed[n] for n in names if n in fixed}] or PALETTE)
    out: dict[str, str] = {}
    for n in names:
        out[n] = fixed[n] if n in fixed else next(free, PALETTE[len(out) % len(PALETTE)])
    return out


LEGEND_CHARS = 40  # a longer name is cut in the legend; its <title> (tooltip) holds all of it


def _legend(colors: dict[str, str], y: float, x0: float = 8) -> list[str]:
    out, x = [], x0
    for name, color in colors.items():
        out.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="12" height="12" fill="{color}"/>')
        shown = name if len(name) <= LEGEND_CHARS else name[: LEGEND_CHARS - 1] + "…"
        out.append(
            f'<text x="{x + 17:.0f}" y="{y:.0f}" font-size="12"><title>{html_text(name)}</title>'
            f"{html_text(shown)}</text>"
        )
        x += 30 + 7 * len(shown)
    return out


def bar_chart(chart: BarChart, fixed: dict[str, str] | None = None) -> str:
    series = list(dict.fromkeys(b.series for _, bars in chart.groups for b in bars))
    colors = _colors(series, fixed)
    label_w, right_w, bar_h, gap = 190, 150, 14, 12
    top = 46 if len(series) > 1 else 30
    values = [b.value for _, bars in chart.groups for b in bars]
    values += [b.whisker for _, bars in chart.groups for b in bars if b.whisker is not None]
    hi = chart.max_value if chart.max_value is not None else max(values + [chart.threshold or 0])
    ticks = nice_ticks(hi)
    hi = max(hi, ticks[-1])
    plot_w = WIDTH - label_w - right_w

    def xpos(v: float) -> float:
        return label_w + plot_w * max(0.0, v) / hi if hi else label_w

    body: list[str] = []
    y = top
    for label, bars in chart.groups:
        group_h = len(bars) * (bar_h + 2)
        body.append(
            f'<text x="{label_w - 8}" y="{y + group_h / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="12">{html_text(label)}</text>'
        )
        for b in bars:
            faded = ' fill-opacity="0.3"' if b.passed is False else ""
            w = max(1.0, xpos(b.value) - label_w)
            body.append(
                f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{colors[b.series]}"{faded}><title>{html_text(b.series)}: '
                f"{html_text(b.label)}</title></rect>"
            )
            end = xpos(b.value)
            if b.whisker is not None and b.whisker > b.value:
                wx = xpos(b.whisker)
                body.append(
                    f'<line x1="{end:.1f}" y1="{y + bar_h / 2}" x2="{wx:.1f}" '
                    f'y2="{y + bar_h / 2}" stroke="#333" stroke-width="1"/>'
                )
                body.append(
                    f'<line x1="{wx:.1f}" y1="{y + 2}" x2="{wx:.1f}" y2="{y + bar_h - 2}" '
                    f'stroke="#333" stroke-width="1.5"/>'
                )
                end = wx
            body.append(
                f'<text x="{end + 5:.1f}" y="{y + bar_h - 3}" font-size="11" '
                f'fill="#222">{html_text(b.label)}</text>'
            )
            y += bar_h + 2
        y += gap
    height = y + 24
    axis = [
        f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{y - gap + 2}" stroke="#555"/>'
    ]
    for t in ticks:
        x = xpos(t)
        axis.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{y - gap + 2}" stroke="#e3e3e3"/>'
        )
        axis.append(
            f'<text x="{x:.1f}" y="{y - gap + 16}" text-anchor="middle" font-size="11" '
            f'fill="#555">{_num(t)}</text>'
        )
    axis.append(
        f'<text x="{label_w + plot_w:.1f}" y="{height - 2}" text-anchor="end" '
        f'font-size="11" fill="#555">{html_text(chart.unit)}</text>'
    )
    if chart.threshold is not None:
        x = xpos(chart.threshold)
        axis.append(
            f'<line class="threshold" x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" '
            f'y2="{y - gap + 2}" stroke="#D55E00" stroke-dasharray="4 3"/>'
        )
        axis.append(
            f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" font-size="11" '
            f'fill="#D55E00">{html_text(chart.threshold_label)}</text>'
        )
    head = [f'<text x="8" y="16" font-size="13" font-weight="600">{html_text(chart.title)}</text>']
    if len(series) > 1:
        head += _legend(colors, 36)
    return _svg(height, head + axis + body, chart.title)


def line_chart(chart: LineChart, fixed: dict[str, str] | None = None) -> str:
    colors = _colors([s.name for s in chart.series], fixed)
    left, right, top, bottom, height = 64, 24, 48, 44, 340
    xs = [x for s in chart.series for x, _ in s.points]
    ys = [y for s in chart.series for _, y in s.points]
    x_ticks, y_ticks = nice_ticks(max(xs) if xs else 1), nice_ticks(max(ys) * 1.1 if ys else 1)
    x_hi, y_hi = x_ticks[-1], y_ticks[-1]
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + plot_w * x / x_hi

    def py(y: float) -> float:
        return top + plot_h * (1 - max(0.0, y) / y_hi)

    out = [f'<text x="8" y="16" font-size="13" font-weight="600">{html_text(chart.title)}</text>']
    out += _legend(colors, 36)
    for t in y_ticks:
        out.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + plot_w}" y2="{py(t):.1f}" '
            f'stroke="#e3e3e3"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{_num(t)}</text>'
        )
    for t in x_ticks:
        out.append(
            f'<text x="{px(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="11" fill="#555">{_num(t)}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#555"/>'
    )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>')
    out.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">{html_text(chart.x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{html_text(chart.y_label)}</text>'
    )
    for s in chart.series:
        c = colors[s.name]
        if s.fit is not None and s.points:
            a, b = s.fit
            x0, x1 = min(x for x, _ in s.points), max(x for x, _ in s.points)
            out.append(
                f'<line x1="{px(x0):.1f}" y1="{py(a + b * x0):.1f}" x2="{px(x1):.1f}" '
                f'y2="{py(a + b * x1):.1f}" stroke="{c}" stroke-dasharray="5 4"/>'
            )
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(s.points))
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        for x, y in s.points:
            out.append(
                f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{c}">'
                f"<title>{html_text(s.name)}: {x:.3f} MP, {y:.2f} ms</title></circle>"
            )
    return _svg(height, out, chart.title)


def _svg(height: float, parts: list[str], title: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{html_text(title)}" style="{FONT}">' + "".join(parts) + "</svg>"
    )


def render(chart: BarChart | LineChart, colors: dict[str, str] | None = None) -> str:
    """``colors``: each backend's colour (the session's order); other series take the rest."""
    if isinstance(chart, BarChart):
        return bar_chart(chart, colors)
    return line_chart(chart, colors)
