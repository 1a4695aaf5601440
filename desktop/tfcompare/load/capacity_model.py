"""A capacity sweep as the Capacity tab draws it, without Qt: curves (points and knee) for the
chart, the sustained-req/s rows, the equivalents. Read-only over a ``CapacityResult``; the window's
``CapacityController`` (``tfcompare.window.capacity``) holds the tab's state — which sweep is
shown, which is running and which of its figures are still provisional.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfcompare.load.capacity_results import CapacityResult, LevelResult


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
    knee: CurvePoint | None  # where more load stops buying throughput
    sustained: CurvePoint | None = None  # the highest stable throughput within the limit


class CapacityModel:
    """The figures of one sweep (``result``; None: no sweep) in the tab's shapes."""

    def __init__(self, result: CapacityResult | None = None) -> None:
        self.result = result

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
            best = self.result.sustained_level(backend, variant)
            out.append(
                Curve(
                    backend,
                    variant,
                    points,
                    self._point(knee) if knee else None,
                    self._point(best) if best else None,
                )
            )
        return out

    def sustained_rows(self) -> list[tuple[str, str, str, str]]:
        """(backend, variant, sustained req/s text, at which level and the knee): "≥ 43.6" when
        the figure is only a lower bound (higher levels never became stable)."""
        if self.result is None:
            return []
        rows = []
        for backend, variant in self.result.pairs():
            best = self.result.sustained_level(backend, variant)
            bound = self.result.lower_bound_note(backend, variant)
            if best is None:
                why = "no stable level within the limit" if self.limit_ms else "no stable level"
                why += f"; {bound}" if bound else ""
                rows.append((backend, variant, "none", why))
                continue
            at = f"{self._label(best.level)}, p99 {best.percentile_ms(99):.1f} ms"
            knee = self.result.knee(backend, variant)
            if bound:
                at += f" — a lower bound: {bound}"
            elif knee is not None and knee is not best:
                at += f" · knee {self._label(knee.level)} ({knee.throughput:.1f} req/s)"
            rows.append((backend, variant, ("≥ " if bound else "") + f"{best.throughput:.1f}", at))
        return rows

    def equivalent_rows(self) -> list[str]:
        if self.result is None:
            return []
        return self.result.equivalent_lines()

    def backends(self) -> list[str]:
        return list(dict.fromkeys(b for b, _ in self.result.pairs())) if self.result else []

    def variants(self) -> list[str]:
        return list(dict.fromkeys(v for _, v in self.result.pairs())) if self.result else []
