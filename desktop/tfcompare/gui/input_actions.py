"""What goes into a comparison, as the user asks for it: image and folder dialogs, paste and drop,
the backend dialog, the cluster dialog; and the screenshot exports. Dialogs here, the work in the
controller."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from tfcompare.gui.export_paths import ask_export_path
from tfcompare.gui.prefs import Prefs
from tfcompare.gui.screenshots import copy_image, grab_window, save_image
from tfcompare.window import WindowController

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff *.gif);;All files (*)"


def qimage_png_bytes(image: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")  # type: ignore[call-overload]  # (PySide6's stub: bytes; it takes str)
    return bytes(buf.data().data())


class InputActions:
    """The input dialogs of one window."""

    def __init__(self, window: MainWindow, controller: WindowController, prefs: Prefs) -> None:
        self.w = window
        self.c = controller
        self.prefs = prefs

    def _status(self, text: str, ms: int = 5000) -> None:
        self.w.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ images
    def add_images_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.w, "Add images", self.prefs.last_dir, IMAGE_FILTER
        )
        if paths:
            self.prefs.last_dir = str(Path(paths[0]).parent)
            self._added(self.c.add_paths(paths))

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.w, "Add a folder of images", self.prefs.last_dir
        )
        if folder:
            self.prefs.last_dir = folder
            self._added(self.c.add_paths([folder]), f" from {folder}")

    def _added(self, n: int, where: str = "") -> None:
        self._status(
            f"Added {n} image{'s' if n != 1 else ''}{where}."
            if n
            else f"No new images{where} (already listed, or none found)."
        )

    def paste(self) -> None:
        """Paste files (copied in a file manager) or an image (e.g. a screenshot)."""
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            self.add_urls(mime.urls())
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self._status("Nothing to paste: the clipboard holds no image or image file.")
            return
        name = self.c.add_bytes(qimage_png_bytes(image))
        self._status(f"Pasted {name}.")

    def add_urls(self, urls) -> None:
        from tfcompare.session import SUFFIX

        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        sessions = [p for p in paths if p.lower().endswith(SUFFIX)]
        images = [p for p in paths if not p.lower().endswith(SUFFIX)]
        if images:
            self._added(self.c.add_paths(images))
        if sessions:
            self.w.sessions.open_session(sessions[0])

    # ------------------------------------------------------------------ backends
    def edit_backend(self, name: str | None) -> None:
        from tfcompare.gui.backend_dialog import BackendDialog

        old = self.c.spec(name) if name else None
        dialog = BackendDialog(self.w, old, {s.name for s in self.c.backends})
        if not dialog.exec():
            return
        spec = dialog.spec()
        if old is None:
            self.c.add_backend(spec)
        else:
            self.c.replace_backend(old.name, spec)
        self.w.save_prefs()

    def add_from_cluster(self) -> None:
        try:
            from tfcompare.gui.cluster_dialog import ClusterDialog
        except ImportError as exc:
            QMessageBox.warning(self.w, "Kubernetes", f"Cluster discovery is not available: {exc}")
            return
        dialog = ClusterDialog(self.w)
        if not dialog.exec():
            return
        taken = {s.name for s in self.c.backends}
        new = [s for s in dialog.selected_backends() if s.name not in taken]
        self.c.set_backends([*self.c.backends, *new])
        self.w.save_prefs()

    # ------------------------------------------------------------------ screenshots
    def save_window_dialog(self) -> None:
        path = ask_export_path(
            self.w, "Save window screenshot", "tfcompare.png", "PNG image (*.png)"
        )
        if path:
            try:
                save_image(grab_window(self.w), path)
            except OSError as exc:
                QMessageBox.warning(self.w, "Screenshot", str(exc))
                return
            self._status(f"Saved {path}")

    def copy_window(self) -> None:
        image = grab_window(self.w)
        copy_image(image)
        self._status(
            f"Copied a screenshot of the window ({image.width()}×{image.height()}) "
            "to the clipboard."
        )

    def save_chart_dialog(self, chart, name: str, kind: str) -> None:
        filt = "PNG image (*.png)" if kind == "png" else "SVG drawing (*.svg)"
        path = ask_export_path(self.w, f"Save {name} chart", f"{name.lower()}.{kind}", filt)
        if not path:
            return
        try:
            chart.export_png(path) if kind == "png" else chart.export_svg(path)
        except Exception as exc:  # exporter errors (disk full, permissions) become a message
            QMessageBox.warning(self.w, "Export", f"Could not write {path}: {exc}")
            return
        self._status(f"Saved {path}")

    def copy_chart(self, chart, name: str) -> None:
        image = chart.grab_image()
        copy_image(image)
        self._status(
            f"Copied the {name} chart ({image.width()}×{image.height()}) to the clipboard."
        )
