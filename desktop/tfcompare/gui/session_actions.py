"""File → New / Open / Save / Save As / Open Recent / Compare / Export results: the file dialogs and
questions around the controller's session operations (which do the work)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox

from tfcompare.gui.export_paths import ask_export_path
from tfcompare.gui.prefs import Prefs
from tfcompare.window import WindowController

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow

FILTER = "tfcompare sessions (*.tfcs);;All files (*)"


class SessionActions:
    """The session-file actions of one window."""

    def __init__(self, window: MainWindow, controller: WindowController, prefs: Prefs) -> None:
        self.w = window
        self.c = controller
        self.prefs = prefs

    @property
    def path(self) -> Path | None:
        return self.c.path

    @property
    def dirty(self) -> bool:
        return self.c.unsaved

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self.set_dirty(value)

    def set_dirty(self, dirty: bool) -> None:
        self.c.unsaved = dirty
        self.w.setWindowModified(dirty)

    def confirm_discard(self) -> bool:
        """True when it is fine to drop the current results (saved, discarded, or none)."""
        if not self.c.unsaved or self.c.running:
            return True
        if not self.c.capacity.unsaved:
            text = "This comparison has results that are not saved. Save them first?"
        elif not self.c.comparison_unsaved:
            text = "The capacity sweep is not saved in a session file. Save it first?"
        else:
            text = (
                "This comparison's results and its capacity sweep are not saved. Save them first?"
            )
        answer = QMessageBox.question(
            self.w,
            "Unsaved results",
            text,
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
        if self.confirm_discard():
            self.c.new_session()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open session", self.prefs.last_dir, FILTER)
        if path:
            self.open_session(path)

    def open_session(self, path: str | Path) -> bool:
        from tfcompare.session import SessionError

        if not self.confirm_discard():
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.c.open_session(path)
        except SessionError as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self.w, "Cannot open session", str(exc))
            return False
        QApplication.restoreOverrideCursor()
        if "log_scale" in self.c.view_options:
            self.w.set_log_scale(bool(self.c.view_options["log_scale"]))
        sweep = self.c.capacity.result
        # a sweep alone: show it, not an empty comparison; otherwise the comparison comes first
        if sweep is not None and not self.c.store.has_results():
            self.w.tabs.setCurrentWidget(self.w.capacity)
        else:
            self.w.tabs.setCurrentIndex(0)
        self.prefs.add_recent(str(path))
        self.prefs.last_dir = str(Path(path).parent)
        return True

    def save(self) -> bool:
        if self.c.path is None:
            return self.save_as()
        return self.save_to(self.c.path)

    def save_as(self) -> bool:
        if not self.c.has_something_to_save:
            QMessageBox.information(
                self.w, "Nothing to save", "Run a comparison first: a session holds its results."
            )
            return False
        start = str(self.c.path or Path(self.prefs.last_dir or ".") / "comparison.tfcs")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save session", start, FILTER)
        if not path:
            return False
        if not path.lower().endswith(".tfcs"):
            path += ".tfcs"
        return self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        from tfcompare.session import SessionError

        try:
            self.c.save_session(path, {"log_scale": self.w.latency.log})
        except SessionError as exc:
            QMessageBox.warning(self.w, "Cannot save session", str(exc))
            return False
        self.prefs.add_recent(str(path))
        self.prefs.last_dir = str(Path(path).parent)
        return True

    _save_to = save_to  # the name older callers use

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = [p for p in self.prefs.recent if Path(p).exists()]
        for p in recent:
            menu.addAction(Path(p).name, functools.partial(self.open_session, p)).setStatusTip(p)
        if not recent:
            menu.addAction("(no recent sessions)").setEnabled(False)

    # ------------------------------------------------------------------ compare overlay
    def compare_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w, "Compare with session", self.prefs.last_dir, FILTER
        )
        if path:
            self.compare_with(path)

    def compare_with(self, path: str | Path) -> bool:
        from tfcompare.session import SessionError

        try:
            self.c.compare_with(path)
        except SessionError as exc:
            QMessageBox.warning(self.w, "Cannot compare", str(exc))
            return False
        return True

    def clear_compare(self) -> None:
        self.c.clear_compare()

    # ------------------------------------------------------------------ export
    def export_results(self, kind: str) -> None:
        if self.c.store.snapshot() is None:
            QMessageBox.information(
                self.w, "Nothing to export", "Run a comparison or open a session first."
            )
            return
        stem = self.c.path.stem if self.c.path else "results"
        path = ask_export_path(
            self.w,
            f"Export results ({kind.upper()})",
            f"{stem}.{kind}",
            f"{kind.upper()} (*.{kind})",
        )
        if not path:
            return
        try:
            self.c.export_results(kind, path)
        except OSError as exc:
            QMessageBox.warning(self.w, "Export", f"Could not write {path}: {exc}")
