"""What a comparison run measured: each request, the aggregates per image × variant × backend,
server time per block, each backend's path floor and metrics source, and the whole run.

Plain frozen dataclasses shared by the runner, sessions, exports, the report and the window.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from typing import Any, Literal

from tfcompare.imaging.values import ImageInfo, ImageProblem
from tfcompare.serving.answers import Prediction, ScoreKind
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

Phase = Literal["cold", "warmup", "measured"]


@dataclass(frozen=True)
class RequestResult:
    """One request as measured. ``phase`` "cold" is the very first request to a backend."""

    image: str
    variant: str  # Variant.key
    backend: str  # BackendSpec.name
    protocol: str
    phase: Phase
    repeat: int  # 0-based index within its phase
    ok: bool
    latency_ms: float | None
    client_ms: float | None
    bytes: int  # bytes sent (serialized request)
    model_version: int | str | None  # OIP versions may be labels
    error: str | None
    top5: tuple[Prediction, ...] = ()
    score_kind: ScoreKind = "unknown"
    pod: str | None = None  # Kubernetes pod that answered (the one forwarded to at the end)
    started_at: float = 0.0  # time.time() when sent
    # The forward moved to another pod while this request was in flight: ``pod_before`` is the pod
    # it was sent to. Such a request is kept but left out of percentiles and means.
    pod_before: str | None = None
    spans_restart: bool = False
    # the client's time to make the request's tensor (decode, resize, scale) for tensor-input
    # models; None for encoded-bytes models (nothing to make)
    preprocess_ms: float | None = None

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
            "preprocess_ms": self.preprocess_ms,
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
            preprocess_ms=d.get("preprocess_ms"),
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
    preprocess_ms: float | None = None  # mean client preprocessing per request (tensor inputs)
    queue_ms: float | None = None  # mean time queued in the server (servers that report it)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> Aggregate:
        fields = cls.__dataclass_fields__  # older files lack the newer fields: their defaults
        values: dict[str, Any] = {
            k: d.get(k) for k, f in fields.items() if k in d or f.default is MISSING
        }
        return cls(**values)


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
    queue_ms: float | None = None  # time queued before the model ran (Triton reports it)

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
            queue_ms=d.get("queue_ms"),
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
    # what the model takes and how images become its input ("takes encoded bytes" / "takes
    # float32 224×224×3 NHWC · preprocess tf (auto: …)"), once the backend was reached
    input: str = ""

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
            input=str(d.get("input") or ""),
        )


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
