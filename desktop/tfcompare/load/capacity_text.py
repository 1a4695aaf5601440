"""Capacity results as text: the level table, sustained req/s at the limit, and equivalents."""

from __future__ import annotations

from tfcompare.load.capacity_results import CapacityResult, LevelResult, WindowSummary
from tfcompare.terminal import one_line


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def window_line(w: WindowSummary) -> str:
    errors = f" errors {w.n_errors}" if w.n_errors else ""
    return (
        f"{one_line(w.backend)}/{one_line(w.variant)} level {w.level:g} window {w.index + 1}: "
        f"{w.throughput:.1f} req/s, p99 {_ms(w.p99_ms)} ms{errors}"
    )


def level_flags(lv: LevelResult) -> str:
    flags = ["stable" if lv.stable else "UNSTABLE"]
    if lv.client_bound:
        flags.append("CLIENT-BOUND")
    return " ".join(flags)


def capacity_table(result: CapacityResult) -> str:
    mode = result.plan.get("mode", "concurrency")
    head = "conc." if mode == "concurrency" else "rate/s"
    pairs = [(one_line(b), one_line(v)) for b, v in result.pairs()]
    wb = max([16, *(len(b) for b, _ in pairs)])  # long backend names keep the columns lined up
    wv = max([10, *(len(v) for _, v in pairs)])
    lines = [
        f"{'backend':<{wb}} {'variant':<{wv}} {head:>6} {'achvd':>6} {'req/s':>8} {'p50':>7} "
        f"{'p90':>7} {'p99':>7} {'max':>7} {'mean':>7} {'server':>7} {'errors':>6}  flags"
    ]
    knees = {(b, v): result.knee(b, v) for b, v in result.pairs()}
    best = {(b, v): result.sustained_level(b, v) for b, v in result.pairs()}
    for lv in result.levels:
        key = (lv.backend, lv.variant)
        marks = [
            m for m, at in (("knee", knees.get(key)), ("sustained", best.get(key))) if at is lv
        ]
        mark = f"  ← {', '.join(marks)}" if marks else ""
        errors = lv.n_errors
        server = ("~" if lv.server_note and lv.server_ms is not None else "") + _ms(lv.server_ms)
        lines.append(
            f"{one_line(lv.backend):<{wb}} {one_line(lv.variant):<{wv}} {lv.level:>6g} {lv.achieved:>6.1f} "
            f"{lv.throughput:>8.1f} {_ms(lv.percentile_ms(50)):>7} {_ms(lv.percentile_ms(90)):>7} "
            f"{_ms(lv.percentile_ms(99)):>7} {_ms(lv.hist.max_ms()):>7} {_ms(lv.hist.mean_ms()):>7} "
            f"{server:>7} {errors:>6}  {level_flags(lv)}{mark}"
        )
        if lv.client_bound_reason:
            lines.append(f"{'':<{wb + 8}}client-bound: {lv.client_bound_reason}")
        if lv.errors:
            lines.append(
                f"{'':<{wb + 8}}errors: "
                + ", ".join(f"{one_line(c)} ×{n}" for c, n in lv.errors.items())
            )
    stability = result.stability
    lines.append(
        f"{head}: the load asked for; achvd: the load achieved ({'mean requests in flight' if mode == 'concurrency' else 'arrivals sent per second'}); "
        "req/s: answers per second; p50…max: client latency in ms; mean: the mean client latency; "
        "server: the server's mean time per request in ms from its metrics (a mean: set it "
        "against mean, not p50; ~: it also counted other requests, e.g. the last ones "
        f"finishing after the level); UNSTABLE: the last 3 windows disagreed by more than "
        f"±{stability * 100:g} % on req/s or p99 (never counted as capacity; longer --window-s or "
        "more --max-windows help); CLIENT-BOUND: the load generator, not the backend, was the limit."
    )
    lines.append("")
    lines.extend(sustained_lines(result, wb, wv))
    eq = result.equivalent_lines()
    if eq:
        lines.append("")
        lines.append("equivalents")
        lines.extend(f"  {line}" for line in eq)
    lines.extend(f"note: {message}" for message in result.notes())
    return "\n".join(lines)


KNEE_HELP = (
    "knee: where more load stops buying throughput (the last counted level whose req/s beats "
    "every lower one by more than the ±{tol:g} % a stable level may vary); sustained: the "
    "highest stable, not client-bound req/s{within} (what equivalents, compare and the gate's "
    "knee: rule use)"
)


