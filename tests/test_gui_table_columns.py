"""The results table at the sizes people use: at 1280×800 the columns that matter come first
(names, p50, p90, then the server split when a backend publishes metrics, then quality); columns
with nothing to show (server, queue, preprocessing time) are left out until some row has them;
a failed request brings the Errors column forward."""

from __future__ import annotations

from dataclasses import replace

import pytest
from gui_helpers import make_window, settle
from PySide6.QtCore import Qt

from tfcompare.gui.main_window import MINIMUM_SIZE
from tfcompare.results import Aggregate


def agg(image: str, variant: str, backend: str, **extra) -> Aggregate:
    base = Aggregate(
        image=image,
        variant=variant,
        backend=backend,
        n=12,
        n_errors=0,
        bytes=43_000,
        p50_ms=18.2,
        p90_ms=22.9,
        p99_ms=30.1,
        mean_ms=19.4,
        stdev_ms=2.2,
        few_samples=False,
        top1="tabby",
        top1_agree=True,
        top5_overlap=1.0,
        score_ratio=0.97,
    )
    return replace(base, **extra)


def rows(**extra) -> list[Aggregate]:
    return [
        agg(image, variant, backend, **extra)
        for image in ("coffee.jpg", "astronaut.jpg")
        for variant in ("original", "512-jpeg", "256-png")
        for backend in ("cpu-1", "cpu-2", "cpu-2-rest")
    ]


@pytest.fixture
def table(qtbot):
    window = make_window(qtbot)
    qtbot.waitUntil(lambda: window.width() == 1280)
    return window


SERVER = dict(server_ms=14.1, runtime_ms=11.0, path_ms=5.3, server_exact=True)


def test_at_1280_the_server_split_sits_beside_the_latency_without_scrolling(table, qtbot):
    table.table.reset(rows(**SERVER))
    settle()
    shown = table.table.shown_columns()
    assert shown[:5] == ["image", "variant", "backend", "p50_ms", "p90_ms"]
    assert {"mean_ms", "server_ms", "path_ms"} <= set(shown)
    assert shown.index("server_ms") == shown.index("mean_ms") + 1  # the means side by side
    # the rest is still there, to the right (all but queue and preprocessing time: none here)
    from tfcompare.gui.results_table import COLUMNS

    view = table.table.view
    hidden = {k for c, (k, _) in enumerate(COLUMNS) if view.isColumnHidden(c)}
    assert hidden == {"queue_ms", "preprocess_ms"}


def test_without_server_metrics_those_columns_are_left_out_and_quality_comes_first(table, qtbot):
    table.table.reset(rows())
    settle()
    shown = table.table.shown_columns()
    assert "server_ms" not in shown and "path_ms" not in shown
    assert {"score_ratio", "top1_agree", "n_errors"} <= set(shown)
    view = table.table.view
    from tfcompare.gui.results_table import COLUMNS

    hidden = {k for c, (k, _) in enumerate(COLUMNS) if view.isColumnHidden(c)}
    assert hidden == {"server_ms", "runtime_ms", "path_ms", "queue_ms", "preprocess_ms"}


def test_prep_and_queue_columns_appear_only_when_known(table, qtbot):
    from tfcompare.gui.results_table import COLUMNS

    keys = [k for k, _ in COLUMNS]
    view, model = table.table.view, table.table.proxy
    table.table.reset(rows(preprocess_ms=3.25))
    settle()
    assert not view.isColumnHidden(keys.index("preprocess_ms"))
    assert view.isColumnHidden(keys.index("queue_ms"))
    assert model.index(0, keys.index("preprocess_ms")).data() == "3.25"
    tip = model.headerData(keys.index("preprocess_ms"), Qt.Orientation.Horizontal, 3)
    assert "client" in tip  # the header's tooltip says what it is
    table.table.reset(rows(queue_ms=0.42, **SERVER))
    settle()
    assert not view.isColumnHidden(keys.index("queue_ms"))
    assert view.isColumnHidden(keys.index("preprocess_ms"))
    assert model.index(0, keys.index("queue_ms")).data() == "0.42"


def test_a_failed_request_brings_errors_forward(table, qtbot):
    data = rows(**SERVER)
    data[4] = replace(data[4], n_errors=3)
    table.table.reset(data)
    settle()
    shown = table.table.shown_columns()
    assert shown.index("n_errors") == shown.index("p90_ms") + 1


@pytest.mark.parametrize("size", [MINIMUM_SIZE, (1280, 800), (1600, 1000)])
def test_no_visible_column_is_cut_and_names_stay_readable(table, qtbot, size):
    table.resize(*size)
    table.table.reset(rows(**SERVER))
    settle()
    view = table.table.view
    shown = table.table.shown_columns()
    assert shown[:5] == ["image", "variant", "backend", "p50_ms", "p90_ms"]
    fm = view.fontMetrics()
    from tfcompare.gui.results_table import COLUMNS

    keys = [k for k, _ in COLUMNS]
    assert view.columnWidth(keys.index("variant")) >= fm.horizontalAdvance("512 jpg") + 8
