"""The top-5 chart with many backends in little height shows fewer classes per backend rather
than names drawn over each other, and says so under the bars."""

from __future__ import annotations

from gui_helpers import show_sized

from tfcompare.gui.colors import BackendColors
from tfcompare.gui.top5_chart import Top5Chart
from tfcompare.serving.answers import Prediction

BACKENDS = ["cpu-1", "cpu-2", "cpu-2-rest", "cpu-2-tensor"]
TOP5 = tuple(Prediction(f"class {i}", 0.5 / (i + 1)) for i in range(5))


def _ticks(chart: Top5Chart) -> list[float]:
    major = chart.item.getAxis("left")._tickLevels[0]
    return sorted(y for y, _ in major)


def test_rows_shrink_to_what_fits_and_grow_back(qtbot):
    chart = Top5Chart(BackendColors())
    qtbot.addWidget(chart)
    show_sized(qtbot, chart, 420, 900)
    answers = {b: (TOP5, "probability") for b in BACKENDS}
    chart.update_data("cat.jpg", "original", BACKENDS, answers)
    assert chart.per_backend == 5 and len(_ticks(chart)) == 4 * 6
    assert "shown" not in chart.item.getAxis("bottom").labelText

    show_sized(qtbot, chart, 420, 300)  # the window at its smallest: ~220 px for the bars
    qtbot.waitUntil(lambda: chart.per_backend < 5)
    rows = len(_ticks(chart))
    assert rows == 4 * (chart.per_backend + 1)
    line = chart.fontMetrics().height()
    assert chart.item.vb.height() / rows >= line  # every name has a line of its own
    axis = chart.item.getAxis("bottom")
    assert f"top {chart.per_backend} of 5" in axis.labelText
    # the label is whole under the bars: it starts and ends inside its axis
    left, width = axis.label.pos().x(), axis.label.boundingRect().width()
    assert 0 <= left and left + width <= axis.width(), (axis.labelText, left, width, axis.width())
    assert all(len(top) == 5 for top in chart.shown.values())  # the tooltips still know all

    show_sized(qtbot, chart, 420, 900)
    qtbot.waitUntil(lambda: chart.per_backend == 5)
