"""The window's model of one comparison: what the runner has reported so far, and the numbers the
views draw. Plain Python (no Qt), so it is tested directly and shared by every view.

Events are applied as they arrive (cheap: append + mark dirty); ``refresh()`` recomputes only what
changed, at the coalescing timer's pace, so thousands of results per second never flood the views.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from tfcompare.datatypes import (
    ORIGINAL,
    Aggregate,
    BackendReady,
    BackendSpec,
    ImageFailed,
    ImageInfo,
    ImageReady,
    Prediction,
    Progress,
    RequestDone,
    RequestResult,
    RunFinished,
    RunResult,
    RunSettings,
    RunStarted,
    variant_sort_key,
)

ALL_IMAGES = "*"


def _aggregate(requests: list[RequestResult]) -> tuple[Aggregate, ...]:
    from tfcompare.runner import aggregate

    return tuple(aggregate(requests))


def _latency_aggregate(variant: str, backend: str, lat: list[float], n_errors: int) -> Aggregate:
    """Latency statistics of one (variant, backend) pooled over images (``lat`` sorted)."""
    from tfcompare.runner.stats import FEW_SAMPLES, percentile

    return Aggregate(
        image=ALL_IMAGES, variant=variant, backend=backend, n=len(lat), n_errors=n_errors, bytes=0,
        p50_ms=percentile(lat, 50) if lat else None,
        p90_ms=percentile(lat, 90) if lat else None,
        p99_ms=percentile(lat, 99) if lat else None,
        mean_ms=sum(lat) / len(lat) if lat else None, stdev_ms=None,
        few_samples=len(lat) < FEW_SAMPLES, top1=None, top1_agree=None, top5_overlap=None, score_ratio=None,
    )  # fmt: skip


def latency_by_variant(
    requests: list[RequestResult] | tuple[RequestResult, ...],
) -> dict[tuple[str, str], Aggregate]:
    """Latency of each (variant, backend) over all images, with the runner's own percentiles."""
    lat: dict[tuple[str, str], list[float]] = defaultdict(list)
    errors: dict[tuple[str, str], int] = defaultdict(int)
    for r in requests:
        if r.phase != "measured":
            continue
        if r.counts_in_stats:
            lat[(r.variant, r.backend)].append(r.latency_ms)  # type: ignore[arg-type]
        elif not r.ok:
            errors[(r.variant, r.backend)] += 1
    keys = set(lat) | set(errors)
    return {
        k: _latency_aggregate(k[0], k[1], sorted(lat.get(k, [])), errors.get(k, 0)) for k in keys
    }


@dataclass
class QualityPoint:
    """One (variant, backend) averaged over images: bytes sent against quality kept."""

    variant: str
    backend: str
    mean_bytes: float
    score_ratio: float | None  # mean over images that have one
    top1_agree: float | None  # fraction of images whose top-1 matches the original's
    n_images: int


@dataclass
class Changes:
    """What ``refresh()`` recomputed, so views update only what they must."""

    aggregates: list[Aggregate] = field(default_factory=list)
    latency: bool = False
    images: bool = False
    backends: bool = False

    def __bool__(self) -> bool:
        return bool(self.aggregates or self.latency or self.images or self.backends)


