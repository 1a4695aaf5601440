"""What a comparison run measured: each request, the aggregates per image × variant × backend,
server time per block, each backend's path floor and metrics source, and the whole run.

Plain frozen dataclasses shared by the runner, sessions, exports, the report and the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tfcompare.checks import RESULT_LIMIT, from_fields, number, shown, text, whole_number
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
        return cls(**from_fields(cls, d, "a request", _REQUEST_SPECIAL))


def _protocol(value: object, what: str) -> str:
    from tfcompare.serving import protocols

    try:
        return protocols.get(text(value, what)).name
    except ValueError:
        raise ValueError(f"{what} is not a protocol tfcompare knows ({shown(value)})") from None


def _version(value: object, what: str) -> int | str | None:
    """A model version: TF Serving's number, an Open Inference Protocol label ("v2.0"), or null."""
    if value is None or isinstance(value, str):
        return text(value, what, optional=True)
    return whole_number(value, what, -(2**63), 2**63 - 1)


def _one_of(*choices: str):
    def check(value: object, what: str) -> str:
        if value not in choices:
            raise ValueError(f"{what} must be one of {', '.join(choices)}, not {shown(value)}")
        return value

    return check


def _top5(value: object, what: str) -> tuple[Prediction, ...]:
    """``[[label, score], …]`` (a null score is a NaN the server answered)."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValueError(f"{what} must be a short list of [label, score]")
    out = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f"{what} entries must be [label, score], not {shown(pair)}")
        score = pair[1]
        if score is None or (type(score) is float and math.isnan(score)):
            score = math.nan  # the server answered NaN (JSON writes it as null)
        else:
            score = number(score, what, -RESULT_LIMIT, RESULT_LIMIT)
        out.append(Prediction(pair[0], score))
    return tuple(out)


_REQUEST_SPECIAL = {
    "protocol": _protocol,
    "model_version": _version,
    "phase": _one_of("cold", "warmup", "measured"),
    "score_kind": _one_of("probability", "logit", "unknown"),
    "top5": _top5,
}


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
        return cls(**from_fields(cls, d, "an aggregate"))


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
        return cls(**from_fields(cls, d, "a block's server time"))


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
        return cls(**from_fields(cls, d, "a backend's timing"))


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
