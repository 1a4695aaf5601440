"""Port-forward a model server's service (or a serverless InferenceService's pod) to 127.0.0.1,
surviving pod restarts.

The client library's ``portforward`` gives sockets, not a listening port, and gRPC needs a
host:port. So each backend gets a local relay on 127.0.0.1 (free port); every incoming connection
opens its own pods/portforward stream (WebSocket, ``v4.channel.k8s.io``) to the current pod.

kubectl's forward dies with its pod. Here a monitor thread watches the pod; when it goes away (or a
stream ends from the far side) the service is re-resolved to a ready pod, ``generation`` is bumped,
and old connections are closed so clients reconnect — new connections wait (up to the backend's
timeout) for a ready pod instead of failing at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from tfcompare.cluster.cluster_errors import ClusterError, translate
from tfcompare.cluster.discovery import PodTarget, pod_is_ready, resolve
from tfcompare.cluster.kube import REQUEST_TIMEOUT, api_client, is_current, server_of
from tfcompare.cluster.relay import clip, close_remote, first_answer, hang_up, relay, shut
from tfcompare.cluster.target import parse_target
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.protocols import DiscoveryHints


class Forward:
    """A local relay for one backend. Thread-safe; read ``address``, ``pod``, ``generation`` and
    ``state`` at any time. ``subscribe(fn)`` calls ``fn(forward)`` (from a worker thread) whenever
    the pod or the state changes; ``last_move`` tells the latest move to another pod.

    ``spec`` is the backend as given, with the model filled in from the pods' ``MODEL_NAME`` when
    it was not given; ``describe()`` names the service and pod for messages (not the relay port)."""

    def __init__(
        self,
        spec: BackendSpec,
        *,
        poll_s: float = 2.0,
        wait_ready_s: float | None = None,
        hints: DiscoveryHints | None = None,
        metrics: bool = False,
    ):
        self.spec = spec
        self.target = parse_target(spec.target)
        # which port: the one ``hints`` name (default: the protocol's); ``metrics``: the metrics
        # port, a pod port the service does not expose included
        self.hints = hints or spec.protocol_info.discovery
        self.metrics = metrics
        self.port: int | None = None  # the pod port forwarded to
        self.poll_s = poll_s
        self.wait_ready_s = spec.deadline_s if wait_ready_s is None else wait_ready_s
        self._cond = threading.Condition()
        self._closed = False
        self._current: PodTarget | None = None
        self._generation = 0
        self._state = "resolving…"
        self._listeners: list[Callable[[Forward], None]] = []
        self._relays: set[tuple[PodTarget, socket.socket, object]] = set()
        self._wake = threading.Event()
        self._rest = api_client(self.target.context)  # discovery/monitoring calls
        self._pf = api_client(self.target.context)  # port-forward only (it swaps the transport)
        self._pf_lock = threading.Lock()
        self._reconnecting = threading.Lock()
        self._restarts: dict[str, int] = {}  # pod -> container restarts seen
        self._lost_what: tuple[str | None, str] = (None, "")  # (pod, why) of the latest loss
        self.last_move: tuple[str | None, str, str] | None = None  # (old pod, new pod, why)
        self._server = server_of(self._rest)
        self._current_ctx = self.target.context is None or is_current(self.target.context)
        from kubernetes import client

        self._core = client.CoreV1Api(self._rest)
        self._slices = client.DiscoveryV1Api(self._rest)
        self._pf_core = client.CoreV1Api(self._pf)
        self._listener: socket.socket | None = None
        try:
            self._current = self._resolve(None, with_model=spec.model is None)
            self._probe(self._current)
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(64)
        except BaseException:
            self._release()
            raise
        self._state = f"forwarding to pod {self._current.pod}"
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        for name, fn in (("accept", self._accept_loop), ("monitor", self._monitor_loop)):
            threading.Thread(
                target=fn, name=f"tfcompare-forward-{name}-{spec.name}", daemon=True
            ).start()

    # ------------------------------------------------------------------ public

    @property
    def pod(self) -> str | None:
        with self._cond:
            return self._current.pod if self._current else None

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    @property
    def state(self) -> str:
        with self._cond:
            return self._state

    @property
    def closed(self) -> bool:
        return self._closed

    def describe(self) -> str:
        """``service tfs/tfs-a (pod tfs-a-7d9f-x1)`` (plus the context when it is not the current
        one): what the user asked for and where it goes, for messages."""
        pod = self.pod
        where = f"pod {pod}" if pod else "no ready pod"
        ctx = "" if self._current_ctx else f", context {self.target.context}"
        return f"service {self.target.namespace}/{self.target.service} ({where}{ctx})"

    def subscribe(self, fn: Callable[[Forward], None]) -> None:
        with self._cond:
            self._listeners.append(fn)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._state = "closed"
            relays = list(self._relays)
            self._cond.notify_all()
        self._wake.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        for _pt, local, remote in relays:
            hang_up(local, remote)
        self._release()

    def __enter__(self) -> Forward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Forward {self.target} at {getattr(self, 'address', '-')}: {self.state}>"

    # ------------------------------------------------------------------ resolution

    def _release(self) -> None:
        for api in (self._rest, self._pf):
            with contextlib.suppress(Exception):
                api.close()

    def _resolve(self, prefer: str | None, *, with_model: bool = False) -> PodTarget:
        found = resolve(
            self._core,
            self._slices,
            self._rest,
            self.target,
            self.spec.protocol,
            self._server,
            hints=self.hints,
            metrics=self.metrics,
            with_model=with_model,
        )
        if with_model:
            self.spec = replace(self.spec, model=found.model or "default")
        if not found.pods:
            raise ClusterError(f"no ready pod behind {self.target.where}: {found.why}")
        chosen = next((p for p in found.pods if p.pod == prefer), found.pods[0])
        self.port = chosen.port
        return chosen

    def _open(self, pt: PodTarget):
        from kubernetes.stream import portforward

        with self._pf_lock:
            try:
                return portforward(
                    self._pf_core.connect_get_namespaced_pod_portforward,
                    pt.pod,
                    self.target.namespace,
                    ports=str(pt.port),
                )
            except Exception as exc:
                raise translate(
                    exc, f"port-forward to pod {self.target.namespace}/{pt.pod}", self._server
                ) from None

    def _probe(self, pt: PodTarget) -> None:
        """Open and close one stream so RBAC problems surface now, not at the first request."""
        pf = self._open(pt)
        close_remote(pf.socket(pt.port), wait_s=1.0)

    def _set(self, state: str, current: PodTarget | None, *, bump: bool = False) -> None:
        with self._cond:
            if self._closed:
                return
            changed = state != self._state or current != self._current or bump
            self._state, self._current = state, current
            if bump:
                self._generation += 1
            listeners = list(self._listeners)
            self._cond.notify_all()
        if changed:
            for fn in listeners:
                with contextlib.suppress(Exception):
                    fn(self)

    def _lost(self, pt: PodTarget, why: str) -> None:
        """The pod stopped serving: drop it and close its connections so clients reconnect."""
        with self._cond:
            if self._current != pt:
                return
            relays = [r for r in self._relays if r[0] == pt]
            self._lost_what = (pt.pod, why)
        self._set(f"reconnecting… ({why})", None)
        for _pt, local, remote in relays:
            hang_up(local, remote)

    def _try_reconnect(self, prefer: str | None) -> None:
        with self._reconnecting:
            if self._current is not None or self._closed:
                return  # another thread got there first
            try:
                pt = self._resolve(prefer)
            except ClusterError as exc:
                self._set(f"reconnecting… ({exc})", None)
                return
            self._restarts.pop(pt.pod, None)
            with self._cond:
                old, why = self._lost_what
                self.last_move = (old, pt.pod, why)
            self._set(f"forwarding to pod {pt.pod}", pt, bump=True)

    def _pod_status(self, pt: PodTarget) -> tuple[str | None, int]:
        """(None if the pod still serves, else why not; its containers' restart count).
        API errors are not the pod's fault: they raise."""
        try:
            pod = self._core.read_namespaced_pod(
                pt.pod, self.target.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            err = translate(exc, f"pod {pt.pod}", self._server)
            if err.status == 404:
                return f"pod {pt.pod} is gone", 0
            raise err from None
        statuses = (pod.status.container_statuses if pod.status else None) or []
        restarts = sum(int(cs.restart_count or 0) for cs in statuses)
        if pod.metadata and pod.metadata.deletion_timestamp is not None:
            return f"pod {pt.pod} is terminating", restarts
        if not pod_is_ready(pod):
            return f"pod {pt.pod} is not ready", restarts
        return None, restarts

    def _monitor_loop(self) -> None:
        last_pod: str | None = self.pod
        while not self._closed:
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._closed:
                return
            with self._cond:
                pt = self._current
            try:
                if pt is None:
                    self._try_reconnect(last_pod)
                    continue
                why, restarts = self._pod_status(pt)
                seen = self._restarts.setdefault(pt.pod, restarts)
                if why is not None:
                    last_pod = pt.pod
                    self._lost(pt, why)
                    self._try_reconnect(None)
                elif restarts > seen:  # same pod, new container: streams to it broke
                    self._restarts[pt.pod] = restarts
                    self._lost(pt, f"pod {pt.pod} restarted")
                    self._try_reconnect(pt.pod)
                elif not self.state.startswith("forwarding"):
                    self._set(f"forwarding to pod {pt.pod}", pt)
            except ClusterError as exc:
                if pt is not None:
                    self._set(f"forwarding to pod {pt.pod} (cannot check it: {exc})", pt)
                else:
                    self._set(f"reconnecting… ({exc})", None)

    # ------------------------------------------------------------------ relaying

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=self._serve, args=(conn,), name="tfcompare-forward-conn", daemon=True
            ).start()

    def _wait_for_pod(self, deadline: float) -> PodTarget | None:
        with self._cond:
            while self._current is None and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._wake.set()
                self._cond.wait(min(left, 0.5))
            return None if self._closed else self._current

    def _track(self, entry: tuple, add: bool) -> bool:
        with self._cond:
            if add:
                if self._closed:
                    return False
                self._relays.add(entry)
            else:
                self._relays.discard(entry)
            return True

    def _serve(self, conn: socket.socket) -> None:
        """Relay one local connection. Until the pod has answered, what the client sent is kept
        and replayed on a new stream if this one fails (pod gone, port not listening yet), so a
        client that connects during a restart waits instead of failing."""
        sent = bytearray()
        deadline = time.monotonic() + self.wait_ready_s
        while True:
            pt = self._wait_for_pod(deadline)
            if pt is None:
                shut(conn)
                return
            try:
                pf = self._open(pt)
            except ClusterError as exc:
                if exc.status == 404:  # pod vanished between resolving and connecting
                    self._lost(pt, f"pod {pt.pod} is gone")
                    self._wake.set()
                    continue
                self._set(f"port-forward failed: {exc}", self._current)
                shut(conn)
                return
            remote = pf.socket(pt.port)
            entry = (pt, conn, remote)
            if not self._track(entry, True):
                shut(conn)
                close_remote(remote)
                return
            outcome, done = first_answer(conn, remote, sent, lambda: self._closed)
            if outcome == "answered":
                del sent[:done]  # the rest still goes to the pod, before anything newer
                break
            self._track(entry, False)
            close_remote(remote)
            if outcome == "client":
                shut(conn)
                return
            self._stream_failed(pt, pf.error(pt.port))
            if time.monotonic() >= deadline or self._closed:
                shut(conn)
                return
        ended = relay(conn, remote, bytes(sent), lambda: self._closed)
        self._track(entry, False)
        if ended == "pod" and not self._closed:
            self._wake.set()  # the pod side hung up: check the pod now, not at the next poll
            error = pf.error(pt.port)
            if error:
                self._set(
                    f"forwarding to pod {pt.pod} (last stream failed: {clip(error)})",
                    self._current,
                )

    def _stream_failed(self, pt: PodTarget, error: str | None) -> None:
        """A stream ended before the pod answered: is the pod gone, or just not listening?"""
        try:
            why, _ = self._pod_status(pt)
        except ClusterError:
            why = None
        if why is not None:
            self._lost(pt, why)
            self._try_reconnect(None)
            return
        detail = clip(error) if error else "closed before answering"
        with self._cond:
            current = self._current
        if current == pt:
            self._set(f"forwarding to pod {pt.pod} (last stream failed: {detail})", pt)
        time.sleep(0.3)


def open_forward(
    spec: BackendSpec,
    *,
    poll_s: float = 2.0,
    wait_ready_s: float | None = None,
    hints: DiscoveryHints | None = None,
    metrics: bool = False,
) -> Forward:
    """Start forwarding ``spec.target`` (``k8s://…``) to a local port: the service port the
    protocol's discovery hints name (or ``hints``: a protocol's ``metrics_port``, with
    ``metrics``). Raises ClusterError with a clear message (bad target, no such
    service/namespace, no ready pod, 401/403, unreachable)."""
    if not spec.is_k8s:
        raise ClusterError(f"backend {spec.name!r}: {spec.target!r} is not a k8s:// target")
    return Forward(spec, poll_s=poll_s, wait_ready_s=wait_ready_s, hints=hints, metrics=metrics)
