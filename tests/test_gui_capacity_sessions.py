"""The Capacity tab with sessions, as a user meets it: sweeps started with the tab's Start button,
the window's File and Export menus, and what the tab shows while a sweep runs. Real Qt widgets
(offscreen), the real pipeline and load engine; the backends are the in-memory ones of
tests/fake_transport.py (fast tier: no subprocess)."""

from __future__ import annotations

import pytest
from gui_helpers import find_action, make_window, small_photos, synthetic_session
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tfcompare.session import load_session
from tfcompare.window import Outcome
from tfcompare.window.capacity import MEASURING


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return small_photos(tmp_path_factory.mktemp("photos"))  # chelsea, coffee: 300 px


# 10 ms a request: the 0.2 s windows (the field's least) agree within ±10 % from the third on,
# so every level ends after three (2 ms answers jitter by more than 10 % at the p99)
STEADY = dict(latency_s=0.01)


def capacity_window(qtbot, specs, photos=()):
    window = make_window(qtbot)
    window.set_backends(specs, persist=False)
    window.controller.add_paths(photos)
    window.tabs.setCurrentWidget(window.capacity)
    panel = window.capacity
    panel.variants.setText("original")
    panel.levels.setText("1")
    panel.window_s.setValue(0.2)
    panel.limit.setValue(0)
    return window, panel


def sweep(qtbot, panel, timeout: int = 60_000):
    """Press Start and wait for the sweep's end; returns how it ended."""
    with qtbot.waitSignal(panel.controller.events.finished, timeout=timeout) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    return done.args[0]


class Questions(list):
    """Every "Save first?" asked (its text), answered with ``answer`` (Cancel at first)."""

    answer = QMessageBox.StandardButton.Cancel


@pytest.fixture
def questions(monkeypatch):
    asked = Questions()

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return asked.answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_a_sweep_is_unsaved_work_the_title_quit_and_open_know_it(
    qtbot, fake_servers, photos, tmp_path, monkeypatch, questions
):
    window, panel = capacity_window(qtbot, [fake_servers.add("a", **STEADY)[1]], photos)
    assert not window.isWindowModified()
    assert sweep(qtbot, panel).outcome is Outcome.FINISHED
    assert window.isWindowModified()  # the title's "*"
    find_action(window, "File", "Quit").trigger()  # Ctrl+Q
    assert window.isVisible() and questions[-1].startswith("The capacity sweep is not saved")
    other = synthetic_session(tmp_path / "other.tfcs")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    find_action(window, "File", "Open session…").trigger()
    assert len(questions) == 2 and window.controller.path is None  # asked first; kept the sweep
    assert window.controller.capacity.result.levels
    questions.answer = QMessageBox.StandardButton.Discard
    find_action(window, "File", "Quit").trigger()
    assert not window.isVisible()


def test_new_session_drops_the_sweep_and_a_sweep_alone_is_saved_with_the_settings_shown(
    qtbot, fake_servers, photos, tmp_path, monkeypatch, questions
):
    window, panel = capacity_window(
        qtbot, [fake_servers.add("a", **STEADY)[1], fake_servers.add("b", **STEADY)[1]], photos
    )
    window.settings_panel.in_turns.setChecked(True)  # "take turns"
    assert not window.controller.settings.concurrent
    assert sweep(qtbot, panel).outcome is Outcome.FINISHED
    saved = tmp_path / "sweep.tfcs"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(saved), ""))
    find_action(window, "File", "Save session as…").trigger()
    assert load_session(saved).capacity and load_session(saved).result.settings.concurrent is False
    assert not window.isWindowModified()
    find_action(window, "File", "New session").trigger()
    assert not questions  # saved: nothing to ask
    assert panel.controller.result is None
    assert panel.table.rowCount() == 0 and panel.chart._curves == {}
    assert panel.equivalents.text().startswith("Filled in after a sweep")
    assert panel.notes.toPlainText() == "" and panel.status.text() == ""
    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[1]))
    find_action(window, "File", "Save session").trigger()
    assert told == ["Nothing to save"]  # no old sweep written under a new name


