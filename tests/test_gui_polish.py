"""What a first-time user sees at 1280×800: the take-turns setting, legends off the data, every
backend's quality point visible, a meaningfully ordered table whose key columns fit, backend
entries and chart titles that are elided instead of clipped."""

from __future__ import annotations

from gui_helpers import make_window, settle, show_sized
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics

from tfcompare.results import Aggregate
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


def _agg(image: str, variant: str, backend: str, p50: float = 10.0) -> Aggregate:
    return Aggregate(
        image=image,
        variant=variant,
        backend=backend,
        n=3,
        n_errors=0,
        bytes=1000,
        p50_ms=p50,
        p90_ms=p50 + 1,
        p99_ms=p50 + 2,
        mean_ms=p50,
        stdev_ms=1.0,
        few_samples=True,
        top1="tabby",
        top1_agree=True,
        top5_overlap=1.0,
        score_ratio=0.9,
    )


# ------------------------------------------------------------------ 1. backends take turns


def test_take_turns_is_shown_edited_and_remembered(qtbot):
    from tfcompare.gui.main_window import MainWindow

    window = make_window(qtbot)
    panel = window.settings_panel
    assert panel.at_once.isChecked() and panel.settings().concurrent is True  # the default
    assert "share" in panel.in_turns.toolTip() and panel.in_turns.isVisible()
    panel.set_settings(RunSettings(repeats=4, concurrent=False))
    assert panel.in_turns.isChecked() and not panel.at_once.isChecked()
    assert panel.settings() == RunSettings(repeats=4, concurrent=False)
    with qtbot.waitSignal(panel.edited):
        panel.at_once.click()
    assert panel.settings().concurrent is True
    panel.in_turns.click()
    window.close()  # saves the preferences

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.settings_panel.in_turns.isChecked()
    assert again.settings_panel.settings() == RunSettings(repeats=4, concurrent=False)


# ------------------------------------------------------------------ 2. quality chart


def _scene_rect(chart, item) -> QRectF:
    return item.mapRectToScene(item.boundingRect())


def test_legends_sit_outside_the_plot_area(qtbot):
    window = make_window(qtbot)
    window.set_backends(
        [BackendSpec.parse(f"{n}=127.0.0.1:{p}") for n, p in (("cpu-1", 1), ("cpu-2", 2))]
        + [BackendSpec.parse("cpu-2-rest=127.0.0.1:3", protocol="rest")],
        persist=False,
    )
    settle()
    for chart in (window.latency, window.quality):
        assert [label.text for _, label in chart.legend.items] == ["cpu-1", "cpu-2", "cpu-2-rest"]
        legend = _scene_rect(chart, chart.legend)
        plot_area = _scene_rect(chart, chart.item.vb)
        assert legend.height() > 0 and legend.top() >= plot_area.bottom()
        assert not legend.intersects(plot_area)
        # and the legend never makes the chart wider than its pane
        assert chart.item.sceneBoundingRect().width() <= chart.plot.width() + 1


def _pixels_of(image, color: str, rect) -> int:
    target = QColor(color).rgb() & 0xFFFFFF
    return sum(
        1
        for x in range(max(int(rect.left()), 0), min(int(rect.right()), image.width()))
        for y in range(max(int(rect.top()), 0), min(int(rect.bottom()), image.height()))
        if image.pixel(x, y) & 0xFFFFFF == target
    )


