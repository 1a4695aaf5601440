"""The main window's widgets and splitters: built here, wired to behaviour in ``main_window``.

Kept apart so the window's behaviour (runs, events, selection) reads without the layout code, and
the layout (sizes, order, splitter proportions) can be tuned without touching behaviour.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tfcompare.gui.backends_panel import BackendsPanel
from tfcompare.gui.images_panel import ImagesPanel
from tfcompare.gui.latency_chart import LatencyChart
from tfcompare.gui.quality_chart import QualityChart
from tfcompare.gui.results_table import ResultsTable
from tfcompare.gui.settings_panel import SettingsPanel
from tfcompare.gui.top5_chart import Top5Chart

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow

LEFT_WIDTH = 380  # the left column at first start (images, backends, settings)


def cluster_available() -> bool:
    """The Kubernetes dialog is optional (its client library may be missing)."""
    return importlib.util.find_spec("tfcompare.gui.cluster_dialog") is not None


def build_layout(w: MainWindow) -> None:
    """Create the window's widgets as attributes of ``w`` and connect them to its slots."""
    w.setCentralWidget(_main_split(w, _left_column(w), _right_column(w)))
    w.statusBar().showMessage("Add images and backends, then press Run.")


def _left_column(w: MainWindow) -> QWidget:
    w.images_panel = ImagesPanel()
    w.images_panel.changed.connect(w._on_inputs_changed)
    w.images_panel.image_clicked.connect(lambda name: w.select(name, w.sel_variant))
    w.backends_panel = BackendsPanel(w.colors, cluster=cluster_available())
    w.backends_panel.add_requested.connect(lambda: w.edit_backend(None))
    w.backends_panel.edit_requested.connect(w.edit_backend)
    w.backends_panel.remove_requested.connect(w.remove_backend)
    w.backends_panel.cluster_requested.connect(w.add_from_cluster)
    w.poller.status.connect(w.backends_panel.set_status)
    w.settings_panel = SettingsPanel()
    w.settings_panel.changed.connect(w._on_inputs_changed)

    w.run_button = QPushButton("Run")
    w.run_button.setObjectName("runButton")
    w.run_button.setToolTip("Run the comparison (Ctrl+R)")
    w.run_button.clicked.connect(w.start_run)
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setToolTip("Stop the run (Esc)")
    w.cancel_button.clicked.connect(w.cancel_run)
    w.cancel_button.setEnabled(False)
    w.progress = QProgressBar()
    w.progress.setTextVisible(True)
    w.progress.setFormat("")
    w.progress.setValue(0)
    w.eta = QLabel("")
    run_row = QHBoxLayout()
    run_row.addWidget(w.run_button)
    run_row.addWidget(w.cancel_button)
    run_row.addWidget(w.progress, 1)

    left = QWidget()
    lv = QVBoxLayout(left)
    lv.setContentsMargins(6, 6, 6, 6)
    w.left_split = QSplitter(Qt.Orientation.Vertical)
    for title, widget in (
        ("Images", w.images_panel),
        ("Backends", w.backends_panel),
        ("Settings", w.settings_panel),
    ):
        box = QGroupBox(title)
        bl = QVBoxLayout(box)
        bl.setContentsMargins(6, 4, 6, 6)
        bl.addWidget(widget)
        w.left_split.addWidget(box)
    w.left_split.setCollapsible(2, False)
    settings_box = w.left_split.widget(2)
    settings_box.setMinimumHeight(settings_box.sizeHint().height() + 24)
    w.left_split.setStretchFactor(0, 3)
    w.left_split.setStretchFactor(1, 2)
    w.left_split.setStretchFactor(2, 0)
    lv.addWidget(w.left_split, 1)
    lv.addLayout(run_row)
    lv.addWidget(w.eta)
    left.setMinimumWidth(370)  # the backends buttons, "From cluster…" included, fit
    return left


def _selection_bar(w: MainWindow) -> QHBoxLayout:
    w.image_combo = QComboBox()
    w.image_combo.setMinimumContentsLength(16)
    w.image_combo.setSizeAdjustPolicy(
        QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    w.image_combo.currentIndexChanged.connect(
        lambda _i: w.select(w.image_combo.currentData(), w.sel_variant)
    )
    w.variant_combo = QComboBox()
    w.variant_combo.setMinimumContentsLength(18)
    w.variant_combo.setSizeAdjustPolicy(
        QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    w.variant_combo.currentIndexChanged.connect(
        lambda _i: w.select(w.sel_image, w.variant_combo.currentData())
    )
    w.log_box = QCheckBox("Log latency scale")
    w.log_box.toggled.connect(w.set_log_scale)
    w.compare_label = QLabel("")
    w.compare_clear = QPushButton("Clear overlay")
    w.compare_clear.clicked.connect(lambda: w.sessions.clear_compare())
    w.compare_clear.hide()
    bar = QHBoxLayout()
    bar.addWidget(QLabel("Image"))
    bar.addWidget(w.image_combo)
    bar.addWidget(QLabel("Variant"))
    bar.addWidget(w.variant_combo)
    bar.addWidget(w.log_box)
    bar.addStretch(1)
    bar.addWidget(w.compare_label)
    bar.addWidget(w.compare_clear)
    return bar


def _right_column(w: MainWindow) -> QWidget:
    w.latency = LatencyChart(w.colors)
    w.top5 = Top5Chart(w.colors)
    w.quality = QualityChart(w.colors)
    w.table = ResultsTable(w.colors)
    for chart in (w.latency, w.quality):
        chart.variant_clicked.connect(lambda v: w.select(w.sel_image, v))
    w.table.row_selected.connect(w.select)

    w.top_split = QSplitter(Qt.Orientation.Horizontal)
    w.top_split.addWidget(w.latency)
    w.top_split.addWidget(w.quality)
    w.top_split.setSizes([600, 400])
    w.bottom_split = QSplitter(Qt.Orientation.Horizontal)
    w.bottom_split.addWidget(w.top5)
    w.bottom_split.addWidget(w.table)
    # the table holds the numbers people read: it gets the larger share
    w.bottom_split.setSizes([400, 600])
    w.right_split = QSplitter(Qt.Orientation.Vertical)
    w.right_split.addWidget(w.top_split)
    w.right_split.addWidget(w.bottom_split)
    w.right_split.setSizes([520, 420])
    right = QWidget()
    rv = QVBoxLayout(right)
    rv.setContentsMargins(6, 6, 6, 6)
    rv.addLayout(_selection_bar(w))
    rv.addWidget(w.right_split, 1)
    from tfcompare.gui.capacity_view import CapacityPanel

    w.capacity = CapacityPanel(w.colors, lambda: w.backends_panel.specs, w.images_panel.sources)
    w.tabs = QTabWidget()
    w.tabs.setDocumentMode(True)
    w.tabs.addTab(right, "Comparison")
    w.tabs.addTab(w.capacity, "Capacity")
    return w.tabs


def _main_split(w: MainWindow, left: QWidget, right: QWidget) -> QSplitter:
    w.main_split = QSplitter(Qt.Orientation.Horizontal)
    w.main_split.addWidget(left)
    w.main_split.addWidget(right)
    w.main_split.setStretchFactor(0, 0)
    w.main_split.setStretchFactor(1, 1)
    w.main_split.setSizes([LEFT_WIDTH, 1200])
    return w.main_split


def splitters(w: MainWindow) -> dict[str, QSplitter]:
    """The splitters whose positions the window remembers, by name."""
    return {
        "main": w.main_split,
        "left": w.left_split,
        "right": w.right_split,
        "top": w.top_split,
        "bottom": w.bottom_split,
    }
