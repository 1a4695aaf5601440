"""Helpers for the window tests: a MainWindow that closes without questions, small real photos,
and drop events carrying file URLs (what a file manager sends)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def small_photos(folder: Path, names=("chelsea", "coffee"), longest: int = 300) -> list[Path]:
    """Real photos (scikit-image) shrunk so runs stay fast; JPEG files in ``folder``."""
    from images import photo

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        img = photo(name)
        img.thumbnail((longest, longest))
        path = folder / f"{name}.jpg"
        img.save(path, "JPEG", quality=90)
        out.append(path)
    return out


def drop_event(paths: list[Path | str]) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    event._mime = mime  # keep the data alive as long as the event
    return event


def make_window(qtbot, **kwargs):
    from tfcompare.gui.main_window import MainWindow

    window = MainWindow(**kwargs)
    qtbot.addWidget(window, before_close_func=discard)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def discard(window) -> None:
    """Close without the "unsaved results" question (the tests that need it ask it themselves)."""
    window.sessions.dirty = False
    if window.running:
        window.cancel_run()
        window.controller.wait(5)
