"""Help and feedback as a demanding user meets them: Help → Keyboard shortcuts lists every key the
menus really have (read from the actions), How to read the charts names the whisker; Backends →
Refresh status says what it is doing and then what it found; every export dialog starts in the
one remembered export folder."""

from __future__ import annotations

import re

import pytest
from gui_helpers import find_action, make_window, synthetic_session
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tfcompare.serving.backend_spec import BackendSpec


def menu_shortcuts(window) -> dict[str, str]:
    """Every menu action's shortcut (native text) → its name."""
    out = {}

    def walk(menu):
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            key = action.shortcut()
            if not key.isEmpty():
                out[key.toString(QKeySequence.SequenceFormat.NativeText)] = action.text()

    for top in window.menuBar().actions():
        walk(top.menu())
    return out


def test_keyboard_shortcuts_lists_every_key_the_menus_have(qtbot):
    window = make_window(qtbot)
    find_action(window, "Help", "Keyboard shortcuts").trigger()
    page = window.findChild(QMessageBox, "shortcuts")
    assert page.isVisible()
    text = page.text()
    keys = menu_shortcuts(window)
    for must in ("Ctrl+Shift+L", "Ctrl+Shift+S", "Ctrl+Q", "Ctrl+R", "F12", "Ctrl+Shift+R"):
        assert must in keys, must  # the menus have it…
        assert f"<b>{must}</b>" in text
    for key in keys:  # …and the page lists each of them
        assert key in text, key
    listed = set(re.findall(r"<b>([^<]+)</b>", text))
    in_lists = {"Delete", "Ctrl+C"}
    for entry in listed:  # nothing listed that no action (or list) has
        assert entry in keys or entry in in_lists, entry
    assert "Run → Start capacity sweep" in text and "File → Quit" in text
    page.close()


def test_how_to_read_names_the_p90_whisker_and_the_tooltips(qtbot):
    window = make_window(qtbot)
    find_action(window, "Help", "How to read the charts").trigger()
    text = window.findChild(QMessageBox, "howToRead").text()
    assert "thin band" not in text
    assert "whisker" in text and "p90" in text and "rest the mouse" in text.lower()


def test_refresh_status_says_what_it_checks_and_what_it_found(qtbot, fake_servers):
    window = make_window(qtbot)
    window.set_backends(
        [
            fake_servers.add("one")[1],
            BackendSpec("gone", "127.0.0.1:1"),  # real gRPC to a closed port
        ],
        persist=False,
    )
    bar = window.statusBar()
    find_action(window, "Backends", "Refresh status").trigger()
    assert bar.currentMessage() == "Checking 2 backends…"
    qtbot.waitUntil(lambda: bar.currentMessage().startswith("Checked"), timeout=30_000)
    assert bar.currentMessage() == "Checked 2 backends: 1 available, 1 not available (gone)."
    window.set_backends([], persist=False)
    find_action(window, "Backends", "Refresh status").trigger()
    assert "No backends to check" in bar.currentMessage()


def test_every_export_dialog_starts_in_the_last_export_folder(qtbot, tmp_path, monkeypatch):
    window = make_window(qtbot)
    assert window.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    window.refresh_views(force=True)
    exports = tmp_path / "exports"
    exports.mkdir()
    asked: list[str] = []

    def save_dialog(parent, title, start, filters, *a, **k):
        asked.append(start)
        return str(exports / start.rsplit("/", 1)[-1]), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: pytest.fail(str(a)))
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    actions = [
        ("Export", "Results as JSON…"),
        ("Export", "Results as CSV…"),
        ("Export", "Report (HTML)…"),
        ("Export", "Save window screenshot (PNG)…"),
        ("Export", "Latency chart", "Save as SVG…"),
        ("Export", "Quality chart", "Save as PNG…"),
    ]
    for path in actions:
        find_action(window, *path).trigger()
    assert len(asked) == len(actions)
    # the first starts where the session came from; every later one where the last export went
    assert asked[0].startswith(str(tmp_path))
    assert all(start.startswith(str(exports)) for start in asked[1:]), asked
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        ["s.json", "s.csv", "s.html", "tfcompare.png", "latency.svg", "quality.png"]
    )
    assert window.prefs.export_dir == str(exports)
    window.close()  # the folder is remembered for the next start
    from tfcompare.gui.prefs import load_prefs

    assert load_prefs().export_dir == str(exports)
