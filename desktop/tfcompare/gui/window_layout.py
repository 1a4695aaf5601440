"""The main window's widgets and splitters: built here (``build_views``), wired to the controller in
``main_window``. Kept apart so the layout (sizes, order, splitter proportions) can be tuned without
touching behaviour. Builds widgets only: no behaviour, no controller."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

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
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.images_panel import ImagesPanel
from tfcompare.gui.latency_chart import LatencyChart
from tfcompare.gui.quality_chart import QualityChart
from tfcompare.gui.results_table import ResultsTable
from tfcompare.gui.settings_panel import SettingsPanel
from tfcompare.gui.top5_chart import Top5Chart

LEFT_WIDTH = 380  # the left column at first start (images, backends, settings)


def cluster_available() -> bool:
    """The Kubernetes dialog is optional (its client library may be missing)."""
    return importlib.util.find_spec("tfcompare.gui.cluster_dialog") is not None


@dataclass
class Views:
    """Every widget of the main window that shows or edits something."""

    images_panel: ImagesPanel
    backends_panel: BackendsPanel
    settings_panel: SettingsPanel
    run_button: QPushButton
    cancel_button: QPushButton
    progress: QProgressBar
    eta: QLabel
    image_combo: QComboBox
    variant_combo: QComboBox
    log_box: QCheckBox
    compare_label: QLabel
    compare_clear: QPushButton
    latency: LatencyChart
    quality: QualityChart
    top5: Top5Chart
    table: ResultsTable
    tabs: QTabWidget  # the results area: "Comparison" first; more views are added as tabs
    splitters: dict[str, QSplitter]
    central: QWidget


def build_views(colors: BackendColors) -> Views:
    images, backends, settings = (
        ImagesPanel(),
        BackendsPanel(colors, cluster=cluster_available()),
        SettingsPanel(),
    )
    run_button = QPushButton("Run")
    run_button.setObjectName("runButton")
    run_button.setToolTip("Run the comparison (Ctrl+R)")
    cancel_button = QPushButton("Cancel")
    cancel_button.setToolTip("Stop the run (Esc)")
    cancel_button.setEnabled(False)
    progress = QProgressBar()
    progress.setTextVisible(True)  # "ready", "12 / 216", "216 / 216 · done": never a blank box
    progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
    progress.setValue(0)
    eta = QLabel("")
    eta.setObjectName("progressText")
    latency, quality, top5, table = (
        LatencyChart(colors),
        QualityChart(colors),
        Top5Chart(colors),
        ResultsTable(colors),
    )
    image_combo, variant_combo = QComboBox(), QComboBox()
    for combo, chars in ((image_combo, 16), (variant_combo, 18)):
        combo.setMinimumContentsLength(chars)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    log_box = QCheckBox("Log latency scale")
    compare_label, compare_clear = QLabel(""), QPushButton("Clear overlay")
    compare_label.setTextFormat(Qt.TextFormat.PlainText)  # a session's name, never markup
    eta.setTextFormat(Qt.TextFormat.PlainText)
    compare_clear.hide()

    left_split = QSplitter(Qt.Orientation.Vertical)
    for title, widget in (("Images", images), ("Backends", backends), ("Settings", settings)):
        box = QGroupBox(title)
        bl = QVBoxLayout(box)
        bl.setContentsMargins(6, 4, 6, 6)
        bl.addWidget(widget)
        left_split.addWidget(box)
    left_split.setCollapsible(2, False)
    box.setMinimumHeight(box.sizeHint().height() + 24)  # the settings, last: always whole
    for i, stretch in enumerate((3, 2, 0)):
        left_split.setStretchFactor(i, stretch)
    run_row = QHBoxLayout()
    for w, stretch in ((run_button, 0), (cancel_button, 0), (progress, 1)):
        run_row.addWidget(w, stretch)
    left = QWidget()
    lv = QVBoxLayout(left)
    lv.setContentsMargins(6, 6, 6, 6)
    lv.addWidget(left_split, 1)
    lv.addLayout(run_row)
    lv.addWidget(eta)
    left.setMinimumWidth(370)  # the backends buttons, "From cluster…" included, fit

    top_split = QSplitter(Qt.Orientation.Horizontal)
    top_split.addWidget(latency)
    top_split.addWidget(quality)
    top_split.setSizes([600, 400])
    bottom_split = QSplitter(Qt.Orientation.Horizontal)
    bottom_split.addWidget(top5)
    bottom_split.addWidget(table)
    bottom_split.setSizes([400, 600])  # the table holds the numbers people read: the larger share
    right_split = QSplitter(Qt.Orientation.Vertical)
    right_split.addWidget(top_split)
    right_split.addWidget(bottom_split)
    right_split.setSizes([520, 420])
    bar = QHBoxLayout()
    for part in (QLabel("Image"), image_combo, QLabel("Variant"), variant_combo, log_box):
        bar.addWidget(part)
    bar.addStretch(1)
    bar.addWidget(compare_label)
    bar.addWidget(compare_clear)
    charts = QWidget()
    cv = QVBoxLayout(charts)
    cv.setContentsMargins(0, 4, 0, 0)
    cv.addLayout(bar)
    cv.addWidget(right_split, 1)
    tabs = QTabWidget()
    tabs.setDocumentMode(True)
    tabs.addTab(charts, "Comparison")
    tabs.tabBar().setVisible(False)  # shown once a second tab is added
    right = QWidget()
    rv = QVBoxLayout(right)
    rv.setContentsMargins(6, 6, 6, 6)
    rv.addWidget(tabs, 1)

    main_split = QSplitter(Qt.Orientation.Horizontal)
    main_split.addWidget(left)
    main_split.addWidget(right)
    main_split.setStretchFactor(0, 0)
    main_split.setStretchFactor(1, 1)
    main_split.setSizes([LEFT_WIDTH, 1200])
    splitters = {
        "main": main_split,
        "left": left_split,
        "right": right_split,
        "top": top_split,
        "bottom": bottom_split,
    }
    return Views(
        images,
        backends,
        settings,
        run_button,
        cancel_button,
        progress,
        eta,
        image_combo,
        variant_combo,
        log_box,
        compare_label,
        compare_clear,
        latency,
        quality,
        top5,
        table,
        tabs,
        splitters,
        main_split,
    )


def add_tab(views: Views, widget: QWidget, title: str) -> int:
    """Add a results view as a tab beside the charts (the tab bar appears with the second tab)."""
    index = views.tabs.addTab(widget, title)
    views.tabs.tabBar().setVisible(views.tabs.count() > 1)
    return index
