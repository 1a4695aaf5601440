"""Common chart frame: a pyqtgraph plot with an empty-state hint, variant axis helpers and export."""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QToolTip, QVBoxLayout, QWidget

from tfcompare.gui.colors import BackendColors
from tfcompare.gui.user_text import elided, rich, tooltip
from tfcompare.imaging.values import ORIGINAL

pg.setConfigOptions(antialias=True, background="w", foreground="#333333")


def nice_ceiling(value: float) -> float:
    """The next of 1, 1.5, 2, 3, 5, 7.5 × 10^k at or above ``value`` (ranges grow in steps)."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 1.5, 2, 3, 5, 7.5, 10) if m * base >= value)


TITLE_PT = 10
NOTE_PT = 8
LEFT_AXIS_PX = 56  # room for the axis label and four-digit ticks ("2000" ms, "110" %)
BOTTOM_AXIS_PX = 38  # tick labels and the axis label
RIGHT_MARGIN_PX = 12
TIP_PX = 9  # a point's tooltip shows within this many pixels of it
LEGEND_NAME_PX = 170  # a longer backend name is shortened in the legend (whole in the tooltip)


def title_metrics(points: float = TITLE_PT):
    """Font metrics of chart titles (pyqtgraph draws them in the application font at 10 pt) or,
    with ``points``, of other chart text (notes at 8 pt)."""
    from PySide6.QtGui import QFont, QFontMetrics
    from PySide6.QtWidgets import QApplication

    font = QFont(QApplication.font())
    font.setPointSizeF(points)
    return QFontMetrics(font)


def wrap_parts(parts: list[str], joiner: str, width: int, fm) -> str:
    """``parts`` joined by ``joiner`` on as few lines as fit ``width`` pixels (a line never
    splits a part; a part too long alone is elided), lines separated by "\\n"."""
    lines: list[str] = []
    for part in parts:
        if lines and fm.horizontalAdvance(lines[-1] + joiner + part) <= width:
            lines[-1] += joiner + part
        else:
            lines.append(part)
    return "\n".join(fm.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines)


def _html(text: str) -> str:
    return rich(text)


# What an SVG's text asks for: Qt writes the application font's family ("Sans Serif" on Linux),
# a fontconfig alias that browsers do not know and draw in their default serif face.
SANS_FAMILIES = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
_GENERIC = {"sans serif", "sans", "sans-serif", "sansserif", "helvetica", "arial"}


def svg_fonts(svg: str, width: float, height: float) -> str:
    """An SVG from Qt with a sans-serif font list browsers resolve, and its size in pixels (Qt
    writes millimetres, which a browser turns into pixels only at 96 dpi)."""
    import re

    def family(m: re.Match) -> str:
        name = m.group(1).strip().strip("'")
        first = "" if name.lower() in _GENERIC else f"'{name}', "
        return f'font-family="{first}{SANS_FAMILIES}"'

    svg = re.sub(r'font-family="([^"]*)"', family, svg)
    return re.sub(
        r'<svg width="[^"]*" height="[^"]*"',
        f'<svg width="{int(width)}" height="{int(height)}"',
        svg,
        count=1,
    )


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
    colors: BackendColors  # each chart's, given when it is made

    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setAcceptDrops(False)
        self.plot.setMinimumSize(240, 180)
        self.item: pg.PlotItem = self.plot.getPlotItem()
        self.item.setMenuEnabled(False)
        self.item.showGrid(x=False, y=True, alpha=0.25)
        # room right of the plot's frame: markers and labels at the right end stay clear of the
        # pane's (or the window's) edge
        self.item.layout.setContentsMargins(1, 1, RIGHT_MARGIN_PX, 1)
        # the title spans the axes too: centred over the whole chart, with its full width to use
        self.item.layout.removeItem(self.item.titleLabel)
        self.item.layout.addItem(self.item.titleLabel, 0, 0, 1, 3)
        self._title_text = ""
        self._title_shown: str | None = None
        self.set_title(self.title)
        # The legend sits below the x axis, outside the plot area, so it never covers data; its
        # entries flow into as many columns as the chart's width allows (``fit_legend``).
        self.legend = pg.LegendItem(labelTextSize="8pt", frame=False, colCount=1)
        self.item.legend = self.legend  # plot(name=...) entries land here
        self.item.layout.addItem(self.legend, 4, 0, 1, 3, Qt.AlignmentFlag.AlignHCenter)
        self.item.layout.setRowSpacing(3, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.plot.installEventFilter(self)
        # a tooltip on every point: what it is and its numbers (``tip_points``, ``point_tip``)
        self.tip_points: dict = {}  # key → [(x, y, shift_px, text)] in data coordinates
        self.plot.viewport().installEventFilter(self)
        self.shown_tip = ""  # the last point tooltip shown (plain text)
        from tfcompare.gui.overlay import EmptyOverlay

        # inside the plot's view area: the hint never covers the axes, their ticks or titles
        self.empty = EmptyOverlay(self.plot, empty_text, area=self.view_rect)
        self.item.vb.sigResized.connect(lambda _vb: self.empty.place())
        self.refreshes = 0  # counted for the responsiveness benchmark
        self._x: tuple[float, float] | None = None
        self._y: tuple[float, float] | None = None
        self.item.disableAutoRange()
        self._settle_axes()

    def view_rect(self):
        """The plot's view area (inside the axes), in the plot widget's coordinates."""
        return self.plot.mapFromScene(self.item.vb.sceneBoundingRect()).boundingRect()

    def set_empty_text(self, text: str) -> None:
        """What the empty chart says (e.g. what is still missing before a run)."""
        self.empty.setText(text)

    def replace_axes(self, **axes: pg.AxisItem) -> None:
        """Use these axis items (e.g. ``bottom=BytesAxis("bottom")``), cached and fixed-size."""
        self.item.setAxisItems(axes)
        self._settle_axes()

    def _settle_axes(self) -> None:
        # Axes (text) are the costliest part of a redraw; cache them as pixmaps: they re-render
        # only when their ticks change, which the stepped ranges keep rare.
        for name in ("left", "bottom"):
            self.item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Fixed axis sizes: otherwise an axis grows when its first numbers or tick labels arrive
        # ("0.9" → "40", no ticks → "512 jpg"), which re-lays out and repaints the whole chart a
        # second time just as a run starts.
        self.item.getAxis("left").setWidth(LEFT_AXIS_PX)
        self.item.getAxis("bottom").setHeight(BOTTOM_AXIS_PX)

    def set_pooling(self, images_per_point: dict) -> None:
        """Say in the title what each point pools: "all 4 images", or "3–4 images per point"
        when a size is skipped for smaller images (a pooled number is never read as one image's:
        the Image selector above the charts chooses Top-5 and the table only)."""
        counts = {n for n in images_per_point.values() if n}
        if not counts:
            note = ""
        elif len(counts) == 1:
            n = counts.pop()
            note = " · the one image" if n == 1 else f" · pooled: all {n} images"
        else:
            note = f" · pooled: {min(counts)}–{max(counts)} images a point"
        text = self.title + note
        if text != self._pooling_label:
            self._pooling_label = text
            self.set_title(text)

    _pooling_label = ""

    def set_backends(self, backends: list[str]) -> None:
        """This chart's items for these backends, in the comparison's order and colours: made
        before results arrive (no relayout later), and made again only when the order or a
        colour changes (a removal, its undo, a reopened session), so the legend keeps the
        comparison's order and every backend its one colour."""
        wanted = tuple((b, self.colors.color(b)) for b in backends)
        if wanted == self._items_for:
            return
        self._items_for = wanted
        self.clear_backend_items()
        for name in backends:
            self._make_items(name)
        self.fit_legend()

    _items_for: tuple = ()

    def _make_items(self, backend: str) -> None:
        """Hook: make one backend's items (a chart that makes them as data arrives has none)."""

    def clear_backend_items(self) -> None:
        """Hook: remove every backend's items (``set_backends`` makes them again)."""

    def legend_entry(self, sample, backend: str, label: str | None = None) -> None:
        """A legend entry for ``sample``: the name as plain text (never markup), shortened in
        the middle when long, the whole name in its tooltip."""
        text = backend if label is None else label
        self.legend.addItem(sample, rich(elided(text, LEGEND_NAME_PX, title_metrics(8))))
        self.legend.items[-1][1].setToolTip(tooltip(text))

    def add_plot(self, *args, **kwargs) -> pg.PlotDataItem:
        """``PlotItem.plot`` for our small data: without pyqtgraph's dynamic range limit, which
        re-sets every item's data on every change of the view range (a stepped range change at
        the start of a run would redo all items of the chart)."""
        return self.item.plot(*args, dynamicRangeLimit=None, **kwargs)

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
        """Title that never widens the chart: a long title is elided to the chart's width instead
        of pushing the plot out of its pane (pyqtgraph makes a label's text width its minimum)."""
        self._title_text = text
        label = self.item.titleLabel
        label.setMinimumWidth(0)
        shown = self.elide_title(text, self._title_width())
        if shown != self._title_shown:
            self._title_shown = shown
            self.item.setTitle(_html(shown), size=f"{TITLE_PT}pt")
            label.setMinimumWidth(0)  # setTitle made the text's width the minimum again
        label._sizeHint[Qt.SizeHint.MinimumSize] = (0, label._sizeHint[Qt.SizeHint.MinimumSize][1])
        label.updateGeometry()
        label.setToolTip(tooltip(text) if shown.replace("\n", " ") != text else "")

    def set_note(self, *groups: str) -> None:
        """A small line under the legend (e.g. what marker shapes mean); its ``groups`` wrap onto
        further lines when the chart is narrow."""
        note = self._note
        if note is None:
            note = self._note = pg.LabelItem("", size=f"{NOTE_PT}pt", color="#555555")
            self.item.layout.addItem(note, 5, 0, 1, 3, Qt.AlignmentFlag.AlignHCenter)
        self._note_groups = groups
        shown = wrap_parts(list(groups), "  ·  ", self._title_width(), title_metrics(NOTE_PT))
        note.setMinimumWidth(0)
        note.setText(_html(shown))
        note.setMinimumWidth(0)
        note._sizeHint[Qt.SizeHint.MinimumSize] = (0, note._sizeHint[Qt.SizeHint.MinimumSize][1])
        note.updateGeometry()

    _note: pg.LabelItem | None = None
    _note_groups: tuple[str, ...] = ()

    def _title_width(self) -> int:
        return max(self.plot.width() - 24, 40)

    def elide_title(self, text: str, width: int) -> str:
        """``text`` fitted to ``width`` pixels: what follows a " · " goes to a second line when
        the whole does not fit (a pooling note), a line still too long is shortened with "…"."""
        return wrap_parts(text.split(" · "), " · ", width, title_metrics())

    def title_text(self) -> str:
        """The title as drawn (elided when the chart is narrow)."""
        return self._title_shown or ""

    def fit_legend(self) -> None:
        """As many legend columns as fit the chart's width (one row when they all fit)."""
        items = self.legend.items
        if not items:
            return
        # the label's own text width (a LabelItem is stretched to its column once laid out)
        widest = max(
            s.boundingRect().width() + lab.item.boundingRect().width() + 16 for s, lab in items
        )
        cols = max(1, min(len(items), int((self.plot.width() - 24) // max(widest, 1))))
        if cols != self.legend.columnCount:
            self.legend.setColumnCount(cols)

    def point_tip(self, scene_pos) -> str:
        """The tooltip of the point nearest ``scene_pos`` within ``TIP_PX`` pixels ("" if none)."""
        vb = self.item.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return ""
        best, text = TIP_PX**2, ""
        for points in self.tip_points.values():
            for x, y, shift, tip in points:
                at = vb.mapViewToScene(QPointF(x, self.view_y(y)))
                d = (at.x() + shift - scene_pos.x()) ** 2 + (at.y() - scene_pos.y()) ** 2
                if d <= best:
                    best, text = d, tip
        return text

    def view_y(self, y: float) -> float:
        """A data value's y in view coordinates (log10 on a log scale)."""
        if self.item.ctrl.logYCheck.isChecked():
            return math.log10(y) if y > 0 else -1e9
        return y

    def _show_tip(self, event) -> bool:
        """The viewport's tooltip event: a point's own tooltip when the mouse rests on one; else
        the chart's (or a legend entry's, which the scene shows)."""
        scene_pos = self.plot.mapToScene(event.pos())
        text = self.point_tip(scene_pos)
        if text:
            self.shown_tip = text
            QToolTip.showText(event.globalPos(), tooltip(text), self.plot.viewport())
            return True
        self.shown_tip = ""
        if self.toolTip() and self.item.vb.sceneBoundingRect().contains(scene_pos):
            QToolTip.showText(event.globalPos(), self.toolTip(), self.plot.viewport())
            return True
        return False

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched is self.plot.viewport() and event.type() == QEvent.Type.ToolTip:
            return self._show_tip(event)
        # the plot's own resize (it can follow the chart's: the title and legend must fit the
        # width the plot really gets, or they hold the chart wider than its pane)
        if watched is self.plot and event.type() == QEvent.Type.Resize:
            self.set_title(self._title_text)
            if self._note is not None:
                self.set_note(*self._note_groups)
            self.fit_legend()
            self.on_plot_resized()
        return False

    def on_plot_resized(self) -> None:
        """Hook: lay out what depends on the plot's pixel size (labels that must not collide)."""

    def set_empty(self, empty: bool) -> None:
        """Show or hide the hint. Only on a change: raising the (transparent, chart-sized) hint
        makes Qt repaint the whole chart under it, on every refresh of a live run."""
        if self.empty.isHidden() == empty:
            self.empty.setVisible(empty)
            if empty:
                self.empty.raise_()

    def export_png(self, path: str, width: int | None = None) -> None:
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(self.item)
        if width:
            exporter.parameters()["width"] = width
        exporter.export(path)

    def export_svg(self, path: str) -> None:
        """Vector SVG of the chart, drawn by Qt's own SVG generator (pyqtgraph's SVGExporter
        cannot parse the path data Qt 6.12 produces), looking like the PNG export: markers as
        vector shapes (pyqtgraph's export mode: no sprite sheet), axes drawn afresh (no cached
        pixmaps), sizes in the screen's pixels, and text in a font list that browsers resolve to
        a sans-serif face."""
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSize
        from PySide6.QtGui import QGuiApplication, QPainter
        from PySide6.QtSvg import QSvgGenerator

        rect = self.item.sceneBoundingRect()
        screen = QGuiApplication.primaryScreen()
        dpi = round(screen.logicalDotsPerInch()) if screen is not None else 96
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        gen = QSvgGenerator()
        gen.setOutputDevice(buffer)
        gen.setResolution(dpi)  # the PNG export's dpi: text and lines the same size in both
        gen.setSize(QSize(int(rect.width()), int(rect.height())))
        gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        gen.setTitle(self.title)
        items = self.plot.scene().items()
        caches = [(item, item.cacheMode()) for item in items]
        for item in items:
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
            if hasattr(item, "setExportMode"):
                item.setExportMode(True, {"antialias": True, "background": None, "painter": None})
        painter = QPainter(gen)
        try:
            self.plot.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        finally:
            painter.end()
            for item in items:
                if hasattr(item, "setExportMode"):
                    item.setExportMode(False)
            for item, mode in caches:
                item.setCacheMode(mode)
        svg = svg_fonts(bytes(data.data()).decode("utf-8"), rect.width(), rect.height())
        try:
            Path(path).write_text(svg, encoding="utf-8")
        except OSError as exc:
            raise OSError(f"could not write {path}: {exc.strerror or exc}") from None

    def grab_image(self):
        return self.plot.grab().toImage()
