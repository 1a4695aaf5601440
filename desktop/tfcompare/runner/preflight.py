"""Check every backend before a run starts, so a typo fails at once instead of after a whole run
of failed requests: reachable (port-forward open), model known to the server, signature usable."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tfcompare.runner.connection import Connection, open_connection
from tfcompare.runner.probe import probe
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec

# Answers that mean "what was asked for does not exist" (a typo), not "it is down right now".
MISTAKE_CODES = {"NOT_FOUND", "INVALID_ARGUMENT"}


@dataclass
class BackendCheck:
    """One backend before the run. ``mistake``: the backend as given does not exist (unknown
    context, namespace, service, model or signature); otherwise a problem may be temporary."""

    spec: BackendSpec
    connection: Connection | None
    problem: str | None = None
    mistake: bool = False

    @property
    def usable(self) -> bool:
        return self.problem is None


def check_backends(
    specs: Sequence[BackendSpec], connect: Callable[[BackendSpec], Connection] = open_connection
) -> list[BackendCheck]:
    """Connect to every backend at once and ask each for its model status and signature.
    Connections of backends that can still be measured stay open (hand them to the Runner)."""
    checks: list[BackendCheck | None] = [None] * len(specs)

    def one(i: int, spec: BackendSpec) -> None:
        checks[i] = _check(spec, connect)

    threads = [
        threading.Thread(target=one, args=(i, s), name=f"tfcompare-check-{s.name}", daemon=True)
        for i, s in enumerate(specs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [
        c if c is not None else BackendCheck(s, None, "check failed")
        for c, s in zip(checks, specs, strict=True)
    ]


def _check(spec: BackendSpec, connect: Callable[[BackendSpec], Connection]) -> BackendCheck:
    from tfcompare.cluster.cluster_errors import ClusterError

    try:
        conn = connect(spec)
    except ClusterError as exc:
        return BackendCheck(spec, None, str(exc), mistake=exc.status == 404)
    except ServingError as exc:
        return BackendCheck(spec, None, str(exc), mistake=exc.code in MISTAKE_CODES)
    except Exception as exc:  # noqa: BLE001 - reported as this backend's problem
        return BackendCheck(spec, None, str(exc) or type(exc).__name__)
    found = probe(spec, conn)
    if found.ready:
        return BackendCheck(spec, conn)
    if found.code in MISTAKE_CODES:
        conn.close()
        return BackendCheck(spec, None, found.text, mistake=True)
    return BackendCheck(spec, conn, found.text)


def reuse(
    checks: Sequence[BackendCheck], connect: Callable[[BackendSpec], Connection] = open_connection
):
    """A ``connect`` for the Runner that hands out the checks' open connections (once each)."""
    ready = {c.spec.name: c.connection for c in checks if c.connection is not None}
    lock = threading.Lock()

    def connect_again(spec: BackendSpec) -> Connection:
        with lock:
            conn = ready.pop(spec.name, None)
        return conn if conn is not None else connect(spec)

    return connect_again
