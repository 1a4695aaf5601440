"""The window's menu actions, triggered through Qt as a user's click would (QAction.trigger())."""

from __future__ import annotations

import pytest
from gui_helpers import find_action, make_window
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox


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
    widget = {
        "Latency": window.latency,
        "Top-5": window.top5,
        "Quality": window.quality,
        "Capacity": window.capacity.chart,
    }[chart]
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


# ------------------------------------------------------------------ every action, as a user would

ALL_ACTIONS = {
    "File": [
        "New session",
        "Add images…",
        "Add image folder…",
        "Open session…",
        "Open recent",
        "Save session",
        "Save session as…",
        "Compare with session…",
        "Clear comparison overlay",
        "Quit",
    ],
    "Edit": [
        "Undo removal",
        "Paste image",
        "Copy results table",
        "Remove selected images",
        "Remove all images",
    ],
    "Backends": [
        "Add backend…",
        "Add from cluster…",
        "Edit selected…",
        "Remove selected",
        "Refresh status",
    ],
    "Run": ["Run comparison", "Cancel", "Start capacity sweep", "Cancel capacity sweep"],
    "View": ["Log latency scale"],
    "Export": [
        "Results as JSON…",
        "Results as CSV…",
        "Report (HTML)…",
        "Capacity sweep as JSON…",
        "Capacity sweep as CSV…",
        "Save window screenshot (PNG)…",
        "Copy window screenshot",
        "Latency chart",
        "Top-5 chart",
        "Quality chart",
        "Capacity chart",
    ],
    "Help": ["How to read the charts", "Keyboard shortcuts", "About tfcompare"],
}


def test_the_menus_hold_exactly_the_actions_tested_here(qtbot):
    """A new menu action fails this until a test here (or named beside it) triggers it."""
    window = make_window(qtbot)
    menus = {}
    for top in window.menuBar().actions():
        names = [a.text().replace("&", "") for a in top.menu().actions() if not a.isSeparator()]
        menus[top.text().replace("&", "")] = names
    assert menus == ALL_ACTIONS


@pytest.fixture
def opened(qtbot, tmp_path):
    """A window showing a saved comparison (two images, two backends), opened via File → Open."""
    from gui_helpers import synthetic_session

    session = synthetic_session(tmp_path / "before.tfcs")
    window = make_window(qtbot)
    window.session_file = session
    mp = pytest.MonkeyPatch()
    mp.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    find_action(window, "File", "Open session…").trigger()
    mp.undo()
    assert window.controller.path == session and window.table.model.rowCount() == 12
    return window


def test_file_new_add_images_and_folder(qtbot, tmp_path, monkeypatch, opened):
    from gui_helpers import small_photos

    w = opened
    find_action(w, "File", "New session").trigger()  # opened, unchanged: no question
    assert not w.controller.images and w.table.model.rowCount() == 0
    assert w.image_combo.count() == 0 and w.eta.text() == "" and w.progress.value() == 0
    photos = small_photos(tmp_path / "p")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(photos[0])], ""))
    find_action(w, "File", "Add images…").trigger()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "p"))
    find_action(w, "File", "Add image folder…").trigger()
    assert [e.name for e in w.controller.images] == ["chelsea.jpg", "coffee.jpg"]
    assert w.images_panel.names() == ["chelsea.jpg", "coffee.jpg"]
    assert "Added 1 image from" in w.statusBar().currentMessage()


def test_file_save_save_as_recent_compare_and_quit(qtbot, tmp_path, monkeypatch, opened):
    from gui_helpers import synthetic_session

    w = opened
    w.controller.unsaved = True
    find_action(w, "File", "Save session").trigger()  # to the file it came from
    assert not w.controller.unsaved and not w.isWindowModified()
    other = tmp_path / "copy.tfcs"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "copy"), "")
    )
    find_action(w, "File", "Save session as…").trigger()
    assert other.exists() and w.controller.path == other and "copy.tfcs" in w.windowTitle()
    recent = find_action(w, "File", "Open recent").menu()
    recent.aboutToShow.emit()
    entries = [a for a in recent.actions() if a.text() == "before.tfcs"]
    find_action(w, "File", "New session").trigger()
    entries[0].trigger()
    assert w.controller.path == w.session_file and w.table.model.rowCount() == 12
    faster = synthetic_session(tmp_path / "after.tfcs", scale=0.5)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(faster), ""))
    find_action(w, "File", "Compare with session…").trigger()
    assert set(w.latency._overlay) == {"gpu", "cpu"} and w.compare_clear.isVisible()
    find_action(w, "File", "Clear comparison overlay").trigger()
    assert not w.latency._overlay and not w.compare_clear.isVisible()
    find_action(w, "File", "Quit").trigger()
    assert not w.isVisible()


