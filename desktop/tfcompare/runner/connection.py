"""A backend as the runner reaches it: a serving client, through a Kubernetes forward if needed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tfcompare.serving.backend_spec import BackendSpec


class Connection:
    """Client for one backend (plus its port-forward for ``k8s://`` targets). ``close`` is idempotent
    and may be called from another thread to abort in-flight calls."""

    def __init__(self, client: Any, forward: Any | None = None):
        self.client = client
        self.forward = forward
        self._closed = False
        self._lock = threading.Lock()

    @property
    def spec(self) -> BackendSpec:
        """The backend as used: for a k8s target without a model, with the pods' model filled in."""
        return self.client.spec

    @property
    def generation(self) -> int:
        return self.forward.generation if self.forward is not None else 0

    @property
    def pod(self) -> str | None:
        return self.forward.pod if self.forward is not None else None

    def watch_moves(self, fn: Callable[[str | None, str, str], None]) -> None:
        """Call ``fn(old_pod, new_pod, why)`` each time the forward moves to another pod."""
        if self.forward is None:
            return
        seen = [self.forward.generation]

        def changed(fwd: Any) -> None:
            generation, move = fwd.generation, fwd.last_move
            if generation != seen[0] and move is not None:
                seen[0] = generation
                fn(*move)

        self.forward.subscribe(changed)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.client.close()
        finally:
            if self.forward is not None:
                self.forward.close()


def open_connection(spec: BackendSpec) -> Connection:
    """Connect to ``spec``: through a port-forward for ``k8s://`` targets (raises ClusterError),
    naming the service and pod in the client's messages."""
    from tfcompare.serving import make_client

    if spec.is_k8s:
        from tfcompare.cluster import open_forward

        forward = open_forward(spec)
        try:
            client = make_client(forward.spec, address=forward.address, where=forward.describe)
            return Connection(client, forward)
        except Exception:
            forward.close()
            raise
    return Connection(make_client(spec))
