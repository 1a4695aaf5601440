"""The window's menu actions, triggered through Qt as a user's click would (QAction.trigger())."""

from __future__ import annotations

import pytest
from gui_helpers import make_window
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox


def find_action(window, *path: str):
    """The action at menu path ``("Export", "Latency chart", "Save as PNG…")`` (mnemonics ignored)."""
    menu_actions = window.menuBar().actions()
    for depth, name in enumerate(path):
        for action in menu_actions:
            if action.text().replace("&", "") == name:
                break
        else:
            names = [a.text() for a in menu_actions]
            raise AssertionError(f"no action {name!r} in {names}")
        if depth < len(path) - 1:
            menu_actions = action.menu().actions()
    return action


@pytest.fixture
def no_modal_warnings(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a))
    return shown


@pytest.mark.parametrize("chart", ["Latency", "Top-5", "Quality", "Capacity"])
def test_chart_save_as_png_and_svg_menu_actions_write_files(
    qtbot, tmp_path, monkeypatch, no_modal_warnings, chart
):
    window = make_window(qtbot)
    png, svg = tmp_path / "c.png", tmp_path / "c.svg"
    answers = iter([(str(png), ""), (str(svg), "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: next(answers))
    find_action(window, "Export", f"{chart} chart", "Save as PNG…").trigger()
    find_action(window, "Export", f"{chart} chart", "Save as SVG…").trigger()
    assert no_modal_warnings == []
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100 and image.height() > 50
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text


@pytest.mark.parametrize("chart", ["Latency", "Top-5", "Quality", "Capacity"])
def test_chart_copy_to_clipboard_menu_action_holds_the_chart_image(qtbot, chart):
    window = make_window(qtbot)
    QGuiApplication.clipboard().clear()
    find_action(window, "Export", f"{chart} chart", "Copy to clipboard").trigger()
    image = QGuiApplication.clipboard().image()
    widget = {"Latency": window.latency, "Top-5": window.top5, "Quality": window.quality,
              "Capacity": window.capacity.chart}[chart]
    expected = widget.grab_image()
    assert not image.isNull()
    assert (image.width(), image.height()) == (expected.width(), expected.height())


def test_window_screenshot_menu_actions(qtbot, tmp_path, monkeypatch, no_modal_warnings):
    window = make_window(qtbot)
    out = tmp_path / "win.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    find_action(window, "Export", "Save window screenshot (PNG)…").trigger()
    image = QImage(str(out))
    assert (image.width(), image.height()) == (window.width(), window.height())
    QGuiApplication.clipboard().clear()
    find_action(window, "Export", "Copy window screenshot").trigger()
    copied = QGuiApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (window.width(), window.height())


def test_log_scale_menu_action_toggles_the_chart(qtbot):
    window = make_window(qtbot)
    before = window.latency.log
    find_action(window, "View", "Log latency scale").trigger()
    assert window.latency.log is (not before)
    find_action(window, "View", "Log latency scale").trigger()
    assert window.latency.log is before
