"""Where every export dialog starts: one remembered export folder (results, the report, capacity
sweeps, screenshots and charts), so a series of exports lands together without browsing again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget


def export_folder(prefs) -> Path:
    """The folder the last export went to; else the folder sessions and images came from; else
    the home folder."""
    for folder in (getattr(prefs, "export_dir", ""), getattr(prefs, "last_dir", "")):
        if folder and Path(folder).is_dir():
            return Path(folder)
    return Path.home()


def ask_export_path(parent: QWidget, title: str, filename: str, filters: str) -> str | None:
    """A save dialog starting in the export folder with ``filename`` proposed; the folder chosen
    is remembered (in the window's preferences) for the next export. None when cancelled."""
    prefs = getattr(parent.window(), "prefs", None)
    path, _ = QFileDialog.getSaveFileName(
        parent, title, str(export_folder(prefs) / filename), filters
    )
    if not path:
        return None
    if prefs is not None:
        prefs.export_dir = str(Path(path).parent)
    return path
