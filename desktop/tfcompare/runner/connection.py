"""A backend as the runner reaches it: a serving client, through a Kubernetes forward if needed."""

from __future__ import annotations

import threading
from typing import Any

from tfcompare.datatypes import BackendSpec


class Connection:
    """Client for one backend (plus its port-forward for ``k8s://`` targets). ``close`` is idempotent
    and may be called from another thread to abort in-flight calls."""

    def __init__(self, client: Any, forward: Any | None = None):
        self.client = client
        self.forward = forward
        self._closed = False
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self.forward.generation if self.forward is not None else 0

    @property
    def pod(self) -> str | None:
        return self.forward.pod if self.forward is not None else None

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
    from tfcompare.serving import make_client

    if spec.is_k8s:
        from tfcompare.cluster import open_forward

        forward = open_forward(spec)
        try:
            return Connection(make_client(spec, address=forward.address), forward)
        except Exception:
            forward.close()
            raise
    return Connection(make_client(spec))
