"""The images list: thumbnails, size and format, and each file's own error on its own row.

A view of the window controller's images (``tfcompare.window.ImageEntry``): ``show(entries)`` draws
them; removing is asked for with ``remove_requested`` / ``clear_requested``."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from tfcompare.bidi import without_bidi_controls
from tfcompare.gui.overlay import EmptyOverlay
from tfcompare.gui.user_text import message, shown, tooltip
from tfcompare.window.images import THUMB, ImageEntry

FULL_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's whole text (shown elided to the width)


class ImagesPanel(QWidget):
    """List of the images to compare."""

    image_clicked = Signal(str)
    remove_requested = Signal(list)  # names
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown: list[tuple] = []
        self._icons: dict[str, QIcon] = {}
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)  # each line elided its own way
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemClicked.connect(
            lambda item: self.image_clicked.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        self.list.setAcceptDrops(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        self.overlay = EmptyOverlay(
            self.list.viewport(),
            "Drop images or folders here\nor File → Add images… (Ctrl+O),\nor paste one (Ctrl+V)",
        )
        self._placeholder = QIcon(_filled(QColor("#e6e6e6")))

    def show_entries(self, entries: list[ImageEntry]) -> None:
        """Draw these rows (only what changed is touched); a new row is scrolled into view."""
        state = [(e.name, self._text(e), e.error, e.thumb is not None) for e in entries]
        if state == self._shown:
            return
        old_names = [row[0] for row in self._shown]
        names = [row[0] for row in state]
        if names != old_names:
            selected = {i.data(Qt.ItemDataRole.UserRole) for i in self.list.selectedItems()}
            self.list.clear()
            for name in names:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setSizeHint(QSize(0, THUMB + 8))
                self.list.addItem(item)
                item.setSelected(name in selected)
            self._icons = {n: i for n, i in self._icons.items() if n in names}
        for row, entry in enumerate(entries):
            item = self.list.item(row)
            if entry.thumb is not None and entry.name not in self._icons:
                w, h, data = entry.thumb
                image = QImage(data, w, h, w * 3, QImage.Format.Format_RGB888).copy()
                self._icons[entry.name] = QIcon(QPixmap.fromImage(image))
            item.setIcon(self._icons.get(entry.name, self._placeholder))
            item.setData(FULL_ROLE, without_bidi_controls(self._text(entry)))
            tip = entry.path or entry.name
            item.setToolTip(tooltip(tip if not entry.error else f"{entry.name}\n{entry.error}"))
            item.setForeground(QColor("#b00020") if entry.error else self.palette().text().color())
        added = [n for n in names if n not in old_names]
        if added and old_names:
            self.list.scrollToItem(self.list.item(names.index(added[-1])))
        self._shown = state
        self._fit_texts()
        self.overlay.setVisible(not entries)

    def _fit_texts(self) -> None:
        """A name keeps its start and end ("a-rather…-0042.jpg"); a message keeps its start and
        loses its end, where it is least useful (the whole of both is in the tooltip)."""
        fm = self.list.fontMetrics()
        width = max(self.list.viewport().width() - THUMB - 24, 40)
        for row in range(self.list.count()):
            item = self.list.item(row)
            name, _, rest = str(item.data(FULL_ROLE) or "").partition("\n")
            text = shown(fm.elidedText(message(name), Qt.TextElideMode.ElideMiddle, width))
            if rest:
                text += "\n" + shown(
                    fm.elidedText(message(rest), Qt.TextElideMode.ElideRight, width)
                )
            if item.text() != text:
                item.setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_texts()

    def names(self) -> list[str]:
        return [self.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.list.count())]

    def selected_names(self) -> list[str]:
        return [i.data(Qt.ItemDataRole.UserRole) for i in self.list.selectedItems()]

    def remove_selected(self) -> None:
        names = self.selected_names()
        if names:
            self.remove_requested.emit(names)

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                if not item.isSelected():
                    self.list.setCurrentItem(item)
                    self.list.scrollToItem(item)
                return

    @staticmethod
    def _text(entry: ImageEntry) -> str:
        if entry.error:
            return f"{entry.name}\n⚠ {entry.error}"
        if not entry.probed:
            return f"{entry.name}\nreading…"
        size = (
            f"{entry.nbytes / 1e6:.1f} MB"
            if entry.nbytes >= 1e5
            else f"{entry.nbytes / 1e3:.0f} KB"
        )
        extra = f" · {entry.variants} variants" if entry.variants is not None else ""
        return f"{entry.name}\n{entry.format.upper()} {entry.width}×{entry.height} · {size}{extra}"

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        remove = menu.addAction("Remove selected")
        remove.setShortcut(QKeySequence.StandardKey.Delete)
        remove.triggered.connect(self.remove_selected)
        menu.addAction("Remove all", self.clear_requested.emit)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove_selected()
            return
        super().keyPressEvent(event)


def _filled(color: QColor) -> QPixmap:
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(color)
    return pixmap
