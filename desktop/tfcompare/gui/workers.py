"""Work off the GUI thread: the comparison run and the backend status checks.

Both run in plain Python threads. Run events are put in a thread-safe queue and delivered on the
GUI thread in batches by a short timer (one wake-up per batch instead of one queued signal per
request, and only the latest progress of a batch), through the ``event`` signal. Every run gets a
generation number; the window drops events whose number is not the current run's, so a cancelled
or older run can never draw.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from tfcompare.datatypes import BackendSpec, Progress, RunSettings
from tfcompare.runner.connection import Connection, open_connection
from tfcompare.runner.probe import BackendStatus, probe

DRAIN_MS = 20  # how often queued run events are delivered to the window


@dataclass(frozen=True)
class RunCrashed:
    """The runner itself raised: the run is over, the message says why."""

    run_id: int
    message: str


class RunController(QObject):
    """Starts runs in a worker thread and delivers their events, in order, on the GUI thread."""

    event = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_id = 0
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._pending: deque = deque()  # appended by worker threads, drained on the GUI thread
        self._drain_timer = QTimer(self)
        self._drain_timer.setInterval(DRAIN_MS)
        self._drain_timer.timeout.connect(self.drain)

    def drain(self) -> None:
        """Deliver the queued events; of consecutive progress events only the last one matters."""
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        for i, ev in enumerate(batch):
            if isinstance(ev, Progress) and i + 1 < len(batch) and isinstance(batch[i + 1], Progress):
                continue
            self.event.emit(ev)
        if not self.running and not self._pending:
            self._drain_timer.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, backends: list[BackendSpec], settings: RunSettings, sources: list[Any]) -> int:
        self.cancel()
        self.run_id += 1
        run_id = self.run_id
        cancel = threading.Event()
        self._cancel = cancel

        def work() -> None:
            try:
                from tfcompare.runner import Runner

                Runner(backends, settings).run(
                    sources, on_event=self._pending.append, cancel=cancel, run_id=run_id
                )
            except Exception as exc:  # the window must survive any runner failure and say why
                self._pending.append(RunCrashed(run_id, f"{type(exc).__name__}: {exc}"))

        self._thread = threading.Thread(target=work, name=f"tfcompare-run-{run_id}", daemon=True)
        self._thread.start()
        self._drain_timer.start()
        return run_id

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


class StatusPoller(QObject):
    """Refreshes every backend's status light in the background, every ``interval_ms``."""

    status = Signal(object)  # BackendStatus

    def __init__(self, parent: QObject | None = None, interval_ms: int = 5000) -> None:
        super().__init__(parent)
        self._specs: list[BackendSpec] = []
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tfcompare-status")
        self._busy: set[BackendSpec] = set()
        self._lock = threading.Lock()
        self._connections: dict[BackendSpec, Connection] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        self._closed = False

    def set_backends(self, specs: list[BackendSpec]) -> None:
        keep = set(specs)
        with self._lock:
            gone = [self._connections.pop(s) for s in list(self._connections) if s not in keep]
        for c in gone:
            self._pool.submit(_close_quietly, c)
        self._specs = list(specs)
        self.poll()
        if not self._timer.isActive():
            self._timer.start()

    def poll(self) -> None:
        for spec in self._specs:
            if spec in self._busy or self._closed:
                continue
            self._busy.add(spec)
            self._pool.submit(self._check, spec)

    def _check(self, spec: BackendSpec) -> None:
        try:
            with self._lock:
                conn = self._connections.get(spec)
            if conn is None:  # kept open between checks (a k8s forward follows its pod)
                conn = open_connection(spec)
                with self._lock:
                    self._connections[spec] = conn
            result = probe(spec, conn)
        except Exception as exc:  # any failure is this backend's status, never the window's
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            result = BackendStatus(spec, "error", message)
        finally:
            self._busy.discard(spec)
        if not self._closed:
            self.status.emit(result)

    def close(self) -> None:
        self._closed = True
        self._timer.stop()
        with self._lock:
            items = list(self._connections.values())
            self._connections.clear()
        for c in items:
            _close_quietly(c)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _close_quietly(obj: Any) -> None:
    try:
        obj.close()
    except Exception:
        pass
