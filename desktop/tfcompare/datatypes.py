"""Values that cross layers: images and variants, backends, requests, aggregates, run events.

Everything here is plain data (frozen dataclasses), importable without Qt or TensorFlow, so the
runner, the window, session files and tests all speak the same language.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import MISSING, dataclass, field, replace
from typing import Literal

from tfcompare.checks import positive_number, whole_number
from tfcompare.checks import shown as _shown
from tfcompare.checks import text as _text
from tfcompare.settings import (  # noqa: F401 (re-exported: settings cross layers with runs)
    DEFAULT_FORMATS,
    DEFAULT_SIZES,
    DEFAULT_TIMEOUT_S,
    SUPPORTED_FORMATS,
    RunSettings,
    SettingsError,
)
from tfcompare.targets import PREFIX as K8S_PREFIX
from tfcompare.targets import TargetError, parse_k8s

Protocol = Literal["grpc", "rest"]
ScoreKind = Literal["probability", "logit", "unknown"]
Phase = Literal["cold", "warmup", "measured"]

ORIGINAL = "original"


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Variant:
    """One encoded version of an image, as it is sent to the backends.

    ``key`` is stable and machine friendly: ``"original"`` or ``"<box>-<format>"`` (``"512-jpeg"``).
    """

    key: str
    box: int | None  # None for the original
    format: str  # "jpeg" | "png" | "webp" | the original file's format, lower case
    quality: int | None  # JPEG/WebP quality, None for PNG and the original
    width: int
    height: int
    nbytes: int
    encode_ms: float
    data: bytes = field(default=b"", repr=False, compare=False)

    @property
    def label(self) -> str:
        """Human readable, e.g. ``original (JPEG 4032×3024)`` or ``512 px JPEG q90``."""
        if self.key == ORIGINAL:
            return f"original ({self.format.upper()} {self.width}×{self.height})"
        q = f" q{self.quality}" if self.quality is not None else ""
        return f"{self.box} px {self.format.upper()}{q}"

    def without_data(self) -> Variant:
        return replace(self, data=b"")


def variant_key(box: int | None, fmt: str) -> str:
    return ORIGINAL if box is None else f"{box}-{fmt.lower()}"


def variant_sort_key(key: str) -> tuple[int, int, str]:
    """Order variants: original first, then larger boxes first, then format name."""
    if key == ORIGINAL:
        return (0, 0, "")
    box, _, fmt = key.partition("-")
    return (1, -int(box), fmt)


@dataclass(frozen=True)
class ImageInfo:
    """A loaded image and its variant ladder (variants carry their encoded bytes)."""

    name: str  # unique within a run (file name, disambiguated if needed)
    path: str | None
    format: str  # source format, lower case ("jpeg", "png", ...)
    width: int  # after EXIF orientation
    height: int
    nbytes: int  # size of the original file
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = ()  # e.g. "2048 px skipped: image is only 1200×800 (never upscaled)"
    original: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class ImageProblem:
    """A file that could not be used, with a message a user understands."""

    image: str
    message: str


# --------------------------------------------------------------------------- backends

_SPEC_RE = re.compile(r"^(?P<name>[^=\s]+)=(?P<rest>\S+)$")
_HOSTPORT_RE = re.compile(
    r"^(?P<target>[^/\s]+:\d+)(?:/(?P<model>[^:/\s]+)(?::(?P<sig>[^/\s]+))?)?$"
)


def _model_from(model: object, target: str) -> str | None:
    """The model to ask for: as given; for a k8s target without one, None (the pods' model)."""
    if model:
        return str(model)
    return None if target.startswith("k8s://") else "default"


@dataclass(frozen=True)
class BackendSpec:
    """How to reach one TF Serving deployment.

    ``target`` is ``host:port`` or ``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]``.
    ``model`` None (k8s targets only) means: the model the service's pods declare (``MODEL_NAME``
    or ``--model_name``), found when the port-forward opens; ``"default"`` if they declare none.
    ``signature`` None means: discover it from the model's metadata.
    ``headers`` (e.g. an auth header) are used for calls but never written to session files.
    ``metrics`` is where the server's Prometheus metrics are read: None = discovered (the REST
    port beside gRPC, or the service's http port through the forward), ``"off"``, or a URL.
    """

    name: str
    target: str
    protocol: Protocol = "grpc"
    model: str | None = "default"
    signature: str | None = None
    version: int | None = None
    timeout_s: float | None = None  # None: the run settings' timeout
    tls_ca: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    metrics: str | None = None

    @property
    def deadline_s(self) -> float:
        """Seconds per request: this backend's own timeout, else the default settings'."""
        return DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s

    def with_default_timeout(self, seconds: float) -> BackendSpec:
        """This backend with the run settings' timeout, unless it has its own (which wins)."""
        return self if self.timeout_s is not None else replace(self, timeout_s=seconds)

    @property
    def is_k8s(self) -> bool:
        return self.target.startswith(K8S_PREFIX)

    def to_dict(self) -> dict:
        """Plain data for session files and JSON: never credentials or headers."""
        return {
            "name": self.name,
            "target": self.target,
            "protocol": self.protocol,
            "model": self.model,
            "signature": self.signature,
            "version": self.version,
            "timeout_s": self.timeout_s,
            "tls_ca": self.tls_ca,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: dict) -> BackendSpec:
        """Rebuild from ``to_dict``'s data (a session, a JSON run file, the preferences): every
        field is type-checked, so a crafted file gives a ValueError naming the field."""
        protocol = d.get("protocol", "grpc")
        if protocol not in ("grpc", "rest"):
            raise ValueError(f"backend protocol must be grpc or rest, not {_shown(protocol)}")
        version = d.get("version")
        if version is not None:
            version = whole_number(version, "backend version", 0, 2**63 - 1)
        return cls(
            name=_text(d.get("name"), "backend name"),
            target=_text(d.get("target"), "backend target"),
            protocol=protocol,
            model=_model_from(
                _text(d.get("model"), "backend model", optional=True),
                _text(d.get("target"), "backend target"),
            ),
            signature=_text(d.get("signature"), "backend signature", optional=True),
            version=version,
            timeout_s=None
            if d.get("timeout_s") is None
            else positive_number(d["timeout_s"], "backend timeout_s"),
            tls_ca=_text(d.get("tls_ca"), "backend tls_ca", optional=True),
            metrics=_metrics(d.get("metrics")),
        )

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        protocol: Protocol = "grpc",
        timeout_s: float | None = None,
        contexts: Collection[str] | None = None,
    ) -> BackendSpec:
        """Parse ``NAME=HOST:PORT[/MODEL[:SIGNATURE]]`` or
        ``NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]]``, optionally followed
        by ``,metrics=URL`` or ``,metrics=off`` (where the server's Prometheus metrics are read).

        ``contexts`` (the kubeconfig's context names) settles ``k8s://A/B/C``: see
        ``tfcompare.targets.parse_k8s``.
        Raises ValueError with a message naming the problem.
        """
        problem = ValueError(
            f"bad backend {text!r}: expected NAME=HOST:PORT[/MODEL[:SIGNATURE]] "
            "or NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]], "
            "optionally followed by ,metrics=URL or ,metrics=off"
        )
        text, sep, metrics = text.strip().partition(",metrics=")
        if sep:
            try:
                metrics = check_metrics_source(metrics)
            except ValueError as exc:
                raise ValueError(f"bad backend {text!r}: {exc}") from None
        m = _SPEC_RE.match(text)
        if not m:
            raise problem
        rest = m["rest"]
        if rest.startswith(K8S_PREFIX):
            try:
                k8s, model, sig = parse_k8s(rest, contexts=contexts, with_model=True)
            except TargetError:
                raise problem from None
            target = str(k8s)
        else:
            hp = _HOSTPORT_RE.match(rest)
            if not hp:
                raise problem
            target, model, sig = hp["target"], hp["model"], hp["sig"]
            port = int(target.rsplit(":", 1)[1])
            if not 0 < port < 65536:
                raise ValueError(f"bad backend {text!r}: port {port} is out of range")
        return cls(
            name=m["name"].strip(),
            target=target,
            protocol=protocol,
            model=_model_from(model, target),
            signature=sig,
            timeout_s=timeout_s,
            metrics=metrics or None,
        )


