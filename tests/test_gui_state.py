"""What the window shows after the user changes things (issue: stale or misleading state), and
whether its labels stay legible at the sizes the window allows. Real widgets, offscreen."""

from __future__ import annotations

import pytest
from gui_helpers import make_window, settle, synthetic_session
from PySide6.QtGui import QFontMetrics, QGuiApplication

from tfcompare.gui.main_window import MINIMUM_SIZE, MainWindow, first_start_size
from tfcompare.serving.backend_spec import BackendSpec


@pytest.fixture
def shown(qtbot, tmp_path):
    window = make_window(qtbot)
    assert window.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    window.refresh_views(force=True)
    return window


def test_first_start_takes_most_of_the_screen(qtbot):
    assert first_start_size(1600, 1000) == (1472, 920)
    assert first_start_size(1280, 760) == (MINIMUM_SIZE[0], MINIMUM_SIZE[1])  # never below
    window = MainWindow()  # no saved geometry: a first start
    qtbot.addWidget(window)
    area = QGuiApplication.primaryScreen().availableGeometry()
    expected = first_start_size(area.width(), area.height())
    assert (window.width(), window.height()) == expected
    assert window.minimumWidth() == MINIMUM_SIZE[0] and window.minimumHeight() == MINIMUM_SIZE[1]


def test_status_bar_at_start_says_what_is_there(qtbot, tmp_path):
    from gui_helpers import small_photos

    from tfcompare.gui.app import build_window

    window = build_window(
        [str(p) for p in small_photos(tmp_path)], [BackendSpec("a", "127.0.0.1:9")]
    )
    qtbot.addWidget(window)
    assert "2 images and 1 backend: press Run" in window.statusBar().currentMessage()


def test_an_edited_backend_shows_its_new_address_not_the_old_verdict(shown):
    w = shown
    w.controller.run_notes["gpu"] = ("error", "UNAVAILABLE: old address refused")
    w.controller.refresh_status()  # a fresh check replaces what a run said
    assert "old address refused" not in w.backends_panel.list.item(0).text()
    w.controller.run_notes["gpu"] = ("error", "UNAVAILABLE: old address refused")
    w.controller.replace_backend("gpu", BackendSpec("gpu", "127.0.0.1:7", model="tiny"))
    item = w.backends_panel.list.item(0)
    assert "127.0.0.1:7" in item.text() and "old address refused" not in item.text()
    assert "old address refused" not in item.toolTip()
    assert w.backends_panel.state_of("gpu") == "checking"


def test_a_removed_backend_leaves_legends_top5_and_the_saved_session(shown, tmp_path):
    from tfcompare.session import load_session

    w = shown
    w.controller.remove_backend("cpu")
    w.refresh_views(force=True)
    for chart in (w.latency, w.quality):
        assert [label.text for _, label in chart.legend.items] == ["gpu"]
    assert "cpu" not in dict(w.top5.shown)
    w.sessions.save_to(tmp_path / "after.tfcs")
    assert [b.name for b in load_session(tmp_path / "after.tfcs").result.backends] == ["gpu"]


def test_new_session_leaves_nothing_behind(shown):
    w = shown
    w.progress.setRange(0, 416)
    w.progress.setValue(416)
    w.sessions.new_session()
    assert w.progress.value() == 0 and w.eta.text() == ""
    assert w.table.model.rowCount() == 0 and w.image_combo.count() == 0
    xs, _ys = w.latency._p50["gpu"].getData()
    assert xs is None or len(xs) == 0  # no points left over
    assert w.top5.title_text() == "Top-5 predictions"


def test_charts_say_what_they_pool(shown):
    w = shown
    for chart in (w.latency, w.quality):
        assert "pooled: all 2 images" in chart.title_text()  # whole, at 1280×800


def _label_rects(axis, width: int) -> list[tuple[float, float]]:
    """Where the bottom axis draws its names across ``width`` pixels: (left, right) each."""
    lo, hi = axis.range
    fm = QFontMetrics(axis.font())
    ((_, values),) = axis.tickValues(lo, hi, width)
    rects = []
    for v, text in zip(values, axis.tickStrings(values, 1, 1), strict=True):
        x = (v - lo) / (hi - lo) * width
        w = fm.horizontalAdvance(text)
        rects.append((x - w / 2, x + w / 2))
    return rects


