"""The comparison engine: images → variant ladders → every backend, in parallel → measured results.

One worker thread per backend sends that backend's requests one at a time (so a backend never competes
with itself and a slow backend never delays another), while a loader thread builds the variant ladders
ahead of them. Events go to ``on_event`` as they happen; the returned RunResult holds everything.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcompare.imaging.values import ImageInfo, ImageProblem, Variant
from tfcompare.results import RequestResult, RunResult, ServerTime
from tfcompare.runner.aggregates import aggregate
from tfcompare.runner.connection import Connection, open_connection
from tfcompare.runner.events import (
    BackendReady,
    ImageFailed,
    ImageReady,
    PodMoved,
    Progress,
    RequestDone,
    RunEvent,
    RunFinished,
    RunStarted,
    ServerTimeMeasured,
    TimingUpdated,
)
from tfcompare.runner.probe import probe, probe_until_ready
from tfcompare.runner.request_plan import planned_requests, requests_per_variant, variants_per_image
from tfcompare.runner.server_clock import FLOOR_AT_START, FLOOR_PER_IMAGE, ServerClock
from tfcompare.serving.answers import ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import RequestInput
from tfcompare.serving.preparation import RequestMaker
from tfcompare.settings import RunSettings

# A path, pasted bytes, or an explicit (name, path or bytes) pair: results carry that name as given
# (a repeated name still gets " (2)", so two images never share one).
Source = str | Path | bytes | tuple[str, str | Path | bytes]
EventSink = Callable[[RunEvent], None]

# Errors that say something about the backend as a whole rather than about one request.
BACKEND_LEVEL = {
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
}
DOWN_AFTER = 2  # consecutive backend-level failures before requests stop being sent
PROBE_EVERY_S = 2.0  # while down, how often to check whether the backend is back


@dataclass
class _State:
    """Shared, lock-protected bookkeeping of one run."""

    run_id: int
    on_event: EventSink | None
    cancel: threading.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RequestResult] = field(default_factory=list)
    server_times: list[ServerTime] = field(default_factory=list)
    clocks: list[ServerClock] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    problems: list[ImageProblem] = field(default_factory=list)
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    closed: bool = False
    turn: threading.Lock = field(default_factory=threading.Lock)  # backends taking turns

    def emit(self, event: RunEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a consumer's bug must not stop the measurements
            traceback.print_exc(file=sys.stderr)

    def progress_event(self) -> Progress:
        elapsed = time.monotonic() - self.started
        eta = None
        if self.done and self.total >= self.done:
            eta = elapsed / self.done * (self.total - self.done)
        return Progress(self.run_id, self.done, self.total, eta)


class Runner:
    """Runs one comparison. Reusable: each ``run`` call is independent."""

    def __init__(
        self,
        backends: Sequence[BackendSpec],
        settings: RunSettings | None = None,
        *,
        connect: Callable[[BackendSpec], Connection] = open_connection,
    ):
        names = [b.name for b in backends]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"backend names must be unique: {', '.join(sorted(dupes))}")
        self.settings = settings or RunSettings()
        # The settings' timeout is every backend's default; a backend's own value wins.
        self.backends = tuple(b.with_default_timeout(self.settings.timeout_s) for b in backends)
        self._connect = connect

    def planned_requests(self, n_images: int) -> int:
        """Requests a run will make at most (boxes larger than an image are skipped, so fewer)."""
        return planned_requests(self.settings, len(self.backends), [None] * n_images)

    @staticmethod
    def image_sizes(sources: Sequence[Source]) -> list[tuple[int, int] | None]:
        """Each source's size from its header (cheap: nothing is decoded), None where it cannot
        be read now (the ladder then finds out why): the request plan skips the boxes an image
        is too small for from the first progress line on."""
        from tfcompare.imaging import describe

        sizes: list[tuple[int, int] | None] = []
        for src in sources:
            payload = src[1] if isinstance(src, tuple) else src
            try:
                _fmt, width, height = describe(payload)
                sizes.append((width, height))
            except Exception:  # noqa: BLE001 - any unreadable image is the ladder's to report
                sizes.append(None)
        return sizes

    # ------------------------------------------------------------------ running

    def run(
        self,
        sources: Sequence[Source],
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
        run_id: int = 0,
    ) -> RunResult:
        state = _State(run_id=run_id, on_event=on_event, cancel=cancel or threading.Event())
        sizes = self.image_sizes(sources)
        state.total = planned_requests(self.settings, len(self.backends), sizes)
        planned = [variants_per_image(self.settings, size) for size in sizes]
        started_at = time.time()
        state.emit(RunStarted(run_id, state.total, self.backends, self.settings))

        queues: list[queue.Queue[ImageInfo | None]] = [queue.Queue() for _ in self.backends]
        connections: list[Connection | None] = [None] * len(self.backends)
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            loader = threading.Thread(
                target=self._load_images,
                args=(sources, state, queues, pool, planned),
                name="tfcompare-loader",
                daemon=True,
            )
            workers = [
                threading.Thread(
                    target=self._backend_worker,
                    args=(i, spec, queues[i], state, connections),
                    name=f"tfcompare-backend-{spec.name}",
                    daemon=True,
                )
                for i, spec in enumerate(self.backends)
            ]
            loader.start()
            for w in workers:
                w.start()
            while any(w.is_alive() for w in workers) or loader.is_alive():
                if state.cancel.wait(0.05):
                    break
            cancelled = state.cancel.is_set()
            if cancelled:
                # Closing the connections aborts in-flight calls, so cancelling is prompt even
                # when a backend hangs.
                with state.lock:
                    state.closed = True
                for conn in list(connections):
                    if conn is not None:
                        conn.close()
                for clock in list(state.clocks):
                    clock.close()
                for q in queues:
                    q.put(None)
                loader.join(timeout=2.0)
                for w in workers:
                    w.join(timeout=2.0)
        for conn in connections:
            if conn is not None:
                conn.close()
        for clock in state.clocks:
            clock.close()

        with state.lock:
            state.closed = True
            state.total = state.done if not cancelled else state.total
            final_progress = state.progress_event()
            requests = tuple(state.requests)
            images = tuple(state.images)
            problems = tuple(state.problems)
            server_times = tuple(state.server_times)
            timings = tuple(c.timing() for c in state.clocks)
        order = {b.name: i for i, b in enumerate(self.backends)}
        # k8s backends given without a model: record the model their pods declared
        used = tuple(
            c.spec if c is not None and c.spec.target == b.target else b
            for b, c in zip(self.backends, connections, strict=True)
        )
        result = RunResult(
            settings=self.settings,
            backends=used,
            images=images,
            requests=requests,
            problems=problems,
            summary=aggregate(requests, server_times),
            started_at=started_at,
            finished_at=time.time(),
            server_times=server_times,
            timings=tuple(sorted(timings, key=lambda t: order.get(t.backend, 0))),
        )
        state.emit(final_progress)
        state.emit(RunFinished(run_id, result, cancelled))
        return result

    # ------------------------------------------------------------------ images

    def _load_images(
        self,
        sources: Sequence[Source],
        state: _State,
        queues: list[queue.Queue[ImageInfo | None]],
        pool: ThreadPoolExecutor,
        planned: list[int],
    ) -> None:
        """``planned``: the variants the plan counted for each source (from its header)."""
        from tfcompare.imaging import ImageLoadError, build_ladder

        used: set[str] = set()
        pasted = 0
        try:
            for src, expected in zip(sources, planned, strict=True):
                if state.cancel.is_set():
                    break
                payload: str | Path | bytes
                if isinstance(src, tuple):
                    name, payload = src
                elif isinstance(src, bytes):
                    pasted += 1
                    name, payload = f"pasted image {pasted}", src
                else:
                    name, payload = Path(src).name, src
                name = unique_name(name, used)
                try:
                    info = build_ladder(payload, self.settings, name=name, executor=pool)
                except ImageLoadError as exc:
                    self._image_failed(state, ImageProblem(name, str(exc)), expected)
                    continue
                except (
                    Exception
                ) as exc:  # an unexpected decoder failure is still one image's problem
                    self._image_failed(
                        state,
                        ImageProblem(name, f"could not read image: {exc or type(exc).__name__}"),
                        expected,
                    )
                    continue
                with state.lock:
                    if state.closed:
                        return
                    state.images.append(info)
                    # the plan counted this image's variants from its header: correct it only
                    # if the ladder made a different number (a header that could not be read)
                    state.total -= self._requests_for(expected - len(info.variants))
                state.emit(ImageReady(state.run_id, info))
                for q in queues:
                    q.put(info)
        finally:
            for q in queues:
                q.put(None)

    def _requests_for(self, n_variants: int) -> int:
        return n_variants * requests_per_variant(self.settings) * len(self.backends)

    def _image_failed(self, state: _State, problem: ImageProblem, planned: int) -> None:
        with state.lock:
            state.problems.append(problem)
            state.total -= self._requests_for(planned)
        state.emit(ImageFailed(state.run_id, problem))
        state.emit(state.progress_event())

    # ------------------------------------------------------------------ backends

    def _backend_worker(
        self,
        index: int,
        spec: BackendSpec,
        q: queue.Queue[ImageInfo | None],
        state: _State,
        connections: list[Connection | None],
    ) -> None:
        worker = _BackendWorker(spec, self.settings, state)
        try:
            conn = worker.connect(self._connect)
            connections[index] = conn
            while not state.cancel.is_set():
                info = q.get()
                if info is None:
                    break
                for variant in info.variants:
                    if state.cancel.is_set():
                        break
                    worker.measure(info, variant)
        except Exception as exc:  # a bug in one backend's path must not hang the run
            traceback.print_exc(file=sys.stderr)
            state.emit(BackendReady(state.run_id, spec.name, None, None, f"internal error: {exc}"))
        finally:
            # Drain so the loader never blocks on this backend.
            while True:
                try:
                    if q.get_nowait() is None:
                        break
                except queue.Empty:
                    break


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``stem (2).ext``, ``stem (3).ext``… if already used; records the result.
    The window names its images with it when they are added (and gives the runner those names)."""
    if name not in used:
        used.add(name)
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    k = 2
    while True:
        candidate = f"{stem} ({k}){dot}{ext}"
        if candidate not in used:
            used.add(candidate)
            return candidate
        k += 1


