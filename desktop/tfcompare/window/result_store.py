"""The window's model of one comparison's results: what the runner has reported so far, and the
figures the views draw. Plain Python (no Qt), tested directly (tests/test_window_controller.py).

Events are applied as they arrive (cheap: append + mark dirty); ``refresh()`` recomputes only what
changed, at the coalescing timer's pace, so thousands of results per second never flood the views.
The figures are the runner's: per image ``runner.stats.aggregate``, pooled over images
``runner.stats.pool`` (the same function behind reports and ``tfcompare compare``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Set
from dataclasses import dataclass, field, replace

from tfcompare.imaging.values import ORIGINAL, ImageInfo, variant_sort_key
from tfcompare.results import Aggregate, BackendTiming, RequestResult, RunResult, ServerTime
from tfcompare.runner.aggregates import (
    Pooled,
    aggregate,
    counts,
    failed,
    is_error,
    pool,
    pooled,
)
from tfcompare.runner.events import (
    BackendReady,
    ImageFailed,
    ImageReady,
    Progress,
    RequestDone,
    RunFinished,
    RunStarted,
    ServerTimeMeasured,
    TimingUpdated,
)
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

Cell = tuple[str, str]  # (variant, backend)


@dataclass
class Changes:
    """What ``refresh()`` recomputed, so views update only what they must."""

    aggregates: list[Aggregate] = field(default_factory=list)
    cells: bool = False
    images: bool = False
    backends: bool = False

    def __bool__(self) -> bool:
        return bool(self.aggregates or self.cells or self.images or self.backends)


class ResultStore:
    """Everything known about the current comparison's results (a live run or a loaded session)."""

    def __init__(self) -> None:
        self.clear()

    # ------------------------------------------------------------------ lifecycle
    def clear(self) -> None:
        self.settings: RunSettings = RunSettings()
        self.backends: list[BackendSpec] = []
        self.images: dict[str, ImageInfo] = {}
        self.problems: dict[str, str] = {}
        self.backend_ready: dict[str, BackendReady] = {}
        self.server_times: dict[tuple[str, str, str], ServerTime] = {}  # (image, variant, backend)
        self.timings: dict[str, BackendTiming] = {}  # path floor and metrics source per backend
        self.cold: dict[str, RequestResult] = {}
        self.errors: dict[str, int] = defaultdict(int)
        self.last_error: dict[str, str] = {}
        self.result: RunResult | None = None
        self.progress: Progress | None = None
        self.n_results = 0
        self._groups: dict[tuple[str, str], list[RequestResult]] = defaultdict(list)
        self._lat_sorted: dict[Cell, list[float]] = defaultdict(list)
        self._lat_errors: dict[Cell, int] = defaultdict(int)
        self._aggs: dict[tuple[str, str, str], Aggregate] = {}
        self._cell_aggs: dict[Cell, dict[str, Aggregate]] = defaultdict(dict)
        self._cells: dict[Cell, Pooled] = {}
        self._loaded_aggs: list[Aggregate] = []
        self._dirty_groups: set[tuple[str, str]] = set()
        self._dirty_cells: set[Cell] = set()
        self._images_changed = True
        self._backends_changed = True

    def begin_run(self, event: RunStarted) -> None:
        self.clear()
        self.settings = event.settings
        self.backends = list(event.backends)

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
        for t in result.server_times:
            self.server_times[(t.image, t.variant, t.backend)] = t
        self.timings = {t.backend: t for t in result.timings}
        # the saved aggregates are shown as saved (exactly), not recomputed
        self._dirty_groups.clear()
        for a in result.summary:
            self._set_aggregate(a)
        self._loaded_aggs = list(result.summary)
        self.result = result

    def snapshot(self) -> RunResult | None:
        """The finished comparison as shown (None before a run ends): what a session file holds."""
        return self.result

    def restore(self, result: RunResult | None) -> None:
        """Show ``result`` again (taking a removal back)."""
        if result is None:
            self.clear()
        else:
            self.load_result(result)

    def drop(self, *, images: Set[str] = frozenset(), backends: Set[str] = frozenset()) -> None:
        """Forget removed images' and backends' results: they leave every view, and a saved
        session no longer holds them."""
        r = self.result
        if r is None:
            for name in images:
                self.images.pop(name, None)
                self.problems.pop(name, None)
            self._images_changed = True
            return

        def keep(image: str, backend: str) -> bool:
            return image not in images and backend not in backends

        self.load_result(
            replace(
                r,
                backends=tuple(b for b in r.backends if b.name not in backends),
                images=tuple(i for i in r.images if i.name not in images),
                requests=tuple(q for q in r.requests if keep(q.image, q.backend)),
                problems=tuple(p for p in r.problems if p.image not in images),
                summary=tuple(a for a in r.summary if keep(a.image, a.backend)),
                server_times=tuple(t for t in r.server_times if keep(t.image, t.backend)),
                timings=tuple(t for t in r.timings if t.backend not in backends),
            )
        )

    # ------------------------------------------------------------------ events
    def apply(self, event: object) -> None:
        if isinstance(event, RequestDone):
            self._add_request(event.result)
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, ImageReady):
            self.images[event.image.name] = event.image
            self._images_changed = True
        elif isinstance(event, ImageFailed):
            self.problems[event.problem.image] = event.problem.message
            self._images_changed = True
        elif isinstance(event, BackendReady):
            self.backend_ready[event.backend] = event
            self._backends_changed = True
        elif isinstance(event, ServerTimeMeasured):  # the block's aggregate gains its server time
            t = event.time
            self.server_times[(t.image, t.variant, t.backend)] = t
            self._dirty_groups.add((t.image, t.backend))
        elif isinstance(event, TimingUpdated):
            self.timings[event.timing.backend] = event.timing
            self._backends_changed = True
        elif isinstance(event, RunStarted):
            self.begin_run(event)
        elif isinstance(event, RunFinished):
            self.result = event.result
            # the run's own summary is authoritative (it also has the server time measured
            # around each block): the views show what a saved session will show
            self._dirty_groups.clear()  # nothing left to recompute: the summary has it all
            for a in event.result.summary:
                self._set_aggregate(a)
            self._loaded_aggs = list(event.result.summary)
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
        if not r.ok:  # why it failed, whatever the phase; counted as the report counts (failed)
            self.last_error[r.backend] = r.error or "request failed"
            self._backends_changed = True
        if failed(r):
            self.errors[r.backend] += 1
        if r.phase == "cold":
            self.cold[r.backend] = r
            self._dirty_cells.add((r.variant, r.backend))
            return
        if r.phase != "measured":
            return
        cell = (r.variant, r.backend)
        self._groups[(r.image, r.backend)].append(r)
        if counts(r) and r.latency_ms is not None:
            bisect.insort(self._lat_sorted[cell], r.latency_ms)
        elif is_error(r):
            self._lat_errors[cell] += 1
        self._dirty_groups.add((r.image, r.backend))
        self._dirty_cells.add(cell)

    def _set_aggregate(self, a: Aggregate) -> None:
        self._aggs[(a.image, a.variant, a.backend)] = a
        self._cell_aggs[(a.variant, a.backend)][a.image] = a
        self._dirty_cells.add((a.variant, a.backend))

    # ------------------------------------------------------------------ recompute
    def refresh(self) -> Changes:
        changes = Changes(images=self._images_changed, backends=self._backends_changed)
        if self._loaded_aggs:
            changes.aggregates, self._loaded_aggs = self._loaded_aggs, []
        self._images_changed = self._backends_changed = False
        if self._dirty_groups:
            requests = [r for key in self._dirty_groups for r in self._groups[key]]
            self._dirty_groups.clear()
            for agg in aggregate(requests, self.server_times.values()):
                self._set_aggregate(agg)
                changes.aggregates.append(agg)
        if self._dirty_cells:
            for cell in self._dirty_cells:
                if cell in self._lat_sorted or cell in self._lat_errors or cell in self._cell_aggs:
                    self._cells[cell] = pool(
                        *cell,
                        self._lat_sorted.get(cell, []),
                        self._lat_errors.get(cell, 0),
                        self._cell_aggs.get(cell, {}).values(),
                    )
            self._dirty_cells.clear()
            changes.cells = True
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
        """Every per-image aggregate known so far (as of the last ``refresh``)."""
        return list(self._aggs.values())

    def aggregate_for(self, image: str, variant: str, backend: str) -> Aggregate | None:
        return self._aggs.get((image, variant, backend))

    def cells(self, image: str | None = None) -> dict[Cell, Pooled]:
        """Per (variant, backend): pooled over every image (``image`` None), or that image's own."""
        if image is None:
            return dict(self._cells)
        requests = [r for b in self.backend_names for r in self._groups.get((image, b), ())]
        aggs = [a for (i, _, _), a in self._aggs.items() if i == image]
        return pooled(requests, aggs, [image])

    def images_per_cell(self) -> dict[Cell, int]:
        return {cell: p.images for cell, p in self._cells.items()}

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

    def has_results(self) -> bool:
        return self.n_results > 0