def test_backends_with_identical_quality_points_are_all_visible(qtbot):
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.quality_chart import QualityChart
    from tfcompare.runner.aggregates import pool

    colors = BackendColors()
    chart = show_sized(qtbot, QualityChart(colors), 420, 360)
    backends = ["cpu-1", "cpu-2"]  # same model, same bytes: identical values

    def point(v, b, nbytes, ratio):  # two images, both agreeing with the original's top-1
        aggs = [
            Aggregate(
                f"i{k}", v, b, 3, 0, nbytes, 5.0, 5.0, 5.0, 5.0, 0.0, True, "cat", True, 1.0, ratio
            )
            for k in range(2)
        ]
        return pool(v, b, [5.0] * 6, 0, aggs)

    points = [
        point(v, b, nbytes, ratio)
        for b in backends
        for v, nbytes, ratio in (
            ("original", 60_000, 1.0),
            ("512-jpeg", 40_000, 1.04),
            ("256-jpeg", 9_000, 0.7),
        )
    ]
    chart.update_data(points, backends)
    settle()
    image = chart.plot.grab().toImage()
    plot_area = chart.plot.mapFromScene(chart.item.vb.sceneBoundingRect()).boundingRect()
    seen = {b: _pixels_of(image, colors.color(b), plot_area) for b in backends}
    # every backend's three markers show a good part of their colour (one used to hide the other)
    assert all(n > 3 * 20 for n in seen.values()), seen
    # the point above 100 % and every variant label are inside the plot area (not clipped)
    area = chart.item.vb.sceneBoundingRect()
    labels = [t for t in chart._labels if t.isVisible()]
    assert len(labels) == 3
    for t in labels:
        assert area.contains(t.sceneBoundingRect()), t.toPlainText()


# ------------------------------------------------------------------ 3. results table


def test_table_default_order_is_image_then_variant_ladder_then_backend(qtbot):
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.results_table import COLUMNS, ResultsTable

    table = ResultsTable(BackendColors())
    qtbot.addWidget(table)
    images, backends = ["zebra.jpg", "apple.jpg"], ["gpu", "cpu-8", "cpu-1"]
    variants = ["128-png", "1024-jpeg", "original", "128-jpeg", "2048-png", "256-jpeg"]
    table.set_order(images, backends)
    # results arrive in an arbitrary order (backends answer at different speeds)
    arrived = [
        _agg(i, v, b, p50=float(k))
        for k, (b, v, i) in enumerate(
            (b, v, i) for b in reversed(backends) for v in variants for i in images
        )
    ]
    table.upsert(arrived[::2])
    table.upsert(arrived[1::2])

    def shown(col_keys=("image", "variant", "backend")) -> list[tuple]:
        p = table.proxy
        cols = [[k for k, _ in COLUMNS].index(k) for k in col_keys]
        return [tuple(p.index(r, c).data() for c in cols) for r in range(p.rowCount())]

    from tfcompare.gui.chart_base import short_variant

    # the table names variants as the charts and the selector do ("256 jpg")
    ladder = [
        short_variant(v)
        for v in ["original", "2048-png", "1024-jpeg", "256-jpeg", "128-jpeg", "128-png"]
    ]
    expected = [(i, v, b) for i in images for v in ladder for b in backends]
    assert shown() == expected
    table.select("zebra.jpg", "256-jpeg")  # following a chart click: the topmost matching row
    assert table.view.currentIndex().row() == expected.index(("zebra.jpg", "256 jpg", "gpu"))
    # the user sorts by p50: fastest first, and back to the default by the image column
    p50 = [k for k, _ in COLUMNS].index("p50_ms")
    by_default = [float(v.rstrip("*")) for (v,) in shown(("p50_ms",))]
    table.view.sortByColumn(p50, Qt.SortOrder.AscendingOrder)
    values = [float(v.rstrip("*")) for (v,) in shown(("p50_ms",))]
    assert values == sorted(by_default) != by_default
    table.view.sortByColumn([k for k, _ in COLUMNS].index("variant"), Qt.SortOrder.AscendingOrder)
    assert [v for _, v, _ in shown()] == [v for v in ladder for _ in images for _ in backends]
    table.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert shown() == expected
    # images listed in another order re-order the rows
    table.set_order(images[::-1], backends)
    assert [i for i, _, _ in shown()][0] == "apple.jpg"


