"""The main window: images, backends and settings on the left; live charts and the results table on
the right. A thin view: the runner does the work in a worker thread, ``ResultStore`` keeps the
numbers, and a coalescing timer redraws what changed (each view at most every 2 × ``REFRESH_MS``)."""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox

from tfcompare.datatypes import (
    BackendReady,
    ImageFailed,
    ImageReady,
    Progress,
    RunFinished,
    RunSettings,
    RunStarted,
)
from tfcompare.gui.chart_base import short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.prefs import Prefs, load_prefs, save_prefs
from tfcompare.gui.store import ResultStore
from tfcompare.gui.window_inputs import WindowInputs, qimage_png_bytes
from tfcompare.gui.window_layout import build_layout, cluster_available, splitters
from tfcompare.gui.workers import RunController, RunCrashed, StatusPoller
from tfcompare.runner.probe import ready_text

__all__ = ["MainWindow", "qimage_png_bytes"]

REFRESH_MS = 40  # timer tick; each half of the views is redrawn every other tick (~12 Hz)
TABLE_EVERY = 3  # table refreshed every third latency refresh while a run streams


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return (
        f"{seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"{seconds} s left"
    )


class MainWindow(WindowInputs):
    """The window: builds its layout, runs comparisons and keeps every view on one selection."""

    run_finished = Signal(bool)  # cancelled

    def __init__(self, prefs: Prefs | None = None) -> None:
        super().__init__()
        self.prefs = prefs or load_prefs()
        self.colors = BackendColors()
        self.store = ResultStore()
        self.runner = RunController(self)
        self.runner.event.connect(self._on_event)  # emitted on the GUI thread, in batches
        self.poller = StatusPoller(self)
        self.running = False
        self.dropped_events = 0
        self.sel_image: str | None = None
        self.sel_variant: str | None = None
        self._run_started = 0.0
        self._table_pending: list = []
        self._table_ticks = 0
        self._tick = 0
        self._second_due = False
        self.setAcceptDrops(True)
        self.setMinimumSize(1024, 640)
        build_layout(self)
        from tfcompare.gui.menus import build_menus
        from tfcompare.gui.session_actions import SessionActions

        self.sessions = SessionActions(self)
        build_menus(self, cluster=cluster_available())
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_views)
        self._timer.start()
        self._top5_timer = QTimer(self)
        self._top5_timer.setSingleShot(True)
        self._top5_timer.setInterval(REFRESH_MS // 2)
        self._top5_timer.timeout.connect(lambda: self._update_top5(self._backends()))
        self.settings_panel.set_settings(self.prefs.settings)
        self.latency.set_log(self.prefs.log_scale)
        self.log_box.setChecked(self.prefs.log_scale)
        self.set_backends(self.prefs.backends, persist=False)
        self.sessions.update_title()
        self._restore_layout()

    def _restore_layout(self) -> None:
        if self.prefs.geometry:
            self.restoreGeometry(QByteArray.fromHex(self.prefs.geometry.encode()))
        for key, splitter in splitters(self).items():
            if key in self.prefs.splitters:
                splitter.restoreState(QByteArray.fromHex(self.prefs.splitters[key].encode()))

    def save_prefs(self) -> None:
        self.prefs.geometry = bytes(self.saveGeometry().toHex()).decode()
        self.prefs.splitters = {
            k: bytes(s.saveState().toHex()).decode() for k, s in splitters(self).items()
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
        # A full (oldest-generation) garbage collection walks every Python object of the process
        # (~35 ms here, holding the GIL), and the burst of new objects as a run starts triggers one
        # in whichever thread allocates next: the window froze for 50-100 ms. Frozen objects are
        # skipped by the collector until the run ends (``_finish`` unfreezes them).
        gc.freeze()
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
                self.backends_panel.set_run_note(
                    event.backend, "ok", ready_text(event.status, event.signature)
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
        gc.unfreeze()  # collected again as usual, between runs
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
        """Redraw what changed. The timer ticks every ``REFRESH_MS``; the views are redrawn in two
        halves on alternate ticks (latency + table, then quality + selection, with top-5 half a
        tick later), so each redraws at ~12 Hz while no single tick paints every chart: input and
        timers get in between. ``force`` redraws everything now."""
        self._show_progress()
        self._tick += 1
        if force or self._tick % 2 == 0:
            changes = self.store.refresh()
            if changes or force:
                self._refresh_first(changes, force)
                self._second_due = True
            if not force:
                return
        if self._second_due:
            self._second_due = False
            self._refresh_second(force)

    def _backends(self) -> list[str]:
        return self.store.backend_names or [s.name for s in self.backends_panel.specs]

    def _refresh_first(self, changes, force: bool) -> None:
        backends = self._backends()
        # the table is the costliest view to repaint and nobody reads numbers at 12 Hz: ~4 Hz
        self._table_pending.extend(changes.aggregates)
        self._table_ticks += 1
        if self._table_pending and (
            force or not self.running or self._table_ticks % TABLE_EVERY == 0
        ):
            listed = [e.name for e in self.images_panel.entries]
            known = set(listed)
            self.table.set_order(
                listed + [i for i in self.store.images if i not in known], backends
            )
            self.table.upsert(self._table_pending)
            self._table_pending = []
        self.colors.assign(backends)
        variants = self.store.variants()
        self._update_combos(variants)
        if self.sel_image is None and self.image_combo.count():
            self.sel_image = self.image_combo.itemData(0)
        if self.sel_variant is None and variants:
            self.sel_variant = variants[0]
        cells = self.store.cells()
        lat = {key: p for key, p in cells.items() if key[1] in backends}
        self.latency.update_data(variants, backends, lat, self.store.cold)
        if changes.backends or force:
            for b, n in self.store.errors.items():
                ready = self.store.backend_ready.get(b)
                if ready is not None and ready.message:
                    self.backends_panel.set_run_note(b, "error", f"{ready.message} ({n:,} failed)")
                elif n:
                    self.backends_panel.set_run_note(
                        b, "warn", f"{n:,} failed requests: {self.store.last_error.get(b, '')}"
                    )

    def _refresh_second(self, now: bool = False) -> None:
        backends = self._backends()
        points = [p for p in self.store.cells().values() if p.images and p.backend in backends]
        self.quality.update_data(points, backends)
        self.select(self.sel_image, self.sel_variant, force=True)
        if now:
            self._update_top5(backends)
        else:
            # half a tick later, in an event-loop pass of its own: when a run's first answers
            # arrive, quality and top-5 both lay out and paint their axes for the first time, and
            # together they held the window for 30-40 ms
            self._top5_timer.start()

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
            self._update_top5(self._backends())

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
        if self.capacity.worker.running:
            self.capacity.worker.cancel()
            self.capacity.worker.wait(5.0)
        self.save_prefs()
        self.poller.close()
        self.images_panel.shutdown()
        event.accept()
