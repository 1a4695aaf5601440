"""Is a backend ready? The one check (model status, then the signature from its metadata) and the
one wording of its answer, used by the runner before it sends, by the window's status lights and
the backend dialog's Check, and by the CLI's messages; and the one wait for a model that is still
loading (``probe_until_ready``), used by ``run``, ``load``, the window's runs and the demo."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tfcompare.runner.connection import Connection, open_connection
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec


class BackendState(StrEnum):
    """What a backend's status light says."""

    OK = "ok"  # it can take requests
    WARN = "warn"  # reachable, but the model is not AVAILABLE (or a run found failures)
    ERROR = "error"  # not reachable, or no usable signature
    CHECKING = "checking"  # no answer yet
    OFFLINE = "offline"  # a reopened session's backend that is not reachable: expected


@dataclass(frozen=True)
class BackendStatus:
    """What is known about one backend: its ``state`` and one line saying why."""

    spec: BackendSpec
    state: BackendState
    text: str  # one line: "AVAILABLE · version 1 · serving_default" or why it cannot be used
    signature: SignatureInfo | None = None
    status: ModelStatus | None = None
    detail: str = ""  # input key, outputs, forward state…
    code: str = ""  # the server's error code when it refused (NOT_FOUND, INVALID_ARGUMENT…)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", BackendState(self.state))  # "ok" → BackendState.OK

    @property
    def ready(self) -> bool:
        return self.state is BackendState.OK

    @property
    def loading(self) -> bool:
        """The model is on its way: a version in START or LOADING, none AVAILABLE yet (a server
        just started, still loading or warming up)."""
        return (
            self.state is BackendState.WARN
            and self.status is not None
            and not self.status.available
            and any(state in LOADING_STATES for _, state in self.status.versions)
        )


LOADING_STATES = ("START", "LOADING")
POLL_S = 0.25  # how often a loading model is asked again


def _error_text(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def probe(spec: BackendSpec, conn: Connection) -> BackendStatus:
    """Ask the backend behind ``conn`` for its model status and signature (blocking). Never
    raises: a failure is the backend's status. A k8s backend's line starts with its forward's
    state (the pod it reaches, or reconnecting…)."""
    prefix = f"{conn.forward.state} · " if conn.forward is not None else ""
    status: ModelStatus | None = None
    try:
        status = conn.client.status()
        if not status.available:
            states = _states(status)
            loading = any(state in LOADING_STATES for _, state in status.versions)
            text = (
                f"model {spec.model} loading ({states}): a run waits for it"
                if loading and not status.message
                else status.message or f"model not available ({states})"
            )
            return BackendStatus(spec, BackendState.WARN, prefix + text, None, status)
        sig = conn.client.metadata()
    except ServingError as exc:
        but = f"AVAILABLE v{status.serving_version}, but " if status and status.available else ""
        return BackendStatus(
            spec, BackendState.ERROR, prefix + but + str(exc), None, status, code=exc.code
        )
    except Exception as exc:  # anything else is this backend's problem, never the caller's
        return BackendStatus(spec, BackendState.ERROR, prefix + _error_text(exc), None, status)
    detail = (
        f"input '{sig.input_key}' ({sig.input_dtype}): {sig.input_text}; "
        f"outputs {', '.join(sig.output_keys)}"
    )
    text = prefix + ready_text(status, sig)
    fit = conn.client.names.fit(sig.num_classes) if hasattr(conn.client, "names") else None
    if fit:
        text += f" · warning: {fit}"
        detail += f"; warning: {fit}"
    return BackendStatus(spec, BackendState.OK, text, sig, status, prefix + detail)


def _states(status: ModelStatus | None) -> str:
    versions = status.versions if status is not None else ()
    return ", ".join(f"v{v} {s}" for v, s in versions) or "no versions"


def waiting_text(spec: BackendSpec, status: ModelStatus | None) -> str:
    """The one wording of a wait for a loading model: "waiting for model tiny (v1 LOADING)"."""
    return f"waiting for model {spec.model} ({_states(status)})"


def probe_until_ready(
    spec: BackendSpec,
    conn: Connection,
    timeout_s: float,
    *,
    on_wait: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> BackendStatus:
    """:func:`probe`, and while the model is loading (START or LOADING, e.g. a server just
    started), again every quarter second until it is AVAILABLE or ``timeout_s`` has passed.
    ``on_wait`` hears :func:`waiting_text` each time the state it reports changes. A model
    still loading at the end is the backend's status, saying how long it was waited for."""
    deadline = time.monotonic() + timeout_s
    found = probe(spec, conn)
    said = None
    while found.loading and time.monotonic() < deadline:
        text = waiting_text(spec, found.status)
        if text != said and on_wait is not None:
            on_wait(text)
        said = text
        left = max(0.0, min(POLL_S, deadline - time.monotonic()))
        if cancel is not None and cancel.wait(left):
            return found
        if cancel is None:
            time.sleep(left)
        found = probe(spec, conn)
    if found.loading:
        prefix = f"{conn.forward.state} · " if conn.forward is not None else ""
        found = BackendStatus(
            spec,
            BackendState.WARN,
            f"{prefix}model {spec.model} still loading after {timeout_s:g} s "
            f"({_states(found.status)})",
            None,
            found.status,
        )
    return found


def ready_text(status: ModelStatus | None, signature: SignatureInfo | None) -> str:
    """The one line for a backend that can take requests: ``AVAILABLE · version 1 · signature
    serving_default · takes float32 224×224×3 NHWC``."""
    version: int | str | None = status.serving_version if status is not None else None
    if version is None and signature is not None:  # OIP: the version the metadata names
        version = signature.model_version
    parts = ["AVAILABLE"] + ([f"version {version}"] if version is not None else [])
    if signature is not None and signature.signature_name:
        parts.append(f"signature {signature.signature_name}")
    if signature is not None:
        parts.append(signature.input_text)
    return " · ".join(parts)


def probe_backend(
    spec: BackendSpec, connect: Callable[[BackendSpec], Connection] = open_connection
) -> BackendStatus:
    """Connect (through a port-forward for ``k8s://``), probe, close."""
    try:
        conn = connect(spec)
    except Exception as exc:
        return BackendStatus(spec, BackendState.ERROR, _error_text(exc))
    try:
        return probe(spec, conn)
    finally:
        conn.close()
