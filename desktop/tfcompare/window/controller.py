"""The comparison being edited in the window, without Qt: images (with their final names and
sources), backends and their status, settings, the selection, the run and its id, the session file
and its unsaved flag, the compare overlay and the results (``ResultStore``); beside it, the
capacity sweeps of the same images and backends (``capacity``, a ``CapacityController``), saved
and opened with the comparison in one session file.

Views call the operations and subscribe to ``events`` (``tfcompare.window.events``): one psygnal
signal per part of the state, e.g. ``controller.events.images.connect(view._on_images_changed)``.
A signal, not a callback list or a topic string, because a view then connects to exactly what it
draws, a typo is an AttributeError instead of a silently ignored topic, and the same mechanism
serves the capacity controller. Background work (runs, status checks, image looks, sweeps) lands
in queues that ``drain()`` applies on the owner's thread; the window calls it on a timer, so every
signal is emitted — and every view handler runs — on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from tfcompare.bidi import without_bidi_controls
from tfcompare.runner import unique_name
from tfcompare.runner.events import (
    BackendReady,
    ImageFailed,
    ImageReady,
    PodMoved,
    RunFinished,
    RunStarted,
    TimingUpdated,
)
from tfcompare.runner.probe import BackendState, BackendStatus, ready_text
from tfcompare.runner.request_plan import planned_requests
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings, SettingsError
from tfcompare.window import session_files
from tfcompare.window.capacity import CapacityController
from tfcompare.window.events import ControllerEvents, Ended, Message, Outcome
from tfcompare.window.images import ImageEntry, Inspection, inspect
from tfcompare.window.result_store import ResultStore
from tfcompare.window.work import RunCrashed, RunWorker, StatusChecker

MAX_UNDO = 20


@dataclass(frozen=True)
class Overlay:
    """Another session's latency drawn over this one's (dashed)."""

    label: str
    path: Path
    cells: dict


class WindowController:
    """One window's comparison. ``runner_factory`` and ``connect`` let tests swap the runner and the
    backend connection for stand-ins; by default they are the real ones."""

    def __init__(
        self,
        backends: Sequence[BackendSpec] = (),
        settings: RunSettings | None = None,
        *,
        runner_factory: Callable | None = None,
        connect: Callable | None = None,
        status_every_s: float = 5.0,
    ) -> None:
        self.events = ControllerEvents()
        self.images: list[ImageEntry] = []
        self.backends: list[BackendSpec] = list(backends)
        self.statuses: dict[str, BackendStatus] = {}
        # backend → (state, text) from the run
        self.run_notes: dict[str, tuple[BackendState, str]] = {}
        self.saved_backends: set[BackendSpec] = set()  # as read from the session opened last
        self.settings: RunSettings = settings or RunSettings()
        self.settings_error: SettingsError | None = None
        self.selection: tuple[str | None, str | None] = (None, None)
        self.store = ResultStore()
        self.run_id = 0
        self.running = False
        self.finished: Ended | None = None  # how the last run ended
        self.dropped_events = 0
        self.path: Path | None = None
        self.title: str | None = None  # the session file's title
        self.comparison_unsaved = False  # results (or an edit of them) no session file holds
        self.overlay: Overlay | None = None
        self.message: Message | None = None
        self.view_options: dict = {}  # what a view keeps in a session file (e.g. log scale)
        self.capacity = CapacityController(
            lambda: list(self.backends),
            lambda: [e.source for e in self.images if not e.error],
            busy=lambda: (
                "A comparison is running: cancel it or let it finish first (both would load "
                "the same backends)."
                if self.running
                else None
            ),
        )
        # a sweep that ends is something new the session file does not hold
        self.capacity.events.finished.connect(self._on_sweep_finished)
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._worker = RunWorker(runner_factory)
        kwargs = {"connect": connect} if connect is not None else {}
        self._checker = StatusChecker(status_every_s, **kwargs)
        self._looks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tfcompare-look")
        self._looked: list[Inspection] = []
        if self.backends:
            self._checker.set_backends(self.backends)

    # ------------------------------------------------------------------ observers
    @property
    def unsaved(self) -> bool:
        """The window shows something its session file does not hold: a comparison's results
        (or an edit of them) or a capacity sweep."""
        return self.comparison_unsaved or self.capacity.unsaved

    @unsaved.setter
    def unsaved(self, value: bool) -> None:
        """True: the comparison is unsaved; False: everything shown is saved (or discarded)."""
        self.comparison_unsaved = value
        if not value:
            self.capacity.unsaved = False

    def _say(self, text: str, *, warning: bool = False, undo: bool = False) -> None:
        # names inside a message must not reorder it (see tfcompare.bidi)
        self.message = Message(without_bidi_controls(text), warning, undo)
        self.events.message.emit(self.message)

    def _everything_changed(self) -> None:
        """A new or opened session: every part changed (every view redraws)."""
        e = self.events
        _emit(
            e.images,
            e.backends,
            e.status,
            e.settings,
            e.selection,
            e.run,
            e.results,
            e.session,
            e.overlay,
        )

    def _on_sweep_finished(self, ended: Ended) -> None:
        self.events.session.emit()

    # ------------------------------------------------------------------ images
    def add_paths(self, paths: Iterable[str | Path]) -> int:
        """Add image files (folders searched); a file already listed is not added twice."""
        from tfcompare.imaging import iter_image_files

        have = {e.path for e in self.images if e.path}
        new = []
        for p in iter_image_files(list(paths)):
            path = str(Path(p).absolute())
            if path not in have:
                have.add(path)
                new.append(ImageEntry(name=Path(path).name, path=path))
        return self._add_images(new)

    def add_bytes(self, data: bytes, name: str | None = None) -> str:
        """Add an image held in memory (pasted); returns its final name."""
        if name is None:
            taken = [e.name for e in self.images if e.name.startswith("pasted image ")]
            name = f"pasted image {len(taken) + 1}.png"
        self._add_images([ImageEntry(name=name, data=data)])
        return self.images[-1].name

    def _add_images(self, new: list[ImageEntry]) -> int:
        used = {e.name for e in self.images}
        for entry in new:
            entry.name = unique_name(entry.name, used)  # final: the runner is given this name
            self.images.append(entry)
            self._looks.submit(self._look_at, entry)
        if new:
            self.events.images.emit()
        return len(new)

    def image(self, name: str) -> ImageEntry | None:
        return next((e for e in self.images if e.name == name), None)

    def remove_images(self, names: Iterable[str]) -> int:
        gone = set(names) & {e.name for e in self.images}
        if not gone or self._busy("removing images"):
            return 0
        before, snapshot = list(self.images), self.store.snapshot()
        unsaved = self.comparison_unsaved
        self.images = [e for e in self.images if e.name not in gone]
        self.store.drop(images=gone)
        if self.selection[0] in gone:
            self.selection = (None, self.selection[1])
        what = f"Removed {len(gone)} image{'s' if len(gone) != 1 else ''}"

        def undo() -> None:
            self.images = before
            self.store.restore(snapshot)
            self.comparison_unsaved = unsaved

        self._removed(what, undo, self.events.images)
        return len(gone)

    def clear_images(self) -> int:
        return self.remove_images([e.name for e in self.images])

    # ------------------------------------------------------------------ backends
    def set_backends(self, specs: Sequence[BackendSpec]) -> None:
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backend names must be unique: {', '.join(dupes)}")
        self.backends = list(specs)
        self.statuses = {n: s for n, s in self.statuses.items() if self.spec(n) == s.spec}
        self.run_notes = {n: v for n, v in self.run_notes.items() if n in names}
        self._checker.set_backends(self.backends)
        _emit(self.events.backends, self.events.status)

    def spec(self, name: str) -> BackendSpec | None:
        return next((s for s in self.backends if s.name == name), None)

    def add_backend(self, spec: BackendSpec) -> None:
        self.set_backends([*self.backends, spec])

    def replace_backend(self, name: str, spec: BackendSpec) -> None:
        """An edited backend: what was known about its old address no longer says anything."""
        self.statuses.pop(name, None)
        self.run_notes.pop(name, None)
        self.set_backends([spec if s.name == name else s for s in self.backends])

    def remove_backend(self, name: str) -> None:
        if self.spec(name) is None or self._busy("removing a backend"):
            return
        before, snapshot = list(self.backends), self.store.snapshot()
        unsaved = self.comparison_unsaved
        self.set_backends([s for s in self.backends if s.name != name])
        self.store.drop(backends={name})

        def undo() -> None:
            self.set_backends(before)
            self.store.restore(snapshot)
            self.comparison_unsaved = unsaved

        self._removed(f"Removed backend {name}", undo, self.events.backends)

    def status_of(self, name: str) -> tuple[BackendState, str]:
        """(state, one line) shown for a backend: the current run's finding, else the last check."""
        if name in self.run_notes:
            state, text = self.run_notes[name]
        else:
            st = self.statuses.get(name)
            state, text = (st.state, st.text) if st else (BackendState.CHECKING, "checking…")
            if state is BackendState.ERROR and self.spec(name) in self.saved_backends:
                # a reopened session's backend that is gone: expected, not an alarm
                state = BackendState.OFFLINE
                text = f"not connected (from the saved session): {text}"
        state = BackendState(state)
        timing = self.store.timings.get(name)
        measured = next((b for b in self.store.backends if b.name == name), None)
        current = self.spec(name)
        if measured is None or current is None or _where(measured) != _where(current):
            timing = None  # about the backend as it was before an edit
        if timing is not None and timing.short:  # first when all is well: the line is elided
            first = state is BackendState.OK
            text = f"{timing.short} · {text}" if first else f"{text} · {timing.short}"
        return state, text

    def refresh_status(self) -> None:
        """Check every backend now; a fresh check replaces what an earlier run found."""
        self.run_notes.clear()
        self._checker.check_now()
        self.events.status.emit()

    # ------------------------------------------------------------------ undo
    def _busy(self, doing: str) -> bool:
        if self.running:
            self._say(f"Cancel the running comparison before {doing}.", warning=True)
        return self.running

    def _sweeping(self, doing: str) -> str | None:
        """Why ``doing`` must wait for the capacity sweep that is running, if one is."""
        if self.capacity.running:
            return f"cancel the running capacity sweep (or let it finish) before {doing}"
        return None

    def _removed(self, what: str, undo: Callable[[], None], changed) -> None:
        self._undo.append((what, undo))
        del self._undo[:-MAX_UNDO]
        # what a save would write has changed
        self.comparison_unsaved = self.store.result is not None
        _emit(changed, self.events.results, self.events.selection, self.events.session)
        self._say(f"{what}.", undo=True)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) and not self.running

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        what, undo = self._undo.pop()
        undo()
        e = self.events
        _emit(e.images, e.backends, e.status, e.results, e.selection, e.session)
        self._say(f"Undone: {what[0].lower()}{what[1:]}.")
        return True

    # ------------------------------------------------------------------ settings
    def set_settings(self, settings: RunSettings | SettingsError) -> None:
        """New settings from the settings view, or the problem with what was entered."""
        if isinstance(settings, SettingsError):
            self.settings_error = settings
        else:
            self.settings, self.settings_error = settings, None
        self.events.settings.emit()

    def planned_requests(self) -> int:
        sizes = [e.size for e in self.images if not (e.probed and e.error)]
        return planned_requests(self.settings, len(self.backends), sizes)

    # ------------------------------------------------------------------ selection
    def select(self, image: str | None, variant: str | None) -> None:
        if (image, variant) != self.selection:
            self.selection = (image, variant)
            self.events.selection.emit()

    # ------------------------------------------------------------------ running
    def start_run(self) -> str | None:
        """Start a run; returns why it cannot start (None when it started)."""
        if self.running:
            return "A comparison is already running."
        if self.capacity.running:
            return (
                "A capacity sweep is running: cancel it or let it finish first (both would "
                "load the same backends)."
            )
        if self.settings_error is not None:
            return f"Fix the settings first: {self.settings_error}"
        if not self.images:
            return (
                "Add images first: drop files or folders on the window, or use File → Add images…"
            )
        if not self.backends:
            return (
                "Add a backend first (Backends → Add…): the address of a model server (TF "
                "Serving, Triton, KServe or MLServer)."
            )
        self.run_id += 1
        self.running, self.finished, self.run_notes = True, None, {}
        self.store.clear()
        self.comparison_unsaved = False
        for entry in self.images:
            entry.variants = None
        self._worker.start(
            self.run_id, self.backends, self.settings, [e.source for e in self.images]
        )
        e = self.events
        _emit(e.run, e.status, e.results, e.session)
        self._say("Running…")
        return None

    def cancel_run(self) -> None:
        if self.running:
            self._worker.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self._worker.wait(timeout)

    def _look_at(self, entry: ImageEntry) -> None:
        """(a worker thread) Inspect an image; ``drain`` applies what was found."""
        self._looked.append(inspect(entry))

    def drain(self) -> None:
        """Apply what background work has found (call on the owner's thread)."""
        while self._looked:
            self._on_look(self._looked.pop(0))
        self._checker.tick()
        changed_status = False
        while self._checker.pending:
            st = self._checker.pending.popleft()
            if self.spec(st.spec.name) == st.spec:  # not about a backend since edited or removed
                self.statuses[st.spec.name] = st
                changed_status = True
        if changed_status:
            self.events.status.emit()
        pending = self._worker.pending
        batch = [pending.popleft() for _ in range(len(pending))]
        for event in batch:
            self.deliver(event)
        self.capacity.drain()

    def deliver(self, event: object) -> None:
        """One run event (or RunCrashed); events of any run but the current one are dropped."""
        if getattr(event, "run_id", None) != self.run_id or not self.running:
            self.dropped_events += 1
            return
        if isinstance(event, RunCrashed):
            self._finish(Ended(Outcome.FAILED, f"The run stopped: {event.message}"))
            return
        self.store.apply(event)
        if isinstance(event, ImageReady):
            entry = self.image(event.image.name)
            if entry is not None:
                entry.variants, entry.error = len(event.image.variants), None
                self.events.images.emit()
        elif isinstance(event, ImageFailed):
            entry = self.image(event.problem.image)
            if entry is not None:
                entry.error = event.problem.message
                self.events.images.emit()
        elif isinstance(event, BackendReady):
            self.run_notes[event.backend] = (
                (BackendState.WARN if event.waiting else BackendState.ERROR, event.message)
                if event.message
                else (BackendState.OK, ready_text(event.status, event.signature))
            )
            self.events.status.emit()
        elif isinstance(event, PodMoved):
            self.run_notes[event.backend] = (BackendState.WARN, event.text)
            self.events.status.emit()
        elif isinstance(event, TimingUpdated):  # path floor and metrics source in the status line
            self.events.status.emit()
        elif isinstance(event, RunStarted):
            self.events.run.emit()
        elif isinstance(event, RunFinished):
            n = len(event.result.measured)
            text = f"{'Cancelled' if event.cancelled else 'Finished'}: {n:,} measured requests"
            errors = sum(self.store.errors.values())
            if errors:
                text += f" ({errors:,} failed — see the backends list and the table)"
            self._finish(Ended(Outcome.CANCELLED if event.cancelled else Outcome.FINISHED, text))

    def _finish(self, ended: Ended) -> None:
        self.running = False
        self.finished = ended
        for name, n in self.store.errors.items():
            note = self.run_notes.get(name)
            if note and note[0] == BackendState.ERROR:
                self.run_notes[name] = (BackendState.ERROR, f"{note[1]} ({n:,} failed)")
            elif n:
                self.run_notes[name] = (
                    BackendState.WARN,
                    f"{n:,} failed requests: {self.store.last_error.get(name, '')}",
                )
        for name, cold in self.store.cold.items():  # not among the failed: said on its own
            if (
                not cold.ok
                and not self.store.errors.get(name)
                and self.run_notes.get(name, (BackendState.OK,))[0] == BackendState.OK
            ):
                self.run_notes[name] = (
                    BackendState.WARN,
                    f"the cold first request failed: {cold.error}",
                )
        self.comparison_unsaved = self.store.has_results()
        e = self.events
        _emit(e.run, e.status, e.session)
        self._say(ended.message, warning=ended.failed)

    def _on_look(self, look: Inspection) -> None:
        entry = self.image(look.name)
        if entry is None:
            return
        entry.probed = True
        entry.format, entry.width, entry.height = look.format, look.width, look.height
        entry.nbytes, entry.thumb, entry.error = look.nbytes, look.thumb, look.error
        self.events.images.emit()

    # ------------------------------------------------------------------ session file
    def new_session(self) -> None:
        """An empty comparison and no capacity sweep (backends and settings stay)."""
        if self._busy("starting a new session"):
            return
        sweeping = self._sweeping("starting a new session")
        if sweeping:
            self._say(f"{sweeping[0].upper()}{sweeping[1:]}.", warning=True)
            return
        self.images = []
        self.store.clear()
        self.selection = (None, None)
        self.overlay = None
        self.path, self.title, self.finished, self.run_notes = None, None, None, {}
        self.capacity.clear()
        self.unsaved = False
        self.saved_backends = set()
        self._undo.clear()
        self._everything_changed()
        self._say("New session.")

    def open_session(self, path: str | Path) -> None:
        """Show a saved session as it was saved; raises SessionError (nothing changes then)."""
        from tfcompare.session import SessionError, load_session

        if self.running:
            raise SessionError("cancel the running comparison before opening a session")
        sweeping = self._sweeping("opening a session")
        if sweeping:
            raise SessionError(sweeping)
        saved = load_session(path)
        result = saved.result
        capacity_problem = session_files.load_capacity(self.capacity, saved)
        known = {s.name: s for s in self.backends}
        # a backend keeps its auth header when the same backend is configured here (a run records
        # the timeout it used: one left to the settings here is still the same backend)
        specs = [
            known[b.name] if _same_backend(known.get(b.name), b) else b for b in result.backends
        ]
        self.images = [
            ImageEntry(name=i.name, data=i.original, variants=len(i.variants))
            for i in result.images
        ]
        for problem in result.problems:
            self.images.append(ImageEntry(name=problem.image, error=problem.message, probed=True))
        for entry in self.images:
            if entry.data:
                self._looks.submit(self._look_at, entry)
        self.settings, self.settings_error = result.settings, None
        self.set_backends(specs)
        self.saved_backends = set(specs)
        self.run_notes, self.finished, self.overlay = {}, None, None
        self.store.load_result(result)
        sel = saved.selection or {}
        self.selection = (sel.get("image"), sel.get("variant"))
        self.view_options = {k: v for k, v in sel.items() if k not in ("image", "variant")}
        self.path, self.title, self.unsaved = Path(path), saved.title, False
        self._undo.clear()
        self._everything_changed()
        sweep = self.capacity.result
        if sweep is not None and not result.measured:
            self._say(
                f"Opened {Path(path).name}: a capacity sweep of {len(sweep.levels)} levels "
                f"on {len(result.backends)} backends."
            )
        else:
            self._say(
                f"Opened {Path(path).name}: {len(result.images)} images, "
                f"{len(result.backends)} backends, {len(result.measured):,} requests."
            )
        if capacity_problem:
            self._say(
                f"Opened {Path(path).name}; its capacity sweep is not shown: {capacity_problem}",
                warning=True,
            )

    def saved_sweep(self):
        """The capacity sweep a session file would hold (None without one)."""
        return self.capacity.saved_sweep()

    @property
    def has_something_to_save(self) -> bool:
        return self.store.snapshot() is not None or self.saved_sweep() is not None

    def save_session(self, path: str | Path, view_options: dict | None = None) -> None:
        """Save what is shown (removed images and backends are not in it); raises SessionError."""
        from tfcompare.session import SessionError

        result, sweep = self.store.snapshot(), self.saved_sweep()
        if result is None and sweep is None:
            raise SessionError(
                "nothing to save: run a comparison first (a session holds its results)"
            )
        image, variant = self.selection
        selection = {"image": image, "variant": variant, **(view_options or {})}
        session_files.save(Path(path), result, sweep, selection, self.settings)
        self.path, self.title, self.unsaved = Path(path), Path(path).stem, False
        self.events.session.emit()
        self._say(f"Saved {path}")

    # ------------------------------------------------------------------ compare overlay
    def compare_with(self, path: str | Path) -> None:
        """Overlay another session's latency; raises SessionError."""
        from tfcompare.runner.aggregates import pooled
        from tfcompare.session import load_session

        other = load_session(path).result
        label = Path(path).stem
        self.overlay = Overlay(label, Path(path), pooled(other.requests, other.summary))
        self.events.overlay.emit()

    def clear_compare(self) -> None:
        if self.overlay is not None:
            self.overlay = None
            self.events.overlay.emit()

    # ------------------------------------------------------------------ exports
    def export_results(self, kind: str, path: str | Path) -> None:
        """Write the results as JSON or CSV; raises LookupError with nothing to export, OSError."""
        result = self.store.snapshot()
        if result is None:
            raise LookupError("Run a comparison or open a session first.")
        session_files.write_results(result, kind, path)
        self._say(f"Exported {path}")

    def export_report(self, path: str | Path):
        """Write the findings report (HTML) of what is shown, with the capacity sweep shown;
        it names the session file as its source while nothing shown differs from the file.
        Raises LookupError, OSError."""
        result = self.store.snapshot()
        if result is None:
            raise LookupError("Run a comparison (and let it finish) or open a session first.")
        report = session_files.write_findings(
            result, path, self.saved_sweep(), None if self.unsaved else self.path, self.title
        )
        self._say(f"Wrote the report {path}")
        return report

    def close(self) -> None:
        self._worker.cancel()
        self.capacity.close()
        self._worker.wait(3.0)
        self._checker.close()
        self._looks.shutdown(wait=False, cancel_futures=True)


def _emit(*signals) -> None:
    """Announce that these parts changed, in this order."""
    for signal in signals:
        signal.emit()


def _same_backend(mine: BackendSpec | None, saved: BackendSpec) -> bool:
    if mine is None:
        return False
    return mine == saved or (
        mine.timeout_s is None and replace(mine, timeout_s=saved.timeout_s) == saved
    )


def _where(spec: BackendSpec) -> tuple:
    """What a path floor and a metrics source depend on."""
    return spec.target, spec.protocol, spec.model, spec.metrics
