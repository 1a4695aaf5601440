"""The main window: images, backends and settings on the left; live charts and the results table on
the right. A thin view: the runner does the work in a worker thread, ``ResultStore`` keeps the
numbers, and a coalescing timer redraws what changed (at most every ``REFRESH_MS``)."""

from __future__ import annotations

import importlib.util
import time

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tfcompare.datatypes import (
    BackendReady,
    BackendSpec,
    ImageFailed,
    ImageReady,
    Progress,
    RunFinished,
    RunSettings,
    RunStarted,
)
from tfcompare.gui.backends_panel import BackendsPanel
from tfcompare.gui.chart_base import short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.images_panel import ImagesPanel
from tfcompare.gui.latency_chart import LatencyChart
from tfcompare.gui.prefs import Prefs, load_prefs, save_prefs
from tfcompare.gui.quality_chart import QualityChart
from tfcompare.gui.results_table import ResultsTable
from tfcompare.gui.settings_panel import SettingsPanel
from tfcompare.gui.store import ResultStore
from tfcompare.gui.top5_chart import Top5Chart
from tfcompare.gui.workers import RunController, RunCrashed, StatusPoller

REFRESH_MS = 80
TABLE_EVERY = 3  # table refreshed every third chart refresh while a run streams


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return (
        f"{seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"{seconds} s left"
    )


