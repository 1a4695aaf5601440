"""The Capacity tab, used as a user would: real sweeps against real local backends."""

from __future__ import annotations

import csv

import pyqtgraph as pg
import pytest
from gui_helpers import find_action, make_window, prepared_window, show_sized
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tfcompare.window import Outcome

pytestmark = pytest.mark.slow


def test_sweep_draws_curves_fills_the_table_and_saves_with_the_session(
    qtbot, backend_pair, tmp_path, monkeypatch
):
    window, panel = prepared_window(qtbot, backend_pair, tmp_path)
    panel.levels.setText("1,4")
    statuses = []
    panel.controller.events.status.connect(statuses.append)
    with qtbot.waitSignal(panel.controller.events.finished, timeout=180_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert done.args[0].outcome is Outcome.FINISHED
    result = panel.controller.result
    assert [(lv.backend, lv.level) for lv in result.levels] == [
        ("one", 1),
        ("one", 4),
        ("two", 1),
        ("two", 4),
    ]
    assert any("at c=4, window 1:" in text for text in statuses)  # each window, as it closes
    drawn = {key: item.getData() for key, item in panel.chart._curves.items()}
    assert set(drawn) == {("one", "original"), ("two", "original")}
    xs, ys = drawn[("one", "original")]
    assert list(xs) == pytest.approx([lv.throughput for lv in result.curve("one", "original")])
    assert list(ys) == pytest.approx(
        [lv.percentile_ms(99) for lv in result.curve("one", "original")]
    )
    labels = [t.toPlainText() for t in panel.chart._labels[("one", "original")]]
    assert labels == ["c=1", "c=4"]
    assert panel.table.rowCount() == 2 and panel.table.item(0, 0).text() == "one"
    table = panel.table  # names and req/s whole, "at" in the rest: no sideways scrolling
    assert all(table.columnWidth(c) >= table.sizeHintForColumn(c) for c in range(3))
    assert sum(table.columnWidth(c) for c in range(4)) <= table.viewport().width()
    assert panel.table_title.text() == "<b>Highest stable req/s</b> (no latency limit)"
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    window.grab().save(str(tmp_path / "capacity.png"))  # looked at when the tab changes
    # both backends are the same server: their curves bunch, and their labels must not overlap
    # (boxes as painted by the grab above); a knee's label gives way only to another label
    texts = [t for labels in panel.chart._labels.values() for t in labels]
    shown = [t.sceneBoundingRect() for t in texts if t.isVisible()]
    assert shown and not any(a.intersects(b) for i, a in enumerate(shown) for b in shown[:i])
    view = panel.chart.item.getViewBox()

    def near(a, b) -> bool:  # labels anchored alike overlap when their points are this close
        pa, pb = view.mapViewToScene(a.pos()), view.mapViewToScene(b.pos())
        wa, wb = a.textItem.boundingRect(), b.textItem.boundingRect()
        return (
            abs(pa.x() - pb.x()) < (wa.width() + wb.width()) / 2
            and abs(pa.y() - pb.y()) < (wa.height() + wb.height()) / 2
        )

    for curve in panel.controller.curves():
        if curve.knee is not None:
            [at] = [
                t
                for t in panel.chart._labels[(curve.backend, curve.variant)]
                if t.pos() == pg.Point(curve.knee.throughput, curve.knee.p99_ms)
            ]
            assert at.isVisible() or any(near(at, t) for t in texts if t.isVisible())

    out_csv = tmp_path / "capacity.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out_csv), ""))
    find_action(window, "Export", "Capacity sweep as CSV…").trigger()
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["backend"], float(r["level"])) for r in rows] == [
        ("one", 1.0),
        ("one", 4.0),
        ("two", 1.0),
        ("two", 4.0),
    ]

    session = tmp_path / "sweep.tfcs"
    assert window.sessions._save_to(session)  # a sweep alone is worth saving
    other = make_window(qtbot)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    find_action(other, "File", "Open session…").trigger()
    assert other.controller.capacity.result.sustained() == result.sustained()
    # a sweep alone opens on its own tab, not on an empty comparison
    assert other.tabs.currentWidget() is other.capacity
    assert (
        other.statusBar().currentMessage()
        == "Opened sweep.tfcs: a capacity sweep of 4 levels on 2 backends."
    )
    assert other.capacity.levels.text() == "1,4" and other.capacity.table.rowCount() == 2


def test_cancel_mid_sweep_and_refusals(qtbot, backend_pair, tmp_path, monkeypatch):
    window, panel = prepared_window(qtbot, backend_pair, tmp_path)
    panel.levels.setText("1,2,4,8")
    panel.window_s.setValue(0.5)
    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: said.append(a[2]))
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "window" in panel.status.text(), timeout=60_000)
    assert not panel.start_sweep() and "already running" in said[-1]  # one sweep at a time
    assert not window.start_run() and "capacity sweep is running" in said[-1]  # nor a comparison
    with qtbot.waitSignal(panel.controller.events.finished, timeout=30_000) as done:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert done.args[0].cancelled and panel.controller.result.cancelled
    assert len(panel.controller.result.levels) < 8
    assert panel.status.text() == "cancelled"
    panel.levels.setText("1")
    with qtbot.waitSignal(window.run_finished, timeout=120_000):
        assert window.start_run()  # a comparison running: the sweep waits for it
        assert not panel.start_sweep() and "comparison is running" in said[-1]
    panel.levels.setText("1,x")
    assert not panel.start_sweep() and "numbers" in said[-1]
    panel.levels.setText("1")
    panel.variants.setText("huge-jpeg")
    assert not panel.start_sweep() and "bad variant" in said[-1]


