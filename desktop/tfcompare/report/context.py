"""The report's setup section (what was measured, where, how) and every caveat tfcompare knows
about the session's numbers."""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict

from tfcompare.report.data import SessionView
from tfcompare.report.model import Table
from tfcompare.results import RunResult
from tfcompare.runner.aggregates import FEW_SAMPLES, failed
from tfcompare.runner.run_formats import _fmt_ms as fmt_ms

NOISY_SPREAD = 2.0  # p90/p50 at which a backend's latencies count as noisy


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "unknown"


def _version_order(version: int | str) -> tuple[int, str]:
    """Numbered versions first, in number order, then labels (OIP's "v2")."""
    return (version, "") if isinstance(version, int) else (sys.maxsize, version)


def setup_tables(result: RunResult) -> tuple[Table, ...]:
    versions: dict[str, set[int | str]] = defaultdict(set)
    pods: dict[str, set[str]] = defaultdict(set)
    for r in result.requests:
        if r.model_version is not None:
            versions[r.backend].add(r.model_version)
        if r.pod:
            pods[r.backend].add(r.pod)

    def floor(name: str) -> str:
        t = result.timing(name)
        return "–" if t is None or t.floor_ms is None else f"{t.floor_ms:.2f} ms"

    def metrics(name: str) -> str:
        t = result.timing(name)
        return "–" if t is None else ("yes" if t.metrics else "no")

    backends = Table(
        (
            "backend",
            "target",
            "protocol",
            "model",
            "signature",
            "model version",
            "pods",
            "path floor",
            "server metrics",
        ),
        tuple(
            (
                b.name,
                b.target,
                b.protocol,
                b.model or "(the pods' model)",
                b.signature or "(discovered)",
                ", ".join(map(str, sorted(versions[b.name], key=_version_order))) or "–",
                ", ".join(sorted(pods[b.name])) or "–",
                floor(b.name),
                metrics(b.name),
            )
            for b in result.backends
        ),
        caption="Backends (path floor: round trip of a call that runs no model)",
    )
    s = result.settings
    duration = (
        f"{result.finished_at - result.started_at:.0f} s"
        if result.finished_at and result.started_at
        else "–"
    )
    settings = Table(
        ("setting", "value"),
        (
            ("measured", f"{when(result.started_at)} (took {duration})"),
            ("sizes (px, longest side)", ", ".join(map(str, s.sizes))),
            ("formats", ", ".join(s.formats) + f" (JPEG quality {s.jpeg_quality})"),
            (
                "requests per variant and backend",
                f"{s.warmup} warm-up (not counted), {s.repeats} measured",
            ),
            ("timeout", f"{s.timeout_s:g} s"),
            ("backends measured", "at the same time" if s.concurrent else "in turns"),
        ),
        caption="Settings",
    )
    images = Table(
        ("image", "format", "pixels", "file size", "variants"),
        tuple(
            (
                i.name,
                i.format.upper(),
                f"{i.width}×{i.height}",
                f"{i.nbytes / 1024:.0f} KB",
                str(len(i.variants)),
            )
            for i in result.images
        ),
        caption="Images",
    )
    return backends, settings, images


