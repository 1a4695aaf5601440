"""The Capacity tab: sweep settings, the throughput-vs-p99 chart, the "sustained req/s at p99 ≤
limit" table with equivalents, and the sweep's notes. A thin view of the window's
``CapacityController`` (``tfcompare.window.capacity``), which holds the plan fields, runs the
sweep and says what is final: edits go to the controller, its events redraw the tab.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tfcompare.bidi import without_bidi_controls
from tfcompare.gui.capacity_chart import CapacityChart
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.export_paths import ask_export_path
from tfcompare.window import CapacityController

NOTES_MIN_LINES = 6  # the notes pane never shrinks below this many lines


class WrappedLabel(QLabel):
    """A word-wrapped label that keeps the height its text needs at its width: a splitter does
    not pass on height-for-width, and the lines of a plain wrapped label would be cut off."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setWordWrap(True)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(self.width())
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)


class CapacityPanel(QWidget):
    """Settings row, chart, tables and notes of the Capacity tab, over ``controller``."""

    def __init__(
        self,
        colors: BackendColors,
        controller: CapacityController,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.colors = colors
        self.controller = controller

        self.mode = QComboBox()
        self.mode.addItems(["concurrency", "rate"])
        self.mode.setToolTip(
            "concurrency: requests in flight (closed loop); "
            "rate: Poisson arrivals per second (open loop)"
        )
        self.levels = QLineEdit()
        self.levels.setToolTip("load levels, comma separated")
        self.variants = QLineEdit()
        self.variants.setToolTip(
            "variants to load: original and/or SIZE-FORMAT such as 512-jpeg "
            "(or as the charts name them: 512 jpg)"
        )
        self.window_s = QDoubleSpinBox(decimals=1, minimum=0.2, maximum=60.0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip("measurement window; a level is stable when 3 windows agree ±10 %")
        self.limit = QDoubleSpinBox(decimals=0, minimum=0, maximum=600_000)
        self.limit.setSuffix(" ms")
        self.limit.setSpecialValueText("none")
        self.limit.setToolTip(
            "p99 limit: a backend's sweep stops above it; the knee stays within it"
        )
        self.agents = QSpinBox(minimum=0, maximum=64)
        self.agents.setSpecialValueText("no (this machine)")
        self.agents.setSuffix(" agents")
        self.agents.setToolTip(
            'Where the load comes from. "no (this machine)": this window sends the requests '
            "(a k8s:// backend through a port-forward: the tunnel's capacity). 1 or more: that "
            "many load agents run in a Kubernetes Job next to the k8s:// backends (no "
            "port-forward in the measured path; see k8s/README.md)."
        )
        self.start_button = QPushButton("Start sweep")
        self.start_button.clicked.connect(self.start_sweep)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_sweep)
        self.status = QLabel("")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()  # what to load
        for label, widget, stretch in (
            ("Load", self.mode, 0),
            ("levels", self.levels, 2),
            ("variants", self.variants, 2),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(widget, stretch)
        row2 = QHBoxLayout()  # how long, how far, from where
        for label, spin in (
            ("window", self.window_s),
            ("p99 limit", self.limit),
            ("agents in cluster", self.agents),
        ):
            text = QLabel(label)
            text.setToolTip(spin.toolTip())
            row2.addWidget(text)
            row2.addWidget(spin)
        row2.addStretch(1)
        row2.addWidget(self.start_button)
        row2.addWidget(self.cancel_button)

        self.chart = CapacityChart(colors)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["backend", "variant", "req/s", "at"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # names and req/s as wide as they are; "at" takes the rest and wraps
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table_title = QLabel()
        self.equivalents = WrappedLabel()
        # the sweep's notes (images without a variant, early stops, backends not measured): at
        # least NOTES_MIN_LINES tall and sharing any height left with the table; a long list
        # scrolls and is never cut off
        self.notes = QPlainTextEdit()
        self.notes.setReadOnly(True)
        self.notes.setFrameShape(QFrame.Shape.NoFrame)
        self.notes.setStyleSheet("QPlainTextEdit { color: #666666; background: transparent; }")
        margin = self.notes.document().documentMargin()
        lines = self.notes.fontMetrics().lineSpacing() * NOTES_MIN_LINES
        self.notes.setMinimumHeight(int(lines + 2 * margin + 2))
        self.side = QWidget()
        sv = QVBoxLayout(self.side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.table_title)
        sv.addWidget(self.table, 3)
        key = WrappedLabel(
            "Points: ● stable level, ○ unstable (windows did not agree), × client-bound "
            "(the load generator was the limit), ★ knee (once a backend's sweep is done). Only ● "
            "counts as capacity."
        )
        sv.addWidget(key)
        sv.addWidget(QLabel("<b>Equivalents</b> (how many of a backend match the first one)"))
        sv.addWidget(self.equivalents)
        sv.addWidget(QLabel("<b>Notes</b>"))
        sv.addWidget(self.notes, 2)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.chart)
        self.split.addWidget(self.side)
        self.split.setSizes([800, 380])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(row)
        layout.addLayout(row2)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.status)

        self._on_fields_changed()
        self._on_results_changed()
        self._on_running_changed(controller.running)
        self._on_status_changed(controller.status)
        # edits go to the controller; what it changes comes back through its events
        self.mode.currentTextChanged.connect(lambda text: controller.set_fields(mode=text))
        self.levels.textChanged.connect(lambda text: controller.set_fields(levels=text))
        self.variants.textChanged.connect(lambda text: controller.set_fields(variants=text))
        self.window_s.valueChanged.connect(lambda v: controller.set_fields(window_s=v))
        self.limit.valueChanged.connect(lambda v: controller.set_fields(limit_ms=v or None))
        self.agents.valueChanged.connect(lambda v: controller.set_fields(agents=v))
        events = controller.events
        events.fields.connect(self._on_fields_changed)
        events.results.connect(self._on_results_changed)
        events.running.connect(self._on_running_changed)
        events.status.connect(self._on_status_changed)

    # ------------------------------------------------------------------ actions

    def start_sweep(self) -> bool:
        reason = self.controller.start()
        if reason:
            self.status.setText(reason)
            QMessageBox.information(self, "Cannot start the sweep", reason)
            return False
        return True

    def cancel_sweep(self) -> None:
        self.controller.cancel()

    def export(self, kind: str) -> None:
        if not self.controller.can_export:
            QMessageBox.information(self, "Export", "Run a capacity sweep first.")
            return
        filt = "JSON (*.json)" if kind == "json" else "CSV (*.csv)"
        path = ask_export_path(self, "Export capacity", f"capacity.{kind}", filt)
        if not path:
            return
        try:
            self.controller.export(kind, path)
        except OSError as exc:
            QMessageBox.warning(self, "Export", f"Could not write {path}: {exc.strerror or exc}")

    # ------------------------------------------------------------------ drawing

    def _on_fields_changed(self) -> None:
        f = self.controller.fields
        fields = (self.mode, self.levels, self.variants, self.window_s, self.limit, self.agents)
        for widget in fields:
            widget.blockSignals(True)
        self.mode.setCurrentText(f.mode)
        for edit, text in ((self.levels, f.levels), (self.variants, f.variants)):
            if edit.text() != text:  # the one being typed in keeps its cursor
                edit.setText(text)
        for spin, value in ((self.window_s, f.window_s), (self.limit, f.limit_ms or 0)):
            if spin.value() != value:
                spin.setValue(value)
        if self.agents.value() != f.agents:
            self.agents.setValue(f.agents)
        for widget in fields:
            widget.blockSignals(False)
        self._show_title()

    def _on_running_changed(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and not self.controller.cancelling)

    def _on_status_changed(self, text: str) -> None:
        self.status.setText(without_bidi_controls(text))
        self.cancel_button.setEnabled(self.controller.running and not self.controller.cancelling)

    def _show_title(self) -> None:
        head, tail = self.controller.table_title()
        self.table_title.setText(f"<b>{head}</b>" + (f" {tail}" if tail else ""))

    def _on_results_changed(self) -> None:
        c = self.controller
        self.chart.update_curves(c.curves(), c.limit_ms)
        self._show_title()
        rows = c.sustained_rows()
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for col, value in enumerate(values):
                item = QTableWidgetItem(without_bidi_controls(value))
                if col == 0:
                    item.setForeground(QBrush(QColor(self.colors.color(values[0]))))
                if col == 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, col, item)
        self.table.resizeRowsToContents()
        self.equivalents.setText(
            without_bidi_controls("\n".join(c.equivalent_rows())) or c.equivalents_hint()
        )
        notes = without_bidi_controls("\n".join(c.notes()))
        if self.notes.toPlainText() != notes:
            self.notes.setPlainText(notes)