def test_reopened_images_keep_their_names_in_the_sweep_the_next_session_and_the_report(
    qtbot, fake_servers, tmp_path, monkeypatch
):
    session = synthetic_session(tmp_path / "s.tfcs", sizes=((320, 240), (200, 150)))
    window, panel = capacity_window(qtbot, [])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    find_action(window, "File", "Open session…").trigger()
    window.set_backends([fake_servers.add("gpu", **STEADY)[1]], persist=False)
    window.tabs.setCurrentWidget(panel)
    panel.variants.setText("256-jpeg")  # the 200 px dog.jpg has none
    assert sweep(qtbot, panel).outcome is Outcome.FINISHED
    note = "dog.jpg: no 256-jpeg variant (the image is smaller; never upscaled)"
    assert note in panel.notes.toPlainText() and "pasted" not in panel.notes.toPlainText()
    again, report = tmp_path / "again.tfcs", tmp_path / "report.html"
    answers = iter([(str(again), ""), (str(report), "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: next(answers))
    find_action(window, "File", "Save session as…").trigger()
    assert note in load_session(again).capacity["messages"]
    find_action(window, "Export", "Report (HTML)…").trigger()
    html = report.read_text()
    assert "dog.jpg: no 256-jpeg variant" in html and "pasted image" not in html


def test_before_any_sweep_the_tab_says_which_limit_applies_and_offers_no_export(qtbot):
    window = make_window(qtbot)
    panel = window.capacity
    assert panel.limit.value() == 100
    assert panel.table_title.text() == "<b>Sustained req/s at p99 ≤ 100 ms</b>"
    for item in ("Capacity sweep as JSON…", "Capacity sweep as CSV…"):
        assert not find_action(window, "Export", item).isEnabled()
    panel.limit.setValue(0)
    assert panel.table_title.text() == "<b>Highest stable req/s</b> (no latency limit)"


def test_a_running_sweep_shows_provisional_figures_until_each_backend_is_done(
    qtbot, fake_servers, photos
):
    held, a = fake_servers.add("a", latency_s=0.01, slots=1)
    window, panel = capacity_window(qtbot, [a, fake_servers.add("b", **STEADY)[1]], photos)
    panel.levels.setText("1,2")
    c = panel.controller
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(c.result.levels) >= 1, timeout=30_000)
    held.hold()  # "a" is stopped in the middle of its sweep
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=10_000)
    row = [panel.table.item(0, col).text() for col in range(4)]
    assert row == ["a", "original", "…", MEASURING]  # not "none — no stable level"
    assert panel.chart._curves and len(panel.chart._knees.data) == 0  # no ★ yet
    assert panel.equivalents.text() == "Filled in when the sweep ends."
    for item in ("Capacity sweep as JSON…", "Capacity sweep as CSV…"):
        assert not find_action(window, "Export", item).isEnabled()
    held.release()
    qtbot.waitUntil(lambda: not c.running, timeout=60_000)
    rows = [[panel.table.item(r, col).text() for col in range(4)] for r in range(2)]
    assert [r[0] for r in rows] == ["a", "b"] and all(r[3] != MEASURING for r in rows)
    stable = [curve for curve in c.curves() if curve.knee is not None]
    assert len(panel.chart._knees.data) == len(stable)  # a ★ per backend with a knee
    for item in ("Capacity sweep as JSON…", "Capacity sweep as CSV…"):
        assert find_action(window, "Export", item).isEnabled()


def test_the_notes_pane_shows_at_least_six_lines_at_the_smallest_window(
    qtbot, fake_servers, tmp_path
):
    from PIL import Image

    from tfcompare.gui.main_window import MINIMUM_SIZE

    # twelve small images with no 256 px variant: twelve notes, and one image that has it
    folder = tmp_path / "many"
    folder.mkdir()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(folder / "big.jpg")
    for i in range(12):
        Image.new("RGB", (100, 80), (20 * i, 90, 40)).save(folder / f"small-{i:02d}.jpg")
    window, panel = capacity_window(qtbot, [fake_servers.add("a", **STEADY)[1]], [folder])
    window.resize(*MINIMUM_SIZE)
    panel.variants.setText("256-jpeg")
    assert sweep(qtbot, panel).outcome is Outcome.FINISHED
    assert panel.notes.toPlainText().count("no 256-jpeg variant") == 12
    qtbot.waitUntil(lambda: panel.notes.viewport().height() > 0)
    lines = panel.notes.viewport().height() / panel.notes.fontMetrics().lineSpacing()
    assert lines >= 6
    window.grab().save(str(tmp_path / "capacity-minimum.png"))  # looked at when the tab changes
