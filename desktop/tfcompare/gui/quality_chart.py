"""Quality kept vs bytes sent, per variant and backend: how much of the original answer survives
shrinking or re-encoding (score ratio of the original top-1 class), against the payload size."""

from __future__ import annotations

import functools
import math

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ScatterPlotItem import Symbols
from PySide6.QtCore import QPointF, QRectF, QTimer
from PySide6.QtGui import QPainterPath, QTransform

from tfcompare.gui.chart_base import Chart, short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.imaging.values import ORIGINAL
from tfcompare.runner.aggregates import Pooled

SYMBOLS = {"jpeg": "o", "png": "s", "webp": "t", ORIGINAL: "star"}
BOX = 30  # px: every point is drawn in a box this wide so it can sit off-centre (see _symbol)
MARK = 9.5  # px: the visible marker
RING = 17  # px: the ring around the selected variant's points
MAX_STEP = 7.0  # px between backends at the same point
# where a variant's name goes, in order of preference: centred above its point, below it, to its
# right, to its left, then diagonally (the first place that covers no marker and no other name)
LABEL_ANCHORS = (
    (0.5, 1.4),
    (0.5, -0.4),
    (-0.12, 0.5),
    (1.12, 0.5),
    (-0.05, 1.2),
    (1.05, 1.2),
    (-0.05, -0.2),
    (1.05, -0.2),
)


def backend_shift(i: int, n: int) -> float:
    """Horizontal pixel offset of backend ``i`` of ``n``: backends with identical values (same
    model, same bytes) sit side by side instead of hiding each other."""
    if n <= 1:
        return 0.0
    step = min(MAX_STEP, (BOX - RING) / (n - 1))
    return (i - (n - 1) / 2) * step


_paths: dict[tuple[str, float, float], QPainterPath] = {}


@functools.cache
def _brush(color: str):
    """One brush object per colour: pyqtgraph caches rendered symbols by brush identity, so new
    brushes on every update would re-render every symbol every time."""
    return pg.mkBrush(color)


@functools.cache
def _pen(color: str):
    return pg.mkPen(color, width=1.5)


def _symbol(name: str, size_px: float, shift_px: float) -> QPainterPath:
    """pyqtgraph symbol ``name`` of ``size_px`` moved ``shift_px`` right inside a BOX-px symbol:
    a constant on-screen offset, whatever the zoom (symbols are drawn in pixels)."""
    key = (name, size_px, round(shift_px, 2))
    if key not in _paths:
        t = QTransform()
        t.translate(shift_px / BOX, 0)
        t.scale(size_px / BOX, size_px / BOX)
        _paths[key] = t.map(Symbols[name])
    return _paths[key]


def _x(p: Pooled) -> float:
    """log10 of the mean request size (the chart keeps only points that have one)."""
    assert p.mean_bytes
    return math.log10(p.mean_bytes)


def _y(p: Pooled) -> float:
    return 100.0 * p.score_ratio if p.score_ratio is not None else 0.0


def human_bytes(n: float) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v >= 10 else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def quality_tip(p) -> str:
    """What a quality point says when the mouse rests on it."""
    pooled = f"pooled over {p.images} images" if p.images > 1 else "one image"
    ratio = "—" if p.score_ratio is None else f"{100 * p.score_ratio:.0f} %"
    lines = [
        f"{p.backend} · {short_variant(p.variant)} · {pooled}",
        f"score of the original's top-1: {ratio} of its score on the original",
        f"bytes sent: {human_bytes(p.mean_bytes)} (mean)",
    ]
    if p.top1_agree is not None:
        same = round(p.top1_agree * p.images) if p.images else 0
        lines.append(
            f"same top-1 as the original on {same} of {p.images} images"
            if p.images > 1
            else f"top-1 {'same as' if p.top1_agree >= 0.999 else 'differs from'} the original"
        )
    if p.top5_overlap is not None:
        lines.append(f"top-5 overlap {100 * p.top5_overlap:.0f} %")
    return "\n".join(lines)


