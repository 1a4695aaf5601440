"""File → New / Open / Save / Save As / Open Recent / Compare, the title with the unsaved marker,
and the question before unsaved results are lost. Uses ``tfcompare.session`` for the files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from tfcompare.gui.images_panel import ImageEntry

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow

FILTER = "tfcompare sessions (*.tfcs);;All files (*)"


class SessionActions:
    """Session file state of one window: path, unsaved flag, compare overlay."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.path: Path | None = None
        self.title: str | None = None
        self.dirty = False
        self.compare_path: Path | None = None

    # ------------------------------------------------------------------ state
    def update_title(self) -> None:
        name = self.path.name if self.path else "untitled"
        self.w.setWindowTitle(f"{name}[*] — tfcompare")
        self.w.setWindowModified(self.dirty)

    def set_dirty(self, dirty: bool) -> None:
        self.dirty = dirty
        self.update_title()

    def on_run_started(self) -> None:
        self.set_dirty(False)

    def on_run_finished(self, has_results: bool) -> None:
        self.set_dirty(has_results)

    def selection(self) -> dict:
        return {
            "image": self.w.sel_image,
            "variant": self.w.sel_variant,
            "log_scale": self.w.latency.log,
        }

    def confirm_discard(self) -> bool:
        """True when it is fine to drop the current results (saved, discarded, or none)."""
        if not self.dirty or self.w.running:
            return True
        answer = QMessageBox.question(
            self.w,
            "Unsaved results",
            "This comparison has results that are not saved. Save them first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ------------------------------------------------------------------ actions
    def new_session(self) -> None:
        if self.w.running or not self.confirm_discard():
            return
        self.w.images_panel.clear()
        self.w.store.clear()
        self.w.table.reset()
        self.w._table_pending = []
        self.w.sel_image = self.w.sel_variant = None
        self.clear_compare()
        self.path = None
        self.set_dirty(False)
        self.w.refresh_views(force=True)
        self.w.statusBar().showMessage("New session.", 3000)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open session", self.w.prefs.last_dir, FILTER)
        if path:
            self.open_session(path)

    def open_session(self, path: str | Path) -> bool:
        from tfcompare.session import SessionError, load_session

        if self.w.running:
            self.w.statusBar().showMessage(
                "Cancel the running comparison before opening a session.", 6000
            )
            return False
        if not self.confirm_discard():
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            saved = load_session(path)
        except SessionError as exc:
            QMessageBox.warning(self.w, "Cannot open session", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        result = saved.result
        w = self.w
        w.images_panel.set_entries(
            [ImageEntry(name=i.name, data=i.original) for i in result.images]
        )
        for info in result.images:
            w.images_panel.set_variants(info.name, len(info.variants))
        for problem in result.problems:
            w.images_panel.set_error(problem.image, problem.message)
        known = {s.name: s for s in w.backends_panel.specs}
        # a backend keeps its auth header when the same backend is configured here
        specs = [known[b.name] if known.get(b.name) == b else b for b in result.backends]
        w.set_backends(specs)
        w.settings_panel.set_settings(result.settings)
        w.backends_panel.clear_run_notes()
        w.store.load_result(result)
        from tfcompare.load.export import capacity_of

        try:
            w.capacity.model.load(capacity_of(saved))
        except SessionError as exc:
            w.capacity.model.load(None)
            QMessageBox.warning(self.w, "Capacity sweep not shown", str(exc))
        w.table.reset()
        w._table_pending = []
        sel = saved.selection or {}
        w.sel_image, w.sel_variant = sel.get("image"), sel.get("variant")
        w.set_log_scale(bool(sel.get("log_scale", w.latency.log)))
        w.refresh_views(force=True)
        w.select(w.sel_image, w.sel_variant, force=True)
        self.path = Path(path)
        self.title = saved.title
        self.set_dirty(False)
        w.prefs.add_recent(str(path))
        w.prefs.last_dir = str(Path(path).parent)
        n = len(result.measured)
        w.statusBar().showMessage(
            f"Opened {Path(path).name}: {len(result.images)} images, {len(result.backends)} backends, {n:,} requests.",
            6000,
        )
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._save_to(self.path)

    def _capacity(self):
        result = self.w.capacity.model.result
        return result if result is not None and result.levels else None

    def save_as(self) -> bool:
        if self.w.store.result is None and self._capacity() is None:
            QMessageBox.information(
                self.w, "Nothing to save", "Run a comparison first: a session holds its results."
            )
            return False
        start = (
            str(self.path)
            if self.path
            else str(Path(self.w.prefs.last_dir or ".") / "comparison.tfcs")
        )
        path, _ = QFileDialog.getSaveFileName(self.w, "Save session", start, FILTER)
        if not path:
            return False
        if not path.lower().endswith(".tfcs"):
            path += ".tfcs"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        from tfcompare.load.export import save_capacity
        from tfcompare.session import SessionError, save_session

        result, capacity = self.w.store.result, self._capacity()
        if result is None and capacity is None:
            QMessageBox.information(
                self.w, "Nothing to save", "Run a comparison first: a session holds its results."
            )
            return False
        try:
            if capacity is not None:
                save_capacity(path, capacity, result, selection=self.selection(), title=path.stem)
            else:
                save_session(path, result, selection=self.selection(), title=path.stem)
        except SessionError as exc:
            QMessageBox.warning(self.w, "Cannot save session", str(exc))
            return False
        self.path = path
        self.set_dirty(False)
        self.w.prefs.add_recent(str(path))
        self.w.prefs.last_dir = str(path.parent)
        self.w.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def fill_recent_menu(self) -> None:
        menu = self.w.recent_menu
        menu.clear()
        recent = [p for p in self.w.prefs.recent if Path(p).exists()]
        for p in recent:
            menu.addAction(Path(p).name, lambda p=p: self.open_session(p)).setStatusTip(p)
        if not recent:
            menu.addAction("(no recent sessions)").setEnabled(False)

    # ------------------------------------------------------------------ compare overlay
    def compare_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w, "Compare with session", self.w.prefs.last_dir, FILTER
        )
        if path:
            self.compare_with(path)

    def compare_with(self, path: str | Path) -> bool:
        from tfcompare.runner.stats import pooled
        from tfcompare.session import SessionError, load_session

        try:
            other = load_session(path)
        except SessionError as exc:
            QMessageBox.warning(self.w, "Cannot compare", str(exc))
            return False
        latency = pooled(other.result.requests, other.result.summary)
        label = Path(path).stem
        self.w.latency.set_overlay(latency, label)
        self.compare_path = Path(path)
        self.w.compare_label.setText(f"Dashed: {label}")
        self.w.compare_clear.show()
        return True

    def clear_compare(self) -> None:
        self.w.latency.set_overlay(None)
        self.compare_path = None
        self.w.compare_label.setText("")
        self.w.compare_clear.hide()

    # ------------------------------------------------------------------ export
    def export_results(self, kind: str) -> None:
        from tfcompare.runner.report import write_csv, write_json

        result = self.w.store.result
        if result is None:
            QMessageBox.information(
                self.w, "Nothing to export", "Run a comparison or open a session first."
            )
            return
        path, _ = QFileDialog.getSaveFileName(
            self.w,
            f"Export results ({kind.upper()})",
            f"results.{kind}",
            f"{kind.upper()} (*.{kind})",
        )
        if not path:
            return
        try:
            (write_json if kind == "json" else write_csv)(result, path)
        except OSError as exc:
            QMessageBox.warning(self.w, "Export", f"Could not write {path}: {exc}")
            return
        self.w.statusBar().showMessage(f"Exported {path}", 5000)
