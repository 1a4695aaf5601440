"""Events of a comparison run, in the order a run emits them."""

from __future__ import annotations

from dataclasses import dataclass

from tfcompare.imaging.values import ImageInfo, ImageProblem
from tfcompare.results import BackendTiming, RequestResult, RunResult, ServerTime
from tfcompare.serving.answers import ModelStatus, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

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