def caveats(view: SessionView) -> list[str]:
    """Everything that limits how far the numbers can be trusted, most important first."""
    result = view.result
    out: list[str] = []
    few = [r for r in view.rows.values() if r.n and r.few]
    if few:
        out.append(
            f"{len(few)} of {len(view.rows)} backend × variant figures come from fewer "
            f"than {FEW_SAMPLES} requests: their p90/p99 are indicative only (more "
            "--repeats or images give firmer numbers)."
        )
    for backend in view.backends:
        spread = [
            r.p90_ms / r.p50_ms
            for (b, _), r in view.rows.items()
            if b == backend and r.p50_ms and r.p90_ms and not r.few
        ]
        if spread and statistics.median(spread) >= NOISY_SPREAD:
            out.append(
                f"{backend}: latencies varied widely (p90 typically "
                f"{statistics.median(spread):.1f}× the p50): something else was using the "
                "machine or the network; differences may be within that noise."
            )
    errors_by: dict[str, list[str]] = defaultdict(list)
    for r in result.measured:
        if failed(r):
            errors_by[r.backend].append(r.error or "error")
    for backend, errors in errors_by.items():
        out.append(
            f"{backend}: {len(errors)} request(s) failed and are not in the latency "
            f"figures (last error: {errors[-1]})."
        )
    for r in result.cold:
        warm = view.row(r.backend, r.variant)
        if r.ok and r.latency_ms is not None:
            tail = f" vs warm p50 {fmt_ms(warm.p50_ms)} ms" if warm and warm.p50_ms else ""
            out.append(
                f"{r.backend}: the first (cold) request took {fmt_ms(r.latency_ms)} ms{tail}; "
                "it is kept apart from the statistics."
            )
        elif not r.ok:
            out.append(f"{r.backend}: the first (cold) request failed: {r.error}.")
    hosts = defaultdict(list)
    for b in result.backends:
        host = b.target.rsplit(":", 1)[0] if not b.is_k8s else None
        if host:
            hosts[host].append(b.name)
    shared = [names for names in hosts.values() if len(names) > 1]
    if result.settings.concurrent and shared:
        for names in shared:
            out.append(
                f"{', '.join(names)} were measured at the same time on the same host: they "
                "competed for its CPU, so each is slower than it would be alone."
            )
    versions = {r.model_version for r in result.measured if r.model_version is not None}
    by_backend: dict[str, set[int | str]] = defaultdict(set)
    for r in result.measured:
        if r.model_version is not None:
            by_backend[r.backend].add(r.model_version)
    for backend, vs in by_backend.items():
        if len(vs) > 1:
            out.append(
                f"{backend}: the model version changed during the run "
                f"({', '.join(map(str, sorted(vs, key=_version_order)))})."
            )
    if len(versions) > 1 and all(len(v) == 1 for v in by_backend.values()):
        out.append(
            "The backends served different model versions: their answers are not "
            "directly comparable."
        )
    pods: dict[str, set[str]] = defaultdict(set)
    for r in result.measured:
        if r.pod:
            pods[r.backend].add(r.pod)
    spanning: dict[str, list[str]] = defaultdict(list)
    for r in result.measured:
        if r.spans_restart:  # the forward moved to another pod while it was in flight
            spanning[r.backend].append(f"{r.pod_before or '?'} → {r.pod or '?'}")
    for backend, moves in spanning.items():
        out.append(
            f"{backend}: {len(moves)} request(s) were in flight while the pod restarted "
            f"({', '.join(sorted(set(moves)))}); they are left out of the statistics."
        )
    for backend, answered in pods.items():
        if len(answered) > 1:
            out.append(
                f"{backend}: answers came from {len(answered)} pods ({', '.join(sorted(answered))})"
                ": the pods may differ, or one restarted during the run."
            )
    if any(r.score_kind == "logit" for r in result.measured):
        out.append(
            "The model returns logits, not probabilities: the score ratio compares logits "
            "and can exceed 100 %."
        )
    if not view.has_server_time():
        out.append(
            "No server-side time in this session: latencies are what the client saw "
            "(network, encoding and server together)."
        )
    else:
        for t in result.timings:
            if not t.metrics:
                reason = f" ({t.metrics_message})" if t.metrics_message else ""
                out.append(f"{t.backend}: no server time{reason}; its figures are client latency.")
    inexact = [r for r in view.rows.values() if r.server_ms is not None and not r.server_exact]
    if inexact:
        which = ", ".join(sorted({f"{r.backend} {r.variant}" for r in inexact}))
        out.append(
            f"Server time is not exact for {which}: the server also counted other "
            "requests (shared server, timed-out requests) or restarted during the block."
        )
    if len(view.image_names) < 5:
        out.append(
            f"Only {len(view.image_names)} image(s): quality shares move in steps of "
            f"{100 / max(1, len(view.image_names)):.0f} %."
        )
    for p in result.problems:
        out.append(f"image {p.image} could not be used: {p.message}")
    for img in result.images:
        for note in img.notes:
            out.append(f"image {img.name}: {note}")
    return out
