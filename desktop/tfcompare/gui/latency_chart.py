"""Latency per variant per backend: p50 points with whiskers up to p90, the server's share of the
time as a pale bar under each point (from its metrics: the rest of the height is the path; the
exact figures are in the table's Server/Model/Path ms columns; on the log scale, where a bar's
height says nothing, a pale dash at that height), the cold first request marked with a star, an
optional log scale, an overlay of a second session (dashed), and a tooltip on every point."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics

from tfcompare.gui.chart_base import Chart, nice_ceiling, short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.results import Aggregate, RequestResult


class LogMsAxis(pg.AxisItem):
    """A log-scale latency axis labelled in plain milliseconds (5, 10, 20, 50, 100…), never
    "2·10¹"; only the 1-2-5 steps that fit without touching each other are labelled."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph API)
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        values = [
            m * 10**e
            for e in range(math.floor(minVal) - 1, math.ceil(maxVal) + 1)
            for m in (1, 2, 5)
        ]
        shown = [math.log10(v) for v in values if minVal <= math.log10(v) <= maxVal]
        px_per_decade = size / max(maxVal - minVal, 1e-9)
        if px_per_decade < 3 * 18:  # 1-2-5 would crowd: decades only
            shown = [v for v in shown if abs(v - round(v)) < 1e-9]
        return [(1.0, shown)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [f"{10**v:g}" for v in values]


class VariantAxis(pg.AxisItem):
    """Variant names under their points; when they would touch at this width, every k-th one
    (the selected variant is always named in the selector above the chart)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] = []

    def set_names(self, names: list[str]) -> None:
        self.names = names
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph API)
        if not self.names:
            return []
        fm = QFontMetrics(self.font() if hasattr(self, "font") else QFont())
        widest = max(fm.horizontalAdvance(n) for n in self.names) + 12
        px_per_slot = size / max(maxVal - minVal, 1e-9)
        step = max(1, math.ceil(widest / max(px_per_slot, 1)))
        return [
            (
                float(step),
                [float(i) for i in range(0, len(self.names), step) if minVal <= i <= maxVal],
            )
        ]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        return [self.names[int(v)] if 0 <= int(v) < len(self.names) else "" for v in values]


SHARE_LABEL = {
    False: "variant (★ cold first request · pale bar: server's share)",
    True: "variant (★ cold first request · pale dash: server's share)",
}


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} ms" if abs(value) >= 10 else f"{value:.2f} ms"


def point_tip(backend: str, variant: str, p) -> str:
    """What a latency point says when the mouse rests on it (plain text, one fact a line)."""
    images = getattr(p, "images", 0)
    pooled = f"pooled over {images} images" if images > 1 else "one image"
    few = " (fewer than 10: indicative)" if p.few_samples else ""
    lines = [
        f"{backend} · {variant} · {pooled}",
        f"p50 {fmt_ms(p.p50_ms)} · p90 {fmt_ms(p.p90_ms)} · p99 {fmt_ms(p.p99_ms)} · mean {fmt_ms(p.mean_ms)}",
        f"{p.n} measured requests{few}" + (f" · {p.n_errors} failed" if p.n_errors else ""),
    ]
    server = getattr(p, "server_ms", None)
    if server is not None:
        approx = "" if getattr(p, "server_exact", True) else "~"
        share = f" ({100 * min(server / p.mean_ms, 1):.0f} % of the mean)" if p.mean_ms else ""
        lines.append(
            f"server {approx}{fmt_ms(server)}{share} · model {approx}{fmt_ms(p.runtime_ms)} · "
            f"path {approx}{fmt_ms(p.path_ms)}"
        )
    return "\n".join(lines)


def cold_tip(backend: str, request) -> str:
    return (
        f"{backend} · {short_variant(request.variant)} · {request.image}\n"
        f"cold first request: {fmt_ms(request.latency_ms)} (not in the statistics)"
    )


class LatencyChart(Chart):
    title = "Latency p50, whisker to p90"
    tip = (
        "p50 (dot) and p90 (whisker) of each variant's requests, one colour per backend; ★ the "
        "cold first request; pale bar: the server's share of the time (from its metrics; the "
        "table's Server/Model/Path ms columns have the figures)"
    )

    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(
            "Latency appears here while a comparison runs.\nAdd images and a backend, then press Run.",
            parent,
        )
        self.colors = colors
        self.replace_axes(left=LogMsAxis("left"), bottom=VariantAxis("bottom"))
        # the first and last names may reach past the plot's edges (they never touch each other)
        self.item.getAxis("bottom").setStyle(hideOverlappingLabels=False)
        self.item.setLabel("left", "latency", units="ms")
        self.item.getAxis("left").enableAutoSIPrefix(False)
        self.item.setLabel("bottom", SHARE_LABEL[False])
        self.setToolTip(self.tip)
        self.item.getAxis("bottom").enableAutoSIPrefix(False)
        self.variants: list[str] = []
        self._p50: dict[str, pg.PlotDataItem] = {}
        self._whisk: dict[str, pg.PlotDataItem] = {}
        self._cold: dict[str, pg.PlotDataItem] = {}
        self._server: dict[str, pg.PlotDataItem] = {}
        self._dash: dict[str, pg.PlotDataItem] = {}  # the server's share on the log scale
        self._overlay: dict[str, pg.PlotDataItem] = {}
        self._overlay_args: tuple = (None, "")
        self._shares: dict[str, tuple[list, list]] = {}  # backend → (x, server's share) drawn
        self._drawn: dict[str, tuple] = {}  # backend → data last drawn
        self._selected = pg.LinearRegionItem(
            values=(-0.5, 0.5), movable=False, brush=pg.mkBrush(255, 200, 0, 45), pen=pg.mkPen(None)
        )
        self._selected.setZValue(-10)
        self._selected.hide()
        self.item.addItem(self._selected, ignoreBounds=True)
        self.item.scene().sigMouseClicked.connect(self._on_click)
        self.log = False
        self._lo, self._hi = math.inf, 0.0
        self.set_range(x=(-0.6, 0.6), y=(0.0, 1.0))

    def set_log(self, on: bool) -> None:
        self.log = on
        self.item.setLogMode(y=on)
        self.item.setLabel("bottom", SHARE_LABEL[on])
        for b in self._p50:
            self._draw_share(b)
        self._y = None
        self._fit_y()

    def _make_items(self, backend: str) -> None:
        self._ensure(backend)

    def clear_backend_items(self) -> None:
        for d in (self._p50, self._whisk, self._cold, self._server, self._dash):
            for item in d.values():
                self.item.removeItem(item)
            d.clear()
        self._drawn.clear()
        self.tip_points.clear()
        if self._overlay:  # after the backends in the legend, as when it was added
            self.set_overlay(*self._overlay_args)

    def _ensure(self, backend: str) -> None:
        if backend in self._p50:
            return
        color = self.colors.color(backend)
        self._p50[backend] = self.add_plot(
            [],
            [],
            pen=pg.mkPen(color, width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush=color,
            symbolPen=color,
        )
        self.legend_entry(self._p50[backend], backend)
        self._whisk[backend] = self.add_plot([], [], pen=pg.mkPen(color, width=2), connect="pairs")
        pale = pg.mkColor(color)
        pale.setAlpha(80)
        self._server[backend] = self.add_plot([], [], pen=pg.mkPen(pale, width=9), connect="pairs")
        self._server[backend].setZValue(-1)
        dash = pg.mkColor(color)
        dash.setAlpha(150)  # a thin mark: less pale than the bar to be seen at all
        self._dash[backend] = self.add_plot(
            [], [], pen=pg.mkPen(dash, width=3, cap=Qt.PenCapStyle.FlatCap), connect="pairs"
        )
        self._dash[backend].setZValue(-1)
        self._cold[backend] = self.add_plot(
            [],
            [],
            pen=None,
            symbol="star",
            symbolSize=14,
            symbolBrush=color,
            symbolPen=pg.mkPen("#333333"),
        )

    def _offset(self, backends: list[str], backend: str) -> float:
        n = len(backends)
        return (backends.index(backend) - (n - 1) / 2) * min(0.12, 0.6 / max(n, 1))

    def update_data(
        self,
        variants: list[str],
        backends: list[str],
        latency: dict[tuple[str, str], Aggregate],
        cold: dict[str, RequestResult],
    ) -> None:
        self.refreshes += 1
        if variants != self.variants:
            self.variants = list(variants)
            self.item.getAxis("bottom").set_names([short_variant(v) for v in variants])
            self.set_range(x=(-0.6, max(len(variants) - 0.4, 0.6)))
        index = {v: i for i, v in enumerate(variants)}
        any_data = False
        self._lo, self._hi = math.inf, 0.0
        self.set_backends(backends)
        for b in backends:
            off = self._offset(backends, b)
            xs, ys, wx, wy, sx, sy, tips = [], [], [], [], [], [], []
            for v in variants:
                agg = latency.get((v, b))
                if agg is None or agg.p50_ms is None:
                    continue
                x = index[v] + off
                xs.append(x)
                ys.append(agg.p50_ms)
                wx += [x, x]
                wy += [agg.p50_ms, agg.p90_ms if agg.p90_ms is not None else agg.p50_ms]
                server, mean = getattr(agg, "server_ms", None), getattr(agg, "mean_ms", None)
                if server and mean:  # the server's share of the point
                    sx.append(x)
                    sy.append(agg.p50_ms * min(server / mean, 1.0))
                tips.append((x, agg.p50_ms, 0.0, point_tip(b, short_variant(v), agg)))
            c = cold.get(b)
            star = (
                ([index[c.variant] + off], [c.latency_ms])
                if c is not None and c.ok and c.latency_ms and c.variant in index
                else ([], [])
            )
            if star[0]:
                tips.append((star[0][0], star[1][0], 0.0, cold_tip(b, c)))
            self.tip_points[b] = tips
            drawn = (xs, ys, wy, star, sy)
            if self._drawn.get(b) != drawn:  # only what changed is handed to pyqtgraph
                self._drawn[b] = drawn
                self._p50[b].setData(xs, ys)
                self._whisk[b].setData(wx, wy)
                self._cold[b].setData(*star)
                self._shares[b] = (sx, sy)
                self._draw_share(b, backends)
            wy = wy + star[1]
            if wy:
                self._lo, self._hi = min(self._lo, *wy), max(self._hi, *wy)
            any_data = any_data or bool(xs)
        self._fit_y()
        self.set_empty(not any_data)

    def _draw_share(self, backend: str, backends: list[str] | None = None) -> None:
        """The server's share under each point: a pale bar from zero on the linear scale (its
        height is the share of the point's height); on the log scale a bar would start at the
        axis floor and its height would say nothing, so a pale dash marks the same value."""
        xs, ys = self._shares.get(backend, ([], []))
        n = len(backends or self._p50)
        half = 0.4 * min(0.12, 0.6 / max(n, 1))
        bars = ([x for x in xs for _ in (0, 1)], [v for y in ys for v in (0.0, y)])
        dashes = ([v for x in xs for v in (x - half, x + half)], [y for y in ys for _ in (0, 1)])
        self._server[backend].setData(*(([], []) if self.log else bars))
        self._dash[backend].setData(*(dashes if self.log else ([], [])))

    def _fit_y(self) -> None:
        if self._hi <= 0:
            return
        if self.log:
            lo = math.floor(math.log10(max(self._lo, 1e-3)) * 2) / 2
            hi = math.ceil(math.log10(self._hi) * 2) / 2
            self.set_range(y=(lo, hi if hi > lo else lo + 0.5))
        else:
            self.set_range(y=(0.0, nice_ceiling(self._hi * 1.05)))

    def set_overlay(
        self, latency: dict[tuple[str, str], Aggregate] | None, label: str = ""
    ) -> None:
        """Dashed p50 lines of another session, per backend (same colour), in the legend after
        this session's backends."""
        self._overlay_args = (latency, label)
        for item in self._overlay.values():
            self.item.removeItem(item)
            self.legend.removeItem(item)
        self._overlay.clear()
        for key in [k for k in self.tip_points if isinstance(k, tuple)]:
            del self.tip_points[key]
        if not latency:
            return
        index = {v: i for i, v in enumerate(self.variants)}
        order = {b: i for i, b in enumerate(self.colors.order)}
        names = list(dict.fromkeys(b for _, b in latency))
        for b in sorted(names, key=lambda n: (order.get(n, len(order)), names.index(n))):
            pts = sorted(
                (index[v], a.p50_ms, v, a)
                for (v, bb), a in latency.items()
                if bb == b and v in index and a.p50_ms
            )
            if not pts:
                continue
            color = self.colors.color(b)
            self._overlay[b] = self.add_plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                symbol="t",
                symbolSize=6,
                symbolBrush=None,
                symbolPen=color,
            )
            self.legend_entry(self._overlay[b], b, f"{b} ({label})")
            self.tip_points[("overlay", b)] = [
                (x, y, 0.0, f"{label}:\n" + point_tip(b, short_variant(v), a)) for x, y, v, a in pts
            ]
        self.fit_legend()

    def select_variant(self, variant: str | None) -> None:
        if variant in self.variants:
            i = self.variants.index(variant)
            self._selected.setRegion((i - 0.5, i + 0.5))
            self._selected.show()
        else:
            self._selected.hide()

    def _on_click(self, event) -> None:
        if not self.variants or event.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.item.getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x = vb.mapSceneToView(event.scenePos()).x()
        i = round(x)
        if 0 <= i < len(self.variants):
            self.variant_clicked.emit(self.variants[i])
