"""The window against real local backends: a run fills charts and table, cancel stops, bad files and
dead backends are shown while the rest completes, sessions reopen exactly, compare overlays."""

from __future__ import annotations

import sys

import pytest
from gui_helpers import drop_event, make_window, small_photos
from PySide6.QtWidgets import QMessageBox

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow

# concurrent=False: the window's "take turns" setting must reach the runner (and session files)
SETTINGS = RunSettings(
    sizes=(256, 128), formats=("jpeg", "png"), warmup=1, repeats=2, concurrent=False
)


def _specs(pair) -> list[BackendSpec]:
    return [
        BackendSpec.parse(f"one={pair.one.grpc}/tiny"),
        BackendSpec.parse(f"two={pair.two.rest}/tiny", protocol="rest"),
    ]


def _run(qtbot, window, timeout=90_000) -> bool:
    with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
        assert window.start_run()
    return blocker.args[0]


@pytest.fixture
def ran(qtbot, tmp_path, backend_pair):
    """A window that has finished one comparison of two photos on both local backends."""
    window = make_window(qtbot)
    window.set_backends(_specs(backend_pair), persist=False)
    window.settings_panel.set_settings(SETTINGS)
    window.controller.add_paths(small_photos(tmp_path / "img"))
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    window.preview_text = window.settings_panel.preview.text()
    assert _run(qtbot, window) is False
    return window


def test_run_fills_charts_and_table_with_the_right_counts(ran, qtbot):
    w = ran
    result = w.store.result
    variants = sorted({v.key for info in result.images for v in info.variants})
    n_cells = sum(len(info.variants) for info in result.images) * 2
    assert len(result.images) == 2 and all(r.ok for r in result.requests)
    assert result.settings == SETTINGS and w.settings_panel.in_turns.isChecked()
    spans = sorted(
        (r.started_at, r.started_at + r.latency_ms / 1000, r.backend) for r in result.requests
    )
    ended: dict[str, float] = {}
    for start, end, b in spans:  # the backends took turns: no request overlaps another's
        assert all(start >= e - 0.001 for other, e in ended.items() if other != b)
        ended[b] = max(ended.get(b, 0.0), end)
    assert w.table.model.rowCount() == n_cells == len(result.summary)
    assert w.table.proxy.rowCount() == n_cells
    assert f"{w.progress.maximum()} requests" in w.preview_text  # the preview was exact
    assert w.progress.value() == w.progress.maximum()
    total = w.progress.maximum()
    assert w.progress.isTextVisible() and w.progress.text() == f"{total:,} / {total:,} · done"
    for backend in (
        "one",
        "two",
    ):  # latency: one p50 point per variant per backend, whiskers, cold star
        xs, ys = w.latency._p50[backend].getData()
        assert len(xs) == len(variants) and all(y > 0 for y in ys)
        assert len(w.latency._whisk[backend].getData()[0]) == 2 * len(variants)
        assert len(w.latency._cold[backend].getData()[0]) == 1
        assert len(w.quality._points[backend].getData()[0]) == len(variants)
    assert set(w.top5.shown) == {"one", "two"} and all(len(t) == 5 for t in w.top5.shown.values())
    assert w.top5.item.getAxis("bottom").labelText == "probability"
    assert not w.latency.empty.isVisible() and not w.table.empty.isVisible()
    assert w.isWindowModified()  # unsaved results


def test_selection_is_linked_between_views(ran, qtbot):
    w = ran
    w.latency.variant_clicked.emit("128-png")
    assert w.sel_variant == "128-png" and w.variant_combo.currentData() == "128-png"
    row = w.table.model.rows[w.table.proxy.mapToSource(w.table.view.currentIndex()).row()]
    assert (row.image, row.variant) == (w.sel_image, "128-png")
    assert w.top5.item.titleLabel.text.endswith("128 png")
    other = w.image_combo.itemData(1)
    w.image_combo.setCurrentIndex(1)
    assert w.sel_image == other and w.images_panel.list.currentItem().data(256) == other
    text = w.table.copy_text(all_rows=True)
    assert text.count("\n") == w.table.model.rowCount() + 1 and text.startswith(
        "Image\tVariant\tBackend"
    )