METRICS_OFF = "off"


def check_metrics_source(text: str) -> str:
    """``off`` or an http(s) URL without credentials; raises ValueError naming the problem."""
    from urllib.parse import urlsplit

    text = text.strip()
    if text.lower() == METRICS_OFF:
        return METRICS_OFF
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(
            f"metrics source {text!r} is not usable: give an http(s) URL such as "
            "http://HOST:8501/monitoring/prometheus/metrics, or 'off'"
        )
    if url.username or url.password:
        raise ValueError(
            "a metrics URL must not carry a user name or password (session files would keep "
            "it): use --header for credentials"
        )
    return text


@dataclass(frozen=True)
class ModelStatus:
    """Answer of GetModelStatus / GET /v1/models/NAME."""

    available: bool
    versions: tuple[tuple[int, str], ...]  # (version, state name) e.g. (1, "AVAILABLE")
    message: str = ""  # error text when not reachable / not found

    @property
    def serving_version(self) -> int | None:
        ok = [v for v, s in self.versions if s == "AVAILABLE"]
        return max(ok) if ok else None


@dataclass(frozen=True)
class SignatureInfo:
    """What GetModelMetadata tells about the signature used for Predict."""

    signature_name: str
    input_key: str
    input_dtype: str  # "DT_STRING", ...
    output_keys: tuple[str, ...]
    model_version: int | None = None


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class PredictOutcome:
    """One successful Predict call, as the serving client returns it."""

    top5: tuple[Prediction, ...]
    score_kind: ScoreKind
    model_version: int | None
    latency_ms: float  # wall time of the RPC as the client sees it
    client_ms: float  # client-side request serialisation + response parsing
    bytes_sent: int  # serialized request size
    pod: str | None = None  # Kubernetes pod that answered, when known


