"""What goes into a comparison: backends (add, edit, remove, from a cluster) and images (drop,
paste). A mixin of ``MainWindow``, kept apart so running and drawing read on their own."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMainWindow, QMessageBox

from tfcompare.datatypes import BackendSpec


def qimage_png_bytes(image: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data())


class WindowInputs(QMainWindow):
    """Backends and images of the window (``MainWindow`` provides the panels and views)."""

    def _on_inputs_changed(self) -> None:
        dims = [
            (e.width, e.height) if e.probed and not e.error else None
            for e in self.images_panel.entries
            if not (e.probed and e.error)
        ]
        self.settings_panel.update_preview(dims, len(self.backends_panel.specs))

    # ------------------------------------------------------------------ backends
    def set_backends(self, specs: list[BackendSpec], persist: bool = True) -> None:
        self.backends_panel.set_specs(specs)
        for name in [s.name for s in specs]:  # plot items exist before results arrive
            self.latency._ensure(name)
            self.quality._series(name)
            self.top5._bar(name)
        self.poller.set_backends(list(specs))
        self._on_inputs_changed()
        self.refresh_views(force=True)
        if persist:
            self.prefs.backends = list(specs)
            self.save_prefs()

    def edit_backend(self, name: str | None) -> None:
        from tfcompare.gui.backend_dialog import BackendDialog

        specs = list(self.backends_panel.specs)
        old = self.backends_panel.spec(name) if name else None
        dialog = BackendDialog(self, old, {s.name for s in specs})
        if not dialog.exec():
            return
        spec = dialog.spec()
        if old is None:
            specs.append(spec)
        else:
            specs[specs.index(old)] = spec
            self.backends_panel.set_run_note(old.name, None)
        self.set_backends(specs)

    def remove_backend(self, name: str) -> None:
        self.set_backends([s for s in self.backends_panel.specs if s.name != name])

    def add_from_cluster(self) -> None:
        try:
            from tfcompare.gui.cluster_dialog import ClusterDialog
        except ImportError as exc:
            QMessageBox.warning(self, "Kubernetes", f"Cluster discovery is not available: {exc}")
            return
        dialog = ClusterDialog(self)
        if not dialog.exec():
            return
        specs = list(self.backends_panel.specs)
        taken = {s.name for s in specs}
        for spec in dialog.selected_backends():
            if spec.name not in taken:
                specs.append(spec)
                taken.add(spec.name)
        self.set_backends(specs)

    # ------------------------------------------------------------------ images
    def add_image_bytes(self, data: bytes, name: str | None = None) -> str:
        return self.images_panel.add_bytes(data, name)

    def paste(self) -> None:
        """Paste files (copied in a file manager) or an image (e.g. a screenshot)."""
        from PySide6.QtWidgets import QApplication

        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            self.add_urls(mime.urls())
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.statusBar().showMessage(
                "Nothing to paste: the clipboard holds no image or image file.", 5000
            )
            return
        self.add_image_bytes(qimage_png_bytes(image))

    def add_urls(self, urls) -> None:
        from tfcompare.session import SUFFIX

        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        sessions = [p for p in paths if p.lower().endswith(SUFFIX)]
        images = [p for p in paths if not p.lower().endswith(SUFFIX)]
        if images:
            n = self.images_panel.add_paths(images)
            self.statusBar().showMessage(f"Added {n} image{'s' if n != 1 else ''}.", 4000)
        if sessions:
            self.sessions.open_session(sessions[0])

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            self.add_urls(mime.urls())
        elif mime.hasImage():
            self.add_image_bytes(qimage_png_bytes(QImage(mime.imageData())))
        event.acceptProposedAction()
