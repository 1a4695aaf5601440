"""Export → Report (HTML)…: the findings report (``tfcompare.report``) of what the window shows,
written as one HTML page, the same page ``tfcompare report SESSION.tfcs`` writes. The dialog here;
the controller writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from tfcompare.gui.export_paths import ask_export_path

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow


def export_report(w: MainWindow) -> None:
    """``w``: the window (its controller, prefs and status bar)."""
    c = w.controller
    if c.store.snapshot() is None or c.running:
        QMessageBox.information(
            w, "Nothing to report", "Run a comparison (and let it finish) or open a session first."
        )
        return
    stem = c.path.stem if c.path else "report"
    path = ask_export_path(w, "Export report", f"{stem}.html", "HTML page (*.html);;All files (*)")
    if not path:
        return
    try:
        report = c.export_report(path)
    except OSError as exc:
        QMessageBox.warning(w, "Export report", f"Could not write {path}: {exc.strerror or exc}")
        return
    decided = sum(f.decided for f in report.findings)
    w.statusBar().showMessage(
        f"Wrote the report {path} ({decided} of {len(report.findings)} findings answered)", 8000
    )
