"""Reading the charts as a user does: a tooltip on every latency, quality and top-5 point saying
what it is and its numbers; quality labels that never cover a marker, even at the smallest window;
chart frames kept off the window's edge; and the server's share drawn so it reads right on the
log scale too."""

from __future__ import annotations

import math

import pytest
from gui_helpers import DENSE_KEYS, find_action, make_window, settle, synthetic_session
from PySide6.QtCore import QEvent, QPointF, QRectF
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from tfcompare.gui.main_window import MINIMUM_SIZE


@pytest.fixture
def dense(qtbot, tmp_path):
    """The window with a comparison as dense as the demo's: 3 backends × 7 variants."""
    window = make_window(qtbot)
    session = synthetic_session(
        tmp_path / "d.tfcs", backend_names=("cpu-1", "cpu-2", "rest"), keys=DENSE_KEYS
    )
    assert window.sessions.open_session(session)
    window.refresh_views(force=True)
    settle()
    return window


def hover(chart, scene_pos: QPointF) -> str:
    """Rest the mouse at ``scene_pos`` of the chart: the tooltip Qt shows then ("" if none)."""
    QToolTip.hideText()
    viewport = chart.plot.viewport()
    pos = chart.plot.mapFromScene(scene_pos)
    event = QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    return QToolTip.text() if QToolTip.isVisible() else ""


def at(chart, x: float, y: float, shift: float = 0.0) -> QPointF:
    p = chart.item.vb.mapViewToScene(QPointF(x, chart.view_y(y)))
    return QPointF(p.x() + shift, p.y())


def test_latency_points_say_backend_variant_and_numbers(dense):
    from tfcompare.gui.latency_chart import fmt_ms

    chart = dense.latency
    cells = dense.store.cells()
    p = cells[("256-jpeg", "cpu-2")]
    x = chart.variants.index("256-jpeg") + chart._offset(["cpu-1", "cpu-2", "rest"], "cpu-2")
    tip = hover(chart, at(chart, x, p.p50_ms))
    assert "cpu-2 · 256 jpg · pooled over 2 images" in tip
    assert f"p50 {fmt_ms(p.p50_ms)} · p90 {fmt_ms(p.p90_ms)}" in tip
    assert f"{p.n} measured requests" in tip
    assert chart.shown_tip.startswith("cpu-2 · 256 jpg")
    # the same on the log scale
    find_action(dense, "View", "Log latency scale").trigger()
    dense.refresh_views(force=True)
    assert "cpu-2 · 256 jpg" in hover(chart, at(chart, x, p.p50_ms))
    # away from every point, inside the plot: the chart's own explanation
    empty = at(chart, len(chart.variants) - 0.45, p.p50_ms)
    assert "p50 (dot) and p90 (whisker)" in hover(chart, empty) and chart.shown_tip == ""


def test_quality_points_say_backend_variant_and_numbers(dense):
    chart = dense.quality
    p = next(q for q in chart.points if q.variant == "128-png" and q.backend == "rest")
    tip = hover(
        chart, at(chart, math.log10(p.mean_bytes), 100 * p.score_ratio, chart._shift["rest"])
    )
    assert "rest · 128 png · pooled over 2 images" in tip
    assert f"{100 * p.score_ratio:.0f} % of its score on the original" in tip
    assert "same top-1 as the original on 2 of 2 images" in tip


def test_top5_rows_say_the_whole_backend_and_class(dense):
    chart = dense.top5
    vb = chart.item.vb
    row = vb.mapViewToScene(QPointF(0.01, 1.0))  # the first class under the first backend
    tip = hover(chart, row)
    assert "cpu-1: tabby" in tip and tip == chart.shown_tip and "probability 0.6" in tip


def marker_boxes(chart) -> list[QRectF]:
    from tfcompare.gui.quality_chart import MARK

    boxes = []
    for p in chart.points:
        c = chart.item.vb.mapViewToScene(QPointF(math.log10(p.mean_bytes), 100 * p.score_ratio))
        c.setX(c.x() + chart._shift[p.backend])
        size = MARK + 3 if p.variant == "original" else MARK
        boxes.append(QRectF(c.x() - size / 2, c.y() - size / 2, size, size))
    return boxes


@pytest.mark.parametrize("size", [MINIMUM_SIZE, (1280, 800)])
def test_quality_labels_never_cover_a_marker(dense, qtbot, size):
    dense.resize(*size)
    settle()
    chart = dense.quality
    labels = [t for t in chart._labels if t.isVisible()]
    assert len(labels) >= 3  # most variants are still named
    boxes = marker_boxes(chart)
    for t in labels:
        # the text itself (pyqtgraph's TextItem adds a margin around it)
        text = t.textItem.mapRectToScene(t.textItem.boundingRect()).adjusted(4, 4, -4, -4)
        hit = [b for b in boxes if text.intersects(b)]
        assert not hit, (t.toPlainText(), text, hit)


def test_chart_frames_keep_off_the_window_edge(dense):
    for chart in (dense.quality, dense.latency):
        frame = chart.item.vb.sceneBoundingRect()
        right = chart.plot.mapTo(dense, chart.plot.mapFromScene(frame.topRight()))
        assert right.x() <= dense.width() - 16, (chart.title, right.x(), dense.width())


def test_the_server_share_reads_right_on_the_log_scale(qtbot):
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.latency_chart import LatencyChart
    from tfcompare.runner.aggregates import Pooled

    chart = LatencyChart(BackendColors())
    qtbot.addWidget(chart)
    chart.show()
    cell = Pooled(
        "256-jpeg",
        "gpu",
        12,
        0,
        20.0,
        25.0,
        30.0,
        20.0,
        False,
        2,
        1000.0,
        1.0,
        1.0,
        1.0,
        server_ms=5.0,
        runtime_ms=4.0,
        path_ms=15.0,
        server_exact=True,
    )
    chart.update_data(["256-jpeg"], ["gpu"], {("256-jpeg", "gpu"): cell}, {})
    xs, ys = chart._server["gpu"].getData()
    assert list(ys) == [0.0, 5.0]  # linear: a bar from zero to a quarter of the point's height
    assert "pale bar" in chart.item.getAxis("bottom").labelText
    chart.set_log(True)
    bar = chart._server["gpu"].getData()[1]
    assert bar is None or len(bar) == 0  # no bar from the axis floor: its height would mean nothing
    dash_y = chart._dash["gpu"].getData()[1]
    assert list(10**dash_y) == pytest.approx([5.0, 5.0])  # a dash at the server's share
    assert "pale dash" in chart.item.getAxis("bottom").labelText
    chart.set_log(False)
    assert list(chart._server["gpu"].getData()[1]) == [0.0, 5.0]


@pytest.mark.parametrize("size", [MINIMUM_SIZE, (1280, 800)])
def test_top5_scores_are_never_cut_at_the_charts_edge(dense, qtbot, size):
    dense.resize(*size)
    settle()
    chart = dense.top5
    frame = chart.item.vb.sceneBoundingRect()
    scores = [t for t in chart._texts if t.isVisible()]
    assert scores
    for t in scores:
        text = t.textItem.mapRectToScene(t.textItem.boundingRect()).adjusted(4, 4, -4, -4)
        assert text.right() <= frame.right(), (t.toPlainText(), text.right(), frame.right())
