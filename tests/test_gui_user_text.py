"""Backend and image names are shown as the text they are: never as markup (a name holding HTML
is not drawn as a heading, a table or a local picture in legends, titles, tooltips, the table or
the backends list), never reordering what follows them (an unterminated U+202E in a name leaves
the digits after it in their order), and a long name is shortened with the whole in a tooltip."""

from __future__ import annotations

import re

import pytest
from gui_helpers import DENSE_KEYS, find_action, make_window, settle, synthetic_session
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QFont, QHelpEvent, QImage, QTextLayout
from PySide6.QtWidgets import QApplication, QToolTip

RLO = "\u202e"


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "fake.png"
    image = QImage(200, 120, QImage.Format.Format_RGB32)
    image.fill(0xFF0000)
    image.save(str(path))
    return path


def hostile_window(qtbot, tmp_path, names):
    window = make_window(qtbot)
    session = synthetic_session(tmp_path / "h.tfcs", backend_names=names, keys=DENSE_KEYS[:3])
    assert window.sessions.open_session(session)
    window.refresh_views(force=True)
    settle()
    return window


def tooltip_at(chart, scene_pos) -> str:
    QToolTip.hideText()
    pos = chart.plot.mapFromScene(scene_pos)
    vp = chart.plot.viewport()
    QApplication.sendEvent(vp, QHelpEvent(QEvent.Type.ToolTip, pos, vp.mapToGlobal(pos)))
    return QToolTip.text()


def rich_texts(window) -> list[tuple[str, str]]:
    """(where, HTML) of every piece of rich text the charts draw: legends, titles, axis labels."""
    out = []
    for chart in (window.latency, window.quality, window.top5):
        for _, label in chart.legend.items:
            out.append(("legend", label.item.toHtml()))
        out.append(("title", chart.item.titleLabel.item.toHtml()))
        for name in ("left", "bottom"):
            out.append(("axis", chart.item.getAxis(name).label.toHtml()))
    return out


def test_html_in_a_backend_name_is_drawn_as_its_text(qtbot, tmp_path, picture):
    evil = f"<h1>FAKE-FASTEST</h1><table><tr><td>x</td></tr></table><img src='{picture}'>"
    window = hostile_window(qtbot, tmp_path, (evil, "cpu"))
    for where, html in rich_texts(window):
        assert not re.search(r"<(h1|table|img)\b", html, re.I), (where, html)
    legend = [label for _, label in window.latency.legend.items][0]
    assert "<h1>FAKE" in legend.item.toPlainText()  # the name is there, as text
    # a legend entry stays one line of small text (an <h1> or a picture would be far taller)
    assert legend.item.boundingRect().height() < 30
    # tooltips: a point's, a legend entry's, the table's and the backends list's
    chart = window.latency
    x, y = chart.tip_points[evil][0][:2]
    tip = tooltip_at(chart, chart.item.vb.mapViewToScene(QPointF(x, chart.view_y(y))))
    assert "&lt;h1&gt;FAKE-FASTEST" in tip and "<img" not in tip and "<h1" not in tip
    assert "<img" not in legend.toolTip() and "&lt;img" in legend.toolTip()
    model = window.table.model
    col = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    row = next(i for i, a in enumerate(model.rows) if a.backend == evil)
    cell = model.index(row, col.index("Backend"))
    assert model.data(cell) == evil  # the cell shows the name itself
    assert "<img" not in model.data(cell, Qt.ItemDataRole.ToolTipRole)
    assert "<img" not in window.backends_panel.list.item(0).toolTip()
    # the window as a picture: no red from the local image anywhere
    shot = window.grab().toImage()
    reds = sum(
        1
        for yy in range(0, shot.height(), 3)
        for xx in range(0, shot.width(), 3)
        if shot.pixelColor(xx, yy).name() == "#ff0000"
    )
    assert reds == 0


def in_order(text: str, digits: str) -> bool:
    """Whether Qt draws the last occurrence of ``digits`` in ``text`` left to right, as written."""
    start = text.rindex(digits)
    layout = QTextLayout(text, QFont())
    layout.beginLayout()
    line = layout.createLine()
    layout.endLayout()
    xs = [line.cursorToX(start + i)[0] for i in range(len(digits))]
    return xs == sorted(xs) and len(set(xs)) == len(xs)


def test_a_right_to_left_override_in_a_name_reorders_nothing_after_it(qtbot, tmp_path):
    name = f"cpu{RLO}"
    window = hostile_window(qtbot, tmp_path, (name, "gpu"))
    assert not in_order(f"{name} 512 jpg", "512")  # what the unguarded name would do
    # a point's tooltip: "cpu · 512 jpg · pooled over 2 images"
    chart = window.latency
    tip = next(t for *_, t in chart.tip_points[name] if "512 jpg" in t)
    first = tip.split("\n")[0]
    shown = QToolTip  # the tooltip Qt gets is the escaped text; its first line in plain
    x, y = next((x, y) for x, y, _, t in chart.tip_points[name] if t == tip)
    html = tooltip_at(chart, chart.item.vb.mapViewToScene(QPointF(x, chart.view_y(y))))
    assert shown.isVisible() and RLO not in html
    plain = first.replace(RLO, "")
    assert plain in html.replace("&lt;", "<") and in_order(plain, "512")
    # the table's cells, the backends list and the legend
    model = window.table.model
    assert all(RLO not in t for r in range(len(model.rows)) for t in model._row_texts(r))
    window.backends_panel.list.viewport().grab()
    painted = window.backends_panel.delegate.painted[0]
    assert RLO not in "".join(painted[:3]) and in_order(painted[0] + painted[1], "127")
    assert all(RLO not in label.text for _, label in chart.legend.items)
    # the status bar, after removing and restoring that backend
    window.backends_panel.list.setCurrentRow(0)
    find_action(window, "Backends", "Remove selected").trigger()
    message = window.statusBar().currentMessage()
    assert "Removed backend cpu" in message and RLO not in message
    find_action(window, "Edit", "Undo removal").trigger()
    assert RLO not in window.statusBar().currentMessage()


def test_a_hebrew_name_is_isolated_and_keeps_the_digits_after_it_in_order(qtbot, tmp_path):
    name = "שרת-1"
    window = hostile_window(qtbot, tmp_path, (name, "gpu"))
    model = window.table.model
    row = next(i for i, a in enumerate(model.rows) if a.backend == name)
    col = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    cell = model.data(model.index(row, col.index("Backend")))
    assert cell == f"\u2068{name}\u2069"  # FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE
    assert in_order(f"{cell} 512 jpg", "512") and not in_order(f"{name} 512 jpg", "512")


def test_a_long_backend_name_is_shortened_in_the_charts_with_the_whole_in_a_tooltip(
    qtbot, tmp_path
):
    long = "inference-gpu-pool-eu-west-1-production-canary-build-20240611"
    window = hostile_window(qtbot, tmp_path, (long, "cpu"))
    for chart in (window.latency, window.quality):
        label = chart.legend.items[0][1]
        text = label.item.toPlainText()
        assert "…" in text and text.startswith("inference") and text.endswith("20240611")
        assert long in label.toolTip()
        assert label.item.boundingRect().width() < chart.plot.width() / 2
    ticks = [t for _, t in window.top5.item.getAxis("left")._tickLevels[0]]
    head = next(t for t in ticks if t.startswith("▸ infer"))
    assert "…" in head and head.endswith("20240611") and len(head) <= 24
    vb = window.top5.item.vb
    tip = tooltip_at(window.top5, vb.mapViewToScene(QPointF(0.01, 0.0)))
    assert long in tip