class _BackendWorker:
    """Sends one backend's requests in order and records them."""

    def __init__(self, spec: BackendSpec, settings: RunSettings, state: _State):
        self.spec = spec
        self.settings = settings
        self.state = state
        self.conn: Connection | None = None
        self.signature: SignatureInfo | None = None
        self.maker: RequestMaker | None = None  # the backend's input kind and preprocessing
        self.down_reason: str | None = None
        self.failures = 0
        self.last_probe = 0.0
        self.cold_sent = False
        self.clock = ServerClock(spec)
        self.last_image: str | None = None
        with state.lock:
            state.clocks.append(self.clock)

    def connect(self, connect: Callable[[BackendSpec], Connection]) -> Connection | None:
        try:
            self.conn = connect(self.spec)
        except Exception as exc:
            self.down_reason = _message(exc)
            self.last_probe = time.monotonic()
            self.state.emit(
                BackendReady(self.state.run_id, self.spec.name, None, None, self.down_reason)
            )
            self._timing_updated()
            return None
        state, name = self.state, self.spec.name
        self.conn.watch_moves(
            lambda old, new, why: state.emit(PodMoved(state.run_id, name, old, new, why))
        )
        self._probe(wait=True)
        forward = self.conn.forward
        address = (
            forward.address if forward is not None else getattr(self.conn.client, "address", None)
        )
        self.clock.open(address)
        self._timing_updated()
        return self.conn

    def _timing_updated(self) -> None:
        self.state.emit(TimingUpdated(self.state.run_id, self.clock.timing()))

    def _probe(self, wait: bool = False) -> None:
        """Ask the backend for its model status and signature (``probe``); clears
        ``down_reason`` when it can take requests. ``wait``: a model still loading is waited for
        (up to the request timeout), saying so."""
        assert self.conn is not None
        self.last_probe = time.monotonic()
        if wait:
            state, name = self.state, self.spec.name
            found = probe_until_ready(
                self.spec,
                self.conn,
                self.spec.deadline_s,
                cancel=state.cancel,
                on_wait=lambda text: state.emit(
                    BackendReady(state.run_id, name, None, None, text, waiting=True)
                ),
            )
        else:
            found = probe(self.spec, self.conn)
        if not found.ready or found.signature is None:
            self.down_reason = found.text
            self.state.emit(
                BackendReady(self.state.run_id, self.spec.name, None, found.status, found.text)
            )
            return
        try:
            if self.maker is None or self.maker.signature != found.signature:
                self.maker = RequestMaker(self.conn.client, found.signature)
        except ServingError as exc:
            self.down_reason = str(exc)
            self.state.emit(
                BackendReady(self.state.run_id, self.spec.name, None, found.status, str(exc))
            )
            return
        self.signature = found.signature
        self.clock.input = self.maker.describe()
        self.down_reason = None
        self.failures = 0
        self.state.emit(
            BackendReady(self.state.run_id, self.spec.name, found.signature, found.status)
        )

    def measure(self, info: ImageInfo, variant: Variant) -> None:
        if self.down_reason is not None and self.conn is not None:
            if time.monotonic() - self.last_probe >= PROBE_EVERY_S:
                self._probe()
        cold_extra = not self.cold_sent and self.settings.warmup == 0
        warmups = max(self.settings.warmup, 0)
        plan: list[tuple[str, int]] = []
        if cold_extra:
            plan.append(("cold", 0))
        for i in range(warmups):
            plan.append(("cold", 0) if not self.cold_sent and i == 0 else ("warmup", i))
        plan += [("measured", i) for i in range(max(self.settings.repeats, 0))]
        self.cold_sent = True
        value = self._request_value(info, variant)  # off the turn: it loads no backend
        if self.settings.concurrent:
            self._floor(info)
            self._send(info, variant, plan, value)
        else:
            with self.state.turn:  # the floor too: backends sharing a server would inflate it
                self._floor(info)
                self._send(info, variant, plan, value)

    def _request_value(self, info: ImageInfo, variant: Variant) -> RequestInput | str:
        """The variant as this backend's model takes it (its tensor, made once for all its
        requests), or why it cannot be made. A tensor model whose preprocessing is ``auto``
        settles it first, on this image's original."""
        maker = self.maker
        if maker is None or self.down_reason is not None:
            return f"not sent: {self.down_reason or 'backend not ready'}"
        from tfcompare.imaging import ImageLoadError

        try:
            if not maker.resolved:
                with self.state.turn if not self.settings.concurrent else nullcontext():
                    maker.resolve(info.original or variant.data, self.spec.deadline_s)
                self.clock.input = maker.describe()
                self._timing_updated()
            return maker.make(variant.data)
        except ImageLoadError as exc:
            return f"cannot make the model's input: {exc}"
        except ServingError as exc:
            return f"choosing the preprocessing failed: {exc}"

    def _floor(self, info: ImageInfo) -> None:
        """Path floor samples before the first image and between images."""
        if info.name == self.last_image:
            return
        n = FLOOR_AT_START if self.last_image is None else FLOOR_PER_IMAGE
        self.last_image = info.name
        if self.down_reason is None and self.conn is not None:
            self.clock.measure_floor(self.conn.client, n)
            self._timing_updated()

    def _send(
        self,
        info: ImageInfo,
        variant: Variant,
        plan: list[tuple[str, int]],
        value: RequestInput | str,
    ) -> None:
        before, generation = None, 0
        measured: list[RequestResult] = []
        for phase, i in plan:
            if self.state.cancel.is_set():
                return
            if phase == "measured" and before is None and self.down_reason is None:
                # just before the block, after its warm-up (the last block's closing scrape
                # serves when no request at all was sent since, by any backend of the run)
                with self.state.lock:
                    quiet = self.clock.last is not None and self.clock.last_done == self.state.done
                before = self.clock.last if quiet else self.clock.scrape()
                generation = self.conn.generation if self.conn is not None else 0
            result = self._one(info, variant, phase, i, value)
            if phase == "measured":
                measured.append(result)
            self._record(result, keep=phase != "warmup")
        if before is not None and self.clock.scraper is not None:
            self._server_time(info, variant, before, measured, generation)

    def _server_time(self, info, variant, before, measured, generation: int) -> None:
        st = self.clock.block(before, measured, info.name, variant.key, self.conn, generation)
        with self.state.lock:
            if self.state.closed:
                return
            self.state.server_times.append(st)
            self.clock.last_done = self.state.done
        self.state.emit(ServerTimeMeasured(self.state.run_id, st))
        if self.clock.scraper is None:  # given up after repeated failures
            self._timing_updated()

    def _one(
        self, info: ImageInfo, variant: Variant, phase: str, repeat: int, value: RequestInput | str
    ) -> RequestResult:
        base: dict[str, Any] = dict(
            image=info.name,
            variant=variant.key,
            backend=self.spec.name,
            protocol=self.spec.protocol,
            phase=phase,
            repeat=repeat,
        )
        started_at = time.time()
        conn, signature = self.conn, self.signature
        if self.down_reason is not None or conn is None or signature is None:
            value = f"not sent: {self.down_reason or 'backend not ready'}"
        if isinstance(value, str) or conn is None or signature is None:
            return RequestResult(
                **base,
                ok=False,
                latency_ms=None,
                client_ms=None,
                bytes=0,
                model_version=None,
                error=str(value),
                started_at=started_at,
            )
        preprocess_ms = None if value.is_string else value.preprocess_ms
        generation, pod = conn.generation, conn.pod
        try:
            out = conn.client.predict(value, signature, timeout_s=self.spec.deadline_s)
        except Exception as exc:
            msg = _message(exc)
            code = exc.code if isinstance(exc, ServingError) else "UNKNOWN"
            if code in BACKEND_LEVEL:
                self.failures += 1
                if self.failures >= DOWN_AFTER:
                    self.down_reason = f"backend stopped answering ({msg})"
                    self.last_probe = time.monotonic()
                    self.state.emit(
                        BackendReady(
                            self.state.run_id, self.spec.name, None, None, self.down_reason
                        )
                    )
            return RequestResult(
                **base,
                ok=False,
                latency_ms=None,
                client_ms=None,
                bytes=value.nbytes,
                model_version=None,
                error=msg,
                started_at=started_at,
                preprocess_ms=preprocess_ms,
                **_pods(conn, generation, pod),
            )
        self.failures = 0
        where = _pods(conn, generation, pod)
        if out.pod and not where["spans_restart"]:
            where["pod"] = out.pod
        return RequestResult(
            **base,
            ok=True,
            latency_ms=out.latency_ms,
            client_ms=out.client_ms,
            bytes=out.bytes_sent,
            model_version=out.model_version,
            error=None,
            top5=out.top5,
            score_kind=out.score_kind,
            started_at=started_at,
            preprocess_ms=preprocess_ms,
            **where,
        )

    def _record(self, result: RequestResult, keep: bool) -> None:
        state = self.state
        with state.lock:
            if state.closed:
                return
            if keep:
                state.requests.append(result)
            state.done += 1
            progress = state.progress_event()
        if keep:
            state.emit(RequestDone(state.run_id, result))
        state.emit(progress)


def _pods(conn: Connection, generation: int, pod: str | None) -> dict:
    """Where a request went: the pod at the end, and whether the forward moved to another pod
    while it was in flight (then ``pod_before`` is the pod it was sent to)."""
    if conn.generation != generation:
        return {"pod": conn.pod, "pod_before": pod, "spans_restart": True}
    return {"pod": pod, "pod_before": None, "spans_restart": False}


def _message(exc: BaseException) -> str:
    if isinstance(exc, ServingError):
        return str(exc)
    return str(exc) or type(exc).__name__
