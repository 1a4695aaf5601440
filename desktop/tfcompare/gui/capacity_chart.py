"""Throughput (x) vs p99 latency (y): one curve per backend × variant, points labelled with their
load level, the latency limit as a dashed line (named in the title instead when it is far above
every point) and each curve's knee (where more load stops buying throughput: docs/capacity-knee.md) as a star.
Hollow points are unstable levels, crosses client-bound."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer

from tfcompare.gui.chart_base import Chart, nice_ceiling
from tfcompare.gui.colors import BackendColors
from tfcompare.window.capacity import Curve

ANCHOR = (0.5, 1.3)  # a point's label: centred above it
FAR_LIMIT = 2.0  # a latency limit this many times the highest p99 is left out of the view
DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)


def level_tip(curve: Curve, p) -> str:
    """What a load level's point says when the mouse rests on it."""
    state = "stable" if p.stable else "unstable (its windows disagreed)"
    if p.client_bound:
        state += ", client-bound"
    knee = " · the knee" if p == curve.knee else ""
    return (
        f"{curve.backend} · {curve.variant} · {p.label}{knee}\n"
        f"{p.throughput:.1f} req/s · p99 {p.p99_ms:.1f} ms · {state}"
    )


class CapacityChart(Chart):
    title = "Throughput vs p99 latency (★ knee)"

    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(
            "The capacity curves appear here during a sweep.\n"
            "Pick load levels above and press Start sweep.",
            parent,
        )
        self.colors = colors
        self.item.showGrid(x=True, y=True, alpha=0.25)
        self.item.setLabel("left", "p99 latency", units="ms")
        self.item.setLabel("bottom", "throughput (req/s)")
        for axis in ("left", "bottom"):
            self.item.getAxis(axis).enableAutoSIPrefix(False)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._curve_colors: dict[tuple[str, str], str] = {}
        self._points: dict[tuple[str, str], pg.ScatterPlotItem] = {}
        self._labels: dict[tuple[str, str], list[pg.TextItem]] = {}
        self._knees = pg.ScatterPlotItem(symbol="star", size=18, pen=pg.mkPen("#222222"))
        self._knees.setZValue(10)
        self.item.addItem(self._knees)
        self._limit = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen("#C00000", width=1.5, style=Qt.PenStyle.DashLine),
            label="p99 limit",
            labelOpts={"position": 0.02, "color": "#C00000", "anchors": [(0, 1), (0, 1)]},
        )
        self._limit.hide()
        self.item.addItem(self._limit, ignoreBounds=True)
        self.set_range(x=(0.0, 1.0), y=(0.0, 1.0))
        # labels of points that bunch up would overlap: placed again whenever the view changes
        self._order: list[pg.TextItem] = []  # every label, most wanted first
        self._declutter = QTimer(self, singleShot=True, interval=0)
        self._declutter.timeout.connect(self.place_labels)
        self.item.getViewBox().sigTransformChanged.connect(self._declutter.start)

    def update_curves(self, curves: list[Curve], limit_ms: float | None) -> None:
        variants = list(dict.fromkeys(c.variant for c in curves))
        drawn = {(c.backend, c.variant, self.colors.color(c.backend)) for c in curves}
        # a curve whose backend's colour changed (the comparison's order did) is made again
        for key in [k for k in self._curves if (*k, self._curve_colors.get(k)) not in drawn]:
            self.item.removeItem(self._curves.pop(key))
            self.item.removeItem(self._points.pop(key))
            for text in self._labels.pop(key):
                self.item.removeItem(text)
            self._curve_colors.pop(key, None)
            self.tip_points.pop(key, None)
        knees = []
        wanted: list[tuple[int, int, pg.TextItem]] = []
        top_x, top_y = 0.0, 0.0
        for curve in curves:
            key = (curve.backend, curve.variant)
            color = self.colors.color(curve.backend)
            style = DASHES[variants.index(curve.variant) % len(DASHES)]
            item = self._curves.get(key)
            if item is None:
                item = self._curves[key] = self.add_plot(
                    [], [], pen=pg.mkPen(color, width=2, style=style)
                )
                self.legend_entry(item, curve.backend, f"{curve.backend} · {curve.variant}")
                self._curve_colors[key] = color
                points = self._points[key] = pg.ScatterPlotItem(
                    size=10, pen=pg.mkPen(color, width=2)
                )
                self.item.addItem(points)
                self._labels[key] = []
            xs = [p.throughput for p in curve.points]
            ys = [p.p99_ms for p in curve.points]
            item.setData(xs, ys)
            self._points[key].setData(
                [
                    {
                        "pos": (p.throughput, p.p99_ms),
                        "symbol": "x" if p.client_bound else "o",
                        "brush": pg.mkBrush(color if p.stable else "#FFFFFF"),
                    }
                    for p in curve.points
                ]
            )
            self.tip_points[key] = [
                (p.throughput, p.p99_ms, 0.0, level_tip(curve, p)) for p in curve.points
            ]
            labels = self._labels[key]
            while len(labels) < len(curve.points):
                text = pg.TextItem(color=color, anchor=ANCHOR)
                self.item.addItem(text, ignoreBounds=True)
                labels.append(text)
            for text, point in zip(labels, curve.points):
                text.setText(point.label)
                text.setPos(point.throughput, point.p99_ms)
                # the knee first, then the curve's last (highest) level, then the rest
                wanted.append(
                    (
                        0 if point == curve.knee else 1 if point is curve.points[-1] else 2,
                        len(wanted),
                        text,
                    )
                )
            for text in labels[len(curve.points) :]:
                text.setText("")
                text.hide()
            if curve.knee is not None:
                knees.append(
                    {"pos": (curve.knee.throughput, curve.knee.p99_ms), "brush": pg.mkBrush(color)}
                )
            top_x = max([top_x, *xs])
            top_y = max([top_y, *ys])
        self._knees.setData(knees)
        if limit_ms:
            self._limit.show()
            self._limit.setValue(limit_ms)
            self._limit.label.setText(f"p99 limit {limit_ms:g} ms")
        else:
            self._limit.hide()
        if limit_ms and top_y and limit_ms > FAR_LIMIT * top_y:
            # every point far below the limit: the view fits the points, whose bends are what
            # there is to see, and the title says where the limit is (zooming out shows it)
            self.set_title(f"{self.title} · p99 limit {limit_ms:g} ms: above every point")
        else:
            top_y = max(top_y, limit_ms or 0.0)
            self.set_title(self.title)
        self.set_range(x=(0.0, nice_ceiling(top_x * 1.1)), y=(0.0, nice_ceiling(top_y * 1.15)))
        self.set_empty(not curves)
        self._order = [text for *_, text in sorted(wanted, key=lambda w: w[:2])]
        self._declutter.start()
        QTimer.singleShot(0, self.fit_legend)  # once the new legend entries have their sizes

    def place_labels(self) -> None:
        """Show each point's label unless it would overlap one already shown (most wanted
        first: knees, then each curve's highest level); the point itself stays drawn."""
        view = self.item.getViewBox()
        shown: list[QRectF] = []
        for text in self._order:
            # where the label is drawn, in pixels: its size is the text's, its place is the
            # point's less the anchor (computed here: the item itself updates only when painted)
            at = view.mapViewToScene(text.pos())
            size = text.textItem.boundingRect()
            box = QRectF(
                at.x() - ANCHOR[0] * size.width(),
                at.y() - ANCHOR[1] * size.height(),
                size.width(),
                size.height(),
            )
            visible = bool(text.toPlainText()) and not any(box.intersects(b) for b in shown)
            text.setVisible(visible)
            if visible:
                shown.append(box)

    def fit_legend(self) -> None:
        """As many legend columns as the entries' text allows (a label's own bounding box grows
        to the column's width once laid out, so the text item is measured instead)."""
        items = self.legend.items
        if not items:
            return
        widest = max(
            s.boundingRect().width() + lab.item.boundingRect().width() + 16 for s, lab in items
        )
        cols = max(1, min(len(items), int((self.plot.width() - 24) // max(widest, 1))))
        if cols != self.legend.columnCount:
            self.legend.setColumnCount(cols)
