"""The Capacity tab without Qt: the plan as the user sets it (plain values), the sweep that runs
(with its generation number) or is shown, its notes and status, and what a view draws of it.

A sweep runs ``tfcompare.load.pipeline.run_sweep`` — the same path as ``tfcompare load`` — in a
plain thread. Its events wait in a queue, tagged with the sweep's generation, until the owner
calls :meth:`CapacityController.drain` (the window does, on its timer, through
``WindowController.drain``); events of an older generation are dropped, so a cancelled sweep never
draws over a newer one or a session opened since. Views learn of changes through ``events``
(``tfcompare.window.events.CapacityEvents``).

Figures of a backend × variant still being measured are provisional: its row says so, its curve
has no knee yet, and the equivalents wait for the end of the sweep.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcompare.load.capacity_formats import write_csv, write_json
from tfcompare.load.capacity_model import CapacityModel, Curve, CurvePoint
from tfcompare.load.capacity_results import CapacityResult
from tfcompare.load.events import LevelDone, SweepMessage, SweepStage, TargetDone, WindowDone
from tfcompare.load.incluster import InCluster, default_levels_for_agents
from tfcompare.load.load_plan import DEFAULT_CONCURRENCY, DEFAULT_VARIANTS, LoadPlan, Mode
from tfcompare.load.prepare import PrepareError, parse_variants
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.window.events import CapacityEvents, Ended, Outcome
from tfcompare.window.work import BackgroundWork

if TYPE_CHECKING:
    from tfcompare.load.pipeline import ImageSource, SweepJob

DEFAULT_RATES: tuple[float, ...] = (10, 20, 50, 100)
EQUIVALENTS_HINT = (
    "Filled in after a sweep of two or more backends with a stable level within the limit."
)
EQUIVALENTS_WAIT = "Filled in when the sweep ends."
MEASURING = "being measured…"


def levels_text(levels: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in levels)


@dataclass(frozen=True)
class PlanFields:
    """The Capacity tab's settings row as values: what the user typed, checked when a sweep
    starts (``plan``)."""

    mode: Mode = "concurrency"
    levels: str = levels_text(DEFAULT_CONCURRENCY)
    variants: str = ",".join(DEFAULT_VARIANTS)
    window_s: float = 5.0
    limit_ms: float | None = 100.0
    agents: int = 0  # 0: this machine sends the load; N: N load agents in the cluster
    start_lead_s: float = 60.0  # in the cluster: from the last agent ready to the first level

    def plan(self) -> LoadPlan:
        """The LoadPlan these fields ask for; ValueError with a message for the user."""
        try:
            levels = tuple(float(v) for v in self.levels.split(",") if v.strip())
        except ValueError:
            raise ValueError("levels must be numbers separated by commas") from None
        return LoadPlan(
            mode=self.mode,
            levels=levels,
            window_s=self.window_s,
            latency_limit_ms=self.limit_ms or None,
        )

    @classmethod
    def of(cls, plan: dict, variants: Sequence[str], base: PlanFields) -> PlanFields:
        """The fields that show a sweep's plan (a saved or finished one)."""
        mode = plan.get("mode", "concurrency")
        return replace(
            base,
            mode=mode if mode in ("concurrency", "rate") else "concurrency",
            levels=levels_text(plan.get("levels") or ()),
            variants=",".join(variants) or base.variants,
            window_s=float(plan.get("window_s") or base.window_s),
            limit_ms=plan.get("latency_limit_ms") or None,
            agents=int((plan.get("in_cluster") or {}).get("agents", 0)),
        )


@dataclass(frozen=True)
class _Finished:
    """The worker's last word: the result (None when the sweep could not start) and the end."""

    result: CapacityResult | None
    ended: Ended


