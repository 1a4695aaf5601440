"""The window driven through its menus in a process of its own (offscreen Qt, file dialogs and
message boxes answered here): for inputs that, mishandled, abort the whole process (a native
library's heap corruption is a signal, not an exception pytest could catch).

Run as ``python -c 'import window_probe; window_probe.main()' OPEN SAVE`` from tests/: opens OPEN
with File → Open session…, then File → Save session as… to SAVE, and prints one JSON line: the
message boxes shown, the status bar's text and whether the saved file exists."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _action(window, *path: str):
    actions = window.menuBar().actions()
    for depth, name in enumerate(path):
        action = next(a for a in actions if a.text().replace("&", "") == name)
        if depth < len(path) - 1:
            actions = action.menu().actions()
    return action


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

    from tfcompare.gui.main_window import MainWindow

    open_path, save_path = sys.argv[1], sys.argv[2]
    app = QApplication.instance() or QApplication([])
    told: list[str] = []
    for kind in ("warning", "information", "critical"):
        setattr(QMessageBox, kind, staticmethod(lambda *a, **k: told.append(str(a[2]))))
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
    QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (open_path, ""))
    QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: (save_path, ""))
    window = MainWindow()
    window.show()
    app.processEvents()
    _action(window, "File", "Open session…").trigger()
    app.processEvents()
    status = window.statusBar().currentMessage()
    _action(window, "File", "Save session as…").trigger()
    app.processEvents()
    print(
        json.dumps(
            {
                "told": told,
                "status": status,
                "saved": Path(save_path).exists(),
                "levels": len(window.controller.capacity.result.levels)
                if window.controller.capacity.result
                else 0,
            }
        )
    )
    window.sessions.dirty = False
    window.close()