class ServingError(Exception):
    """A backend call failed. ``code`` is the gRPC status name (``UNAVAILABLE``, ``NOT_FOUND``,
    ``DEADLINE_EXCEEDED``, ``INVALID_ARGUMENT`` ...) or an HTTP-derived equivalent."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- runs


def _metrics(value: object) -> str | None:
    text = _text(value, "backend metrics", optional=True)
    return check_metrics_source(text) if text else None


@dataclass(frozen=True)
class RequestResult:
    """One request as measured. ``phase`` "cold" is the very first request to a backend."""

    image: str
    variant: str  # Variant.key
    backend: str  # BackendSpec.name
    protocol: Protocol
    phase: Phase
    repeat: int  # 0-based index within its phase
    ok: bool
    latency_ms: float | None
    client_ms: float | None
    bytes: int  # bytes sent (serialized request)
    model_version: int | None
    error: str | None
    top5: tuple[Prediction, ...] = ()
    score_kind: ScoreKind = "unknown"
    pod: str | None = None  # Kubernetes pod that answered (the one forwarded to at the end)
    started_at: float = 0.0  # time.time() when sent
    # The forward moved to another pod while this request was in flight: ``pod_before`` is the pod
    # it was sent to. Such a request is kept but left out of percentiles and means.
    pod_before: str | None = None
    spans_restart: bool = False

    def to_dict(self) -> dict:
        return {
            "image": self.image,
            "variant": self.variant,
            "backend": self.backend,
            "protocol": self.protocol,
            "phase": self.phase,
            "repeat": self.repeat,
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "client_ms": self.client_ms,
            "bytes": self.bytes,
            "model_version": self.model_version,
            "error": self.error,
            "top5": [[p.label, p.score] for p in self.top5],
            "score_kind": self.score_kind,
            "pod": self.pod,
            "pod_before": self.pod_before,
            "spans_restart": self.spans_restart,
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RequestResult:
        return cls(
            image=d["image"],
            variant=d["variant"],
            backend=d["backend"],
            protocol=d.get("protocol", "grpc"),
            phase=d.get("phase", "measured"),
            repeat=int(d.get("repeat", 0)),
            ok=bool(d["ok"]),
            latency_ms=d.get("latency_ms"),
            client_ms=d.get("client_ms"),
            bytes=int(d.get("bytes", 0)),
            model_version=d.get("model_version"),
            error=d.get("error"),
            top5=tuple(Prediction(str(lbl), float(s)) for lbl, s in d.get("top5", [])),
            score_kind=d.get("score_kind", "unknown"),
            pod=d.get("pod"),
            started_at=float(d.get("started_at", 0.0)),
            pod_before=d.get("pod_before"),
            spans_restart=bool(d.get("spans_restart", False)),
        )


@dataclass(frozen=True)
class Aggregate:
    """Statistics for one (image, variant, backend) over its measured requests.

    Quality compares with the same backend's answer on the original image:
    ``top1_agree`` (same top-1 class), ``top5_overlap`` (shared classes / 5) and ``score_ratio``
    (this variant's score for the original's top-1 class divided by the original's; may exceed 1;
    None when that class is not in this variant's top 5 or the original has no answer).
    """

    image: str
    variant: str
    backend: str
    n: int
    n_errors: int
    bytes: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    stdev_ms: float | None
    few_samples: bool  # percentiles from fewer than 10 samples are indicative only
    top1: str | None
    top1_agree: bool | None
    top5_overlap: float | None
    score_ratio: float | None
    # From the server's metrics (see ServerTime); None when the backend has none.
    server_ms: float | None = None
    runtime_ms: float | None = None
    server_exact: bool | None = None
    path_ms: float | None = None  # mean_ms - server_ms: network, tunnel and client
    n_spanning: int = 0  # successful requests that spanned a pod restart: not in the statistics

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> Aggregate:
        fields = cls.__dataclass_fields__  # older files lack the newer fields: their defaults
        return cls(**{k: d.get(k) for k, f in fields.items() if k in d or f.default is MISSING})


@dataclass(frozen=True)
class ServerTime:
    """Where one (image, variant, backend) block of measured requests spent its time on the server.

    TF Serving exposes only cumulative totals, so the means come from the deltas of two scrapes
    taken just before and just after the block: ``server_ms`` from ``request_latency`` (the request
    as the server handled it), ``runtime_ms`` from ``runtime_latency`` (the model run alone).
    ``exact`` is False when the server counted other requests too (shared server, requests that
    timed out on the client but finished on the server), when its counters were reset in between
    (restart), or when its rounding makes the figure imprecise; ``note`` says which.
    """

    image: str
    variant: str
    backend: str
    sent: int  # measured requests answered OK: what the server should have counted
    counted: int | None  # what it did count (request_latency count delta)
    server_ms: float | None
    runtime_ms: float | None
    exact: bool
    note: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> ServerTime:
        return cls(
            image=str(d["image"]),
            variant=str(d["variant"]),
            backend=str(d["backend"]),
            sent=int(d.get("sent") or 0),
            counted=d.get("counted"),
            server_ms=d.get("server_ms"),
            runtime_ms=d.get("runtime_ms"),
            exact=bool(d.get("exact")),
            note=str(d.get("note") or ""),
        )


@dataclass(frozen=True)
class BackendTiming:
    """A backend's path and metrics source: ``floor_ms`` is the p50 round trip of an RPC that runs
    no model (GetModelStatus / ``GET /v1/models/NAME``), i.e. what network and tunnel cost alone.
    ``metrics`` is the URL scraped (None: no server metrics, ``metrics_message`` says why)."""

    backend: str
    floor_ms: float | None = None
    floor_samples: int = 0
    metrics: str | None = None
    metrics_message: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def short(self) -> str:
        """One status-line fragment: ``path floor 0.42 ms`` (``· no server metrics``)."""
        parts = [f"path floor {self.floor_ms:.2g} ms"] if self.floor_ms is not None else []
        if self.metrics is None and self.metrics_message:
            parts.append(
                "server metrics off"
                if self.metrics_message == "server metrics off"
                else "no server metrics"
            )
        return " · ".join(parts)

    @classmethod
    def from_dict(cls, d: dict) -> BackendTiming:
        return cls(
            backend=str(d["backend"]),
            floor_ms=d.get("floor_ms"),
            floor_samples=int(d.get("floor_samples") or 0),
            metrics=d.get("metrics"),
            metrics_message=str(d.get("metrics_message") or ""),
        )


# Runner events: the runner calls ``on_event(event)`` from worker threads; a UI must hop to its own
# thread before touching widgets. ``run_id`` lets a UI drop events from an older or cancelled run.


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    total_requests: int  # planned (warm-up included), updated by Progress as images load
    backends: tuple[BackendSpec, ...]
    settings: RunSettings


@dataclass(frozen=True)
class ImageReady:
    run_id: int
    image: ImageInfo


@dataclass(frozen=True)
class ImageFailed:
    run_id: int
    problem: ImageProblem


@dataclass(frozen=True)
class BackendReady:
    run_id: int
    backend: str
    signature: SignatureInfo | None
    status: ModelStatus | None
    message: str = ""  # why it is not usable, if so


@dataclass(frozen=True)
class PodMoved:
    """A k8s backend's port-forward now reaches another pod (the old one died or restarted)."""

    run_id: int
    backend: str
    old_pod: str | None
    new_pod: str
    why: str  # e.g. "pod tfs-a-7d9f-x1 is gone"

    @property
    def text(self) -> str:
        why = self.why or f"pod {self.old_pod} stopped serving"
        return f"backend {self.backend}: {why}; now forwarding to {self.new_pod}"


@dataclass(frozen=True)
class RequestDone:
    run_id: int
    result: RequestResult


@dataclass(frozen=True)
class ServerTimeMeasured:
    run_id: int
    time: ServerTime


@dataclass(frozen=True)
class TimingUpdated:
    """The backend's metrics source was settled or its path floor was (re)measured."""

    run_id: int
    timing: BackendTiming


@dataclass(frozen=True)
class Progress:
    run_id: int
    done: int
    total: int
    eta_s: float | None


@dataclass(frozen=True)
class RunFinished:
    run_id: int
    result: RunResult
    cancelled: bool


@dataclass(frozen=True)
class RunResult:
    settings: RunSettings
    backends: tuple[BackendSpec, ...]
    images: tuple[ImageInfo, ...]
    requests: tuple[RequestResult, ...]  # cold + measured (warm-up requests are not kept)
    problems: tuple[ImageProblem, ...]
    summary: tuple[Aggregate, ...]
    started_at: float = 0.0
    finished_at: float = 0.0
    server_times: tuple[ServerTime, ...] = ()
    timings: tuple[BackendTiming, ...] = ()

    def timing(self, backend: str) -> BackendTiming | None:
        return next((t for t in self.timings if t.backend == backend), None)

    @property
    def measured(self) -> tuple[RequestResult, ...]:
        return tuple(r for r in self.requests if r.phase == "measured")

    @property
    def cold(self) -> tuple[RequestResult, ...]:
        return tuple(r for r in self.requests if r.phase == "cold")


RunEvent = (
    RunStarted
    | ImageReady
    | ImageFailed
    | BackendReady
    | PodMoved
    | RequestDone
    | ServerTimeMeasured
    | TimingUpdated
    | Progress
    | RunFinished
)
