"""What the report and the gate read from a run: the pooled statistics (the same function the
window and ``tfcompare run`` use), the per-request latencies behind them, and the variants' sizes.

This is the only module of ``tfcompare.report`` that reads a RunResult's statistics, so the report,
the gate and the window cannot drift apart.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tfcompare.datatypes import ORIGINAL, RunResult, variant_sort_key
from tfcompare.runner.report import summary_rows
from tfcompare.runner.stats import FEW_SAMPLES


@dataclass(frozen=True)
class Row:
    """One backend × variant pooled over the images in scope."""

    backend: str
    variant: str
    n: int
    n_errors: int
    bytes: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    agreement: float | None  # 0..1: share of images whose top-1 matches the original's
    score_ratio: float | None
    samples: tuple[float, ...]  # successful measured latencies (ms)
    server_ms: float | None = None  # mean server-side time, when the session has it
    server_exact: bool | None = None

    @property
    def few(self) -> bool:
        return self.n < FEW_SAMPLES

    def stat(self, name: str) -> float | None:
        return getattr(self, f"{name}_ms")


@dataclass(frozen=True)
class VariantInfo:
    key: str
    box: int | None
    format: str
    pixels: float  # mean width × height over the images
    bytes: float  # mean encoded size over the images
    images: int


class SessionView:
    """A run seen through its pooled statistics; ``images`` limits the scope (the gate compares
    over the images both sessions share)."""

    def __init__(self, result: RunResult, images: Iterable[str] | None = None) -> None:
        self.result = result
        wanted = None if images is None else set(images)
        self.image_names = [i.name for i in result.images if wanted is None or i.name in wanted]
        scoped = result if wanted is None else _restrict(result, wanted)
        self.backends = _ordered([b.name for b in result.backends]
                                 + [r.backend for r in scoped.measured])
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in scoped.measured:
            if r.ok and r.latency_ms is not None:
                samples[(r.backend, r.variant)].append(float(r.latency_ms))
        self.rows: dict[tuple[str, str], Row] = {}
        for d in summary_rows(scoped):
            key = (d["backend"], d["variant"])
            self.rows[key] = Row(
                backend=d["backend"], variant=d["variant"], n=d["n"], n_errors=d["errors"],
                bytes=d["bytes"], p50_ms=d["p50_ms"], p90_ms=d["p90_ms"], p99_ms=d["p99_ms"],
                mean_ms=statistics.fmean(samples[key]) if samples.get(key) else None,
                agreement=d["top1_agree"], score_ratio=d["score_ratio"],
                samples=tuple(samples.get(key, ())),
            )
        self.per_image: dict[tuple[str, str], dict[str, bool | None]] = defaultdict(dict)
        for a in scoped.summary:
            self.per_image[(a.backend, a.variant)][a.image] = a.top1_agree
        self.variants = _variant_infos(scoped)

    def row(self, backend: str, variant: str) -> Row | None:
        return self.rows.get((backend, variant))

    def variant_keys(self) -> list[str]:
        keys = {k[1] for k in self.rows} | set(self.variants)
        return sorted(keys, key=variant_sort_key)

    def has_server_time(self) -> bool:
        return any(r.server_ms is not None for r in self.rows.values())


def _variant_infos(result: RunResult) -> dict[str, VariantInfo]:
    pixels: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[float]] = defaultdict(list)
    meta: dict[str, tuple[int | None, str]] = {}
    for img in result.images:
        for v in img.variants:
            pixels[v.key].append(float(v.width * v.height))
            sizes[v.key].append(float(v.nbytes))
            meta.setdefault(v.key, (v.box, v.format if v.key != ORIGINAL else "original"))
    return {
        key: VariantInfo(key, meta[key][0], meta[key][1], statistics.fmean(pixels[key]),
                         statistics.fmean(sizes[key]), len(pixels[key]))
        for key in meta
    }


def _restrict(result: RunResult, images: set[str]) -> RunResult:
    from dataclasses import replace

    return replace(
        result,
        images=tuple(i for i in result.images if i.name in images),
        requests=tuple(r for r in result.requests if r.image in images or r.phase == "cold"),
        summary=tuple(a for a in result.summary if a.image in images),
    )


def _ordered(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
