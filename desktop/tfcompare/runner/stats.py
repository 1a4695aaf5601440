"""Aggregates: latency percentiles and quality against the same backend's answer on the original."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from tfcompare.datatypes import ORIGINAL, Aggregate, Prediction, RequestResult

FEW_SAMPLES = 10  # percentiles from fewer samples are shown as indicative only


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (the same definition as numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def counts(r: RequestResult) -> bool:
    """Whether a request's latency goes into the statistics (a successful, timed one)."""
    return r.ok and r.latency_ms is not None


def representative_top5(results: Iterable[RequestResult]) -> tuple[Prediction, ...]:
    """The answer a backend gave for one variant: the most common top-1 among successful requests,
    and the first top-5 that has it (a deterministic model answers the same every time)."""
    ok = [r for r in results if r.ok and r.top5]
    if not ok:
        return ()
    counts: dict[str, int] = defaultdict(int)
    for r in ok:
        counts[r.top5[0].label] += 1
    best = max(counts, key=lambda k: (counts[k], -_first_index(ok, k)))
    return next(r.top5 for r in ok if r.top5[0].label == best)


def _first_index(results: list[RequestResult], label: str) -> int:
    return next(i for i, r in enumerate(results) if r.top5[0].label == label)


def quality(
    variant: Sequence[Prediction], original: Sequence[Prediction]
) -> tuple[bool | None, float | None, float | None]:
    """(top-1 agreement, top-5 overlap fraction, score ratio of the original's top-1 class)."""
    if not variant or not original:
        return None, None, None
    top1_agree = variant[0].label == original[0].label
    ref_labels = {p.label for p in original}
    overlap = len(ref_labels & {p.label for p in variant}) / len(ref_labels)
    ref = original[0]
    score = next((p.score for p in variant if p.label == ref.label), None)
    ratio = None if score is None or ref.score == 0 else score / ref.score
    return top1_agree, overlap, ratio


def aggregate(requests: Iterable[RequestResult]) -> tuple[Aggregate, ...]:
    """One Aggregate per (image, variant, backend) over the measured requests."""
    groups: dict[tuple[str, str, str], list[RequestResult]] = defaultdict(list)
    for r in requests:
        if r.phase == "measured":
            groups[(r.image, r.variant, r.backend)].append(r)
    answers = {key: representative_top5(rs) for key, rs in groups.items()}
    out = []
    for (image, variant, backend), rs in groups.items():
        lat = sorted(r.latency_ms for r in rs if counts(r))
        top5 = answers[(image, variant, backend)]
        original = answers.get((image, ORIGINAL, backend), ())
        agree, overlap, ratio = quality(top5, original)
        out.append(
            Aggregate(
                image=image,
                variant=variant,
                backend=backend,
                n=len(lat),
                n_errors=sum(1 for r in rs if not r.ok),
                bytes=max((r.bytes for r in rs), default=0),
                p50_ms=percentile(lat, 50) if lat else None,
                p90_ms=percentile(lat, 90) if lat else None,
                p99_ms=percentile(lat, 99) if lat else None,
                mean_ms=statistics.fmean(lat) if lat else None,
                stdev_ms=statistics.stdev(lat) if len(lat) > 1 else None,
                few_samples=len(lat) < FEW_SAMPLES,
                top1=top5[0].label if top5 else None,
                top1_agree=agree,
                top5_overlap=overlap,
                score_ratio=ratio,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- pooled over images


@dataclass(frozen=True)
class Pooled:
    """One (variant, backend) pooled over images: latency of every successful measured request and
    quality averaged over the images (each image's quality is against the same backend's answer on
    that image's original; see ``Aggregate``). ``images`` says how many images are behind it."""

    variant: str
    backend: str
    n: int  # successful measured requests behind the percentiles
    n_errors: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    few_samples: bool
    images: int  # images with a measured request
    mean_bytes: float | None  # request size, mean over images
    top1_agree: float | None  # share of images whose top-1 matches the original's
    top5_overlap: float | None  # mean over images
    score_ratio: float | None  # mean over images where it is known


def pool(
    variant: str,
    backend: str,
    latencies: Sequence[float],
    n_errors: int,
    aggregates: Iterable[Aggregate] = (),
) -> Pooled:
    """The statistics of one (variant, backend): ``latencies`` sorted ascending, ``aggregates`` the
    per-image ones of that cell. The one formula used by the window, reports and comparisons."""
    aggs = list(aggregates)
    agree = [float(a.top1_agree) for a in aggs if a.top1_agree is not None]
    overlap = [a.top5_overlap for a in aggs if a.top5_overlap is not None]
    ratio = [a.score_ratio for a in aggs if a.score_ratio is not None]
    lat = latencies
    return Pooled(
        variant=variant, backend=backend, n=len(lat), n_errors=n_errors,
        p50_ms=percentile(lat, 50) if lat else None,
        p90_ms=percentile(lat, 90) if lat else None,
        p99_ms=percentile(lat, 99) if lat else None,
        mean_ms=statistics.fmean(lat) if lat else None,
        few_samples=len(lat) < FEW_SAMPLES,
        images=len(aggs),
        mean_bytes=statistics.fmean(a.bytes for a in aggs) if aggs else None,
        top1_agree=statistics.fmean(agree) if agree else None,
        top5_overlap=statistics.fmean(overlap) if overlap else None,
        score_ratio=statistics.fmean(ratio) if ratio else None,
    )  # fmt: skip


def pooled(
    requests: Iterable[RequestResult],
    summary: Iterable[Aggregate],
    images: Collection[str] | None = None,
) -> dict[tuple[str, str], Pooled]:
    """``(variant, backend) -> Pooled`` over ``images`` (every image when None; one name gives that
    image's own figures), from a run's measured requests and its per-image aggregates."""
    wanted = None if images is None else set(images)
    lat: dict[tuple[str, str], list[float]] = defaultdict(list)
    errors: dict[tuple[str, str], int] = defaultdict(int)
    for r in requests:
        if r.phase != "measured" or (wanted is not None and r.image not in wanted):
            continue
        key = (r.variant, r.backend)
        if counts(r):
            lat[key].append(float(r.latency_ms))
        else:
            errors[key] += 1
    aggs: dict[tuple[str, str], list[Aggregate]] = defaultdict(list)
    for a in summary:
        if wanted is None or a.image in wanted:
            aggs[(a.variant, a.backend)].append(a)
    return {
        key: pool(key[0], key[1], sorted(lat.get(key, ())), errors.get(key, 0), aggs.get(key, ()))
        for key in set(lat) | set(errors) | set(aggs)
    }