def sustained_text(result: CapacityResult, backend: str, variant: str) -> str:
    """One backend × variant's capacity in words: the sustained figure and its level, the knee,
    and when the figure is only a lower bound, why (one text for the CLI, the window, the
    report)."""
    best = result.sustained_level(backend, variant)
    bound = result.lower_bound_note(backend, variant)
    if best is None:
        within = " within the limit" if result.limit_ms else ""
        return f"none (no stable level{within}" + (f"; {bound})" if bound else ")")
    at = f"{result.level_label(best.level)}, p99 {_ms(best.percentile_ms(99))} ms"
    k = result.knee(backend, variant)
    knee_txt = (
        "the knee"
        if k is best
        else f"knee {result.level_label(k.level)}: {k.throughput:.1f} req/s, p99 "
        f"{_ms(k.percentile_ms(99))} ms"
        if k is not None
        else "no knee"
    )
    if bound:
        return (
            f"at least {best.throughput:.1f} req/s at {at} — a lower bound: {bound}; no ratio is "
            "stated from it"
        )
    return f"{best.throughput:.1f} req/s at {at} ({knee_txt})"


def sustained_lines(result: CapacityResult, wb: int = 16, wv: int = 10) -> list[str]:
    limit = result.limit_ms
    title = (
        f"sustained req/s at p99 ≤ {limit:g} ms" if limit else "sustained req/s (no latency limit)"
    )
    lines = [f"{title} and knee"]
    for b, v in result.pairs():
        lines.append(f"  {one_line(b):<{wb}} {one_line(v):<{wv}} {sustained_text(result, b, v)}")
    within = " within the limit" if limit else ""
    lines.append(KNEE_HELP.format(tol=result.stability * 100, within=within))
    return lines


def result_level(result: CapacityResult, lv: LevelResult) -> str:
    return f"c={lv.level:g}" if result.plan.get("mode") == "concurrency" else f"{lv.level:g}/s"


def compare_capacity(a: CapacityResult | None, b: CapacityResult | None) -> list[dict]:
    """Sustained req/s (the highest stable level within the limit) per backend × variant in A
    and B, with the change in %; ``a_lower_bound``/``b_lower_bound`` say why a figure is only a
    lower bound (higher levels unstable or client-bound), or None."""
    sa = a.sustained() if a else {}
    sb = b.sustained() if b else {}
    rows = []
    for key in dict.fromkeys([*sa, *sb]):
        ra, rb = sa.get(key), sb.get(key)
        change = (rb / ra - 1) * 100 if ra and rb else None
        rows.append(
            {
                "backend": key[0],
                "variant": key[1],
                "a": ra,
                "b": rb,
                "change_pct": change,
                "only_in": "A" if key not in sb else "B" if key not in sa else None,
                "a_lower_bound": a.lower_bound_note(*key) if a and key in sa else None,
                "b_lower_bound": b.lower_bound_note(*key) if b and key in sb else None,
            }
        )
    return rows


def format_capacity_comparison(rows: list[dict], limit_a, limit_b) -> str:
    def rate(v, bound=None):
        return "-" if v is None else ("≥" if bound else "") + f"{v:.1f}"

    limits = {limit_a, limit_b}
    title = (
        "sustained req/s at p99 ≤ " + " / ".join(f"{x:g} ms" for x in limits if x)
        if any(limits)
        else "highest stable req/s"
    )
    rows = [
        {**r, "backend": one_line(r["backend"]), "variant": one_line(r["variant"])} for r in rows
    ]
    wb = max([len("backend"), *(len(r["backend"]) for r in rows)])
    wv = max([len("variant"), *(len(r["variant"]) for r in rows)])
    lines = [
        "",
        f"capacity: {title} (A → B)",
        f"{'backend':<{wb}}  {'variant':<{wv}} {'A':>9} {'B':>9} {'change':>8}",
    ]
    for r in rows:
        change = "-" if r["change_pct"] is None else f"{r['change_pct']:+.1f}%"
        note = f"  (only in {r['only_in']})" if r["only_in"] else ""
        bound_a, bound_b = bool(r.get("a_lower_bound")), bool(r.get("b_lower_bound"))
        if r["change_pct"] is not None and (bound_a or bound_b):
            # A's true figure may be higher (the change is at most this), B's too (at least this)
            change = "?" if bound_a and bound_b else ("≤" if bound_a else "≥") + change
        lines.append(
            f"{r['backend']:<{wb}}  {r['variant']:<{wv}} {rate(r['a'], r.get('a_lower_bound')):>9} "
            f"{rate(r['b'], r.get('b_lower_bound')):>9} {change:>8}{note}"
        )
    for r in rows:
        for side in ("a", "b"):
            why = r.get(f"{side}_lower_bound")
            if why:
                lines.append(
                    f"note: {side.upper()} {r['backend']} {r['variant']}: ≥ a lower bound, {why}"
                )
    if len(limits - {None}) > 1:
        lines.append("note: the two sweeps used different latency limits")
    return "\n".join(lines) + "\n"
