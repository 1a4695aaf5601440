"""Finding 4, which backend is fastest: p50/p90/p99 per variant with a Mann-Whitney test between
the fastest and the next, and the capacity sweep's knees when the session has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfcompare.report.capacity import capacity_verdict, knee_table, sustained_chart
from tfcompare.report.data import SessionView
from tfcompare.report.findings import fmt_ms, size_name, times
from tfcompare.report.model import Bar, BarChart, Finding, Table, not_enough
from tfcompare.report.significance import ALPHA, mann_whitney_greater

if TYPE_CHECKING:
    from tfcompare.load.capacity_results import CapacityResult


BACKENDS_Q = "Which backend is fastest at each size, and by how much?"


def _capacity_only(title: str, cap: CapacityResult | None, measured: int) -> Finding:
    verdict = capacity_verdict(cap) if cap else None
    if cap is None or verdict is None:
        extra = " (and the capacity sweep has no two backends with a knee)" if cap else ""
        if measured:
            why = f"only {measured} backend measured; compare at least two{extra}"
        elif cap:
            why = (
                "the session has no per-request measurements, and the capacity sweep has no "
                "two backends with a knee"
            )
        else:
            why = "no backend measured"
        return not_enough("backends", title, BACKENDS_Q, why)
    chart = sustained_chart(cap)
    equivalents = cap.equivalent_lines()
    return Finding(
        "backends",
        title,
        BACKENDS_Q,
        True,
        verdict,
        (
            "From the capacity sweep alone: "
            + (
                f"only {measured} backend has per-request measurements in this session."
                if measured
                else "the session has no per-request measurements."
            ),
            *(["Equivalents under load: " + "; ".join(equivalents) + "."] if equivalents else []),
        ),
        (knee_table(cap),),
        (chart,) if chart else (),
        {"capacity": cap.sustained()},
    )


def fastest(view: SessionView, cap: CapacityResult | None = None) -> Finding:
    title = "Backends: which is fastest?"
    measured = [
        b
        for b in view.backends
        if any(r.p50_ms is not None for k, r in view.rows.items() if k[0] == b)
    ]
    if len(measured) < 2:
        return _capacity_only(title, cap, len(measured))
    rows, groups = [], []
    wins: dict[str, list[tuple[str, float | None]]] = {}
    per_variant = {}
    for key in view.variant_keys():
        cands = [r for b in measured for r in [view.row(b, key)] if r and r.p50_ms is not None]
        if len(cands) < 2:
            continue
        cands.sort(key=lambda r: r.p50_ms)
        best, second = cands[0], cands[1]
        p = mann_whitney_greater(second.samples, best.samples)
        clear = p is not None and p < ALPHA
        ratio = second.p50_ms / best.p50_ms if best.p50_ms else None
        per_variant[key] = {"fastest": best.backend, "ratio": ratio, "significant": clear}
        if clear:
            wins.setdefault(best.backend, []).append((key, ratio))
        for r in cands:
            vs = r.p50_ms / best.p50_ms if best.p50_ms else None
            rows.append(
                (
                    size_name(view, key),
                    r.backend,
                    fmt_ms(r.p50_ms),
                    fmt_ms(r.p90_ms),
                    fmt_ms(r.p99_ms),
                    str(r.n) + (" *" if r.few else ""),
                    "fastest" if r is best else ("–" if vs is None else times(vs)),
                    ("yes" if clear else "no (noise)") if r is best else "",
                )
            )
        bars = tuple(
            Bar(r.backend, r.p50_ms, f"{fmt_ms(r.p50_ms)} ms", whisker=r.p90_ms)
            for b in measured
            for r in cands
            if r.backend == b
        )  # same order everywhere
        groups.append((size_name(view, key), bars))
    if not per_variant:
        return not_enough("backends", title, BACKENDS_Q, "no variant was measured on two backends")
    n = len(per_variant)
    if not wins:
        verdict = (
            f"No backend is faster beyond noise at any of the {n} variants "
            f"(Mann-Whitney, {100 * (1 - ALPHA):.0f} %)."
        )
    else:
        parts = []
        for backend, won in sorted(wins.items(), key=lambda kv: -len(kv[1])):
            rs = [r for _, r in won if r]
            lo, hi = times(min(rs)), times(max(rs))
            span = lo if lo == hi else f"{lo} – {hi}"
            names = [k for k, _ in won]
            if len(won) == n:
                where = "every variant"
            elif len(won) > n / 2:
                others = ", ".join(size_name(view, k) for k in per_variant if k not in names)
                where = f"{len(won)} of {n} variants (all but {others})"
            else:
                where = ", ".join(size_name(view, k) for k in names)
            parts.append(f"{backend} is fastest at {where} ({span} faster than the next)")
        ties = n - sum(len(w) for w in wins.values())
        tail = f"; {ties} variant(s) within noise" if ties else ""
        verdict = "; ".join(parts) + tail + "."
    details = [
        "p50/p90/p99 of client wall time over every measured request of the variant "
        "(all images pooled); * fewer than 10 samples. “Clear”: the next backend's "
        f"latencies are larger in a Mann-Whitney test ({100 * (1 - ALPHA):.0f} %)."
    ]
    tables = [
        Table(
            ("variant", "backend", "p50 ms", "p90 ms", "p99 ms", "n", "vs fastest", "clear"),
            tuple(rows),
        )
    ]
    charts = [
        BarChart("p50 latency by variant (tick: p90)", "ms", tuple(groups), whisker_label="p90")
    ]
    if cap is not None:
        tables.append(knee_table(cap))
        under_load = capacity_verdict(cap)
        if under_load:
            verdict += " " + under_load
        if cap.equivalent_lines():
            details.append("Equivalents under load: " + "; ".join(cap.equivalent_lines()) + ".")
        chart = sustained_chart(cap)
        if chart:
            charts.append(chart)
    else:
        details.append(
            "No capacity sweep in this session: throughput under load is not part of this answer."
        )
    return Finding(
        "backends",
        title,
        BACKENDS_Q,
        True,
        verdict,
        tuple(details),
        tuple(tables),
        tuple(charts),
        {
            "capacity": cap.sustained() if cap else None,
            "per_variant": per_variant,
            "wins": {b: [k for k, _ in w] for b, w in wins.items()},
        },
    )