@pytest.mark.parametrize("width", [240, 420, 900])
def test_variant_names_never_touch(qtbot, width):
    from tfcompare.gui.chart_base import short_variant
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.latency_chart import LatencyChart

    chart = LatencyChart(BackendColors())
    qtbot.addWidget(chart)
    chart.show()
    keys = ["original"] + [f"{s}-{f}" for s in (2048, 1024, 512, 256, 128) for f in ("jpeg", "png")]
    chart.update_data(keys, [], {}, {})  # 11 variants
    axis = chart.item.getAxis("bottom")
    rects = _label_rects(axis, width)
    assert len(rects) >= 2 and rects[0] == min(rects)
    assert all(a[1] < b[0] for a, b in zip(rects, rects[1:], strict=False))  # no two touch
    assert axis.tickStrings([0.0], 1, 1) == [short_variant("original")]


def test_log_scale_ticks_are_plain_numbers(qtbot):
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.latency_chart import LatencyChart

    chart = LatencyChart(BackendColors())
    qtbot.addWidget(chart)
    chart.set_log(True)
    axis = chart.item.getAxis("left")
    ((_, values),) = axis.tickValues(0.5, 2.5, 300)  # 3 ms … 300 ms on 300 px
    assert axis.tickStrings(values, 1, 1) == ["5", "10", "20", "50", "100", "200"]
    ((_, crowded),) = axis.tickValues(0.0, 4.0, 120)  # little room: decades only
    assert axis.tickStrings(crowded, 1, 1) == ["1", "10", "100", "1000", "10000"]


def test_quality_labels_never_overlap_at_the_smallest_window(qtbot, tmp_path):
    window = make_window(qtbot)
    window.resize(*MINIMUM_SIZE)
    window.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    window.refresh_views(force=True)
    settle()
    chart = window.quality
    chart.on_plot_resized()
    shown_labels = [t for t in chart._labels if t.isVisible()]
    rects = [t.mapRectToScene(t.boundingRect()) for t in shown_labels]
    assert shown_labels and all(
        not a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :]
    )
    assert chart.item.sceneBoundingRect().width() <= chart.plot.width() + 1  # nothing cut


def test_a_bad_size_outlines_the_field_and_its_message_is_whole(qtbot):
    window = make_window(qtbot)
    window.resize(*MINIMUM_SIZE)
    panel = window.settings_panel
    panel.sizes.setText("2048, 4")
    settle()
    assert panel.sizes.property("invalid") is True and "#b00020" in panel.sizes.styleSheet()
    assert panel.error.isVisible() and "bad size 4" in panel.error.text()
    assert panel.error.height() >= panel.error.heightForWidth(panel.error.width())  # not cut
    assert "bad size 4" in window.controller.start_run()
    panel.sizes.setText("2048, 512")
    assert panel.sizes.property("invalid") is False and not panel.error.isVisible()
    assert window.controller.settings.sizes == (2048, 512)


def test_a_long_message_keeps_its_start_and_a_long_name_both_ends(qtbot, tmp_path):
    window = make_window(qtbot)
    window.resize(*MINIMUM_SIZE)
    bad = tmp_path / "a-rather-long-photo-name-from-the-camera-0042.jpg"
    bad.write_text("hello world, these are my notes and not a picture at all")
    window.controller.add_paths([bad])
    qtbot.waitUntil(lambda: window.controller.images[0].probed, timeout=10_000)
    error = window.controller.images[0].error
    name_line, message_line = window.images_panel.list.item(0).text().split("\n")
    assert name_line.startswith("a-rather") and name_line.endswith("0042.jpg")
    assert message_line.startswith("⚠ " + error[:15])
    fm = window.images_panel.list.fontMetrics()
    assert fm.horizontalAdvance(message_line) <= window.images_panel.list.viewport().width()
