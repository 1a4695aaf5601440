"""Aggregates: latency percentiles and quality against the same backend's answer on the original."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from tfcompare.imaging.values import ORIGINAL
from tfcompare.results import Aggregate, RequestResult, ServerTime
from tfcompare.serving.answers import Prediction

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
    """Whether a request's latency goes into the statistics: a successful, timed one that did not
    span a pod restart (its latency measures the restart, not the backend; it is kept in the
    data and counted in ``n_spanning``, like warm-up is kept out)."""
    return r.ok and r.latency_ms is not None and not r.spans_restart


def is_error(r: RequestResult) -> bool:
    """A request counted as an error: failed, or answered without a latency."""
    return not counts(r) and not (r.ok and r.spans_restart)


def failed(r: RequestResult) -> bool:
    """A failed request as every count of them means it (window, table, report, CLI, gate): a
    *measured* request that is an error. The cold first request and warm-up are not counted (a
    failed cold request is reported on its own); a failed request that spanned a pod restart is
    counted (it failed)."""
    return r.phase == "measured" and is_error(r)


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


@dataclass(frozen=True)
class Agreement:
    """How far another backend's answers agree with the first backend's, over the image ×
    variant pairs both answered: top-1 equal on ``same`` of ``compared``, and the mean share of
    the first backend's top 5 in the other's (``top5_overlap``)."""

    reference: str
    backend: str
    same: int
    compared: int
    top5_overlap: float

    @property
    def text(self) -> str:
        return (
            f"{self.backend} vs {self.reference}: top-1 the same on {self.same} of "
            f"{self.compared} image × variant answers, top-5 overlap {100 * self.top5_overlap:.0f} %"
        )


def backend_agreement(requests: Iterable[RequestResult], order: Sequence[str]) -> list[Agreement]:
    """Each backend's answers against the first one's (``order``: the backends in order), from
    the answer each gave for each image × variant (``representative_top5``): do two servers,
    or a bytes and a tensor model, answer the same?"""
    answers: dict[tuple[str, str, str], list[RequestResult]] = defaultdict(list)
    for r in requests:
        if r.phase == "measured":
            answers[(r.backend, r.image, r.variant)].append(r)
    top = {key: representative_top5(rs) for key, rs in answers.items()}
    if len(order) < 2:
        return []
    reference, out = order[0], []
    for other in order[1:]:
        same = compared = 0
        overlap = 0.0
        for (backend, image, variant), answer in top.items():
            if backend != other or not answer:
                continue
            ref = top.get((reference, image, variant))
            if not ref:
                continue
            agree, share, _ = quality(answer, ref)
            compared += 1
            same += bool(agree)
            overlap += share or 0.0
        if compared:
            out.append(Agreement(reference, other, same, compared, overlap / compared))
    return out


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
    if ratio is not None and not math.isfinite(ratio):
        ratio = None  # a NaN or infinite score has no ratio: shown as "–" like a missing one
    return top1_agree, overlap, ratio


def aggregate(
    requests: Iterable[RequestResult], server_times: Iterable[ServerTime] = ()
) -> tuple[Aggregate, ...]:
    """One Aggregate per (image, variant, backend) over the measured requests, with the server
    time of that block when the backend has metrics (``path_ms`` = mean latency − server time).
    Requests that spanned a pod restart are counted (``n_spanning``) but left out of percentiles
    and means, like warm-up: their latency measures the restart, not the backend."""
    servers = {(t.image, t.variant, t.backend): t for t in server_times}
    groups: dict[tuple[str, str, str], list[RequestResult]] = defaultdict(list)
    for r in requests:
        if r.phase == "measured":
            groups[(r.image, r.variant, r.backend)].append(r)
    answers = {key: representative_top5(rs) for key, rs in groups.items()}
    out = []
    for (image, variant, backend), rs in groups.items():
        lat = sorted(r.latency_ms for r in rs if counts(r) and r.latency_ms is not None)
        top5 = answers[(image, variant, backend)]
        original = answers.get((image, ORIGINAL, backend), ())
        agree, overlap, ratio = quality(top5, original)
        mean = statistics.fmean(lat) if lat else None
        st = servers.get((image, variant, backend))
        server_ms = st.server_ms if st is not None else None
        prep = [r.preprocess_ms for r in rs if r.preprocess_ms is not None]
        out.append(
            Aggregate(
                image=image,
                variant=variant,
                backend=backend,
                n=len(lat),
                n_errors=sum(1 for r in rs if failed(r)),
                bytes=max((r.bytes for r in rs), default=0),
                p50_ms=percentile(lat, 50) if lat else None,
                p90_ms=percentile(lat, 90) if lat else None,
                p99_ms=percentile(lat, 99) if lat else None,
                mean_ms=mean,
                stdev_ms=statistics.stdev(lat) if len(lat) > 1 else None,
                few_samples=len(lat) < FEW_SAMPLES,
                top1=top5[0].label if top5 else None,
                top1_agree=agree,
                top5_overlap=overlap,
                score_ratio=ratio,
                n_spanning=sum(1 for r in rs if r.ok and r.spans_restart),
                server_ms=server_ms,
                runtime_ms=st.runtime_ms if st is not None else None,
                server_exact=st.exact if st is not None and server_ms is not None else None,
                path_ms=mean - server_ms if mean is not None and server_ms is not None else None,
                preprocess_ms=statistics.fmean(prep) if prep else None,
                queue_ms=st.queue_ms if st is not None and server_ms is not None else None,
            )
        )
    return tuple(out)


def pooled_server_time(
    aggregates: Iterable[Aggregate],
) -> tuple[float | None, float | None, float | None, bool | None]:
    """(server_ms, runtime_ms, path_ms, exact) over several images' blocks, each weighted by its
    number of successful requests; exact only when every block was. Nones without metrics."""
    with_server = [a for a in aggregates if a.server_ms is not None and a.n]
    if not with_server:
        return None, None, None, None
    server = _weighted_mean([(a.server_ms, a.n) for a in with_server if a.server_ms is not None])
    runtime = _weighted_mean([(a.runtime_ms, a.n) for a in with_server if a.runtime_ms is not None])
    path = _weighted_mean([(a.path_ms, a.n) for a in with_server if a.path_ms is not None])
    return server, runtime, path, all(bool(a.server_exact) for a in with_server)


def pooled_queue_time(aggregates: Iterable[Aggregate]) -> float | None:
    """Mean time queued in the server over several images' blocks, weighted by their successful
    requests; None when no block has it (servers that do not report it, e.g. TF Serving)."""
    return _weighted_mean([(a.queue_ms, a.n) for a in aggregates if a.queue_ms is not None and a.n])


def _weighted_mean(pairs: list[tuple[float, int]]) -> float | None:
    """The mean of (value, weight) pairs, each value weighted; None without any weight."""
    weight = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / weight if weight else None


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
    # server-side time from the backends' metrics, weighted by requests (see pooled_server_time)
    server_ms: float | None = None
    runtime_ms: float | None = None
    path_ms: float | None = None
    server_exact: bool | None = None
    queue_ms: float | None = None  # time queued in the server (Triton reports it)


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
    server, runtime, path, exact = pooled_server_time(aggs)
    lat = latencies
    return Pooled(
        variant=variant,
        backend=backend,
        n=len(lat),
        n_errors=n_errors,
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
        server_ms=server,
        runtime_ms=runtime,
        path_ms=path,
        server_exact=exact,
        queue_ms=pooled_queue_time(aggs),
    )


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
        if counts(r) and r.latency_ms is not None:
            lat[key].append(float(r.latency_ms))
        elif is_error(r):
            errors[key] += 1
    aggs: dict[tuple[str, str], list[Aggregate]] = defaultdict(list)
    for a in summary:
        if wanted is None or a.image in wanted:
            aggs[(a.variant, a.backend)].append(a)
    return {
        key: pool(key[0], key[1], sorted(lat.get(key, ())), errors.get(key, 0), aggs.get(key, ()))
        for key in set(lat) | set(errors) | set(aggs)
    }
