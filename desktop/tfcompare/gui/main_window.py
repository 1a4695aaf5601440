"""The main window: images, backends and settings on the left; live charts and the results table on
the right; the Capacity tab beside them. A thin view of ``tfcompare.window.WindowController``:
user actions call the controller, the controller's events (``controller.events.<part>``, psygnal
signals) redraw the views, and a coalescing timer applies background work (``controller.drain()``)
and redraws what changed (each view at most every 2 × ``REFRESH_MS``)."""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QMainWindow, QMessageBox, QPushButton, QStatusBar

from tfcompare.bidi import without_bidi_controls
from tfcompare.gui.capacity_view import CapacityPanel
from tfcompare.gui.chart_base import short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.input_actions import InputActions, qimage_png_bytes
from tfcompare.gui.menus import build_menus
from tfcompare.gui.prefs import Prefs, load_prefs, save_prefs
from tfcompare.gui.session_actions import SessionActions
from tfcompare.gui.user_text import message, shown
from tfcompare.gui.window_layout import add_tab, build_views
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.window import Ended, WindowController

__all__ = ["MainWindow", "qimage_png_bytes"]

REFRESH_MS = 40  # timer tick; each half of the views is redrawn every other tick (~12 Hz)
TABLE_EVERY = 3  # table refreshed every third latency refresh while a run streams
MINIMUM_SIZE = (1180, 720)  # four charts, the table and the inputs stay legible down to this


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return (
        f"{seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"{seconds} s left"
    )


def first_start_size(available_w: int, available_h: int) -> tuple[int, int]:
    """Most of the available screen (the window opens there when it has no saved geometry)."""
    return (
        max(MINIMUM_SIZE[0], int(available_w * 0.92)),
        max(MINIMUM_SIZE[1], int(available_h * 0.92)),
    )


class PlainStatusBar(QStatusBar):
    """The status bar: messages name backends and images, which may hold direction controls;
    none may reorder the rest of the message (see ``user_text``)."""

    def showMessage(self, text: str, timeout: int | None = 0) -> None:  # noqa: N802
        super().showMessage(message(text), timeout)


