"""Work off the window's thread, without Qt: the comparison run, backend status checks and image
looks run in plain threads and put what they find in thread-safe queues; the controller takes it
from there when its owner calls ``WindowController.drain()`` (the window does, on a timer, so every
result is applied on the window's own thread). Every run gets an id; late events of an older run
are dropped by the controller."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tfcompare.runner.connection import Connection, open_connection
from tfcompare.runner.probe import BackendState, BackendStatus, probe
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


@dataclass(frozen=True)
class RunCrashed:
    """The runner itself raised: the run is over, the message says why."""

    run_id: int
    message: str


class BackgroundWork:
    """One piece of work at a time in a plain (daemon) thread, with the flag that cancels it."""

    def __init__(self) -> None:
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def launch(self, work: Callable[[threading.Event], None], name: str) -> None:
        """Run ``work(cancel)`` in a new thread; ``cancel()`` sets its flag."""
        cancel = self._cancel = threading.Event()
        self._thread = threading.Thread(target=work, args=(cancel,), name=name, daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the work to end; True once it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


class RunWorker(BackgroundWork):
    """Runs one comparison at a time in a thread; its events wait in ``pending``."""

    def __init__(self, runner_factory: Callable | None = None) -> None:
        super().__init__()
        self.pending: deque = deque()
        self._factory = runner_factory

    def start(
        self,
        run_id: int,
        backends: Sequence[BackendSpec],
        settings: RunSettings,
        sources: Sequence[Any],
    ) -> None:
        self.cancel()
        factory = self._factory

        def work(cancel: threading.Event) -> None:
            try:
                from tfcompare.runner import Runner

                runner = (factory or Runner)(list(backends), settings)
                runner.run(
                    list(sources), on_event=self.pending.append, cancel=cancel, run_id=run_id
                )
            except Exception as exc:  # the window must survive any runner failure and say why
                self.pending.append(RunCrashed(run_id, f"{type(exc).__name__}: {exc}"))

        self.launch(work, f"tfcompare-run-{run_id}")


class StatusChecker:
    """Checks every backend's status in the background (``probe``), at most every ``every_s``;
    answers wait in ``pending``. A connection (and a k8s forward) is kept per backend between
    checks, so a forward follows its pod and the line can name it."""

    def __init__(
        self, every_s: float = 5.0, connect: Callable[[BackendSpec], Connection] = open_connection
    ) -> None:
        self.every_s = every_s
        self.pending: deque[BackendStatus] = deque()
        self._connect = connect
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tfcompare-status")
        self._specs: list[BackendSpec] = []
        self._busy: set[BackendSpec] = set()
        self._lock = threading.Lock()
        self._connections: dict[BackendSpec, Connection] = {}
        self._last = 0.0
        self._closed = False

    def set_backends(self, specs: Sequence[BackendSpec]) -> None:
        keep = set(specs)
        with self._lock:
            gone = [self._connections.pop(s) for s in list(self._connections) if s not in keep]
        for conn in gone:
            self._pool.submit(_close_quietly, conn)
        self._specs = list(specs)
        self.check_now()

    def tick(self) -> None:
        """Check again if ``every_s`` has passed since the last round."""
        if time.monotonic() - self._last >= self.every_s:
            self.check_now()

    def check_now(self) -> None:
        self._last = time.monotonic()
        for spec in self._specs:
            if spec in self._busy or self._closed:
                continue
            self._busy.add(spec)
            self._pool.submit(self._check, spec)

    def _check(self, spec: BackendSpec) -> None:
        try:
            with self._lock:
                conn = self._connections.get(spec)
            if conn is None:
                conn = self._connect(spec)
                with self._lock:
                    self._connections[spec] = conn
            result = probe(spec, conn)
        except Exception as exc:  # any failure is this backend's status, never the window's
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            result = BackendStatus(spec, BackendState.ERROR, message)
        finally:
            self._busy.discard(spec)
        if not self._closed:
            self.pending.append(result)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            items = list(self._connections.values())
            self._connections.clear()
        for conn in items:
            _close_quietly(conn)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _close_quietly(obj: Any) -> None:
    try:
        obj.close()
    except Exception:
        pass
