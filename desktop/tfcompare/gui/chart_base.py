"""Common chart frame: a pyqtgraph plot with an empty-state hint, variant axis helpers and export."""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from tfcompare.datatypes import ORIGINAL

pg.setConfigOptions(antialias=True, background="w", foreground="#333333")


def nice_ceiling(value: float) -> float:
    """The next of 1, 1.5, 2, 3, 5, 7.5 × 10^k at or above ``value`` (ranges grow in steps)."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 1.5, 2, 3, 5, 7.5, 10) if m * base >= value)


def short_variant(key: str) -> str:
    """Axis text for a variant key: ``original``, ``1024 jpg``, ``512 png``."""
    if key == ORIGINAL:
        return "original"
    box, _, fmt = key.partition("-")
    return f"{box} {'jpg' if fmt == 'jpeg' else fmt}"


class Chart(QWidget):
    """Base for the three charts: ``plot`` (PlotWidget), a hint when empty, ``variant_clicked``."""

    variant_clicked = Signal(str)
    title = ""

    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setAcceptDrops(False)
        self.plot.setMinimumSize(240, 180)
        self.item: pg.PlotItem = self.plot.getPlotItem()
        self.item.setMenuEnabled(False)
        self.item.showGrid(x=False, y=True, alpha=0.25)
        self.set_title(self.title)
        self.legend = self.item.addLegend(offset=(-6, 6), labelTextSize="8pt")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        from tfcompare.gui.overlay import EmptyOverlay

        self.empty = EmptyOverlay(self.plot, empty_text)
        self.refreshes = 0  # counted for the responsiveness benchmark
        self._x: tuple[float, float] | None = None
        self._y: tuple[float, float] | None = None
        self.item.disableAutoRange()
        # Axes (text) are the costliest part of a redraw; cache them as pixmaps: they re-render
        # only when their ticks change, which the stepped ranges keep rare.
        for name in ("left", "bottom"):
            self.item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def set_range(
        self, x: tuple[float, float] | None = None, y: tuple[float, float] | None = None
    ) -> None:
        """Set the view range only when it really changes (callers snap to nice steps): with
        auto-range, every new result would re-layout the axes, the costliest part of a redraw."""
        if x is not None and x != self._x:
            self._x = x
            self.item.setXRange(*x, padding=0)
        if y is not None and y != self._y:
            self._y = y
            self.item.setYRange(*y, padding=0)

    def set_title(self, text: str) -> None:
        """Title that never widens the chart: a long title is clipped instead of pushing the plot
        out of its pane (pyqtgraph makes a label's text width its minimum width)."""
        self.item.setTitle(text, size="10pt")
        label = self.item.titleLabel
        label.setMinimumWidth(0)
        label._sizeHint[Qt.SizeHint.MinimumSize] = (0, label._sizeHint[Qt.SizeHint.MinimumSize][1])
        label.updateGeometry()

    def set_empty(self, empty: bool) -> None:
        self.empty.setVisible(empty)
        self.empty.raise_()

    def export_png(self, path: str, width: int | None = None) -> None:
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(self.item)
        if width:
            exporter.parameters()["width"] = width
        exporter.export(path)

    def export_svg(self, path: str) -> None:
        """Vector SVG of the chart, drawn by Qt's own SVG generator (pyqtgraph's SVGExporter
        cannot parse the path data Qt 6.12 produces)."""
        from PySide6.QtCore import QRectF, QSize
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        rect = self.item.sceneBoundingRect()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(int(rect.width()), int(rect.height())))
        gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        gen.setTitle(self.title)
        painter = QPainter(gen)
        try:
            self.plot.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        finally:
            painter.end()
        if not Path(path).exists():
            raise OSError(f"could not write {path}")

    def grab_image(self):
        return self.plot.grab().toImage()
