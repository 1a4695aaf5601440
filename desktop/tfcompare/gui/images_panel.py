"""The images list: thumbnails, size and format, and each file's own error on its own row.

Files are probed (format, size, thumbnail) in a worker thread; the list shows them as they come.
Names follow the runner's rule (file name, " (2)" for a repeated name) so run events find their row.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from tfcompare.gui.overlay import EmptyOverlay
from tfcompare.runner import unique_name

THUMB = 48


@dataclass
class ImageEntry:
    """One row: a file on disk or in-memory bytes (pasted, or from a saved session)."""

    name: str
    path: str | None = None
    data: bytes | None = None
    format: str = ""
    width: int = 0
    height: int = 0
    nbytes: int = 0
    error: str | None = None
    probed: bool = False
    variants: int | None = None  # known once the runner has built the ladder

    @property
    def source(self) -> str | tuple[str, bytes]:
        return self.path if self.path is not None else (self.name, self.data or b"")


def _probe(entry: ImageEntry) -> tuple[str, str, int, int, int, QImage | None, str | None]:
    """Format, size and a small thumbnail (worker thread; QImage is safe off the GUI thread)."""
    from PIL import Image, ImageOps

    from tfcompare.imaging import describe

    src = entry.path if entry.path is not None else (entry.data or b"")
    try:
        fmt, w, h = describe(src)
    except Exception as exc:  # ImageLoadError and anything unexpected: the row shows it
        return entry.name, "", 0, 0, 0, None, str(exc) or type(exc).__name__
    try:
        nbytes = Path(src).stat().st_size if isinstance(src, str) else len(src)
        with Image.open(src if isinstance(src, str) else io.BytesIO(src)) as im:
            im.draft("RGB", (THUMB * 2, THUMB * 2))
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((THUMB, THUMB))
            data = im.tobytes()
            qimg = QImage(
                data, im.width, im.height, im.width * 3, QImage.Format.Format_RGB888
            ).copy()
    except Exception:
        return entry.name, fmt, w, h, 0, None, None
    return entry.name, fmt, w, h, nbytes, qimg, None


class _Prober(QObject):
    done = Signal(object)


class ImagesPanel(QWidget):
    """List of images to compare; emits ``changed`` when the set changes."""

    changed = Signal()
    image_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ImageEntry] = []
        self._pasted = 0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tfcompare-thumbs")
        self._prober = _Prober(self)
        self._prober.done.connect(self._on_probed)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
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
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor("#e6e6e6"))

    # ------------------------------------------------------------------ adding
    def add_paths(self, paths: list[str | Path]) -> int:
        """Add files (folders recursed); returns how many rows were added."""
        from tfcompare.imaging import iter_image_files

        have = {e.path for e in self.entries if e.path}
        added = []
        for p in iter_image_files(paths):
            path = str(Path(p).absolute())
            if path in have:
                continue
            have.add(path)
            added.append(ImageEntry(name=Path(path).name, path=path))
        return self._add(added)

    def add_bytes(self, data: bytes, name: str | None = None) -> str:
        if name is None:
            self._pasted += 1
            name = f"pasted image {self._pasted}.png"
        self._add([ImageEntry(name=name, data=data)])
        return self.entries[-1].name

    def _add(self, new: list[ImageEntry]) -> int:
        if not new:
            return 0
        used = {e.name for e in self.entries}
        for entry in new:
            entry.name = unique_name(entry.name, used)
            self.entries.append(entry)
            item = QListWidgetItem(QIcon(self._placeholder), self._text(entry))
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setSizeHint(QSize(0, THUMB + 8))
            self.list.addItem(item)
            self._pool.submit(lambda e=entry: self._prober.done.emit(_probe(e)))
        self.overlay.setVisible(not self.entries)
        self.changed.emit()
        return len(new)

    def set_entries(self, entries: list[ImageEntry]) -> None:
        """Replace everything (opening a session)."""
        self.clear()
        self._add(entries)

    def clear(self) -> None:
        self.entries.clear()
        self.list.clear()
        self.overlay.setVisible(True)
        self.changed.emit()

    def remove_selected(self) -> None:
        names = {i.data(Qt.ItemDataRole.UserRole) for i in self.list.selectedItems()}
        if not names:
            return
        self.entries = [e for e in self.entries if e.name not in names]
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) in names:
                self.list.takeItem(row)
        self._rename()
        self.overlay.setVisible(not self.entries)
        self.changed.emit()

    def _rename(self) -> None:
        """Names follow the list order (as the runner will name them) after a removal."""
        used: set[str] = set()
        for row, entry in enumerate(self.entries):
            entry.name = unique_name(Path(entry.path).name if entry.path else entry.name, used)
            item = self.list.item(row)
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            self._refresh_row(entry)

    # ------------------------------------------------------------------ state
    def sources(self) -> list[str | tuple[str, bytes]]:
        return [e.source for e in self.entries]

    def entry(self, name: str) -> ImageEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def set_error(self, name: str, message: str | None) -> None:
        entry = self.entry(name)
        if entry is not None:
            entry.error = message
            self._refresh_row(entry)

    def set_variants(self, name: str, count: int) -> None:
        entry = self.entry(name)
        if entry is not None:
            entry.variants = count
            entry.error = None
            self._refresh_row(entry)

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                if not item.isSelected():
                    self.list.setCurrentItem(item)
                return

    def _on_probed(self, probe: tuple) -> None:
        name, fmt, w, h, nbytes, qimg, error = probe
        entry = self.entry(name)
        if entry is None:
            return
        entry.probed = True
        entry.format, entry.width, entry.height, entry.nbytes = fmt, w, h, nbytes
        entry.error = error
        item = self._item(name)
        if item is not None and qimg is not None:
            item.setIcon(QIcon(QPixmap.fromImage(qimg)))
        self._refresh_row(entry)
        self.changed.emit()

    def _item(self, name: str) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                return item
        return None

    def _refresh_row(self, entry: ImageEntry) -> None:
        item = self._item(entry.name)
        if item is None:
            return
        item.setText(self._text(entry))
        item.setToolTip(
            entry.path or entry.name if not entry.error else f"{entry.name}\n{entry.error}"
        )
        item.setForeground(QColor("#b00020") if entry.error else self.palette().text().color())

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
        menu.addAction("Remove all", self.clear)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove_selected()
            return
        super().keyPressEvent(event)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
