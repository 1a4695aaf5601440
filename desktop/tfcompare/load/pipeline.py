"""One capacity sweep from images to results: the single path that ``tfcompare load``, ``tfcompare
demo --capacity`` and the window's Capacity tab all take.

images → variant payloads (``prepare.variant_payloads``) → targets (each backend's signature read
through its own client; a ``k8s://`` backend reached through a port-forward that stays open for
the sweep and is closed after it, or, for load agents in the cluster, addressed by its service)
→ the sweep (``sweep.sweep`` from this process, or ``incluster.run_in_cluster``) → a
:class:`CapacityResult` whose messages start with everything said while preparing.

Progress goes to ``on_event`` (``tfcompare.load.events``) from the calling thread; ``cancel``
stops it between steps and between windows. Front ends only choose what to sweep
(:class:`SweepJob`) and how to show what comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tfcompare.load.capacity_results import CapacityResult
from tfcompare.load.events import LoadEvent, Stage, SweepMessage, SweepStage
from tfcompare.load.incluster import InCluster, agents_plan, in_cluster_targets, run_in_cluster
from tfcompare.load.level_server_time import metrics_timer
from tfcompare.load.load_plan import DEFAULT_VARIANTS, LoadPlan, LoadTarget
from tfcompare.load.prepare import ImageSource, connected_targets, variant_payloads
from tfcompare.load.sweep import ServerTimer, sweep
from tfcompare.serving.backend_spec import BackendSpec


class NothingToMeasure(Exception):
    """No backend could be measured; ``problems`` says why, one line per backend."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems) or "no backend could be measured")


@dataclass(frozen=True)
class SweepJob:
    """What to sweep: the plan, the backends, the images and which of their variants.

    ``default_variants``: ``variants`` are tfcompare's defaults, not the user's choice, so a
    resized variant that no image is large enough for is replaced by a smaller one.
    ``in_cluster``: run the load from agents in a Kubernetes Job instead of this process.
    ``notes`` go first in the result's messages (e.g. how the levels were chosen). Raises
    ValueError with a message for the user when the job cannot run as given.
    """

    plan: LoadPlan
    backends: tuple[BackendSpec, ...]
    images: tuple[ImageSource, ...] = field(repr=False)
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    default_variants: bool = False
    quality: int = 90  # JPEG's, and WebP's unless webp_quality is given
    webp_quality: int | None = None
    in_cluster: InCluster | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "backends", tuple(self.backends))
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "notes", tuple(self.notes))
        if not self.backends:
            raise ValueError("no backend to measure")
        if not self.images:
            raise ValueError("no image to send")
        if not 1 <= self.quality <= 100:
            raise ValueError("the JPEG/WebP quality must be between 1 and 100")
        if self.webp_quality is not None and not 1 <= self.webp_quality <= 100:
            raise ValueError("the WebP quality must be between 1 and 100")
        if self.in_cluster is not None:
            agents_plan(self.plan, self.in_cluster.agents)  # levels the agents can split
            if self.in_cluster.start_lead_s < 0:
                raise ValueError("the start lead must be 0 s or more")


def run_sweep(
    job: SweepJob,
    *,
    on_event: Callable[[LoadEvent], None] | None = None,
    cancel: threading.Event | None = None,
    server_time: Callable[[LoadTarget], ServerTimer | None] | None = metrics_timer,
) -> CapacityResult:
    """Run ``job`` in this thread; returns everything measured (``cancelled`` when stopped).

    Raises PrepareError (no usable image or variant), NothingToMeasure (no backend could be
    used; each one's problem is also said as a message), ClusterError (the agents' Job could
    not be created)."""
    cancel = cancel or threading.Event()
    emit = on_event or (lambda event: None)
    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        emit(SweepMessage(text))

    with sweep_targets(job, say, emit, cancel) as (targets, variants):
        if cancel.is_set():
            result = _nothing_measured(job, variants)
        else:
            emit(SweepStage(Stage.MEASURING))
            if job.in_cluster is not None:
                result = run_in_cluster(
                    job.plan,
                    targets,
                    job.in_cluster,
                    on_event=emit,
                    cancel=cancel,
                    variants=variants,
                )
            else:
                result = sweep(
                    job.plan,
                    targets,
                    on_event=emit,
                    cancel=cancel,
                    variants=variants,
                    server_time=server_time,
                )
    result.messages[:0] = said
    return result


@contextmanager
def sweep_targets(
    job: SweepJob,
    say: Callable[[str], None],
    emit: Callable[[LoadEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[list[LoadTarget], dict[str, dict]]]:
    """The requests of ``job`` per backend × variant, and the variants' info, for the time of
    the ``with`` block: port-forwards to ``k8s://`` backends stay open until it ends (in the
    cluster, backends are addressed by their service instead). What is worth knowing on the way
    (job notes, variants left out, backends that cannot be used) goes to ``say``. Raises
    PrepareError, NothingToMeasure."""
    emit = emit or (lambda event: None)
    for text in job.notes:
        say(text)
    emit(SweepStage(Stage.PREPARING))
    payloads, variants, notes = variant_payloads(
        job.images,
        job.variants,
        job.quality,
        webp_quality=job.webp_quality,
        default=job.default_variants,
    )
    for text in notes:
        say(text)
    if cancel is not None and cancel.is_set():
        yield [], variants
        return
    emit(SweepStage(Stage.CONNECTING))
    connections = []
    try:
        if job.in_cluster is not None:
            direct = [s.name for s in job.backends if not s.is_k8s]
            if direct:
                say(
                    f"{', '.join(direct)}: HOST:PORT as given must be reachable from the agents' pods"
                )
            targets, problems = in_cluster_targets(job.backends, payloads, variants)
        else:
            targets, problems, connections = connected_targets(
                job.backends, payloads, variants, note=say
            )
        for text in problems:
            say(text)
        if not targets:
            raise NothingToMeasure(problems)
        yield targets, variants
    finally:
        for conn in connections:
            conn.close()


def _nothing_measured(job: SweepJob, variants: dict[str, dict]) -> CapacityResult:
    """The result of a sweep cancelled before its first level."""
    now = time.time()
    return CapacityResult(
        plan=job.plan.to_dict(),
        backends=[s.to_dict() for s in job.backends],
        variants=variants,
        started_at=now,
        finished_at=now,
        cancelled=True,
    )
