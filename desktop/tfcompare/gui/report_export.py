"""File → Export report…: the findings report (``tfcompare.report``) of what the window shows,
written as one HTML page, the same page ``tfcompare report SESSION.tfcs`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow


def _capacity(w: MainWindow):
    """The capacity sweep of the session file the window shows, when the window has not measured
    anything since opening it (a sweep is only ever read from a file)."""
    s = w.sessions
    if s.path is None or s.dirty:
        return None
    from tfcompare.load.export import capacity_of
    from tfcompare.session import SessionError, load_session

    try:
        return capacity_of(load_session(s.path))
    except SessionError:
        return None


def export_report(w: MainWindow) -> None:
    from tfcompare.report import write_report

    result = w.store.result
    if result is None or w.running:
        QMessageBox.information(w, "Nothing to report",
                                "Run a comparison (and let it finish) or open a session first.")
        return
    s = w.sessions
    stem = s.path.stem if s.path else "report"
    folder = Path(w.prefs.last_dir) if getattr(w.prefs, "last_dir", None) else Path.home()
    path, _ = QFileDialog.getSaveFileName(w, "Export report", str(folder / f"{stem}.html"),
                                          "HTML page (*.html);;All files (*)")
    if not path:
        return
    try:
        report = write_report(path, result, capacity=_capacity(w),
                              title=s.title or (s.path.name if s.path else None),
                              source=str(s.path) if s.path else "")
    except OSError as exc:
        QMessageBox.warning(w, "Export report", f"Could not write {path}: {exc.strerror or exc}")
        return
    decided = sum(f.decided for f in report.findings)
    w.statusBar().showMessage(f"Wrote the report {path} ({decided} of {len(report.findings)} "
                              "findings answered)", 8000)
