"""The capacity sweep's part of the report: sustained throughput (the highest stable level
within the limit) and the knee (where more load stops buying throughput) per backend ×
variant, how many of one backend match another, and the sweep's own caveats (unstable and
client-bound levels). The figures are the sweep's (``tfcompare.load``); nothing is recomputed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfcompare.report.model import Bar, BarChart, Table

if TYPE_CHECKING:
    from tfcompare.load.capacity_results import CapacityResult


def knee_table(cap: CapacityResult) -> Table:
    rows = []
    for backend, variant in cap.pairs():
        best = cap.sustained_level(backend, variant)
        k = cap.knee(backend, variant)
        bound = cap.lower_bound_note(backend, variant)
        if best is None:
            rows.append((backend, variant, "none", "–", "–", "–", bound or "–"))
            continue
        p99 = best.percentile_ms(99)
        rows.append(
            (
                backend,
                variant,
                ("≥ " if bound else "") + f"{best.throughput:.1f} req/s",
                cap.level_label(best.level),
                "–" if p99 is None else f"{p99:.1f} ms",
                "–"
                if k is None
                else f"{cap.level_label(k.level)} ({k.throughput:.1f} req/s, p99 "
                f"{k.percentile_ms(99):.1f} ms)",
                f"a lower bound: {bound}" if bound else "–",
            )
        )
    limit = cap.limit_ms
    caption = (
        f"Capacity sweep: sustained throughput (the highest stable level with p99 ≤ {limit:g} ms) "
        "and the knee (where more load stops buying throughput)"
        if limit
        else "Capacity sweep: sustained throughput (the highest stable level) and the knee "
        "(where more load stops buying throughput)"
    )
    return Table(
        ("backend", "variant", "sustained", "at level", "p99 there", "knee", "caveat"),
        tuple(rows),
        caption=caption,
    )


def capacity_caveats(cap: CapacityResult) -> list[str]:
    out = []
    bound = [lv for lv in cap.levels if lv.client_bound]
    for lv in bound:
        out.append(
            f"capacity {lv.backend} {lv.variant} at level {lv.level:g} was client-bound "
            f"({lv.client_bound_reason}): the load generator, not the backend, was the limit "
            "there, so that level does not count."
        )
    unstable = [lv for lv in cap.levels if not lv.stable]
    if unstable:
        out.append(
            f"{len(unstable)} capacity level(s) never became stable (three windows within "
            f"±{cap.stability * 100:g} %): "
            + ", ".join(f"{lv.backend} {lv.variant} @ {lv.level:g}" for lv in unstable)
            + "."
        )
    for backend, variant in cap.pairs():
        note = cap.lower_bound_note(backend, variant)
        if note:
            out.append(
                f"capacity {backend} {variant}: the sustained figure is only a lower bound — "
                f"{note}; no ratio or ranking is stated from it (longer windows, --window-s, or "
                "more --max-windows may let those levels settle)."
            )
    if cap.cancelled:
        out.append("The capacity sweep was cancelled before it finished.")
    out.extend(f"capacity: {m}" for m in cap.notes())
    return out


def sustained_chart(cap: CapacityResult) -> BarChart | None:
    sustained = cap.sustained()
    variants = list(dict.fromkeys(v for _, v in sustained))
    groups = []
    for variant in variants:
        bars = tuple(
            Bar(
                b,
                rate,
                ("≥ " if cap.lower_bound_note(b, v) else "") + f"{rate:.1f} req/s",
                passed=None if cap.lower_bound_note(b, v) is None else False,
            )
            for (b, v), rate in sustained.items()
            if v == variant and rate
        )
        if bars:
            groups.append((variant, bars))
    if not groups:
        return None
    return BarChart(
        "Sustained throughput: highest stable level within the limit (faded: only a lower bound)",
        "req/s",
        tuple(groups),
    )


def capacity_verdict(cap: CapacityResult) -> str | None:
    """Per variant, the backend that sustains the most requests per second, and by how much.

    Two backends whose sustained rates are closer than the sweep's stability tolerance are called
    even: a level counts as stable while its windows differ by that much, so a smaller gap is not
    a measured difference. When either figure is only a lower bound (its higher levels never
    became stable), no ranking is stated."""
    sustained = cap.sustained()
    stability = cap.stability
    parts = []
    for variant in dict.fromkeys(v for _, v in sustained):
        rates = sorted(
            ((rate, b) for (b, v), rate in sustained.items() if v == variant and rate), reverse=True
        )
        if len(rates) < 2:
            continue
        (best, name), (second, runner_up) = rates[0], rates[1]
        bounds = [
            f"{b} ({note})"
            for b in (name, runner_up)
            for note in [cap.lower_bound_note(b, variant)]
            if note
        ]
        if bounds:
            parts.append(
                f"at {variant}, {name} ({best:.1f} req/s) and {runner_up} ({second:.1f} req/s) "
                f"cannot be ranked: only a lower bound is known for {' and '.join(bounds)}"
            )
        elif best <= second * (1 + stability):
            parts.append(
                f"{name} and {runner_up} sustain about the same at {variant} "
                f"({best:.1f} and {second:.1f} req/s: closer than the ±"
                f"{stability * 100:g} % a stable level may vary)"
            )
        else:
            parts.append(
                f"{name} sustains the most at {variant} ({best:.1f} req/s, "
                f"{best / second:.2f}× the next)"
            )
    return "Under load: " + "; ".join(parts) + "." if parts else None


def _shown(value, unit: str = "", scale: float = 1.0, fmt: str = "g") -> str:
    """A plan value from the session (plain data, possibly hostile) as text; '–' when unset."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value * scale:{fmt}}{unit}"


def sweep_tables(cap: CapacityResult) -> tuple[Table, ...]:
    """The setup of the sweep: how the load was applied, and the variants it sent."""
    from tfcompare.report.context import when

    plan = cap.plan if isinstance(cap.plan, dict) else {}
    rate = plan.get("mode") == "rate"
    levels = plan.get("levels")
    if not isinstance(levels, list):
        levels = []
    agents = max((w.agents for lv in cap.levels for w in lv.windows), default=1)
    took = (
        f"{cap.finished_at - cap.started_at:.0f} s" if cap.finished_at and cap.started_at else "–"
    )
    settings = Table(
        ("setting", "value"),
        (
            ("measured", f"{when(cap.started_at)} (took {took})"),
            (
                "load",
                "open loop: Poisson arrivals, requests/s"
                if rate
                else "closed loop: requests in flight per backend",
            ),
            ("levels", ", ".join(_shown(v) for v in levels) or "–"),
            ("window", _shown(plan.get("window_s"), " s")),
            (
                "stable when",
                f"the last {_shown(plan.get('stable_windows'))} windows agree within "
                f"±{_shown(plan.get('stability'), ' %', 100)} on req/s and p99",
            ),
            ("windows per level, at most", _shown(plan.get("max_windows"))),
            ("p99 limit", _shown(plan.get("latency_limit_ms"), " ms")),
            ("request timeout", _shown(plan.get("timeout_s"), " s")),
            (
                "load from",
                "this machine" if agents <= 1 else f"{agents} load agents in the cluster",
            ),
        ),
        caption="Capacity sweep",
    )
    variants = Table(
        ("variant", "mean request image size"),
        tuple(
            (
                key,
                _shown(info.get("bytes"), " KB", 1 / 1024, ".0f")
                if isinstance(info, dict)
                else "–",
            )
            for key, info in cap.variants.items()
        ),
        caption="Variants swept",
    )
    return settings, variants
