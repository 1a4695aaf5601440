"""Common chart frame: a pyqtgraph plot with an empty-state hint, variant axis helpers and export."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tfcompare.datatypes import ORIGINAL

pg.setConfigOptions(antialias=True, background="w", foreground="#333333")


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
        self.item.setTitle(self.title, size="10pt")
        self.legend = self.item.addLegend(offset=(-6, 6), labelTextSize="8pt")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        from tfcompare.gui.overlay import EmptyOverlay

        self.empty = EmptyOverlay(self.plot, empty_text)
        self.refreshes = 0  # counted for the responsiveness benchmark

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