class ResultStore:
    """Everything known about the current comparison (a live run or a loaded session)."""

    def __init__(self) -> None:
        self.clear()

    # ------------------------------------------------------------------ lifecycle
    def clear(self) -> None:
        self.settings: RunSettings = RunSettings()
        self.backends: list[BackendSpec] = []
        self.images: dict[str, ImageInfo] = {}
        self.problems: dict[str, str] = {}
        self.backend_ready: dict[str, BackendReady] = {}
        self.cold: dict[str, RequestResult] = {}
        self.errors: dict[str, int] = defaultdict(int)
        self.last_error: dict[str, str] = {}
        self.result: RunResult | None = None
        self.progress: Progress | None = None
        self.total_requests = 0
        self.n_results = 0
        self._groups: dict[tuple[str, str], list[RequestResult]] = defaultdict(list)
        self._lat_sorted: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._lat_errors: dict[tuple[str, str], int] = defaultdict(int)
        self._aggs: dict[tuple[str, str, str], Aggregate] = {}
        self._lat: dict[tuple[str, str], Aggregate] = {}
        self._loaded_aggs: list[Aggregate] = []
        self._dirty_groups: set[tuple[str, str]] = set()
        self._dirty_variants: set[tuple[str, str]] = set()
        self._images_changed = True
        self._backends_changed = True

    def begin_run(self, event: RunStarted) -> None:
        self.clear()
        self.settings = event.settings
        self.backends = list(event.backends)
        self.total_requests = event.total_requests

    def load_result(self, result: RunResult) -> None:
        """Show a finished comparison (a saved session, or a run's final result)."""
        self.clear()
        self.settings = result.settings
        self.backends = list(result.backends)
        for info in result.images:
            self.images[info.name] = info
        for problem in result.problems:
            self.problems[problem.image] = problem.message
        for r in result.requests:
            self._add_request(r)
        # the saved aggregates are shown as saved (exactly), not recomputed
        self._dirty_groups.clear()
        self._aggs = {(a.image, a.variant, a.backend): a for a in result.summary}
        self._loaded_aggs = list(result.summary)
        self.result = result
        self.total_requests = self.n_results

    # ------------------------------------------------------------------ events
    def apply(self, event: object) -> None:
        if isinstance(event, RequestDone):
            self._add_request(event.result)
        elif isinstance(event, Progress):
            self.progress = event
            self.total_requests = event.total
        elif isinstance(event, ImageReady):
            self.images[event.image.name] = event.image
            self._images_changed = True
        elif isinstance(event, ImageFailed):
            self.problems[event.problem.image] = event.problem.message
            self._images_changed = True
        elif isinstance(event, BackendReady):
            self.backend_ready[event.backend] = event
            self._backends_changed = True
        elif isinstance(event, RunStarted):
            self.begin_run(event)
        elif isinstance(event, RunFinished):
            self.result = event.result
            # the final result is authoritative (e.g. problems found late); keep live data otherwise
            for problem in event.result.problems:
                if problem.image not in self.problems:
                    self.problems[problem.image] = problem.message
                    self._images_changed = True
            for info in event.result.images:
                if info.name not in self.images:
                    self.images[info.name] = info
                    self._images_changed = True

    def _add_request(self, r: RequestResult) -> None:
        self.n_results += 1
        if not r.ok:
            self.errors[r.backend] += 1
            self.last_error[r.backend] = r.error or "request failed"
            self._backends_changed = True
        if r.phase == "cold":
            self.cold[r.backend] = r
            self._dirty_variants.add((r.variant, r.backend))
            return
        if r.phase != "measured":
            return
        self._groups[(r.image, r.backend)].append(r)
        if r.counts_in_stats:
            bisect.insort(self._lat_sorted[(r.variant, r.backend)], r.latency_ms)
        elif not r.ok:
            self._lat_errors[(r.variant, r.backend)] += 1
        self._dirty_groups.add((r.image, r.backend))
        self._dirty_variants.add((r.variant, r.backend))

    # ------------------------------------------------------------------ recompute
    def refresh(self) -> Changes:
        changes = Changes(images=self._images_changed, backends=self._backends_changed)
        if self._loaded_aggs:
            changes.aggregates, self._loaded_aggs = self._loaded_aggs, []
        self._images_changed = self._backends_changed = False
        if self._dirty_groups:
            requests = [r for key in self._dirty_groups for r in self._groups[key]]
            self._dirty_groups.clear()
            for agg in _aggregate(requests):
                self._aggs[(agg.image, agg.variant, agg.backend)] = agg
                changes.aggregates.append(agg)
        if self._dirty_variants:
            for key in self._dirty_variants:
                if key in self._lat_sorted or key in self._lat_errors:
                    self._lat[key] = _latency_aggregate(
                        key[0], key[1], self._lat_sorted.get(key, []), self._lat_errors.get(key, 0)
                    )
            self._dirty_variants.clear()
            changes.latency = True
        return changes

    # ------------------------------------------------------------------ queries
    @property
    def backend_names(self) -> list[str]:
        names = [b.name for b in self.backends]
        extra = sorted({k[1] for k in self._groups} - set(names))
        return names + extra

    def variants(self) -> list[str]:
        keys = (
            {k[0] for k in self._lat_sorted}
            | {k[0] for k in self._lat_errors}
            | {r.variant for r in self.cold.values()}
        )
        for info in self.images.values():
            keys.update(v.key for v in info.variants)
        return sorted(keys, key=variant_sort_key)

    def variant_label(self, key: str) -> str:
        if key == ORIGINAL:
            return "original"
        for info in self.images.values():
            for v in info.variants:
                if v.key == key:
                    return v.label
        return key

    def aggregates(self) -> list[Aggregate]:
        return list(self._aggs.values())

    def aggregate_for(self, image: str, variant: str, backend: str) -> Aggregate | None:
        return self._aggs.get((image, variant, backend))

    def latency(self, variant: str, backend: str) -> Aggregate | None:
        return self._lat.get((variant, backend))

    def top5(
        self, image: str, variant: str, backend: str
    ) -> tuple[tuple[Prediction, ...], str] | None:
        """The answer of the first successful measured request (or the cold one) for that cell."""
        for r in self._groups.get((image, backend), ()):
            if r.variant == variant and r.ok and r.top5:
                return r.top5, r.score_kind
        cold = self.cold.get(backend)
        if cold and cold.image == image and cold.variant == variant and cold.ok and cold.top5:
            return cold.top5, cold.score_kind
        return None

    def quality_points(self) -> list[QualityPoint]:
        grouped: dict[tuple[str, str], list[Aggregate]] = defaultdict(list)
        for agg in self._aggs.values():
            grouped[(agg.variant, agg.backend)].append(agg)
        points = []
        for (variant, backend), aggs in grouped.items():
            ratios = [a.score_ratio for a in aggs if a.score_ratio is not None]
            agrees = [a.top1_agree for a in aggs if a.top1_agree is not None]
            points.append(
                QualityPoint(
                    variant=variant,
                    backend=backend,
                    mean_bytes=sum(a.bytes for a in aggs) / len(aggs),
                    score_ratio=sum(ratios) / len(ratios) if ratios else None,
                    top1_agree=sum(agrees) / len(agrees) if agrees else None,
                    n_images=len(aggs),
                )
            )
        return points

    def has_results(self) -> bool:
        return self.n_results > 0