class MainWindow(QMainWindow):
    """The window: its views (public attributes, see ``window_layout.Views``) kept on one
    controller."""

    run_finished = Signal(bool)  # cancelled

    def __init__(
        self, prefs: Prefs | None = None, controller: WindowController | None = None
    ) -> None:
        super().__init__()
        self.prefs = prefs or load_prefs()
        self.colors = BackendColors()
        self.controller = controller or WindowController(self.prefs.backends, self.prefs.settings)
        self.views = v = build_views(self.colors)
        # the window's public views (``window_layout.Views``), by name
        self.images_panel, self.backends_panel = v.images_panel, v.backends_panel
        self.settings_panel = v.settings_panel
        self.run_button, self.cancel_button = v.run_button, v.cancel_button
        self.progress, self.eta = v.progress, v.eta
        self.image_combo, self.variant_combo, self.log_box = (
            v.image_combo,
            v.variant_combo,
            v.log_box,
        )
        self.compare_label, self.compare_clear = v.compare_label, v.compare_clear
        self.latency, self.quality, self.top5, self.table = v.latency, v.quality, v.top5, v.table
        self.tabs, self.splitters, self.central = v.tabs, v.splitters, v.central
        self.setCentralWidget(self.views.central)
        self.capacity = CapacityPanel(self.colors, self.controller.capacity)
        add_tab(self.views, self.capacity, "Capacity")
        self._run_started = 0.0
        self._table_pending: list = []
        self._table_ticks = 0
        self._tick = 0
        self._second_due = False
        self._shown_variants: list[str] = []
        self.setAcceptDrops(True)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.setStatusBar(PlainStatusBar(self))
        self.sessions = SessionActions(self, self.controller, self.prefs)
        self.inputs = InputActions(self, self.controller, self.prefs)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Take the last removal back (Ctrl+Z)")
        self.undo_button.clicked.connect(self.controller.undo)
        self.undo_button.hide()
        self.statusBar().addPermanentWidget(self.undo_button)
        self._wire()
        self.actions_by_name = build_menus(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_views)
        self._timer.start()
        self._top5_timer = QTimer(self)
        self._top5_timer.setSingleShot(True)
        self._top5_timer.setInterval(REFRESH_MS // 2)
        self._top5_timer.timeout.connect(self._update_top5)
        self._subscribe()
        self.settings_panel.set_settings(self.controller.settings)
        self.set_log_scale(self.prefs.log_scale)
        self._on_backends_changed()
        self._on_session_changed()
        self._on_run_changed()
        self._on_images_changed()
        self._on_capacity_changed()
        self._restore_layout()
        self._say_ready()

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        c = self.controller
        self.images_panel.image_clicked.connect(lambda name: self.select(name, self.sel_variant))
        self.images_panel.remove_requested.connect(c.remove_images)
        self.images_panel.clear_requested.connect(c.clear_images)
        self.backends_panel.add_requested.connect(lambda: self.inputs.edit_backend(None))
        self.backends_panel.edit_requested.connect(self.inputs.edit_backend)
        self.backends_panel.remove_requested.connect(c.remove_backend)
        self.backends_panel.cluster_requested.connect(self.inputs.add_from_cluster)
        self.settings_panel.edited.connect(c.set_settings)
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button.clicked.connect(self.cancel_run)
        self.image_combo.currentIndexChanged.connect(
            lambda _i: self.select(self.image_combo.currentData(), self.sel_variant)
        )
        self.variant_combo.currentIndexChanged.connect(
            lambda _i: self.select(self.sel_image, self.variant_combo.currentData())
        )
        self.log_box.toggled.connect(self.set_log_scale)
        self.compare_clear.clicked.connect(c.clear_compare)
        for chart in (self.latency, self.quality):
            chart.variant_clicked.connect(lambda v: self.select(self.sel_image, v))
        self.table.row_selected.connect(self.select)

    def _restore_layout(self) -> None:
        if self.prefs.geometry:
            self.restoreGeometry(QByteArray.fromHex(self.prefs.geometry.encode()))
        else:
            screen = QGuiApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                self.resize(*first_start_size(area.width(), area.height()))
                self.move(area.center() - self.rect().center())
        for key, splitter in self.views.splitters.items():
            if key in self.prefs.splitters:
                splitter.restoreState(QByteArray.fromHex(self.prefs.splitters[key].encode()))

    def save_prefs(self) -> None:
        self.prefs.geometry = bytes(self.saveGeometry().toHex().data()).decode()
        self.prefs.splitters = {
            k: bytes(s.saveState().toHex().data()).decode() for k, s in self.views.splitters.items()
        }
        self.prefs.backends = list(self.controller.backends)
        self.prefs.settings = self.controller.settings
        self.prefs.log_scale = self.latency.log
        try:
            save_prefs(self.prefs)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save preferences: {exc}")

    # ------------------------------------------------------------------ the controller's state
    @property
    def store(self):
        return self.controller.store

    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def sel_image(self) -> str | None:
        return self.controller.selection[0]

    @property
    def sel_variant(self) -> str | None:
        return self.controller.selection[1]

    def _subscribe(self) -> None:
        e = self.controller.events
        e.images.connect(self._on_images_changed)
        e.backends.connect(self._on_backends_changed)
        e.status.connect(self._on_status_changed)
        e.settings.connect(self._on_settings_changed)
        e.selection.connect(self._show_selection)
        e.run.connect(self._on_run_changed)
        e.results.connect(self._on_results_changed)
        e.session.connect(self._on_session_changed)
        e.overlay.connect(self._on_overlay_changed)
        e.message.connect(self._on_message)
        capacity = self.controller.capacity.events
        capacity.results.connect(self._on_capacity_changed)
        capacity.running.connect(self._on_capacity_changed)

    def _inputs_changed(self) -> None:
        """Images or backends changed: the hints that say what is still missing."""
        c = self.controller
        self.latency.set_empty_text(_latency_hint(c))
        self._bar_idle()
        if not c.running and c.message is None:
            self._say_ready()  # until something else is said, say what is there

    def _on_images_changed(self) -> None:
        self._inputs_changed()
        self.images_panel.show_entries(self.controller.images)
        self._show_preview()
        self._update_combos(self.store.variants())

    def _on_backends_changed(self) -> None:
        self.colors.assign(self._backends())  # the comparison's order decides every colour
        self._inputs_changed()
        self._on_status_changed()
        for chart in (self.latency, self.quality, self.top5):
            chart.set_backends(self._backends())
        self._show_preview()
        self.refresh_views(force=True)

    def _on_status_changed(self) -> None:
        c = self.controller
        names = [s.name for s in c.backends]
        status = {n: (*c.status_of(n), _detail(c, n), _takes(c, n)) for n in names}
        self.backends_panel.show_backends(c.backends, status)
        if self._checking:
            self._on_status_checked()

    def _on_settings_changed(self) -> None:
        c = self.controller
        if c.settings_error is None and self._panel_settings() != c.settings:
            self.settings_panel.set_settings(c.settings)  # e.g. a session was opened
        self._show_preview()
        self._update_combos(self.store.variants())

    def _on_results_changed(self) -> None:
        c = self.controller
        self._table_pending = []
        self.store.refresh()
        self.colors.assign(self._backends())
        self.table.set_order([e.name for e in c.images], self._backends())
        self.table.reset(self.store.aggregates())
        self.refresh_views(force=True)

    def _on_session_changed(self) -> None:
        c = self.controller
        name = c.path.name if c.path else "untitled"
        self.setWindowTitle(f"{without_bidi_controls(name)}[*] — tfcompare")
        self.setWindowModified(c.unsaved)

    def _on_overlay_changed(self) -> None:
        overlay = self.controller.overlay
        self.latency.set_overlay(
            overlay.cells if overlay else None, overlay.label if overlay else ""
        )
        self.compare_label.setText(f"Dashed: {shown(overlay.label)}" if overlay else "")
        self.compare_clear.setVisible(overlay is not None)

    def _on_message(self, said) -> None:
        self.statusBar().showMessage(said.text, 0 if said.undo else 8000)
        self.undo_button.setVisible(said.undo and self.controller.can_undo)

    def _on_capacity_changed(self, *_running) -> None:
        """Export → Capacity sweep… is offered once there is a sweep to export."""
        can = self.controller.capacity.can_export
        for name in ("capacity_json", "capacity_csv"):
            self.actions_by_name[name].setEnabled(can)

    def _panel_settings(self):
        try:
            return self.settings_panel.settings()
        except ValueError:
            return None

    def _show_preview(self) -> None:
        c = self.controller
        usable = [e for e in c.images if not (e.probed and e.error)]
        self.settings_panel.set_preview(c.planned_requests(), len(usable), len(c.backends))
        box = self.settings_panel.parentWidget()  # its group box: room for messages and preview
        if box is not None:
            box.setMinimumHeight(box.sizeHint().height())

    def _say_ready(self) -> None:
        c = self.controller
        if c.images and c.backends:
            text = (
                f"{_count(len(c.images), 'image')} and {_count(len(c.backends), 'backend')}: "
                "press Run (Ctrl+R)."
            )
        elif c.backends:
            text = "Add images (drop them here, File → Add images…, or paste), then press Run."
        else:
            text = "Add images and a backend (Backends → Add…), then press Run."
        self.statusBar().showMessage(text)

    # ------------------------------------------------------------------ running
    def start_run(self) -> bool:
        problem = self.controller.start_run()
        if problem:
            self.statusBar().showMessage(problem, 8000)
            QMessageBox.information(self, "Cannot run yet", problem)
            return False
        return True

    def cancel_run(self) -> None:
        if self.running:
            self.controller.cancel_run()
            self.eta.setText("cancelling…")
            self._bar_text("cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_run_changed(self) -> None:
        c = self.controller
        self.run_button.setEnabled(not c.running)
        self.cancel_button.setEnabled(c.running)
        self.undo_button.setVisible(False)
        if c.running and not self._run_started:
            self._run_started = time.monotonic()
            self._table_pending = []
            self.table.reset()
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.eta.setText("starting…")
            self._bar_text("starting…")
            # A full (oldest-generation) garbage collection walks every Python object of the
            # process (~35 ms here, holding the GIL), and the burst of new objects as a run starts
            # triggers one in whichever thread allocates next: the window froze for 50-100 ms.
            # Frozen objects are skipped until the run ends.
            gc.freeze()
            self.refresh_views(force=True)
        elif not c.running and self._run_started:
            self._run_started = 0.0
            gc.unfreeze()  # collected again as usual, between runs
            self.refresh_views(force=True)
            ended: Ended | None = c.finished
            if ended is not None:
                if ended.failed:
                    QMessageBox.warning(self, "Run failed", ended.message)
                self.run_finished.emit(ended.cancelled)
        elif not c.running:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.eta.setText("")
            self._bar_idle()

    # ------------------------------------------------------------------ views
    def _show_progress(self) -> None:
        p = self.store.progress
        if p is None:
            return
        if self.progress.maximum() != max(p.total, 1):
            self.progress.setRange(0, max(p.total, 1))
        if self.progress.value() != p.done:
            self.progress.setValue(p.done)
        eta = f"{p.done:,} / {p.total:,} requests"
        eta += f" · {_fmt_eta(p.eta_s)}" if self.running else ""
        if self.eta.text() != eta:
            self.eta.setText(eta)
        bar = f"{p.done:,} / {p.total:,}"
        if not self.running:
            cancelled = self.controller.finished is not None and self.controller.finished.cancelled
            bar += " · cancelled" if cancelled else " · done" if p.done >= p.total else " · stopped"
        self._bar_text(bar)

    def _bar_text(self, text: str) -> None:
        """The words inside the progress bar (its format: "%" is written "%%" there)."""
        text = text.replace("%", "%%")
        if self.progress.format() != text:
            self.progress.setFormat(text)

    def _bar_idle(self) -> None:
        """Before a run: the bar says whether there is something to run."""
        c = self.controller
        if not c.running and self.store.progress is None:
            self._bar_text("ready" if c.images and c.backends else "nothing to run yet")

    def refresh_views(self, force: bool = False) -> None:
        """Apply background work and redraw what changed. The timer ticks every ``REFRESH_MS``; the
        views are redrawn in two halves on alternate ticks (latency + table, then quality +
        selection, with top-5 half a tick later), so each redraws at ~12 Hz while no single tick
        paints every chart: input and timers get in between. ``force`` redraws everything now."""
        if not force:
            self.controller.drain()
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
        shown = [s.name for s in self.controller.backends]
        return shown + [b for b in self.store.backend_names if b not in shown]

    def _refresh_first(self, changes, force: bool) -> None:
        backends = self._backends()
        # the table is the costliest view to repaint and nobody reads numbers at 12 Hz: ~4 Hz
        self._table_pending.extend(changes.aggregates)
        self._table_ticks += 1
        if self._table_pending and (
            force or not self.running or self._table_ticks % TABLE_EVERY == 0
        ):
            listed = [e.name for e in self.controller.images]
            known = set(listed)
            self.table.set_order(
                listed + [i for i in self.store.images if i not in known], backends
            )
            self.table.upsert(self._table_pending)
            self._table_pending = []
        self.colors.assign(backends)
        variants = self.store.variants()
        self._update_combos(variants)
        image, variant = self.controller.selection
        if (image is None and self.image_combo.count()) or (variant is None and variants):
            self.controller.select(
                image or self.image_combo.itemData(0), variant or self.variant_combo.itemData(0)
            )
        self.latency.update_data(variants, backends, self.store.cells(), self.store.cold)
        if changes.aggregates or force:
            self.latency.set_pooling(self.store.images_per_cell())

    def _refresh_second(self, now: bool = False) -> None:
        backends = self._backends()
        points = [p for p in self.store.cells().values() if p.images and p.backend in backends]
        self.quality.update_data(points, backends)
        self.quality.set_pooling({(p.variant, p.backend): p.images for p in points})
        self._show_selection(top5=False)
        if now:
            self._update_top5()
        else:
            # half a tick later, in an event-loop pass of its own: when a run's first answers
            # arrive, quality and top-5 both lay out and paint their axes for the first time, and
            # together they held the window for 30-40 ms
            self._top5_timer.start()

    def _update_top5(self) -> None:
        backends = self._backends()
        image, variant = self.controller.selection
        answers, notes = {}, {}
        for b in backends:
            answers[b] = self.store.top5(image, variant, b) if image and variant else None
            agg = self.store.aggregate_for(image or "", variant or "", b)
            if answers[b] is None and agg is not None and agg.n_errors:
                notes[b] = "failed"
        label = short_variant(variant) if variant else None
        self.top5.update_data(
            image if image in self.store.images else None, label, backends, answers, notes
        )

    def _update_combos(self, variants: list[str]) -> None:
        """The measured images and variants; before a run, the loaded images and the variants
        the settings plan (so the selectors are never blank while there is something to pick)."""
        images = list(self.store.images)
        if not images and not variants:
            from tfcompare.runner.request_plan import planned_variants

            c = self.controller
            images = [e.name for e in c.images if not (e.probed and e.error)]
            variants = planned_variants(c.settings) if images else []
        if [self.image_combo.itemData(i) for i in range(self.image_combo.count())] != images:
            self.image_combo.blockSignals(True)
            self.image_combo.clear()
            for name in images:
                self.image_combo.addItem(shown(name), name)
            self.image_combo.blockSignals(False)
        if [self.variant_combo.itemData(i) for i in range(self.variant_combo.count())] != variants:
            self.variant_combo.blockSignals(True)
            self.variant_combo.clear()
            for v in variants:
                self.variant_combo.addItem(short_variant(v), v)
                self.variant_combo.setItemData(
                    self.variant_combo.count() - 1, self.store.variant_label(v), 3
                )  # tooltip role
            self.variant_combo.blockSignals(False)

    def select(self, image: str | None, variant: str | None) -> None:
        """One selection (image + variant) shared by every view."""
        self.controller.select(image, variant)

    def _show_selection(self, top5: bool = True) -> None:
        image, variant = self.controller.selection
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
        if top5:
            self._update_top5()

    def set_log_scale(self, on: bool) -> None:
        self.latency.set_log(on)
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
        action = getattr(self, "actions_by_name", {}).get("log")
        if action is not None and action.isChecked() != on:
            action.setChecked(on)

    # ------------------------------------------------------------------ backend status
    def refresh_status(self) -> None:
        """Backends → Refresh status: check every backend now, say so, and say what was found
        once every one has answered (``_on_status_checked``)."""
        c = self.controller
        if not c.backends:
            self.statusBar().showMessage("No backends to check: add one (Backends → Add…).", 8000)
            return
        self._checking = {s.name: c.statuses.get(s.name) for s in c.backends}
        c.refresh_status()
        self.statusBar().showMessage(f"Checking {_count(len(self._checking), 'backend')}…")

    def _on_status_checked(self) -> None:
        """Once every backend asked about has a fresh answer: how many answered and why the
        others did not."""
        c = self.controller
        asked = {n: old for n, old in self._checking.items() if c.spec(n) is not None}
        if any(c.statuses.get(n) is old for n, old in asked.items()):
            return  # still waiting for some
        self._checking = {}
        if not asked:
            return
        states = {n: c.statuses[n].state for n in asked}
        ok = [n for n, st in states.items() if st == "ok"]
        warn = [n for n, st in states.items() if st == "warn"]
        bad = [n for n, st in states.items() if st not in ("ok", "warn")]
        parts = [f"{len(ok)} available"] if ok else []
        if warn:
            parts.append(f"{len(warn)} with a warning ({', '.join(warn)})")
        if bad:
            parts.append(f"{len(bad)} not available ({', '.join(bad)})")
        self.statusBar().showMessage(
            f"Checked {_count(len(asked), 'backend')}: {', '.join(parts)}.", 15000
        )

    _checking: dict = {}

    # ------------------------------------------------------------------ inputs
    def set_backends(self, specs: list[BackendSpec], persist: bool = True) -> None:
        self.controller.set_backends(specs)
        if persist:
            self.save_prefs()

    def paste(self) -> None:
        self.inputs.paste()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            self.inputs.add_urls(mime.urls())
        elif mime.hasImage():
            self.controller.add_bytes(qimage_png_bytes(QImage(mime.imageData())))
        event.acceptProposedAction()

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.sessions.confirm_discard():
            event.ignore()
            return
        self.save_prefs()
        self.controller.close()
        event.accept()


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _detail(c: WindowController, name: str) -> str:
    st = c.statuses.get(name)
    return st.detail if st is not None else ""


def _takes(c: WindowController, name: str) -> str:
    """What the backend's model takes and how images became its input, as the last run found it
    ("takes float32 224×224×3 NHWC · preprocess tf (auto: …)"); "" before a run, or when the
    backend was edited since."""
    timing, now = c.store.timings.get(name), c.spec(name)
    measured = next((b for b in c.store.backends if b.name == name), None)
    if timing is None or measured is None or now is None:
        return ""
    what = ("target", "protocol", "model", "signature", "preprocess", "crop")
    same = all(getattr(measured, k) == getattr(now, k) for k in what)
    return timing.input if same else ""


def _latency_hint(c: WindowController) -> str:
    """The empty latency chart's hint: what is still missing before a run, like the status bar."""
    first = "Latency appears here while a comparison runs."
    if c.images and c.backends:
        return f"{first}\nPress Run (Ctrl+R)."
    if c.backends:
        return f"{first}\nAdd images, then press Run."
    if c.images:
        return f"{first}\nAdd a backend (Backends → Add…), then press Run."
    return f"{first}\nAdd images and a backend, then press Run."
