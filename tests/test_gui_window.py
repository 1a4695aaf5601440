"""The window without backends: adding images (drop, paste), errors per row, settings preview,
backend editing, preferences, screenshots, stale events, bad session files, start-up cost."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading

import pytest
from gui_helpers import drop_event, make_window, small_photos
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from tfcompare.results import RequestResult
from tfcompare.runner.events import RequestDone
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


def _probed(window):
    return all(e.probed for e in window.controller.images)


def test_dropping_files_and_folders_adds_them(qtbot, tmp_path):
    window = make_window(qtbot)
    folder = tmp_path / "photos"
    small_photos(folder / "sub", names=("chelsea",))
    (folder / "notes.txt").write_text("not an image, and not an image name: skipped in folders")
    loose = small_photos(tmp_path / "loose", names=("coffee",))[0]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg at all" * 10)

    window.dropEvent(drop_event([folder, loose, bad]))

    names = [e.name for e in window.controller.images]
    assert names == ["chelsea.jpg", "coffee.jpg", "broken.jpg"]
    qtbot.waitUntil(lambda: _probed(window), timeout=10_000)
    by_name = {e.name: e for e in window.controller.images}
    assert by_name["chelsea.jpg"].format == "jpeg" and by_name["chelsea.jpg"].width == 300
    assert by_name["coffee.jpg"].error is None
    assert by_name["broken.jpg"].error  # its own row says what is wrong ...
    item = window.images_panel.list.item(2)
    error = by_name["broken.jpg"].error
    assert item.text().startswith("broken.jpg\n⚠ " + error[:12])  # its start, then elided
    assert error in item.toolTip()
    assert "⚠" not in window.images_panel.list.item(0).text()  # ... and the others are unaffected
    assert not window.images_panel.overlay.isVisible()


def test_same_file_name_in_two_folders_gets_the_runners_name(qtbot, tmp_path):
    window = make_window(qtbot)
    a = small_photos(tmp_path / "a", names=("chelsea",))[0]
    b = small_photos(tmp_path / "b", names=("chelsea",))[0]
    window.controller.add_paths([a, b, a])  # the repeated path is ignored
    assert [e.name for e in window.controller.images] == ["chelsea.jpg", "chelsea (2).jpg"]
    window.images_panel.list.item(0).setSelected(True)
    window.images_panel.remove_selected()
    # a name is final once given (results and saved sessions carry it): the other keeps its own
    assert [e.name for e in window.controller.images] == ["chelsea (2).jpg"]


def test_paste_an_image_from_the_clipboard(qtbot):
    window = make_window(qtbot)
    img = QImage(64, 40, QImage.Format.Format_RGB32)
    img.fill(0xFF3366AA)
    QApplication.clipboard().setImage(img)
    window.paste()
    entry = window.controller.images[-1]
    assert entry.name == "pasted image 1.png" and entry.path is None
    qtbot.waitUntil(lambda: _probed(window), timeout=10_000)
    assert (entry.format, entry.width, entry.height, entry.error) == ("png", 64, 40, None)


def test_request_count_preview_follows_images_backends_and_settings(qtbot, tmp_path):
    window = make_window(qtbot)
    window.controller.add_paths(small_photos(tmp_path, names=("coffee",), longest=600))  # 600×400
    window.set_backends(
        [BackendSpec.parse("a=127.0.0.1:1"), BackendSpec.parse("b=127.0.0.1:2")], persist=False
    )
    qtbot.waitUntil(lambda: _probed(window), timeout=10_000)
    window.settings_panel.set_settings(
        RunSettings(sizes=(2048, 1024, 512, 256), formats=("jpeg", "png"), warmup=1, repeats=3)
    )
    # 600 px: original + {512, 256} × {jpeg, png} = 5 variants; × 2 backends × (1 + 3)
    assert "40 requests" in window.settings_panel.preview.text()
    window.settings_panel.repeats.setValue(9)
    assert "100 requests" in window.settings_panel.preview.text()
    window.settings_panel.sizes.setText("512, big")
    assert window.settings_panel.error.isVisible() and "big" in window.settings_panel.error.text()


def test_backend_dialog_validates_and_builds_the_spec(qtbot):
    from tfcompare.gui.backend_dialog import BackendDialog

    dialog = BackendDialog(None, None, {"taken"})
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.name.setText("taken")
    dialog.target.setText("127.0.0.1:8500")
    assert not ok.isEnabled() and "already" in dialog.error.text()
    dialog.name.setText("gpu")
    dialog.target.setText("no-port-here")
    assert not ok.isEnabled() and "HOST:PORT" in dialog.error.text()
    dialog.target.setText("10.0.0.5:8501")
    dialog.protocol.setCurrentIndex(1)
    dialog.model.setText("inception")
    dialog.signature.setText("predict_images")
    dialog.header.setText("Authorization: Bearer abc")
    assert ok.isEnabled()
    spec = dialog.spec()
    assert spec == BackendSpec("gpu", "10.0.0.5:8501", "rest", "inception", "predict_images")
    assert spec.headers == (("authorization", "Bearer abc"),)
    dialog.header.setText("no colon")
    assert not ok.isEnabled()


def test_backend_dialog_reads_kubeconfig_contexts(qtbot, tmp_path, monkeypatch):
    """k8s://A/B/C in the Address field: CONTEXT/NAMESPACE/SERVICE when A is a kubeconfig context."""
    import json

    from tfcompare.gui.backend_dialog import BackendDialog

    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({"contexts": [{"name": "staging", "context": {}}]}))
    monkeypatch.setenv("KUBECONFIG", str(config))
    dialog = BackendDialog(None, None, set())
    qtbot.addWidget(dialog)
    dialog.name.setText("k")
    dialog.model.setText("")  # the pods' model
    dialog.target.setText("k8s://staging/tfs/tfs-a")
    spec = dialog.spec()
    assert (spec.target, spec.model) == ("k8s://staging/tfs/tfs-a", None)
    dialog.target.setText("k8s://tfs/tfs-a/tiny")  # "tfs" is no context: NAMESPACE/SERVICE/MODEL
    spec = dialog.spec()
    assert (spec.target, spec.model) == ("k8s://tfs/tfs-a", "tiny")


