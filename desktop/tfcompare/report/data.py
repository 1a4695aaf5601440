"""What the report and the gate read from a run: the pooled statistics (``runner.stats.pooled``,
the one function behind the window, ``tfcompare run`` and ``compare``), the per-request latencies
behind them (for the noise tests), and the variants' sizes.

This is the only module of ``tfcompare.report`` that reads a RunResult's statistics, so the report,
the gate and the window cannot drift apart.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tfcompare.imaging.values import ORIGINAL, variant_sort_key
from tfcompare.results import Aggregate, RunResult
from tfcompare.runner.aggregates import Pooled, counts, pooled


@dataclass(frozen=True)
class Row:
    """One backend × variant pooled over the images in scope, with its latencies."""

    stats: Pooled
    samples: tuple[float, ...]  # successful measured latencies (ms), the ones behind the stats

    def __getattr__(self, name: str):
        return getattr(self.stats, name)

    @property
    def few(self) -> bool:
        return self.stats.few_samples

    @property
    def bytes(self) -> float:
        return self.stats.mean_bytes or 0.0

    @property
    def agreement(self) -> float | None:
        return self.stats.top1_agree

    def stat(self, name: str) -> float | None:
        return getattr(self.stats, f"{name}_ms")


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
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.image_samples: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for r in result.measured:
            if counts(r) and r.latency_ms is not None and (wanted is None or r.image in wanted):
                samples[(r.backend, r.variant)].append(float(r.latency_ms))
                self.image_samples[(r.backend, r.variant, r.image)].append(float(r.latency_ms))
        cells = pooled(result.requests, result.summary, wanted)
        self.rows: dict[tuple[str, str], Row] = {
            (backend, variant): Row(cell, tuple(samples.get((backend, variant), ())))
            for (variant, backend), cell in cells.items()
        }
        self.backends = list(
            dict.fromkeys([b.name for b in result.backends] + [k[0] for k in self.rows])
        )
        # the per-image statistics the pooled ones are made of (one block per image)
        self.blocks: dict[tuple[str, str], list[Aggregate]] = defaultdict(list)
        for a in result.summary:
            if wanted is None or a.image in wanted:
                self.blocks[(a.backend, a.variant)].append(a)
        self.per_image: dict[tuple[str, str], dict[str, bool | None]] = {
            key: {a.image: a.top1_agree for a in blocks} for key, blocks in self.blocks.items()
        }
        self.pixels = {
            (img.name, v.key): v.width * v.height for img in result.images for v in img.variants
        }
        # the image file of each variant (re-encoded by the client; the original as loaded)
        self.file_bytes = {
            (img.name, v.key): v.nbytes for img in result.images for v in img.variants
        }
        self.variants = _variant_infos(result, wanted)

    def paired_p50(self, backend: str, variant: str) -> tuple[float, float] | None:
        """(p50 of ``variant``, p50 of the original) over the same images: those the variant
        was made for and both were measured on. None when they share none."""
        images = [
            img
            for img in self.image_names
            if self.image_samples.get((backend, variant, img))
            and self.image_samples.get((backend, ORIGINAL, img))
        ]
        if not images:
            return None
        ours = [x for img in images for x in self.image_samples[(backend, variant, img)]]
        theirs = [x for img in images for x in self.image_samples[(backend, ORIGINAL, img)]]
        return statistics.median(ours), statistics.median(theirs)

    def row(self, backend: str, variant: str) -> Row | None:
        return self.rows.get((backend, variant))

    def variant_keys(self) -> list[str]:
        keys = {k[1] for k in self.rows} | set(self.variants)
        return sorted(keys, key=variant_sort_key)

    def has_server_time(self) -> bool:
        return any(r.server_ms is not None for r in self.rows.values())


def _variant_infos(result: RunResult, wanted: set[str] | None) -> dict[str, VariantInfo]:
    pixels: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[float]] = defaultdict(list)
    meta: dict[str, tuple[int | None, str]] = {}
    for img in result.images:
        if wanted is not None and img.name not in wanted:
            continue
        for v in img.variants:
            pixels[v.key].append(float(v.width * v.height))
            sizes[v.key].append(float(v.nbytes))
            meta.setdefault(v.key, (v.box, v.format if v.key != ORIGINAL else "original"))
    return {
        key: VariantInfo(
            key,
            meta[key][0],
            meta[key][1],
            statistics.fmean(pixels[key]),
            statistics.fmean(sizes[key]),
            len(pixels[key]),
        )
        for key in meta
    }