def test_edit_actions_paste_copy_remove_and_undo(qtbot, opened):
    w = opened
    img = QImage(40, 30, QImage.Format.Format_RGB32)
    img.fill(0xFF3366AA)
    QGuiApplication.clipboard().setImage(img)
    find_action(w, "Edit", "Paste image").trigger()
    assert w.controller.images[-1].name == "pasted image 1.png"
    find_action(w, "Edit", "Copy results table").trigger()
    copied = QGuiApplication.clipboard().text()
    assert copied.count("\n") >= 12 and "cat.jpg" in copied and "dog.jpg" in copied
    w.images_panel.list.item(0).setSelected(True)
    find_action(w, "Edit", "Remove selected images").trigger()
    assert "cat.jpg" not in w.images_panel.names()
    assert {w.table.model.rows[r].image for r in range(w.table.model.rowCount())} == {"dog.jpg"}
    assert w.undo_button.isVisible() and "Removed 1 image" in w.statusBar().currentMessage()
    find_action(w, "Edit", "Remove all images").trigger()
    assert w.table.model.rowCount() == 0 and w.image_combo.count() == 0
    assert w.top5.title_text() == "Top-5 predictions"  # no removed image named
    find_action(w, "Edit", "Undo removal").trigger()  # Ctrl+Z
    assert "dog.jpg" in w.images_panel.names() and w.table.model.rowCount() == 6
    qtbot.mouseClick(w.undo_button, Qt.MouseButton.LeftButton)  # the status bar's Undo
    assert "cat.jpg" in w.images_panel.names() and w.table.model.rowCount() == 12


def test_backend_actions_and_buttons(qtbot, monkeypatch, opened):
    from tfcompare.gui.backend_dialog import BackendDialog
    from tfcompare.gui.cluster_dialog import ClusterDialog
    from tfcompare.serving.backend_spec import BackendSpec

    w = opened
    typed = []

    def fill(dialog):  # what a user types before pressing OK
        dialog.name.setText(typed[-1][0])
        dialog.target.setText(typed[-1][1])
        return True

    monkeypatch.setattr(BackendDialog, "exec", fill)
    typed.append(("extra", "127.0.0.1:3"))
    find_action(w, "Backends", "Add backend…").trigger()
    typed.append(("more", "127.0.0.1:4"))
    buttons = {b.text(): b for b in w.backends_panel.findChildren(type(w.run_button))}
    qtbot.mouseClick(buttons["Add…"], Qt.MouseButton.LeftButton)
    assert [s.name for s in w.controller.backends][-2:] == ["extra", "more"]
    w.backends_panel.list.setCurrentRow(2)  # extra
    typed.append(("extra", "127.0.0.1:5"))
    find_action(w, "Backends", "Edit selected…").trigger()
    assert w.controller.spec("extra").target == "127.0.0.1:5"
    w.backends_panel.list.setCurrentRow(3)  # more
    typed.append(("more", "127.0.0.1:6"))
    qtbot.mouseClick(buttons["Edit…"], Qt.MouseButton.LeftButton)
    assert w.controller.spec("more").target == "127.0.0.1:6"
    w.backends_panel.list.setCurrentRow(0)  # gpu: its results leave the charts and the table
    find_action(w, "Backends", "Remove selected").trigger()
    assert "gpu" not in [s.name for s in w.controller.backends]
    assert "gpu" not in w.latency._p50 and all(a.backend != "gpu" for a in w.table.model.rows)
    w.backends_panel.list.setCurrentRow(0)
    qtbot.mouseClick(buttons["Remove"], Qt.MouseButton.LeftButton)
    assert "cpu" not in [s.name for s in w.controller.backends]
    monkeypatch.setattr(ClusterDialog, "__init__", lambda self, parent=None: QDialog.__init__(self))
    monkeypatch.setattr(ClusterDialog, "exec", lambda self: True)
    monkeypatch.setattr(
        ClusterDialog,
        "selected_backends",
        lambda self: [BackendSpec("from-k8s", "k8s://tfs/tfs-gpu")],
    )
    find_action(w, "Backends", "Add from cluster…").trigger()
    monkeypatch.setattr(
        ClusterDialog,
        "selected_backends",
        lambda self: [BackendSpec("also-k8s", "k8s://tfs/tfs-cpu")],
    )
    qtbot.mouseClick(buttons["From cluster…"], Qt.MouseButton.LeftButton)
    assert [s.name for s in w.controller.backends][-2:] == ["from-k8s", "also-k8s"]
    w.controller.run_notes["extra"] = ("error", "what the last run found")
    find_action(w, "Backends", "Refresh status").trigger()
    assert "what the last run found" not in w.backends_panel.list.item(0).text()


