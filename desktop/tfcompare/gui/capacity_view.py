"""The Capacity tab: sweep settings, the throughput-vs-p99 chart, and the "sustained req/s at
p99 ≤ limit" table with equivalents. Self-contained: the window hands it callables for the current
backends and images, and a :class:`CapacityModel` holds all state (tested without Qt).

Sweeps run in a plain thread (``tfcompare.load.sweep``); only per-window summaries and level
results cross to the GUI thread, as queued signals carrying the sweep's generation number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal
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

from tfcompare.gui.capacity_chart import CapacityChart
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.export_paths import ask_export_path
from tfcompare.load.capacity_model import CapacityModel
from tfcompare.load.load_plan import DEFAULT_CONCURRENCY, DEFAULT_VARIANTS, LoadPlan
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.window.work import BackgroundWork

EQUIVALENTS_HINT = (
    "Filled in after a sweep of two or more backends with a stable level within the limit."
)


class SweepWorker(QObject, BackgroundWork):
    """Runs one sweep at a time in a thread; events come back through queued signals."""

    event = Signal(int, object)  # generation, WindowDone | LevelDone | SweepMessage
    finished = Signal(int, object, str)  # generation, CapacityResult | None, message

    def __init__(self, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)
        BackgroundWork.__init__(self)

    def start(
        self,
        generation: int,
        plan: LoadPlan,
        specs: list[BackendSpec],
        sources: list,
        variants: tuple[str, ...],
        agents: int = 0,
        start_lead_s: float = 60.0,
        notes: tuple[str, ...] = (),
    ) -> None:
        """``agents`` > 0: run the sweep from a Kubernetes Job of that many load agents next to
        the (k8s://) backends instead of from this machine. ``notes`` go first in the result's
        messages."""
        # Imported here, on the GUI thread, serving first: the status poller's thread may be
        # importing it right now, and taking the import locks in another order (grpc first)
        # would be a deadlock that Python breaks by failing one of the imports.
        import tfcompare.serving  # noqa: F401
        from tfcompare.load.level_server_time import metrics_timer
        from tfcompare.load.prepare import PrepareError, build_targets, variant_payloads
        from tfcompare.load.sweep import sweep

        def work(cancel: threading.Event) -> None:
            try:
                payloads, info, prepared = variant_payloads(
                    sources, variants, default=tuple(variants) == DEFAULT_VARIANTS
                )
                if agents:
                    from tfcompare.load.incluster import InCluster, in_cluster_targets
                    from tfcompare.load.incluster import run_in_cluster as run

                    targets, problems = in_cluster_targets(specs, payloads, info)
                else:
                    targets, problems = build_targets(specs, payloads, info)
                if not targets:
                    self.finished.emit(generation, None, "; ".join(problems) or "nothing to load")
                    return
                if agents:
                    opts = InCluster(agents=agents, start_lead_s=start_lead_s)
                    result = run(
                        plan,
                        targets,
                        opts,
                        cancel=cancel,
                        variants=info,
                        on_event=lambda e: self.event.emit(generation, e),
                    )
                else:
                    result = sweep(
                        plan,
                        targets,
                        cancel=cancel,
                        variants=info,
                        server_time=metrics_timer,
                        on_event=lambda e: self.event.emit(generation, e),
                    )
                result.messages[:0] = [*notes, *prepared, *problems]
                self.finished.emit(generation, result, "")
            except PrepareError as exc:
                self.finished.emit(generation, None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user, the window stays up
                self.finished.emit(generation, None, f"the sweep failed: {exc}")

        self._launch(work, "tfcompare-capacity")


class CapacityPanel(QWidget):
    """Settings row, chart and tables of the Capacity tab."""

    sweep_finished = Signal(bool)  # cancelled

    def __init__(
        self,
        colors: BackendColors,
        backends: Callable[[], list[BackendSpec]],
        sources: Callable[[], list],
        parent: QWidget | None = None,
        busy: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.colors = colors
        self._busy = busy
        self._backends = backends
        self._sources = sources
        self.model = CapacityModel()
        self.worker = SweepWorker(self)
        self.worker.event.connect(self.model.apply)
        self.worker.finished.connect(self._on_finished)
        self.model.changed.append(self._on_model_changed)

        self.mode = QComboBox()
        self.mode.addItems(["concurrency", "rate"])
        self.mode.setToolTip(
            "concurrency: requests in flight (closed loop); "
            "rate: Poisson arrivals per second (open loop)"
        )
        self.mode.currentTextChanged.connect(self._on_mode_changed)
        self.levels = QLineEdit(",".join(f"{v:g}" for v in DEFAULT_CONCURRENCY))
        self.levels.setToolTip("load levels, comma separated")
        self.variants = QLineEdit(",".join(DEFAULT_VARIANTS))
        self.variants.setToolTip(
            "variants to load: original and/or SIZE-FORMAT such as 512-jpeg "
            "(or as the charts name them: 512 jpg)"
        )
        self.window_s = QDoubleSpinBox(decimals=1, minimum=0.2, maximum=60.0, value=5.0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip("measurement window; a level is stable when 3 windows agree ±10 %")
        self.limit = QDoubleSpinBox(decimals=0, minimum=0, maximum=600_000, value=100)
        self.limit.setSuffix(" ms")
        self.limit.setSpecialValueText("none")
        self.limit.setToolTip(
            "p99 limit: a backend's sweep stops above it; the knee stays within it"
        )
        # in the cluster: from the last agent ready to the first level (the kubelet's refresh of
        # mounted ConfigMaps), as `tfcompare load --start-lead`
        self.start_lead_s = 60.0
        self.agents = QSpinBox(minimum=0, maximum=64, value=0)
        self.agents.setSpecialValueText("no (this machine)")
        self.agents.setSuffix(" agents")
        self.agents.setToolTip(
            'Where the load comes from. "no (this machine)": this window sends the requests. '
            "1 or more: that many load agents run in a Kubernetes Job next to the k8s:// backends "
            "(no port-forward in the measured path; see k8s/README.md)."
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
        for label, widget in (
            ("window", self.window_s),
            ("p99 limit", self.limit),
            ("agents in cluster", self.agents),
        ):
            text = QLabel(label)
            text.setToolTip(widget.toolTip())
            row2.addWidget(text)
            row2.addWidget(widget)
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
        self.table_title = QLabel("<b>Sustained req/s at p99 ≤ limit</b>")
        self.equivalents = QLabel("")
        self.equivalents.setWordWrap(True)
        self.equivalents.setText(EQUIVALENTS_HINT)
        # the sweep's notes (images without a variant, early stops, backends not measured): as many
        # as there are, scrolling, so a long list is never cut off under the equivalents
        self.notes = QPlainTextEdit()
        self.notes.setReadOnly(True)
        self.notes.setFrameShape(QFrame.Shape.NoFrame)
        self.notes.setStyleSheet("QPlainTextEdit { color: #666666; background: transparent; }")
        self.notes.setFixedHeight(self.notes.fontMetrics().lineSpacing() * 6 + 8)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.table_title)
        sv.addWidget(self.table, 1)
        key = QLabel(
            "Points: ● stable level, ○ unstable (windows did not agree), × client-bound "
            "(the load generator was the limit), ★ knee. Only ● counts as capacity."
        )
        key.setWordWrap(True)
        sv.addWidget(key)
        sv.addWidget(QLabel("<b>Equivalents</b> (how many of a backend match the first one)"))
        sv.addWidget(self.equivalents)
        sv.addWidget(self.notes)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.chart)
        self.split.addWidget(side)
        self.split.setSizes([800, 380])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(row)
        layout.addLayout(row2)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.status)

    # ------------------------------------------------------------------ actions

    def plan(self) -> LoadPlan:
        """The plan from the settings row; raises ValueError with a message for the user."""
        try:
            levels = tuple(float(v) for v in self.levels.text().split(",") if v.strip())
        except ValueError:
            raise ValueError("levels must be numbers separated by commas") from None
        limit = self.limit.value() or None
        return LoadPlan(
            mode=self.mode.currentText(),
            levels=levels,
            window_s=self.window_s.value(),
            latency_limit_ms=limit,
        )

    def start_sweep(self) -> bool:
        from tfcompare.load.prepare import PrepareError, parse_variants

        if self.worker.running:
            return False
        reason = self._busy() if self._busy is not None else None
        if reason:
            return self._refuse(reason)
        try:
            plan = self.plan()
            variants = parse_variants(self.variants.text())
        except (ValueError, PrepareError) as exc:
            return self._refuse(str(exc))
        specs, sources = list(self._backends()), list(self._sources())
        if not sources:
            return self._refuse("Add images first: the sweep sends their variants.")
        if not specs:
            return self._refuse("Add a backend first (Backends → Add…).")
        agents = self.agents.value()
        notes: tuple[str, ...] = ()
        if agents:
            from tfcompare.load.incluster import agents_plan, default_levels_for_agents

            if plan.mode == "concurrency" and plan.levels == DEFAULT_CONCURRENCY:
                # the default levels as the tab opened: those the agents can split
                levels, note = default_levels_for_agents(agents)
                plan = replace(plan, levels=levels)
                self.levels.setText(",".join(f"{v:g}" for v in levels))
                notes = (note,) if note else ()
            try:
                agents_plan(plan, agents)
            except ValueError as exc:
                return self._refuse(str(exc))
        generation = self.model.begin(
            plan, [s.to_dict() for s in specs], {v: {"label": v, "bytes": 0} for v in variants}
        )
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker.start(
            generation, plan, specs, sources, variants, agents, self.start_lead_s, notes
        )
        return True

    def cancel_sweep(self) -> None:
        if self.worker.running:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.model.status = "cancelling…"
            self._on_model_changed()

    def _refuse(self, message: str) -> bool:
        self.status.setText(message)
        QMessageBox.information(self, "Cannot start the sweep", message)
        return False

    def _on_finished(self, generation: int, result, message: str) -> None:
        self.model.finish(generation, result, message)
        if generation == self.model.generation:
            self.start_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
            self.sweep_finished.emit(bool(result is not None and result.cancelled))

    def _on_mode_changed(self, mode: str) -> None:
        self.levels.setText(
            ",".join(f"{v:g}" for v in DEFAULT_CONCURRENCY)
            if mode == "concurrency"
            else "10,20,50,100"
        )

    def export(self, kind: str) -> None:
        from tfcompare.load.capacity_formats import write_csv, write_json

        if self.model.result is None:
            QMessageBox.information(self, "Export", "Run a capacity sweep first.")
            return
        filt = "JSON (*.json)" if kind == "json" else "CSV (*.csv)"
        path = ask_export_path(self, "Export capacity", f"capacity.{kind}", filt)
        if not path:
            return
        try:
            (write_json if kind == "json" else write_csv)(self.model.result, path)
        except OSError as exc:
            QMessageBox.warning(self, "Export", f"Could not write {path}: {exc.strerror or exc}")

    # ------------------------------------------------------------------ drawing

    def show_plan(self, plan: dict) -> None:
        """Put a (saved) sweep's settings in the settings row."""
        self.mode.blockSignals(True)
        self.mode.setCurrentText(plan.get("mode", "concurrency"))
        self.mode.blockSignals(False)
        self.levels.setText(",".join(f"{v:g}" for v in plan.get("levels", ())))
        self.window_s.setValue(float(plan.get("window_s", 5.0)))
        self.limit.setValue(float(plan.get("latency_limit_ms") or 0))

    def _on_model_changed(self) -> None:
        model = self.model
        if model.result is not None and not model.running:
            self.show_plan(model.result.plan)
            self.variants.setText(",".join(model.variants()) or self.variants.text())
        self.chart.update_curves(model.curves(), model.limit_ms)
        limit = model.limit_ms
        self.table_title.setText(
            f"<b>Sustained req/s at p99 ≤ {limit:g} ms</b>"
            if limit
            else "<b>Highest stable req/s</b> (no latency limit)"
        )
        rows = model.sustained_rows()
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c == 0:
                    item.setForeground(self.colors_brush(values[0]))
                if c == 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self.equivalents.setText("\n".join(model.equivalent_rows()) or EQUIVALENTS_HINT)
        self.notes.setPlainText("\n".join(model.result.notes() if model.result else []))
        self.status.setText(model.status)

    def colors_brush(self, backend: str):
        from PySide6.QtGui import QBrush, QColor

        return QBrush(QColor(self.colors.color(backend)))