def test_layout_backends_and_settings_are_remembered(qtbot, _isolated_home):
    from tfcompare.gui.main_window import MainWindow

    window = make_window(qtbot)
    specs = [
        BackendSpec("one", "127.0.0.1:1", headers=(("authorization", "secret"),)),
        BackendSpec("two", "127.0.0.1:2", "rest"),
    ]
    window.set_backends(specs)
    window.settings_panel.set_settings(RunSettings(sizes=(300, 100), formats=("webp",), repeats=7))
    window.resize(1300, 820)
    window.set_log_scale(True)
    window.close()
    saved = (_isolated_home / "config" / "gui.json").read_text()
    assert "secret" not in saved  # auth headers are never written down
    again = MainWindow()
    qtbot.addWidget(again)
    assert [s.name for s in again.backends_panel.specs] == ["one", "two"]
    assert again.backends_panel.specs[1].protocol == "rest"
    assert again.settings_panel.settings() == RunSettings(
        sizes=(300, 100), formats=("webp",), repeats=7
    )
    assert again.latency.log and again.log_box.isChecked()
    assert json.loads(saved)["geometry"]


def test_screenshot_export_writes_pngs_of_the_right_size(qtbot, tmp_path):
    from tfcompare.gui.screenshots import save_window_png

    window = make_window(qtbot)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    out = tmp_path / "shot.png"
    save_window_png(window, out)
    img = QImage(str(out))
    assert (img.width(), img.height()) == (window.width(), window.height())
    window.latency.export_png(str(tmp_path / "lat.png"))
    assert QImage(str(tmp_path / "lat.png")).width() > 100
    window.quality.export_svg(str(tmp_path / "q.svg"))
    assert "<svg" in (tmp_path / "q.svg").read_text()


def test_events_of_an_older_run_are_dropped(qtbot):
    """An event of an older run, arriving from another thread, never reaches the views."""
    window = make_window(qtbot)
    window.controller.run_id, window.controller.running = 5, True
    stale = RequestDone(
        4,
        RequestResult(
            "x.jpg", "original", "one", "grpc", "measured", 0, True, 3.0, 0.1, 10, 1, None
        ),
    )
    thread = threading.Thread(target=window.controller._worker.pending.append, args=(stale,))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: window.controller.dropped_events == 1)  # the window's timer drained it
    window.controller.running = False
    assert window.store.n_results == 0 and window.table.model.rowCount() == 0


def test_opening_a_bad_session_file_says_why_and_changes_nothing(qtbot, tmp_path, monkeypatch):
    window = make_window(qtbot)
    window.controller.add_paths(small_photos(tmp_path))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    bad = tmp_path / "notes.tfcs"
    bad.write_text("just some text")
    assert not window.sessions.open_session(bad)
    assert shown and "notes.tfcs" in shown[0]
    assert len(window.controller.images) == 2 and window.sessions.path is None


@pytest.mark.slow  # a fresh interpreter
def test_window_starts_without_tensorflow():
    """The window process never loads TensorFlow (how long it takes to show is measured by
    bench/bench_gui_startup.py, not asserted here)."""
    code = (
        "import sys\n"
        "from tfcompare.gui.app import build_window, ensure_app\n"
        "app = ensure_app(); w = build_window(); w.show(); app.processEvents()\n"
        "print(w.isVisible(), 'tensorflow.python' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == ["True", "False", "False"]


def test_pyside_refcount_bug_cannot_kill_the_window(qtbot):
    """PySide6 6.12 drops a reference to None for every invalid QVariant it returns (and to True
    in some calls); on Python 3.11 that aborts the process once the count reaches zero, seconds
    into a live run. The installed PySide6 must not do that (pyproject excludes 6.12): None keeps
    its references across many such calls (the count falls by one per call with the bug)."""
    from PySide6.QtWidgets import QComboBox

    combo = QComboBox()
    qtbot.addWidget(combo)
    calls = 5_000
    combo.currentData()  # anything created once on the first call is made before counting

    def references_lost() -> int:
        gc.collect()
        gc.disable()  # nothing else frees references to None while counting
        try:
            before = sys.getrefcount(None)
            for _ in range(calls):
                combo.currentData()
            return before - sys.getrefcount(None)
        finally:
            gc.enable()

    # with the bug each try loses ``calls`` references; other threads may free a few meanwhile
    lost = min(references_lost() for _ in range(3))
    assert lost < calls // 2, f"{lost} references to None lost in {calls} calls"
