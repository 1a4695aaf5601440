"""The Capacity view's state, without Qt: the sweep being run or shown, as curves and tables.

The view subscribes with ``model.changed.append(callback)`` and redraws from :meth:`curves`,
:meth:`sustained_rows` and :meth:`equivalent_rows`. Events from a sweep are applied with
:meth:`apply` on the GUI thread; each sweep has a generation number and events of an older one are
dropped (a cancelled sweep can never draw over a new one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tfcompare.load.capacity_results import CapacityResult, LevelResult
from tfcompare.load.events import LevelDone, SweepMessage, WindowDone
from tfcompare.load.load_plan import LoadPlan


@dataclass(frozen=True)
class CurvePoint:
    throughput: float
    p99_ms: float
    label: str  # "c=4" or "50/s"
    stable: bool
    client_bound: bool


@dataclass(frozen=True)
class Curve:
    backend: str
    variant: str
    points: tuple[CurvePoint, ...]
    knee: CurvePoint | None


class CapacityModel:
    """What the Capacity tab shows; plain Python, tested without Qt."""

    def __init__(self) -> None:
        self.result: CapacityResult | None = None
        self.generation = 0
        self.running = False
        self.status = ""
        self.changed: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle

    def begin(self, plan: LoadPlan, backends: list[dict], variants: dict[str, dict]) -> int:
        """A new sweep starts: returns its generation."""
        self.generation += 1
        self.running = True
        self.result = CapacityResult(plan=plan.to_dict(), backends=backends, variants=variants)
        self.status = "preparing requests…"
        self._emit()
        return self.generation

    def apply(self, generation: int, event) -> None:
        if generation != self.generation or self.result is None:
            return
        if isinstance(event, WindowDone):
            w = event.window
            p99 = f"{w.p99_ms:.1f} ms" if w.p99_ms is not None else "-"
            self.status = (
                f"{w.backend} / {w.variant} at {self._label(w.level)}, window "
                f"{w.index + 1}: {w.throughput:.1f} req/s, p99 {p99}"
            )
        elif isinstance(event, LevelDone):
            self.result.levels.append(event.level)
        elif isinstance(event, SweepMessage):
            self.result.messages.append(event.text)
        self._emit()

    def finish(self, generation: int, result: CapacityResult | None, message: str = "") -> None:
        if generation != self.generation:
            return
        self.running = False
        if result is not None:
            self.result = result
        self.status = message or (
            "cancelled" if result is not None and result.cancelled else "done"
        )
        self._emit()

    def load(self, result: CapacityResult | None) -> None:
        """Show a saved sweep (or nothing)."""
        self.generation += 1
        self.running = False
        self.result = result
        self.status = "" if result is None else "opened from the session"
        self._emit()

    def _emit(self) -> None:
        for callback in list(self.changed):
            callback()

    # ------------------------------------------------------------------ views

    @property
    def limit_ms(self) -> float | None:
        return self.result.limit_ms if self.result else None

    def _label(self, level: float) -> str:
        mode = self.result.plan.get("mode", "concurrency") if self.result else "concurrency"
        return f"c={level:g}" if mode == "concurrency" else f"{level:g}/s"

    def _point(self, lv: LevelResult) -> CurvePoint | None:
        p99 = lv.percentile_ms(99)
        if p99 is None:
            return None
        return CurvePoint(lv.throughput, p99, self._label(lv.level), lv.stable, lv.client_bound)

    def curves(self) -> list[Curve]:
        if self.result is None:
            return []
        out = []
        for backend, variant in self.result.pairs():
            points = tuple(p for p in map(self._point, self.result.curve(backend, variant)) if p)
            knee = self.result.knee(backend, variant)
            out.append(Curve(backend, variant, points, self._point(knee) if knee else None))
        return out

    def sustained_rows(self) -> list[tuple[str, str, str, str]]:
        """(backend, variant, sustained req/s text, at which level)."""
        if self.result is None:
            return []
        rows = []
        for backend, variant in self.result.pairs():
            knee = self.result.knee(backend, variant)
            if knee is None:
                rows.append((backend, variant, "none", "no stable level within the limit"))
            else:
                rows.append(
                    (
                        backend,
                        variant,
                        f"{knee.throughput:.1f}",
                        f"{self._label(knee.level)}, p99 {knee.percentile_ms(99):.1f} ms",
                    )
                )
        return rows

    def equivalent_rows(self) -> list[str]:
        if self.result is None:
            return []
        return self.result.equivalent_lines()

    def backends(self) -> list[str]:
        return list(dict.fromkeys(b for b, _ in self.result.pairs())) if self.result else []

    def variants(self) -> list[str]:
        return list(dict.fromkeys(v for _, v in self.result.pairs())) if self.result else []
