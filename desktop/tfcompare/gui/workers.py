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


@dataclass(frozen=True)
class BackendStatus:
    """What the status light shows for one backend."""

    spec: BackendSpec
    state: str  # "ok" | "warn" | "error" | "checking"
    text: str  # one line: "AVAILABLE · version 1" or the reason it is not reachable
    signature: str | None = None  # discovered signature name
    detail: str = ""  # tooltip: input key, outputs, forward state ...


def check_backend(
    spec: BackendSpec,
    address: str | None = None,
    client_cache: dict | None = None,
    forward: Any | None = None,
) -> BackendStatus:
    """Ask one backend for its model status and signature (blocking; call from a worker).
    With a port-forward, ask for the model it resolved and name its service and pod in messages."""
    from tfcompare.datatypes import ServingError
    from tfcompare.serving import make_client

    client = client_cache.get(spec) if client_cache is not None else None
    if client is None:
        client = (
            make_client(forward.spec, address=forward.address, where=forward.describe)
            if forward is not None
            else make_client(spec, address=address)
        )
        if client_cache is not None:
            client_cache[spec] = client
    try:
        status = client.status()
    except ServingError as exc:
        return BackendStatus(spec, "error", exc.message or str(exc))
    if not status.available:
        states = ", ".join(f"v{v} {s}" for v, s in status.versions) or "no versions"
        return BackendStatus(spec, "warn", status.message or f"model not available ({states})")
    try:
        sig = client.metadata()
    except ServingError as exc:
        return BackendStatus(
            spec, "error", f"AVAILABLE v{status.serving_version}, but {exc.message}"
        )
    detail = f"input '{sig.input_key}' ({sig.input_dtype}); outputs {', '.join(sig.output_keys)}"
    return BackendStatus(
        spec,
        "ok",
        f"AVAILABLE · version {status.serving_version} · {sig.signature_name}",
        sig.signature_name,
        detail,
    )


class StatusPoller(QObject):
    """Refreshes every backend's status light in the background, every ``interval_ms``."""

    status = Signal(object)  # BackendStatus

    def __init__(self, parent: QObject | None = None, interval_ms: int = 5000) -> None:
        super().__init__(parent)
        self._specs: list[BackendSpec] = []
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tfcompare-status")
        self._busy: set[BackendSpec] = set()
        self._lock = threading.Lock()
        self._clients: dict[BackendSpec, Any] = {}
        self._forwards: dict[BackendSpec, Any] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        self._closed = False

    def set_backends(self, specs: list[BackendSpec]) -> None:
        keep = set(specs)
        with self._lock:
            gone = [s for s in self._clients if s not in keep]
            clients = [self._clients.pop(s) for s in gone]
            forwards = [self._forwards.pop(s) for s in list(self._forwards) if s not in keep]
        for c in clients + forwards:
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
            address = None
            prefix = ""
            if spec.is_k8s:
                with self._lock:
                    fwd = self._forwards.get(spec)
                if fwd is None:
                    from tfcompare.cluster import open_forward

                    fwd = open_forward(spec)
                    with self._lock:
                        self._forwards[spec] = fwd
                address = fwd.address
                prefix = f"{fwd.state} · "
            with self._lock:
                cache = self._clients
            result = check_backend(spec, address, cache, forward=fwd if spec.is_k8s else None)
            if prefix:  # the forward (pod, reconnecting…) is part of what the light says
                result = BackendStatus(
                    spec, result.state, prefix + result.text, result.signature,
                    prefix + result.detail,
                )  # fmt: skip
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
            items = list(self._clients.values()) + list(self._forwards.values())
            self._clients.clear()
            self._forwards.clear()
        for c in items:
            _close_quietly(c)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _close_quietly(obj: Any) -> None:
    try:
        obj.close()
    except Exception:
        pass