def test_run_and_cancel_actions_and_buttons(qtbot, tmp_path, fake_servers, monkeypatch):
    from gui_helpers import small_photos

    from tfcompare.settings import RunSettings

    w = make_window(qtbot)
    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: said.append(a[2]))
    find_action(w, "Run", "Run comparison").trigger()  # nothing to run yet: says why
    assert "Add images first" in said[-1]
    w.set_backends([fake_servers.add("one")[1]], persist=False)
    w.settings_panel.set_settings(
        RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=1000)
    )
    w.controller.add_paths(small_photos(tmp_path))
    find_action(w, "Run", "Run comparison").trigger()
    qtbot.waitUntil(lambda: w.store.n_results > 5, timeout=30_000)
    assert not w.run_button.isEnabled() and w.cancel_button.isEnabled()
    assert "requests" in w.eta.text()  # the count beside the bar, never under it
    with qtbot.waitSignal(w.run_finished, timeout=20_000) as done:
        find_action(w, "Run", "Cancel").trigger()
    assert done.args == [True] and w.run_button.isEnabled()
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        qtbot.mouseClick(w.run_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.store.n_results > 5, timeout=30_000)
        qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    assert w.run_button.isEnabled() and "Cancelled" in w.statusBar().currentMessage()


def test_capacity_menu_actions_start_and_cancel_a_sweep(qtbot, tmp_path, fake_servers):
    from gui_helpers import small_photos

    w = make_window(qtbot)
    w.controller.add_paths(small_photos(tmp_path, names=("chelsea",)))
    w.set_backends([fake_servers.add("one")[1]], persist=False)
    w.capacity.variants.setText("original")
    w.capacity.levels.setText("1,2,4,8")
    w.capacity.window_s.setValue(0.5)
    find_action(w, "Run", "Start capacity sweep").trigger()
    assert w.tabs.currentWidget() is w.capacity and w.controller.capacity.running
    with qtbot.waitSignal(w.controller.capacity.events.finished, timeout=60_000) as done:
        find_action(w, "Run", "Cancel capacity sweep").trigger()
    assert done.args[0].cancelled


def test_export_results_report_and_capacity(qtbot, tmp_path, monkeypatch, opened):
    import json

    w = opened
    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[2]))
    for kind, action in (
        ("json", "Results as JSON…"),
        ("csv", "Results as CSV…"),
        ("html", "Report (HTML)…"),
    ):
        out = tmp_path / f"out.{kind}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, o=out, **k: (str(o), ""))
        find_action(w, "Export", action).trigger()
        assert out.exists(), action
    assert json.loads((tmp_path / "out.json").read_text())["format"] == "tfcompare-run/1"
    assert (tmp_path / "out.csv").read_text().count("\n") == 1 + 2 * 3 * 2 * 3
    assert "<html" in (tmp_path / "out.html").read_text().lower()
    for item in ("Capacity sweep as JSON…", "Capacity sweep as CSV…"):
        action = find_action(w, "Export", item)
        assert not action.isEnabled()  # no sweep measured or opened: not offered
        action.trigger()
    assert told == [] and not list(tmp_path.glob("capacity*"))


def test_help_actions_open_their_pages(qtbot, opened):
    w = opened
    find_action(w, "Help", "How to read the charts").trigger()
    page = w.findChild(QMessageBox, "howToRead")
    assert page.isVisible() and "Quality" in page.text() and "pooled" in page.text()
    page.close()
    find_action(w, "Help", "Keyboard shortcuts").trigger()
    keys = w.findChild(QMessageBox, "shortcuts")
    assert keys.isVisible() and "Ctrl+Z" in keys.text() and "Ctrl+R" in keys.text()
    keys.close()
    shown = []
    pytest.MonkeyPatch().setattr(QMessageBox, "about", lambda *a: shown.append(a[2]))
    find_action(w, "Help", "About tfcompare").trigger()
    assert "tfcompare" in shown[0]


def test_selection_bar_controls(qtbot, opened):
    w = opened
    w.image_combo.setCurrentIndex(1)
    assert w.sel_image == "dog.jpg" and "dog.jpg" in w.top5.title_text()
    w.variant_combo.setCurrentIndex(w.variant_combo.findData("128-png"))
    assert w.sel_variant == "128-png" and w.variant_combo.currentText() == "128 png"
    qtbot.mouseClick(w.log_box, Qt.MouseButton.LeftButton)
    assert w.latency.log and w.actions_by_name["log"].isChecked()