def test_cancel_stops_promptly(qtbot, tmp_path, backend_pair):
    w = make_window(qtbot)
    w.set_backends(_specs(backend_pair), persist=False)
    w.settings_panel.set_settings(
        RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=1000)
    )
    w.controller.add_paths(small_photos(tmp_path))
    with qtbot.waitSignal(w.run_finished, timeout=60_000) as blocker:
        w.start_run()
        qtbot.waitUntil(lambda: w.store.n_results > 20, timeout=30_000)
        w.cancel_run()
    assert blocker.args == [True]
    n = w.store.n_results
    # prompt: it ended long before the 4,000 requests the run would have sent
    assert n < 4000 and w.run_button.isEnabled() and not w.cancel_button.isEnabled()
    assert w.controller.wait(10)  # the run's thread is gone: nothing more can come ...
    w.controller.drain()
    assert w.store.n_results == n  # ... and nothing was left to arrive after the end
    assert "Cancelled" in w.statusBar().currentMessage()


def test_bad_file_shows_its_error_while_the_others_run(qtbot, tmp_path, backend_pair):
    w = make_window(qtbot)
    w.set_backends(_specs(backend_pair)[:1], persist=False)
    w.settings_panel.set_settings(SETTINGS)
    good = small_photos(tmp_path, names=("chelsea",))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(good[0].read_bytes()[:300])
    w.controller.add_paths([bad, *good])
    assert _run(qtbot, w) is False
    entry = w.controller.image("broken.jpg")
    row = w.images_panel.list.item(0)
    assert entry.error and row.text().split("\n")[1].startswith("⚠ " + entry.error[:12])
    assert entry.error in row.toolTip()
    assert {a.image for a in w.table.model.rows} == {"chelsea.jpg"}
    assert all(a.n_errors == 0 and a.n > 0 for a in w.table.model.rows)


def test_dead_backend_shows_red_and_its_errors_while_others_complete(
    qtbot, tmp_path, backend_pair, fresh_backend
):
    doomed = fresh_backend()
    w = make_window(qtbot)
    w.set_backends(
        [*_specs(backend_pair)[:1], BackendSpec.parse(f"dead={doomed.grpc}/tiny", timeout_s=3)],
        persist=False,
    )
    qtbot.waitUntil(lambda: w.backends_panel.state_of("dead") == "ok", timeout=20_000)
    doomed.kill()
    w.settings_panel.set_settings(SETTINGS)
    w.controller.add_paths(small_photos(tmp_path, names=("chelsea",)))
    assert _run(qtbot, w) is False
    assert w.backends_panel.state_of("dead") == "error"
    item = w.backends_panel.list.item(1)
    assert "failed" in item.text() and item.foreground().color().name() == "#b00020"
    dead = [a for a in w.table.model.rows if a.backend == "dead"]
    alive = [a for a in w.table.model.rows if a.backend == "one"]
    assert dead and all(a.n_errors > 0 for a in dead)
    assert alive and all(a.n_errors == 0 and a.p50_ms for a in alive)
    assert w.top5.shown.keys() == {"one"}


def _table_text(w) -> list[list[str]]:
    m = w.table.model
    return sorted(
        [[str(m.data(m.index(r, c))) for c in range(m.columnCount())] for r in range(m.rowCount())]
    )


