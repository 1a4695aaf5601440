"""First use at 1280 px (QA pass): empty hints that never cover axes and say what is missing,
backend reasons readable, labels not cut. Real widgets, offscreen."""

from __future__ import annotations

import pytest
from gui_helpers import make_window, settle, small_photos
from PySide6.QtCore import QRect, QRectF

from tfcompare.gui.chart_base import title_metrics
from tfcompare.serving.backend_spec import BackendSpec


def _axis_rect(chart, name: str) -> QRect:
    # the axis' own box (its bounding rect also spans the grid lines it draws across the plot)
    axis = chart.item.getAxis(name)
    box = QRectF(axis.scenePos(), axis.geometry().size())
    return chart.plot.mapFromScene(box).boundingRect().adjusted(1, 1, -1, -1)


@pytest.fixture
def empty_window(qtbot):
    window = make_window(qtbot)
    window.resize(1280, 800)
    settle()
    return window


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_empty_hints_never_cover_axes(empty_window, qtbot, size):
    w = empty_window
    w.resize(*size)
    settle()
    charts = [w.latency, w.quality, w.top5]
    for chart in charts:
        assert chart.empty.isVisible()
        hint = chart.empty.geometry()
        for name in ("left", "bottom"):
            assert not hint.intersects(_axis_rect(chart, name)), (chart.title, name)
        assert chart.view_rect().contains(hint), chart.title


def test_latency_hint_says_what_is_missing(empty_window, qtbot, tmp_path):
    w = empty_window
    c = w.controller
    assert "Add images and a backend" in w.latency.empty.text()
    c.add_backend(BackendSpec("a", "127.0.0.1:9"))
    assert "Add images, then press Run" in w.latency.empty.text()
    c.add_paths(small_photos(tmp_path))
    qtbot.waitUntil(lambda: "Press Run" in w.latency.empty.text())
    assert "Add" not in w.latency.empty.text()


def _painted_detail(panel, row: int) -> str:
    panel.list.viewport().grab()  # paints the entries as drawn on screen
    return panel.delegate.painted[row][2]


def test_an_unreachable_backend_says_why_first(empty_window, qtbot):
    w = empty_window
    w.controller.add_backend(BackendSpec("cpu-2-rest", "127.0.0.1:9", model="efficientnet-lite0"))
    panel = w.backends_panel
    qtbot.waitUntil(lambda: panel.state_of("cpu-2-rest") == "error", timeout=15000)
    shown = _painted_detail(panel, 0)
    assert shown.startswith("not reachable (connection refused)"), shown
    assert "127.0.0.1:9" in panel.list.item(0).toolTip()  # the full message stays in the tooltip


def test_a_reopened_sessions_gone_backends_are_not_alarms(empty_window, qtbot, tmp_path):
    from gui_helpers import synthetic_session

    w = empty_window
    assert w.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    panel = w.backends_panel
    names = [s.name for s in w.controller.backends]
    qtbot.waitUntil(
        lambda: all(panel.state_of(n) not in ("checking",) for n in names), timeout=15000
    )
    for row, name in enumerate(names):
        assert panel.state_of(name) == "offline", name
        assert panel.list.item(row).foreground().color().name() != "#b00020"
        shown = _painted_detail(panel, row)
        assert shown.startswith("not connected (from the saved session)") and "…" not in shown
        assert "connection refused" in panel.list.item(row).toolTip()  # why, for who asks
    # an edited backend is the user's own again: its failure is an error
    spec = w.controller.spec(names[0])
    w.controller.replace_backend(names[0], BackendSpec(names[0], "127.0.0.1:9", model=spec.model))
    qtbot.waitUntil(lambda: panel.state_of(names[0]) == "error", timeout=15000)


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_titles_and_marker_note_are_whole(empty_window, qtbot, size):
    w = empty_window
    w.resize(*size)
    settle()
    for chart in (w.latency, w.quality):
        chart.set_pooling({"512-jpeg": 3, "256-png": 4})
        shown = chart.title_text()
        assert "…" not in shown and "pooled: 3–4 images a point" in shown, shown
        lines = shown.split("\n")
        widest = max(
            chart.plot.mapFromScene(chart.item.titleLabel.sceneBoundingRect())
            .boundingRect()
            .width(),
            1,
        )
        assert all(title_metrics().horizontalAdvance(line) <= widest for line in lines)
    note = w.quality._note.text  # as drawn (HTML)
    assert "…" not in note and "hollow: top-1 changed on some image" in note, note
    assert "★ original" in note
    if size[0] >= 1600:
        assert "<br>" not in note  # one line where it fits