def test_key_columns_fit_at_1280_and_elided_cells_have_tooltips(qtbot):
    from tfcompare.gui.results_table import COLUMNS

    window = make_window(qtbot)  # 1280×800, default layout
    qtbot.waitUntil(lambda: window.width() == 1280)
    name = "holiday-photo-from-the-camera.jpg"
    window.table.upsert([_agg(name, "original", "cpu-2-rest-long-name")])
    view = window.table.view
    keys = [k for k, _ in COLUMNS]
    for key in ("image", "variant", "backend", "p50_ms", "p90_ms", "n_errors"):
        col = keys.index(key)
        assert view.columnViewportPosition(col) + view.columnWidth(col) <= view.viewport().width()
    for key in ("top1_agree", "score_ratio"):
        col = keys.index(key)
        assert view.columnViewportPosition(col) + view.columnWidth(col) <= view.viewport().width()
    model = window.table.proxy
    assert model.index(0, keys.index("image")).data(Qt.ItemDataRole.ToolTipRole) == name
    assert (
        model.index(0, keys.index("backend")).data(Qt.ItemDataRole.ToolTipRole)
        == "cpu-2-rest-long-name"
    )
    assert "Same top-1" in window.table.copy_text()  # two-line headers copy as one line


# ------------------------------------------------------------------ 4. backends list


def test_backend_entries_are_two_elided_lines_without_sideways_scrolling(qtbot):
    window = make_window(qtbot)
    specs = [
        BackendSpec.parse("cpu-1=127.0.0.1:43501/efficientnet-lite0"),
        BackendSpec.parse("cpu-2-rest=127.0.0.1:40067/efficientnet-lite0", protocol="rest"),
        BackendSpec.parse(
            "a-very-long-backend-name-for-the-gpu-pool=k8s://prod/serving/tf-gpu:8500/resnet"
        ),
    ]
    window.set_backends(specs, persist=False)
    panel = window.backends_panel
    status = {s.name: ("checking", "checking…", "") for s in specs}
    status["cpu-2-rest"] = ("ok", "AVAILABLE · version 1 · serving_default", "")
    panel.show_backends(specs, status)
    panel.list.viewport().grab()  # paint
    painted = panel.delegate.painted
    assert set(painted) == {0, 1, 2}
    assert not panel.list.horizontalScrollBar().isVisible()
    assert painted[1][0] == "cpu-2-rest" and painted[1][1].startswith(" · TF Serving REST · 127")
    assert painted[1][2].startswith("AVAILABLE · version 1")  # the state first, then the model
    plain_font = panel.list.font()
    bold_font = QFont(plain_font)
    bold_font.setBold(True)
    bold, plain = QFontMetrics(bold_font), QFontMetrics(plain_font)
    for name, head, detail, width in painted.values():
        assert 0 < width <= panel.list.viewport().width()
        assert name and bold.horizontalAdvance(name) + plain.horizontalAdvance(head) <= width
        assert plain.horizontalAdvance(detail) <= width
    elided = painted[2]
    assert "…" in elided[0] + elided[1] + elided[2]
    tip = panel.list.item(2).toolTip()
    assert "k8s://prod/serving/tf-gpu:8500" in tip and "resnet" in tip
    assert "serving_default" in panel.list.item(1).text()  # the full text stays on the item


# ------------------------------------------------------------------ 5. top-5 title


def test_top5_title_is_elided_keeping_the_variant(qtbot):
    from tfcompare.gui.chart_base import title_metrics
    from tfcompare.gui.colors import BackendColors
    from tfcompare.gui.top5_chart import Top5Chart

    chart = show_sized(qtbot, Top5Chart(BackendColors()), 360, 300)
    top5 = tuple(Prediction(f"class {i}", 0.5 - i / 10) for i in range(5))
    name = "astronaut-on-the-launch-pad-full-resolution.jpg"
    chart.update_data(name, "original", ["cpu-1"], {"cpu-1": (top5, "probability")})
    shown = chart.title_text()
    assert shown.endswith(" · original") and "…" in shown and shown.startswith("Top-5")
    assert title_metrics().horizontalAdvance(shown) <= chart.plot.width() - 20
    label = chart.item.titleLabel
    assert label.sceneBoundingRect().right() <= chart.plot.width() + 1
    chart.resize(1200, 300)
    qtbot.waitUntil(lambda: chart.title_text() == f"Top-5 predictions — {name} · original")