def test_save_and_reopen_restores_everything(ran, qtbot, tmp_path):
    w = ran
    w.select(w.image_combo.itemData(1), "128-jpeg")
    w.set_log_scale(True)
    path = tmp_path / "before.tfcs"
    assert w.sessions._save_to(path)
    assert not w.isWindowModified() and "before.tfcs" in w.windowTitle()
    expected = {
        "table": _table_text(w),
        "images": [e.name for e in w.controller.images],
        "backends": [s.to_dict() for s in w.backends_panel.specs],
        "settings": w.settings_panel.settings(),
        "selection": (w.sel_image, w.sel_variant),
        "latency": {b: [list(a) for a in w.latency._p50[b].getData()] for b in ("one", "two")},
        "top5": dict(w.top5.shown),
    }
    w.sessions.new_session()
    assert w.table.model.rowCount() == 0 and not w.controller.images

    w.dropEvent(drop_event([path]))  # dropping a .tfcs opens it
    assert w.sessions.path == path and not w.isWindowModified()
    assert _table_text(w) == expected["table"]
    assert [e.name for e in w.controller.images] == expected["images"]
    assert [s.to_dict() for s in w.backends_panel.specs] == expected["backends"]
    assert w.settings_panel.settings() == expected["settings"]
    assert (w.sel_image, w.sel_variant) == expected["selection"] and w.latency.log
    assert {b: [list(a) for a in w.latency._p50[b].getData()] for b in ("one", "two")} == expected[
        "latency"
    ]
    assert w.top5.shown == expected["top5"]
    assert str(path) in w.prefs.recent


def test_compare_overlays_another_sessions_latency(ran, qtbot, tmp_path):
    w = ran
    path = tmp_path / "a.tfcs"
    assert w.sessions._save_to(path)
    assert w.sessions.compare_with(path)
    assert set(w.latency._overlay) == {"one", "two"}
    for b in ("one", "two"):
        ox, oy = w.latency._overlay[b].getData()
        assert len(ox) == len(w.latency.variants) and all(y > 0 for y in oy)
    assert "a" in w.compare_label.text()
    w.sessions.clear_compare()
    assert not w.latency._overlay


def test_closing_with_unsaved_results_asks(ran, qtbot, monkeypatch):
    w = ran
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    asked = []
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0)
    )
    assert not w.close() and w.isVisible()
    assert w.close() and len(asked) == 2 and "not saved" in asked[0]


def test_status_lights_follow_the_backends(qtbot, backend_pair):
    w = make_window(qtbot)
    w.set_backends(
        [*_specs(backend_pair), BackendSpec.parse("nothing=127.0.0.1:9/tiny", timeout_s=2)],
        persist=False,
    )
    qtbot.waitUntil(
        lambda: (
            [w.backends_panel.state_of(n) for n in ("one", "two", "nothing")]
            == ["ok", "ok", "error"]
        ),
        timeout=20_000,
    )
    assert (
        "AVAILABLE" in w.backends_panel.list.item(0).text()
        and "serving_default" in w.backends_panel.list.item(1).text()
    )
    assert (
        "not reachable" in w.backends_panel.list.item(2).text()
        or "UNAVAILABLE" in w.backends_panel.list.item(2).text()
    )


def test_render_cli_draws_a_saved_session_offscreen(ran, tmp_path):
    import subprocess

    from PySide6.QtGui import QImage

    session = tmp_path / "s.tfcs"
    assert ran.sessions._save_to(session)
    out = tmp_path / "shot.png"
    cmd = [
        sys.executable,
        "-m",
        "tfcompare",
        "render",
        str(session),
        "--out",
        str(out),
        "--size",
        "1280x800",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)
    bad = tmp_path / "bad.tfcs"
    bad.write_bytes(b"\0" * 100)
    proc = subprocess.run(
        [*cmd[:4], str(bad), "--out", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "bad.tfcs" in proc.stderr and not (tmp_path / "x.png").exists()


def test_gui_screenshot_cli_runs_and_saves(backend_pair, tmp_path):
    import subprocess

    from PySide6.QtGui import QImage

    images = small_photos(tmp_path / "img", names=("chelsea",))
    out = tmp_path / "gui.png"
    # The whole window process, run included, must never load the TensorFlow runtime.
    probe = (
        "import sys; from tfcompare.cli import main; rc = main(sys.argv[1:]); "
        "print('TF-LOADED', 'tensorflow.python' in sys.modules); sys.exit(rc)"
    )
    cmd = [
        sys.executable,
        "-c",
        probe,
        "gui",
        str(images[0]),
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--screenshot",
        str(out),
        "--size",
        "1280x800",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TF-LOADED False" in proc.stdout
    assert (QImage(str(out)).width(), QImage(str(out)).height()) == (1280, 800)
