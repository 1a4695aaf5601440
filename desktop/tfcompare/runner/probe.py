"""Is a backend ready? The one check (model status, then the signature from its metadata) and the
one wording of its answer, used by the runner before it sends, by the window's status lights and
the backend dialog's Check, and by the CLI's messages."""

from __future__ import annotations

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
            states = ", ".join(f"v{v} {s}" for v, s in status.versions) or "no versions"
            return BackendStatus(
                spec,
                BackendState.WARN,
                prefix + (status.message or f"model not available ({states})"),
                None,
                status,
            )
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


def ready_text(status: ModelStatus | None, signature: SignatureInfo | None) -> str:
    """The one line for a backend that can take requests: ``AVAILABLE · version 1 · signature
    serving_default · takes float32 224×224×3 NHWC``."""
    version = status.serving_version if status is not None else None
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