class BytesAxis(pg.AxisItem):
    """x is log10(bytes); ticks read as sizes."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        return [human_bytes(10**v) for v in values]


class QualityChart(Chart):
    title = "Quality vs bytes sent"

    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(
            "Quality per variant appears here:\nhow much of the original answer\neach smaller variant keeps.",
            parent,
        )
        self.colors = colors
        self.replace_axes(bottom=BytesAxis("bottom"))
        self.item.setLabel("bottom", "bytes sent (log)")
        # what the marker shapes say, under the backends' colours
        self.set_note("● jpg  ■ png  ▲ webp  ★ original", "hollow: top-1 changed on some image")
        self.item.setLabel("left", "original top-1 score kept (%)")
        self.item.showGrid(x=True, y=True, alpha=0.25)
        self.item.addLine(
            y=100, pen=pg.mkPen("#999999", width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
        )
        self._points: dict[str, pg.PlotDataItem] = {}
        self._samples: dict[str, pg.PlotDataItem] = {}
        self._labels: list[pg.TextItem] = []
        self._ring = self.add_plot(
            [],
            [],
            pen=None,
            symbol="o",
            symbolSize=BOX,
            symbolBrush=None,
            symbolPen=pg.mkPen("#222222", width=1.5),
        )
        self._ring.setZValue(5)
        self.points: list[Pooled] = []
        self.set_range(x=(3.0, 6.0), y=(0.0, 110.0))
        self._selected: str | None = None
        self._shift: dict[str, float] = {}
        self._last: tuple | None = None
        self._ring_key: tuple | None = None
        # labels are placed in pixels: again whenever the view's geometry or range has settled
        self._relabel = QTimer(self, singleShot=True, interval=0)
        self._relabel.timeout.connect(self._update_labels)
        self.item.vb.sigTransformChanged.connect(self._relabel.start)
        self.item.vb.sigResized.connect(self._relabel.start)

    def _make_items(self, backend: str) -> None:
        self._series(backend)

    def clear_backend_items(self) -> None:
        for b in list(self._points):
            self.item.removeItem(self._points.pop(b))
            self.legend.removeItem(self._samples.pop(b))
        self._last = None
        self.tip_points.clear()

    def _series(self, backend: str) -> pg.PlotDataItem:
        if backend not in self._points:
            color = self.colors.color(backend)
            item = self.add_plot(
                [], [], pen=None, symbol="o", symbolSize=BOX, symbolBrush=color, symbolPen=color
            )
            item.sigPointsClicked.connect(self._on_points_clicked)
            # per-point symbols crash pyqtgraph's legend sample: the legend gets a plain stand-in
            sample = pg.ScatterPlotItem(
                [], [], symbol="o", size=9, brush=pg.mkBrush(color), pen=pg.mkPen(color)
            )
            self.legend_entry(sample, backend)
            self._points[backend] = item
            self._samples[backend] = sample
            self.fit_legend()
        return self._points[backend]

    def update_data(self, points: list[Pooled], backends: list[str]) -> None:
        points = [p for p in points if p.mean_bytes is not None and p.mean_bytes > 0]
        key = (
            tuple(backends),
            tuple(self.colors.color(b) for b in backends),
            tuple(
                (p.variant, p.backend, p.mean_bytes, p.score_ratio, p.top1_agree) for p in points
            ),
        )
        if key == self._last:
            return  # quality moves only when a variant's answers change: most refreshes are no-ops
        self._last = key
        self.refreshes += 1
        self.points = points
        self.set_backends(backends)
        self._last = key
        self._shift = {b: backend_shift(i, len(backends)) for i, b in enumerate(backends)}
        for b in backends:
            pts = sorted((p for p in self.points if p.backend == b), key=_x)
            color = self.colors.color(b)
            xs = [_x(p) for p in pts]
            ys = [100.0 * p.score_ratio if p.score_ratio is not None else 0.0 for p in pts]
            symbols = [
                _symbol(
                    SYMBOLS.get(
                        p.variant if p.variant == ORIGINAL else p.variant.partition("-")[2], "o"
                    ),
                    MARK + 3 if p.variant == ORIGINAL else MARK,
                    self._shift[b],
                )
                for p in pts
            ]
            brushes = [_brush(color) if (p.top1_agree or 0) >= 0.999 else _brush("w") for p in pts]
            self.tip_points[b] = [
                (x, y, self._shift[b], quality_tip(p)) for x, y, p in zip(xs, ys, pts, strict=True)
            ]
            self._series(b).setData(
                xs,
                ys,
                symbol=symbols,
                symbolBrush=brushes,
                symbolPen=_pen(color),
                data=[p.variant for p in pts],
            )
        self._update_ring()
        self._fit()
        self._update_labels(backends)
        self.set_empty(not self.points)

    def _fit(self) -> None:
        if not self.points:
            return
        xs = [_x(p) for p in self.points]
        ys = [100.0 * p.score_ratio if p.score_ratio is not None else 0.0 for p in self.points]
        x = (math.floor(min(xs) * 4) / 4 - 0.15, math.ceil(max(xs) * 4) / 4 + 0.3)
        lo = min(math.floor(min(ys) / 5) * 5 - 5, 90)
        top = math.ceil(max(ys) / 5) * 5
        # room above the highest point for its name (about a sixth of the height)
        y = (lo, max(top + 5 * math.ceil(max(10, (top - lo) / 5) / 5), 110))
        self.set_range(x=x, y=y)

    def _update_labels(self, backends: list[str] | None = None) -> None:
        """Variant names above the first backend's points (the others share the x positions);
        a name goes above its point, else below or beside it, wherever it touches neither a marker
        nor a name already placed; where none is free it is left out (the point's tooltip and the
        selector still name it)."""
        if backends is not None:
            self._label_backends = backends
        backends = getattr(self, "_label_backends", [])
        first = next((b for b in backends if any(p.backend == b for p in self.points)), None)
        pts = sorted((p for p in self.points if p.backend == first), key=lambda p: -_x(p))
        while len(self._labels) < len(pts):
            t = pg.TextItem("", color="#555555", anchor=LABEL_ANCHORS[0])
            self.item.addItem(t, ignoreBounds=True)
            self._labels.append(t)
        vb = self.item.vb
        placed: list[QRectF] = []
        markers = []  # every marker's box in scene pixels, at its backend's offset
        for p in self.points:
            at = vb.mapViewToScene(QPointF(_x(p), _y(p)))
            size = MARK + 3 if p.variant == ORIGINAL else MARK
            x = at.x() + self._shift.get(p.backend, 0.0)
            markers.append(QRectF(x - size / 2 - 1, at.y() - size / 2 - 1, size + 2, size + 2))
        area = vb.sceneBoundingRect()
        for t, p in zip(self._labels, pts, strict=False):
            text = short_variant(p.variant)
            if t.toPlainText() != text:
                t.setText(text)
            x, y = _x(p), _y(p)
            t.setPos(x, y)
            # where the text would be drawn, in pixels: its size is the text's, its place the
            # point's less the anchor (computed here: the item itself moves only when painted)
            at = vb.mapViewToScene(QPointF(x, y))
            size = t.textItem.boundingRect()
            w, h = size.width(), size.height()
            for anchor in LABEL_ANCHORS:  # above the point, else below, right or left of it
                rect = QRectF(at.x() - anchor[0] * w, at.y() - anchor[1] * h, w, h)
                rect.adjust(2, 2, -2, -2)  # the text item's margin around its text
                clash = (
                    any(rect.intersects(r) for r in placed)
                    or any(rect.intersects(m) for m in markers)
                    or not area.contains(rect)
                )
                if not clash:
                    t.setAnchor(anchor)
                    placed.append(rect)
                    break
            t.setVisible(not clash)
        for t in self._labels[len(pts) :]:
            t.hide()

    def on_plot_resized(self) -> None:
        self._update_labels()

    def select_variant(self, variant: str | None) -> None:
        self._selected = variant
        self._update_ring()

    def _update_ring(self) -> None:
        sel = [p for p in self.points if p.variant == self._selected]
        xs = [_x(p) for p in sel]
        ys = [100.0 * p.score_ratio if p.score_ratio is not None else 0.0 for p in sel]
        shifts = [self._shift.get(p.backend, 0.0) for p in sel]
        if (xs, ys, shifts) == self._ring_key:
            return  # the window re-selects on every refresh: nothing to redraw
        self._ring_key = (xs, ys, shifts)
        self._ring.setData(xs, ys, symbol=[_symbol("o", RING, s) for s in shifts])

    def _on_points_clicked(self, item, points, *args) -> None:
        if len(points):
            self.variant_clicked.emit(points[0].data())