def test_default_variants_sweep_a_small_photo_with_a_smaller_jpeg(qtbot, backend_pair, tmp_path):
    from tfcompare.load.load_plan import DEFAULT_VARIANTS

    window, panel = prepared_window(qtbot, backend_pair, tmp_path)  # a 300 px photo
    panel.variants.setText(",".join(DEFAULT_VARIANTS))  # as the tab opens: original,512-jpeg
    panel.levels.setText("1")
    with qtbot.waitSignal(panel.controller.events.finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert done.args[0].outcome is Outcome.FINISHED
    result = panel.controller.result
    assert {lv.variant for lv in result.levels} == {"original", "256-jpeg"}
    assert "512-jpeg: no image is larger than 300 px" in panel.notes.toPlainText()
    assert "loading 256-jpeg instead" in panel.notes.toPlainText()
    assert panel.variants.text() == "original,256-jpeg"  # the field says what was swept


def test_a_session_with_a_damaged_sweep_opens_without_it(qtbot, tmp_path, monkeypatch):
    from crafted_sweeps import bomb_in_a_window, damaged_sweep_session

    # a zlib bomb where a window's histogram belongs
    session = damaged_sweep_session(tmp_path / "damaged.tfcs", bomb_in_a_window)
    window = make_window(qtbot)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    find_action(window, "File", "Open session…").trigger()
    message = window.statusBar().currentMessage()
    assert "its capacity sweep is not shown" in message and "damaged" in message
    assert window.controller.capacity.result is None and window.isVisible()


def test_labels_of_bunched_points_never_overlap_and_knees_keep_theirs(qtbot):
    from tfcompare.gui.capacity_chart import CapacityChart
    from tfcompare.gui.colors import BackendColors
    from tfcompare.load.capacity_model import Curve, CurvePoint

    chart = show_sized(qtbot, CapacityChart(BackendColors()), 700, 500)

    def curve(name, shift):  # three backends on one machine: nearly the same curve
        points = tuple(
            CurvePoint(100 + 10 * i + shift, 10.0 * 2**i + shift, f"c={2**i}", True, False)
            for i in range(4)
        )
        return Curve(name, "original", points, points[2])

    chart.update_curves([curve("a", 0.0), curve("b", 0.5), curve("c", 1.0)], 100.0)
    chart.grab()  # painted: each label's box is where it is drawn

    def shown():
        return [t for labels in chart._labels.values() for t in labels if t.isVisible()]

    qtbot.waitUntil(lambda: len(shown()) < 12)  # some labels gave way
    boxes = [t.sceneBoundingRect() for t in shown()]
    assert not any(a.intersects(b) for i, a in enumerate(boxes) for b in boxes[:i])
    # the first curve's knee keeps its label; the others' knees sit on top of it and give way
    assert chart._labels[("a", "original")][2].isVisible()
    assert not chart._labels[("b", "original")][2].isVisible()
    first = [chart._labels[(name, "original")][0] for name in "abc"]  # the three c=1 labels
    assert not all(t.isVisible() for t in first)
    chart.item.getViewBox().setRange(xRange=(99, 103), yRange=(9, 13), padding=0)  # zoomed in
    chart.grab()
    qtbot.waitUntil(lambda: all(t.isVisible() for t in first))  # room again: they come back


def test_a_limit_far_above_every_point_leaves_the_view_to_the_points(qtbot):
    from tfcompare.gui.capacity_chart import CapacityChart
    from tfcompare.gui.colors import BackendColors
    from tfcompare.load.capacity_model import Curve, CurvePoint

    chart = show_sized(qtbot, CapacityChart(BackendColors()), 700, 500)
    points = tuple(
        CurvePoint(50.0 * (i + 1), 20.0 + 30 * i, f"c={2**i}", True, False) for i in range(4)
    )  # p99 20 … 110 ms
    chart.update_curves([Curve("a", "original", points, points[-1])], 500.0)
    low, high = chart.item.getViewBox().viewRange()[1]
    assert 110 < high < 200  # the points fill the height; the 500 ms line is out of view
    assert "p99 limit 500 ms: above every point" in chart.item.titleLabel.text
    chart.update_curves([Curve("a", "original", points, points[-1])], 150.0)  # a limit near them
    low, high = chart.item.getViewBox().viewRange()[1]
    assert high >= 150 and chart._limit.isVisible()
    assert "above every point" not in chart.item.titleLabel.text


def test_an_opened_sweep_says_which_p99s_rest_on_few_answers(qtbot, tmp_path, monkeypatch):
    from crafted_sweeps import sweep_result

    from tfcompare.load.capacity_formats import save_capacity

    session = tmp_path / "thin.tfcs"
    save_capacity(session, sweep_result({"gpu": (10, 20, 50)}))  # 30, 60 and 150 answers
    window = make_window(qtbot)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    find_action(window, "File", "Open session…").trigger()
    assert window.tabs.currentWidget() is window.capacity
    notes = window.capacity.notes.toPlainText()
    assert "p99 from fewer than 100 answers" in notes
    assert "gpu original at c=1 (30), gpu original at c=2 (60)" in notes and "c=4" not in notes