def test_a_long_title_wraps_its_pooling_note_instead_of_cutting_it(empty_window):
    chart = empty_window.quality  # 290 px: its width at 1280 with the images list open
    text = "Quality vs bytes sent · pooled: 3–4 images a point"
    shown = chart.elide_title(text, 290)
    assert "…" not in shown and shown.split("\n") == [
        "Quality vs bytes sent",
        "pooled: 3–4 images a point",
    ]
    assert all(title_metrics().horizontalAdvance(line) <= 290 for line in shown.split("\n"))


def test_table_names_are_whole_and_value_columns_fit_their_numbers(empty_window, qtbot, tmp_path):
    from gui_helpers import synthetic_session
    from PySide6.QtCore import Qt

    from tfcompare.gui.results_table import COLUMNS

    w = empty_window
    assert w.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    aggs = [a.__class__(**{**a.__dict__, "backend": "cpu-2-rest"}) for a in w.store.aggregates()]
    w.table.reset(aggs)
    settle()
    view = w.table.view
    keys = [k for k, _ in COLUMNS]
    fm = view.fontMetrics()
    for key in ("image", "variant", "backend"):  # whole names at 1280
        col = keys.index(key)
        assert view.columnWidth(col) >= view.sizeHintForColumn(col), key
    for col, key in enumerate(keys):  # every value is whole, in a column no wider than needed
        if view.isColumnHidden(col):  # server, queue and prep time: no backend has them here
            assert key in ("server_ms", "runtime_ms", "path_ms", "queue_ms", "preprocess_ms")
            continue
        texts = {
            w.table.proxy.index(r, col).data(Qt.ItemDataRole.DisplayRole)
            for r in range(w.table.proxy.rowCount())
        }
        widest = max(fm.horizontalAdvance(str(t)) for t in texts)
        assert view.columnWidth(col) >= widest, key
        if key in ("n", "n_errors", "bytes", "server_ms", "path_ms", "p50_ms"):
            assert view.columnWidth(col) <= max(widest, 40) + 24, key


def test_the_progress_bar_says_ready_or_what_it_waits_for(empty_window, qtbot, tmp_path):
    w = empty_window
    bar = w.progress
    assert bar.isTextVisible() and bar.text() == "nothing to run yet"  # not a blank text field
    w.controller.add_backend(BackendSpec("a", "127.0.0.1:9"))
    w.controller.add_paths(small_photos(tmp_path))
    qtbot.waitUntil(lambda: bar.text() == "ready")
    w.controller.new_session()
    assert bar.text() == "nothing to run yet" and bar.value() == 0


def test_capacity_controls_explain_themselves(empty_window, qtbot):
    w = empty_window
    w.tabs.setCurrentWidget(w.capacity)
    settle()
    panel = w.capacity
    spin = panel.agents
    assert spin.value() == 0 and spin.text() == "no (this machine)"
    assert spin.width() >= spin.fontMetrics().horizontalAdvance(spin.text())  # whole
    assert "this machine" in spin.toolTip() and "Kubernetes" in spin.toolTip()
    spin.setValue(3)
    assert spin.text() == "3 agents"
    assert panel.equivalents.isVisible() and "after a sweep" in panel.equivalents.text()


def test_image_and_variant_selectors_are_filled_before_a_run(empty_window, qtbot, tmp_path):
    from tfcompare.settings import RunSettings

    w = empty_window
    w.controller.set_settings(RunSettings(sizes=(256, 128), formats=("jpeg", "png")))
    w.controller.add_paths(small_photos(tmp_path))
    qtbot.waitUntil(lambda: w.image_combo.count() == 2)
    assert [w.image_combo.itemText(i) for i in range(2)] == ["chelsea.jpg", "coffee.jpg"]
    variants = [w.variant_combo.itemText(i) for i in range(w.variant_combo.count())]
    assert variants == ["original", "256 jpg", "256 png", "128 jpg", "128 png"]
    w.controller.set_settings(RunSettings(sizes=(64,), formats=("webp",)))
    assert [w.variant_combo.itemText(i) for i in range(w.variant_combo.count())] == [
        "original",
        "64 webp",
    ]
    w.refresh_views(force=True)  # a redraw before any result keeps them and selects the first
    assert w.image_combo.currentText() == "chelsea.jpg" and w.variant_combo.count() == 2
