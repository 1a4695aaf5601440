"""Before/after comparison of two runs (usually two saved sessions), per backend and variant.

Backends are matched by name and variants by key. Figures are the runner's pooled statistics
(``tfcompare.runner.aggregates.pooled``) over the images both runs share (all images when they share
none): latency is the median of every successful measured request of that backend and variant;
quality is the share of images whose top-1 class matches the same backend's answer on the original,
and the mean score ratio (see ``Aggregate``). Used by ``tfcompare compare``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tfcompare.imaging.values import variant_sort_key
from tfcompare.results import RunResult
from tfcompare.runner.aggregates import Pooled, pooled
from tfcompare.terminal import one_line


@dataclass(frozen=True)
class ComparisonRow:
    backend: str
    variant: str
    a: Pooled
    b: Pooled

    @property
    def delta_ms(self) -> float | None:
        if self.a.p50_ms is None or self.b.p50_ms is None:
            return None
        return self.b.p50_ms - self.a.p50_ms

    @property
    def delta_pct(self) -> float | None:
        d = self.delta_ms
        if d is None or not self.a.p50_ms:
            return None
        return 100.0 * d / self.a.p50_ms

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "variant": self.variant,
            "a": _stats_dict(self.a),
            "b": _stats_dict(self.b),
            "delta_ms": self.delta_ms,
            "delta_pct": self.delta_pct,
        }


@dataclass(frozen=True)
class Comparison:
    rows: tuple[ComparisonRow, ...]
    backends_only_a: tuple[str, ...]
    backends_only_b: tuple[str, ...]
    variants_only_a: tuple[str, ...]
    variants_only_b: tuple[str, ...]
    images_common: int
    images_only_a: tuple[str, ...]
    images_only_b: tuple[str, ...]
    notes: tuple[str, ...]  # e.g. a backend whose target or model changed between the runs

    def to_dict(self) -> dict:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "backends_only_a": list(self.backends_only_a),
            "backends_only_b": list(self.backends_only_b),
            "variants_only_a": list(self.variants_only_a),
            "variants_only_b": list(self.variants_only_b),
            "images_common": self.images_common,
            "images_only_a": list(self.images_only_a),
            "images_only_b": list(self.images_only_b),
            "notes": list(self.notes),
        }


def _stats_dict(p: Pooled) -> dict:
    return {
        "p50_ms": p.p50_ms,
        "mean_ms": p.mean_ms,
        "n": p.n,
        "n_errors": p.n_errors,
        "top1_agreement": p.top1_agree,
        "score_ratio": p.score_ratio,
        "server_ms": p.server_ms,
        "path_ms": p.path_ms,
        "server_exact": p.server_exact,
        "queue_ms": p.queue_ms,
    }


def variant_stats(
    result: RunResult, images: Iterable[str] | None = None
) -> dict[tuple[str, str], Pooled]:
    """``(backend, variant) -> Pooled`` over ``images`` (all of the run's images if None)."""
    cells = pooled(result.requests, result.summary, None if images is None else set(images))
    return {(backend, variant): p for (variant, backend), p in cells.items()}


def compare_results(a: RunResult, b: RunResult) -> Comparison:
    """Compare run ``a`` (before) with run ``b`` (after)."""
    images_a = _ordered(i.name for i in a.images) or _ordered(r.image for r in a.requests)
    images_b = _ordered(i.name for i in b.images) or _ordered(r.image for r in b.requests)
    common = [name for name in images_a if name in set(images_b)]
    notes: list[str] = []
    if not common and images_a and images_b:
        notes.append("the sessions share no image: figures are over each session's own images")
    scope = common or None
    stats_a = variant_stats(a, scope)
    stats_b = variant_stats(b, scope)

    backends_a = _ordered([s.name for s in a.backends] + [k[0] for k in stats_a])
    backends_b = _ordered([s.name for s in b.backends] + [k[0] for k in stats_b])
    variants_a = sorted({k[1] for k in stats_a}, key=variant_sort_key)
    variants_b = sorted({k[1] for k in stats_b}, key=variant_sort_key)

    specs_b = {s.name: s for s in b.backends}
    for spec in a.backends:
        other = specs_b.get(spec.name)
        if other is None:
            continue
        for attr in ("target", "protocol", "model", "signature"):
            before, after = getattr(spec, attr), getattr(other, attr)
            if before != after:
                notes.append(f"backend {spec.name}: {attr} changed from {before} to {after}")

    rows = []
    for backend in backends_a:
        if backend not in backends_b:
            continue
        for variant in variants_a:
            key = (backend, variant)
            if key in stats_a and key in stats_b:
                rows.append(ComparisonRow(backend, variant, stats_a[key], stats_b[key]))
    return Comparison(
        rows=tuple(rows),
        backends_only_a=tuple(x for x in backends_a if x not in backends_b),
        backends_only_b=tuple(x for x in backends_b if x not in backends_a),
        variants_only_a=tuple(v for v in variants_a if v not in variants_b),
        variants_only_b=tuple(v for v in variants_b if v not in variants_a),
        images_common=len(common),
        images_only_a=tuple(x for x in images_a if x not in set(images_b)),
        images_only_b=tuple(x for x in images_b if x not in set(images_a)),
        notes=tuple(notes),
    )


def _ordered(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- text


def format_comparison(c: Comparison, name_a: str = "A", name_b: str = "B") -> str:
    """A plain-text table for the terminal: latency change (ms, %) and quality change A → B."""
    lines = [f"A = {one_line(name_a)}", f"B = {one_line(name_b)}"]
    if c.images_common:
        extra = []
        if c.images_only_a:
            extra.append(f"{len(c.images_only_a)} only in A")
        if c.images_only_b:
            extra.append(f"{len(c.images_only_b)} only in B")
        tail = f" (ignored: {', '.join(extra)})" if extra else ""
        lines.append(f"images compared: {c.images_common}{tail}")
    lines.extend(f"note: {n}" for n in c.notes)
    if any(r.a.server_ms is not None or r.b.server_ms is not None for r in c.rows):
        lines.append(
            "mean ms, server ms and path ms are means per request (the server's counters give "
            "means): server ms: time on the server (its metrics); path ms: mean ms − server ms; "
            "~: not exact (other traffic or a restart)"
        )
    # the queue column only when a server reported its queue (Triton)
    queued = any(r.a.queue_ms is not None or r.b.queue_ms is not None for r in c.rows)
    if queued:
        lines.append("queue ms: time waiting in the server's queue before the model ran")
    lines.append("")
    header = (
        "backend",
        "variant",
        "p50 A ms",
        "p50 B ms",
        "change ms",
        "change %",
        "mean ms A → B",
        "server ms A → B",
        *(("queue ms A → B",) if queued else ()),
        "path ms A → B",
        "top-1 agree A → B",
        "score ratio A → B",
    )
    table = [header]
    for r in c.rows:
        queue = (
            (
                f"{_server(r.a.queue_ms, r.a.server_exact)} → {_server(r.b.queue_ms, r.b.server_exact)}",
            )
            if queued
            else ()
        )
        table.append(
            (
                one_line(r.backend),
                one_line(r.variant),
                _num(r.a.p50_ms),
                _num(r.b.p50_ms),
                _num(r.delta_ms, signed=True),
                "–" if r.delta_pct is None else f"{r.delta_pct:+.1f} %",
                f"{_num(r.a.mean_ms)} → {_num(r.b.mean_ms)}",
                f"{_server(r.a.server_ms, r.a.server_exact)} → {_server(r.b.server_ms, r.b.server_exact)}",
                *queue,
                f"{_server(r.a.path_ms, r.a.server_exact)} → {_server(r.b.path_ms, r.b.server_exact)}",
                f"{_pct(r.a.top1_agree)} → {_pct(r.b.top1_agree)}",
                f"{_ratio(r.a.score_ratio)} → {_ratio(r.b.score_ratio)}",
            )
        )
    if c.rows:
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            cells = [
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
    else:
        lines.append("no backend and variant measured in both sessions")
    for label, items in (
        ("backends only in A", c.backends_only_a),
        ("backends only in B", c.backends_only_b),
        ("variants only in A", c.variants_only_a),
        ("variants only in B", c.variants_only_b),
    ):
        if items:
            lines.append(f"{label}: {', '.join(map(one_line, items))}")
    return "\n".join(lines) + "\n"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _server(value: float | None, exact: bool | None) -> str:
    return "–" if value is None else ("" if exact else "~") + f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"