class MainWindow(QMainWindow):
    run_finished = Signal(bool)  # cancelled

    def __init__(self, prefs: Prefs | None = None) -> None:
        super().__init__()
        self.prefs = prefs or load_prefs()
        self.colors = BackendColors()
        self.store = ResultStore()
        self.runner = RunController(self)
        self.runner.event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self.poller = StatusPoller(self)
        self.running = False
        self.dropped_events = 0
        self.sel_image: str | None = None
        self.sel_variant: str | None = None
        self._run_started = 0.0
        self._table_pending: list = []
        self._table_ticks = 0
        self.setAcceptDrops(True)
        self.setMinimumSize(1024, 640)
        self._build()
        from tfcompare.gui.menus import build_menus
        from tfcompare.gui.session_actions import SessionActions

        self.sessions = SessionActions(self)
        build_menus(
            self, cluster=importlib.util.find_spec("tfcompare.gui.cluster_dialog") is not None
        )
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_views)
        self._timer.start()
        self.settings_panel.set_settings(self.prefs.settings)
        self.latency.set_log(self.prefs.log_scale)
        self.log_box.setChecked(self.prefs.log_scale)
        self.set_backends(self.prefs.backends, persist=False)
        self.sessions.update_title()
        self._restore_layout()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.images_panel = ImagesPanel()
        self.images_panel.changed.connect(self._on_inputs_changed)
        self.images_panel.image_clicked.connect(lambda name: self.select(name, self.sel_variant))
        self.backends_panel = BackendsPanel(
            self.colors,
            cluster=importlib.util.find_spec("tfcompare.gui.cluster_dialog") is not None,
        )
        self.backends_panel.add_requested.connect(lambda: self.edit_backend(None))
        self.backends_panel.edit_requested.connect(self.edit_backend)
        self.backends_panel.remove_requested.connect(self.remove_backend)
        self.backends_panel.cluster_requested.connect(self.add_from_cluster)
        self.poller.status.connect(self.backends_panel.set_status)
        self.settings_panel = SettingsPanel()
        self.settings_panel.changed.connect(self._on_inputs_changed)

        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Run the comparison (Ctrl+R)")
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run (Esc)")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setValue(0)
        self.eta = QLabel("")
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        self.left_split = QSplitter(Qt.Orientation.Vertical)
        for title, widget in (
            ("Images", self.images_panel),
            ("Backends", self.backends_panel),
            ("Variants", self.settings_panel),
        ):
            box = QGroupBox(title)
            bl = QVBoxLayout(box)
            bl.setContentsMargins(6, 4, 6, 6)
            bl.addWidget(widget)
            self.left_split.addWidget(box)
        self.left_split.setCollapsible(2, False)
        self.left_split.widget(2).setMinimumHeight(
            self.left_split.widget(2).sizeHint().height() + 24
        )
        self.left_split.setStretchFactor(0, 3)
        self.left_split.setStretchFactor(1, 2)
        self.left_split.setStretchFactor(2, 0)
        lv.addWidget(self.left_split, 1)
        lv.addLayout(run_row)
        lv.addWidget(self.eta)

        self.latency = LatencyChart(self.colors)
        self.top5 = Top5Chart(self.colors)
        self.quality = QualityChart(self.colors)
        self.table = ResultsTable(self.colors)
        for chart in (self.latency, self.quality):
            chart.variant_clicked.connect(lambda v: self.select(self.sel_image, v))
        self.table.row_selected.connect(self.select)

        self.image_combo = QComboBox()
        self.image_combo.setMinimumContentsLength(16)
        self.image_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.image_combo.currentIndexChanged.connect(
            lambda _i: self.select(self.image_combo.currentData(), self.sel_variant)
        )
        self.variant_combo = QComboBox()
        self.variant_combo.setMinimumContentsLength(18)
        self.variant_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.variant_combo.currentIndexChanged.connect(
            lambda _i: self.select(self.sel_image, self.variant_combo.currentData())
        )
        self.log_box = QCheckBox("Log latency scale")
        self.log_box.toggled.connect(self.set_log_scale)
        self.compare_label = QLabel("")
        self.compare_clear = QPushButton("Clear overlay")
        self.compare_clear.clicked.connect(lambda: self.sessions.clear_compare())
        self.compare_clear.hide()
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Image"))
        bar.addWidget(self.image_combo)
        bar.addWidget(QLabel("Variant"))
        bar.addWidget(self.variant_combo)
        bar.addWidget(self.log_box)
        bar.addStretch(1)
        bar.addWidget(self.compare_label)
        bar.addWidget(self.compare_clear)

        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.addWidget(self.latency)
        self.top_split.addWidget(self.quality)
        self.top_split.setSizes([600, 400])
        self.bottom_split = QSplitter(Qt.Orientation.Horizontal)
        self.bottom_split.addWidget(self.top5)
        self.bottom_split.addWidget(self.table)
        self.bottom_split.setSizes([420, 580])
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.addWidget(self.top_split)
        self.right_split.addWidget(self.bottom_split)
        self.right_split.setSizes([520, 420])
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 6, 6, 6)
        rv.addLayout(bar)
        rv.addWidget(self.right_split, 1)

        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(right)
        self.main_split.setStretchFactor(0, 0)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setSizes([380, 1200])
        left.setMinimumWidth(330)
        self.setCentralWidget(self.main_split)
        self.statusBar().showMessage("Add images and backends, then press Run.")

    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "main": self.main_split,
            "left": self.left_split,
            "right": self.right_split,
            "top": self.top_split,
            "bottom": self.bottom_split,
        }

    def _restore_layout(self) -> None:
        if self.prefs.geometry:
            self.restoreGeometry(QByteArray.fromHex(self.prefs.geometry.encode()))
        for key, splitter in self._splitters().items():
            if key in self.prefs.splitters:
                splitter.restoreState(QByteArray.fromHex(self.prefs.splitters[key].encode()))

    def save_prefs(self) -> None:
        self.prefs.geometry = bytes(self.saveGeometry().toHex()).decode()
        self.prefs.splitters = {
            k: bytes(s.saveState().toHex()).decode() for k, s in self._splitters().items()
        }
        self.prefs.backends = list(self.backends_panel.specs)
        try:
            self.prefs.settings = self.settings_panel.settings()
        except ValueError:
            pass
        self.prefs.log_scale = self.latency.log
        try:
            save_prefs(self.prefs)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save preferences: {exc}")

    # ------------------------------------------------------------------ inputs
    def _on_inputs_changed(self) -> None:
        dims = [
            (e.width, e.height) if e.probed and not e.error else None
            for e in self.images_panel.entries
            if not (e.probed and e.error)
        ]
        self.settings_panel.update_preview(dims, len(self.backends_panel.specs))

    def set_backends(self, specs: list[BackendSpec], persist: bool = True) -> None:
        self.backends_panel.set_specs(specs)
        for name in [s.name for s in specs]:  # plot items exist before results arrive
            self.latency._ensure(name)
            self.quality._series(name)
            self.top5._bar(name)
        self.poller.set_backends([s for s in specs])
        self._on_inputs_changed()
        self.refresh_views(force=True)
        if persist:
            self.prefs.backends = list(specs)
            self.save_prefs()

    def edit_backend(self, name: str | None) -> None:
        from tfcompare.gui.backend_dialog import BackendDialog

        specs = list(self.backends_panel.specs)
        old = self.backends_panel.spec(name) if name else None
        dialog = BackendDialog(self, old, {s.name for s in specs})
        if not dialog.exec():
            return
        spec = dialog.spec()
        if old is None:
            specs.append(spec)
        else:
            specs[specs.index(old)] = spec
            self.backends_panel.set_run_note(old.name, None)
        self.set_backends(specs)

    def remove_backend(self, name: str) -> None:
        self.set_backends([s for s in self.backends_panel.specs if s.name != name])

    def add_from_cluster(self) -> None:
        try:
            from tfcompare.gui.cluster_dialog import ClusterDialog
        except ImportError as exc:
            QMessageBox.warning(self, "Kubernetes", f"Cluster discovery is not available: {exc}")
            return
        dialog = ClusterDialog(self)
        if not dialog.exec():
            return
        specs = list(self.backends_panel.specs)
        taken = {s.name for s in specs}
        for spec in dialog.selected_backends():
            if spec.name not in taken:
                specs.append(spec)
                taken.add(spec.name)
        self.set_backends(specs)

    def add_image_bytes(self, data: bytes, name: str | None = None) -> str:
        return self.images_panel.add_bytes(data, name)

    def paste(self) -> None:
        """Paste files (copied in a file manager) or an image (e.g. a screenshot)."""
        from PySide6.QtWidgets import QApplication

        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            self.add_urls(mime.urls())
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.statusBar().showMessage(
                "Nothing to paste: the clipboard holds no image or image file.", 5000
            )
            return
        self.add_image_bytes(qimage_png_bytes(image))

    def add_urls(self, urls) -> None:
        from tfcompare.session import SUFFIX

        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        sessions = [p for p in paths if p.lower().endswith(SUFFIX)]
        images = [p for p in paths if not p.lower().endswith(SUFFIX)]
        if images:
            n = self.images_panel.add_paths(images)
            self.statusBar().showMessage(f"Added {n} image{'s' if n != 1 else ''}.", 4000)
        if sessions:
            self.sessions.open_session(sessions[0])

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            self.add_urls(mime.urls())
        elif mime.hasImage():
            self.add_image_bytes(qimage_png_bytes(QImage(mime.imageData())))
        event.acceptProposedAction()

    # ------------------------------------------------------------------ running
    def start_run(self) -> bool:
        if self.running:
            return False
        problem = None
        try:
            settings: RunSettings = self.settings_panel.settings()
        except ValueError as exc:
            problem = str(exc)
        if not self.images_panel.entries:
            problem = (
                "Add images first: drop files or folders on the window, or use File → Add images…"
            )
        elif not self.backends_panel.specs:
            problem = "Add a backend first (Backends → Add…): the address of a TF Serving gRPC or REST endpoint."
        if problem:
            self.statusBar().showMessage(problem, 8000)
            QMessageBox.information(self, "Cannot run yet", problem)
            return False
        for entry in self.images_panel.entries:
            if entry.variants is not None:
                self.images_panel.set_variants(entry.name, entry.variants)
        self.backends_panel.clear_run_notes()
        self.store.clear()
        self.table.reset()
        self._table_pending = []
        self.sessions.on_run_started()
        self.running = True
        self._run_started = time.monotonic()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m requests")
        self.eta.setText("starting…")
        self.statusBar().showMessage("Running…")
        self.runner.start(list(self.backends_panel.specs), settings, self.images_panel.sources())
        self.refresh_views(force=True)
        return True

    def cancel_run(self) -> None:
        if self.running:
            self.runner.cancel()
            self.eta.setText("cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_event(self, event) -> None:
        if getattr(event, "run_id", None) != self.runner.run_id:
            self.dropped_events += 1
            return
        if isinstance(event, RunCrashed):
            self._finish(False, f"The run stopped: {event.message}")
            QMessageBox.warning(self, "Run failed", event.message)
            return
        if isinstance(event, RunStarted):
            self.store.begin_run(event)
            self.progress.setRange(0, max(event.total_requests, 1))
            return
        self.store.apply(event)
        if isinstance(event, Progress):
            pass  # shown by the refresh timer: QProgressBar.setValue repaints synchronously
        elif isinstance(event, ImageReady):
            self.images_panel.set_variants(event.image.name, len(event.image.variants))
        elif isinstance(event, ImageFailed):
            self.images_panel.set_error(event.problem.image, event.problem.message)
        elif isinstance(event, BackendReady):
            if event.message:
                self.backends_panel.set_run_note(event.backend, "error", event.message)
            else:
                version = event.status.serving_version if event.status else None
                sig = event.signature.signature_name if event.signature else "?"
                self.backends_panel.set_run_note(
                    event.backend, "ok", f"ready · version {version} · {sig}"
                )
        elif isinstance(event, RunFinished):
            n = len(event.result.measured)
            took = time.monotonic() - self._run_started
            text = f"{'Cancelled' if event.cancelled else 'Finished'}: {n:,} measured requests in {took:.1f} s"
            errors = sum(self.store.errors.values())
            if errors:
                text += f" ({errors:,} failed — see the backends list and the table)"
            self._finish(event.cancelled, text)

    def _finish(self, cancelled: bool, message: str) -> None:
        self.running = False
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.eta.setText("")
        self.statusBar().showMessage(message)
        self.refresh_views(force=True)
        self.sessions.on_run_finished(self.store.has_results())
        self.run_finished.emit(cancelled)

    # ------------------------------------------------------------------ views
    def _show_progress(self) -> None:
        p = self.store.progress
        if p is None:
            return
        if self.progress.maximum() != max(p.total, 1):
            self.progress.setRange(0, max(p.total, 1))
        if self.progress.value() != p.done:
            self.progress.setValue(p.done)
        eta = _fmt_eta(p.eta_s) if self.running else ""
        if self.eta.text() != eta:
            self.eta.setText(eta)

    def refresh_views(self, force: bool = False) -> None:
        self._show_progress()
        changes = self.store.refresh()
        if not changes and not force:
            return
        # the table is the costliest view to repaint and nobody reads numbers at 12 Hz: ~4 Hz
        self._table_pending.extend(changes.aggregates)
        self._table_ticks += 1
        if self._table_pending and (
            force or not self.running or self._table_ticks % TABLE_EVERY == 0
        ):
            self.table.upsert(self._table_pending)
            self._table_pending = []
        backends = self.store.backend_names or [s.name for s in self.backends_panel.specs]
        self.colors.assign(backends)
        variants = self.store.variants()
        self._update_combos(variants)
        if self.sel_image is None and self.image_combo.count():
            self.sel_image = self.image_combo.itemData(0)
        if self.sel_variant is None and variants:
            self.sel_variant = variants[0]
        lat = {
            (v, b): a
            for v in variants
            for b in backends
            if (a := self.store.latency(v, b)) is not None
        }
        self.latency.update_data(variants, backends, lat, self.store.cold)
        self.quality.update_data(self.store.quality_points(), backends)
        self._update_top5(backends)
        if changes.backends or force:
            for b, n in self.store.errors.items():
                ready = self.store.backend_ready.get(b)
                if ready is not None and ready.message:
                    self.backends_panel.set_run_note(b, "error", f"{ready.message} ({n:,} failed)")
                elif n:
                    self.backends_panel.set_run_note(
                        b, "warn", f"{n:,} failed requests: {self.store.last_error.get(b, '')}"
                    )
        self.select(self.sel_image, self.sel_variant, force=True)

    def _update_top5(self, backends: list[str]) -> None:
        answers, notes = {}, {}
        for b in backends:
            answers[b] = (
                self.store.top5(self.sel_image, self.sel_variant, b)
                if self.sel_image and self.sel_variant
                else None
            )
            agg = self.store.aggregate_for(self.sel_image or "", self.sel_variant or "", b)
            if answers[b] is None and agg is not None and agg.n_errors:
                notes[b] = "failed"
        label = short_variant(self.sel_variant) if self.sel_variant else None
        self.top5.update_data(self.sel_image, label, backends, answers, notes)

    def _update_combos(self, variants: list[str]) -> None:
        images = list(self.store.images)
        if [self.image_combo.itemData(i) for i in range(self.image_combo.count())] != images:
            self.image_combo.blockSignals(True)
            self.image_combo.clear()
            for name in images:
                self.image_combo.addItem(name, name)
            self.image_combo.blockSignals(False)
        if [self.variant_combo.itemData(i) for i in range(self.variant_combo.count())] != variants:
            self.variant_combo.blockSignals(True)
            self.variant_combo.clear()
            for v in variants:
                self.variant_combo.addItem(self.store.variant_label(v), v)
            self.variant_combo.blockSignals(False)

    def select(self, image: str | None, variant: str | None, force: bool = False) -> None:
        """One selection (image + variant) shared by every view."""
        if not force and (image, variant) == (self.sel_image, self.sel_variant):
            return
        changed = (image, variant) != (self.sel_image, self.sel_variant)
        self.sel_image, self.sel_variant = image, variant
        for combo, value in ((self.image_combo, image), (self.variant_combo, variant)):
            i = combo.findData(value)
            if i >= 0 and combo.currentIndex() != i:
                combo.blockSignals(True)
                combo.setCurrentIndex(i)
                combo.blockSignals(False)
        self.latency.select_variant(variant)
        self.quality.select_variant(variant)
        self.table.select(image, variant)
        if image:
            self.images_panel.select(image)
        if changed:
            self._update_top5(
                self.store.backend_names or [s.name for s in self.backends_panel.specs]
            )

    def set_log_scale(self, on: bool) -> None:
        self.latency.set_log(on)
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
        if hasattr(self, "log_action") and self.log_action.isChecked() != on:
            self.log_action.setChecked(on)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.sessions.confirm_discard():
            event.ignore()
            return
        if self.running:
            self.runner.cancel()
            self.runner.wait(3.0)
        self.save_prefs()
        self.poller.close()
        self.images_panel.shutdown()
        event.accept()


def qimage_png_bytes(image: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data())