class CapacityController:
    """One window's capacity sweeps. ``backends`` and ``images`` give what a sweep would load
    (the comparison's backends and images); ``busy`` says why a sweep cannot start now (a
    comparison running), or None."""

    def __init__(
        self,
        backends: Callable[[], Sequence[BackendSpec]],
        images: Callable[[], Sequence[ImageSource]],
        busy: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.events = CapacityEvents()
        self.fields = PlanFields()
        self.result: CapacityResult | None = None  # the sweep shown: running, finished or opened
        self.job: SweepJob | None = None  # what the last sweep started here was asked to do
        self.generation = 0
        self.running = False
        self.cancelling = False
        self.status = ""
        self.finished: Ended | None = None  # how the last sweep that ran here ended
        self.unsaved = False  # a sweep ended here that no session file holds
        self._backends = backends
        self._images = images
        self._busy = busy
        self._measured: set[tuple[str, str]] = set()  # pairs whose figures are final
        self._pending: deque[tuple[int, object]] = deque()
        self._worker = BackgroundWork()

    # ------------------------------------------------------------------ the settings row
    def set_fields(self, **changes) -> None:
        """Change fields of the settings row; a new mode brings that mode's default levels."""
        fields_ = replace(self.fields, **changes)
        if fields_.mode != self.fields.mode and "levels" not in changes:
            defaults = DEFAULT_CONCURRENCY if fields_.mode == "concurrency" else DEFAULT_RATES
            fields_ = replace(fields_, levels=levels_text(defaults))
        if fields_ != self.fields:
            self.fields = fields_
            self.events.fields.emit()

    # ------------------------------------------------------------------ running
    def start(self) -> str | None:
        """Start a sweep of the current backends and images; returns why it cannot start (None
        when it started)."""
        # The sweep's modules (grpc.aio among them) load here, on the owner's thread, the first
        # time a sweep starts: not at the window's start-up, and never in the sweep's thread
        # while a status check's thread imports the same modules in another order.
        from tfcompare.load.pipeline import SweepJob

        if self.running:
            return "A capacity sweep is already running."
        reason = self._busy()
        if reason:
            return reason
        try:
            plan = self.fields.plan()
            variants = parse_variants(self.fields.variants)
        except (ValueError, PrepareError) as exc:
            return str(exc)
        images, specs = tuple(self._images()), tuple(self._backends())
        if not images:
            return "Add images first: the sweep sends their variants."
        if not specs:
            return "Add a backend first (Backends → Add…)."
        notes: tuple[str, ...] = ()
        in_cluster = None
        if self.fields.agents:
            if plan.mode == "concurrency" and plan.levels == DEFAULT_CONCURRENCY:
                # the default levels as the tab opened: those the agents can split
                levels, note = default_levels_for_agents(self.fields.agents)
                plan = replace(plan, levels=levels)
                self.set_fields(levels=levels_text(levels))
                notes = (note,) if note else ()
            in_cluster = InCluster(agents=self.fields.agents, start_lead_s=self.fields.start_lead_s)
        try:
            job = SweepJob(
                plan,
                specs,
                images,
                variants,
                default_variants=variants == DEFAULT_VARIANTS,
                in_cluster=in_cluster,
                notes=notes,
            )
        except ValueError as exc:
            return str(exc)
        self.generation += 1
        self.job, self.running, self.cancelling, self.finished = job, True, False, None
        self.unsaved = False
        self._measured = set()
        self.result = CapacityResult(
            plan=plan.to_dict(),
            backends=[s.to_dict() for s in specs],
            variants={v: {"label": v, "bytes": 0} for v in variants},
        )
        self._launch(self.generation, job)
        self.events.running.emit(True)
        self.events.results.emit()
        self._set_status("starting…")
        return None

    def _launch(self, generation: int, job: SweepJob) -> None:
        from tfcompare.load.pipeline import NothingToMeasure, run_sweep

        put = self._pending.append

        def work(cancel: threading.Event) -> None:
            try:
                result = run_sweep(job, on_event=lambda e: put((generation, e)), cancel=cancel)
            except (PrepareError, NothingToMeasure) as exc:
                put((generation, _Finished(None, Ended(Outcome.FAILED, str(exc)))))
            except Exception as exc:  # noqa: BLE001 - said to the user; the window stays up
                text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                put(
                    (
                        generation,
                        _Finished(None, Ended(Outcome.FAILED, f"the sweep failed: {text}")),
                    )
                )
            else:
                outcome = Outcome.CANCELLED if result.cancelled else Outcome.FINISHED
                put((generation, _Finished(result, Ended(outcome, outcome.value))))

        self._worker.launch(work, f"tfcompare-capacity-{generation}")

    def cancel(self) -> None:
        if self.running and not self.cancelling:
            self._worker.cancel()
            self.cancelling = True
            self._set_status("cancelling…")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the sweep's thread to end (it still has to be drained); True once it has."""
        return self._worker.wait(timeout)

    def close(self) -> None:
        """Cancel a running sweep and give it a few seconds to close its connections."""
        self._worker.cancel()
        self._worker.wait(5.0)

    def drain(self) -> None:
        """Apply what the sweep's thread has sent (call on the owner's thread); views hear of it
        once per drain."""
        results = status = False
        while self._pending:
            generation, event = self._pending.popleft()
            if generation != self.generation or self.result is None:
                continue  # a late event of an older sweep
            if isinstance(event, WindowDone):
                w = event.window
                p99 = f"{w.p99_ms:.1f} ms" if w.p99_ms is not None else "-"
                assert self.job is not None  # events come from the sweep this job started
                self.status = (
                    f"{w.backend} / {w.variant} at {self.job.plan.level_label(w.level)}, "
                    f"window {w.index + 1}: "
                    f"{w.throughput:.1f} req/s, p99 {p99}"
                )
                status = True
            elif isinstance(event, LevelDone):
                self.result.levels.append(event.level)
                results = True
            elif isinstance(event, TargetDone):
                self._measured.add((event.backend, event.variant))
                results = True
            elif isinstance(event, SweepMessage):
                self.result.messages.append(event.text)
                results = True
            elif isinstance(event, SweepStage):
                self.status, status = event.stage.value, True
            elif isinstance(event, _Finished):
                self._finish(event)
                return
        if results:
            self.events.results.emit()
        if status and not self.cancelling:
            self.events.status.emit(self.status)

    def _finish(self, done: _Finished) -> None:
        self.running = self.cancelling = False
        if done.result is not None:
            self.result = done.result
            self.unsaved = bool(done.result.levels)
            self._measured = set(done.result.pairs())
            self._show_plan()
        self.finished = done.ended
        self.events.running.emit(False)
        self.events.results.emit()
        self._set_status(done.ended.message)
        self.events.finished.emit(done.ended)

    # ------------------------------------------------------------------ sessions
    def load(self, result: CapacityResult | None, status: str = "opened from the session") -> None:
        """Show a saved sweep (or none); a sweep still running is forgotten (its late events are
        dropped)."""
        if self.running:
            self._worker.cancel()
            self.running = self.cancelling = False
            self.events.running.emit(False)
        self.generation += 1
        self.result, self.finished, self.unsaved = result, None, False
        self._measured = set(result.pairs()) if result is not None else set()
        if result is not None:
            self._show_plan()
        self.events.results.emit()
        self._set_status(status if result is not None else "")

    def clear(self) -> None:
        """A new session: no sweep shown (the settings row stays as it is)."""
        self.load(None)

    def saved_sweep(self) -> CapacityResult | None:
        """The sweep a session file would hold: the one shown when it has levels and is not
        still running."""
        result = self.result
        return result if result is not None and result.levels and not self.running else None

    def _show_plan(self) -> None:
        """The settings row shows the plan of the sweep shown (and the variants it swept)."""
        assert self.result is not None
        variants = list(dict.fromkeys(v for _, v in self.result.pairs()))
        shown = PlanFields.of(self.result.plan, variants, self.fields)
        if shown != self.fields:
            self.fields = shown
            self.events.fields.emit()

    def _set_status(self, text: str) -> None:
        self.status = text
        self.events.status.emit(text)

    # ------------------------------------------------------------------ exports
    @property
    def can_export(self) -> bool:
        return self.saved_sweep() is not None

    def export(self, kind: str, path: str | Path) -> None:
        """Write the sweep shown as JSON or CSV; raises LookupError with nothing to export, OSError."""
        result = self.saved_sweep()
        if result is None:
            raise LookupError(
                "Run a capacity sweep (and let it finish) or open a session that holds one first."
            )
        (write_json if kind == "json" else write_csv)(result, path)

    # ------------------------------------------------------------------ what a view draws
    def _provisional(self, backend: str, variant: str) -> bool:
        return self.running and (backend, variant) not in self._measured

    def curves(self) -> list[Curve]:
        """One curve per backend × variant; one still being measured has no marks (knee) yet."""
        return [
            _unmarked(c) if self._provisional(c.backend, c.variant) else c
            for c in CapacityModel(self.result).curves()
        ]

    @property
    def limit_ms(self) -> float | None:
        """The p99 limit of the sweep shown, else the one the next sweep will use."""
        return self.result.limit_ms if self.result is not None else self.fields.limit_ms

    def sustained_rows(self) -> list[tuple[str, str, str, str]]:
        """(backend, variant, sustained req/s, at which level); "being measured…" until a backend
        × variant's figures are final."""
        return [
            (b, v, "…", MEASURING) if self._provisional(b, v) else (b, v, rate, at)
            for b, v, rate, at in CapacityModel(self.result).sustained_rows()
        ]

    def table_title(self) -> tuple[str, str]:
        """(the headline, what qualifies it) of the sustained table: the limit of the sweep
        shown, and the one the settings row holds for the next sweep when that differs."""
        limit = self.limit_ms
        if limit:
            parts = [f"Sustained req/s at p99 ≤ {limit:g} ms", ""]
        else:
            parts = ["Highest stable req/s", "(no latency limit)"]
        typed = self.fields.limit_ms or None
        if self.result is not None and typed != limit:
            then = f"{typed:g} ms" if typed else "no limit"
            parts[1] = " — ".join(p for p in (parts[1], f"the next sweep: {then}") if p)
        return parts[0], parts[1]

    def equivalent_rows(self) -> list[str]:
        if self.running:
            return []
        return CapacityModel(self.result).equivalent_rows()

    def equivalents_hint(self) -> str:
        return EQUIVALENTS_WAIT if self.running else EQUIVALENTS_HINT

    def notes(self) -> list[str]:
        return self.result.notes() if self.result is not None else []


def _unmarked(curve: Curve) -> Curve:
    """A curve still being measured: its points, none of its marks (knee…)."""
    marks: dict[str, Any] = {
        f.name: None for f in fields(curve) if isinstance(getattr(curve, f.name), CurvePoint)
    }
    return replace(curve, **marks)


__all__ = [
    "EQUIVALENTS_HINT",
    "CapacityController",
    "Curve",
    "CurvePoint",
    "PlanFields",
    "levels_text",
]
