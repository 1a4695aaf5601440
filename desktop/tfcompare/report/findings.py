"""Findings 1–3 of the original experiment (resizing, format, size vs time), answered from one
session's own data (finding 4, the fastest backend, is in ``fastest``).

Each finding says what it concluded (or that the session cannot tell), the numbers behind it and a
chart. Latency figures are the pooled statistics of ``report.data`` (the window's numbers); the
significance of a difference comes from a Mann-Whitney test on the per-request latencies.
"""

from __future__ import annotations

import statistics

from tfcompare.imaging.values import ORIGINAL
from tfcompare.report.data import Row, SessionView
from tfcompare.report.model import Bar, BarChart, Finding, LineChart, Series, Table, not_enough
from tfcompare.report.significance import ALPHA, fit_line, mann_whitney_two_sided
from tfcompare.runner.run_formats import _fmt_bytes as fmt_bytes
from tfcompare.runner.run_formats import _fmt_ms as fmt_ms

DEFAULT_MIN_AGREEMENT = 95.0  # percent
FLAT_CHANGE = 0.10  # size vs time: a change under 10 % from the smallest to the largest is "flat"
FEW_IMAGES = 5


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def size_name(view: SessionView, key: str) -> str:
    info = view.variants.get(key)
    if key == ORIGINAL:
        return "original"
    if info is None:
        return key
    return f"{info.box} px {info.format.upper()}"


# --------------------------------------------------------------------------- 1. resizing

RESIZE_Q = (
    "What is the smallest size and format that keeps the model's answer (top-1 class the "
    "same as on the original image)?"
)


def _kept(view: SessionView, backend: str, variant: str) -> tuple[int, int]:
    """(images whose top-1 stayed the same, images with an answer) for one variant."""
    answers = [v for v in view.per_image[(backend, variant)].values() if v is not None]
    return sum(answers), len(answers)


def _passes(row, orig, ok: bool, threshold: float) -> str:
    """The resizing table's verdict for one variant, with the reason when it does not pass."""
    if ok:
        return "yes"
    reasons = []
    if row.agreement < threshold:
        reasons.append(f"top-1 < {100 * threshold:g} %")
    if row.bytes >= orig.bytes:
        reasons.append("not smaller")
    return "no: " + ", ".join(reasons)


def resizing(view: SessionView, min_agreement: float = DEFAULT_MIN_AGREEMENT) -> Finding:
    title = "Resizing: how small can images get?"
    threshold = min_agreement / 100.0
    verdicts, tables, groups, numbers = [], [], {}, {}
    for backend in view.backends:
        orig = view.row(backend, ORIGINAL)
        candidates = [
            r
            for key in view.variant_keys()
            if key != ORIGINAL
            for r in [view.row(backend, key)]
            if r is not None and r.agreement is not None
        ]
        if orig is None or not candidates:
            continue
        candidates.sort(key=lambda r: -r.bytes)
        # a variant only saves something when it is smaller than the original
        passing = [r for r in candidates if r.agreement >= threshold and r.bytes < orig.bytes]
        best = min(passing, key=lambda r: r.bytes) if passing else None
        rows = []
        for r in candidates:
            kept, n = _kept(view, backend, r.variant)
            saved_b = 1 - r.bytes / orig.bytes if orig.bytes else None
            change = r.p50_ms - orig.p50_ms if orig.p50_ms and r.p50_ms is not None else None
            ok = r in passing
            rows.append(
                (
                    size_name(view, r.variant),
                    pct(r.agreement),
                    f"{kept}/{n}",
                    pct(r.score_ratio),
                    fmt_bytes(r.bytes),
                    pct(saved_b, 1),
                    fmt_ms(r.p50_ms),
                    "–" if change is None else f"{change:+.1f}",
                    _passes(r, orig, ok, threshold),
                )
            )
            groups.setdefault(size_name(view, r.variant), []).append(
                Bar(
                    backend,
                    100 * r.agreement,
                    f"{pct(r.agreement)} · {fmt_bytes(r.bytes)}",
                    passed=ok,
                )
            )
        tables.append(
            Table(
                (
                    "variant",
                    "top-1 kept",
                    "images",
                    "score ratio",
                    "sent",
                    "bytes saved",
                    "p50 ms",
                    "p50 change ms",
                    "passes",
                ),
                tuple(rows),
                caption=f"{backend} (original: {fmt_bytes(orig.bytes)}, p50 "
                f"{fmt_ms(orig.p50_ms)} ms)",
            )
        )
        if best is None:
            top = max(candidates, key=lambda r: (r.bytes < orig.bytes, r.agreement, -r.bytes))
            verdicts.append(
                (
                    backend,
                    f"no variant smaller than the original keeps the top-1 "
                    f"class on ≥ {min_agreement:g} % of the images; the closest "
                    f"is {size_name(view, top.variant)} ({pct(top.agreement)}).",
                )
            )
            numbers[backend] = {"smallest": None, "best_agreement": top.agreement}
            continue
        saved_b = 1 - best.bytes / orig.bytes
        lat = ""
        if orig.p50_ms and best.p50_ms is not None:
            d = orig.p50_ms - best.p50_ms
            lat = (
                f", p50 {abs(d):.1f} ms {'faster' if d >= 0 else 'slower'} "
                f"({fmt_ms(best.p50_ms)} vs {fmt_ms(orig.p50_ms)} ms)"
            )
        kept, n = _kept(view, backend, best.variant)
        verdicts.append(
            (
                backend,
                f"{size_name(view, best.variant)} keeps the top-1 class on "
                f"{kept} of {n} images — {pct(saved_b, 1)} fewer bytes than the "
                f"original{lat}.",
            )
        )
        numbers[backend] = {
            "smallest": best.variant,
            "agreement": best.agreement,
            "bytes_saved": saved_b,
            "latency_saved_ms": (orig.p50_ms - best.p50_ms)
            if orig.p50_ms and best.p50_ms is not None
            else None,
        }
    if not verdicts:
        return not_enough(
            "resizing",
            title,
            RESIZE_Q,
            "no backend answered both the original and a resized variant with a "
            "top-5 (quality is measured against the same backend's original)",
        )
    details = [
        f"Passes: smaller than the original and the top-1 class the same as on the original "
        f"for ≥ {min_agreement:g} % of the images (--min-agreement). A size larger than an "
        "image is not made for it, so a variant may cover fewer images."
    ]
    if len(view.image_names) < FEW_IMAGES:
        details.append(
            f"Only {len(view.image_names)} image(s): each image is "
            f"{100 / max(1, len(view.image_names)):.0f} % of the share; use more images "
            "for a firm answer."
        )
    chart = BarChart(
        "Top-1 class kept vs the original (faded: does not pass)",
        "%",
        tuple((label, tuple(bars)) for label, bars in groups.items()),
        threshold=min_agreement,
        threshold_label=f"{min_agreement:g} %",
        max_value=100.0,
    )
    return Finding(
        "resizing",
        title,
        RESIZE_Q,
        True,
        _joined(verdicts),
        tuple(details),
        tuple(tables),
        (chart,),
        numbers,
    )


def _joined(verdicts: list[tuple[str, str]]) -> str:
    """``backend: text`` sentences, backends with the same text named together."""
    by_text: dict[str, list[str]] = {}
    for backend, text in verdicts:
        by_text.setdefault(text, []).append(backend)
    return " ".join(f"{', '.join(names)}: {text}" for text, names in by_text.items())


# --------------------------------------------------------------------------- 2. format

FORMAT_Q = (
    "How much longer does PNG take than JPEG at the same size? (the server decodes the image)"
)


def _format_pairs(view: SessionView, backend: str) -> list[tuple[int, Row, Row]]:
    pairs = []
    for key in view.variant_keys():
        info = view.variants.get(key)
        if info is None or info.box is None or info.format != "png":
            continue
        png = view.row(backend, key)
        jpeg = view.row(backend, f"{info.box}-jpeg")
        if png and jpeg and png.p50_ms and jpeg.p50_ms:
            pairs.append((info.box, png, jpeg))
    return pairs


def formats(view: SessionView) -> Finding:
    title = "Format: PNG vs JPEG at the same size"
    verdicts, rows, groups, numbers = [], [], [], {}
    for backend in view.backends:
        pairs = _format_pairs(view, backend)
        if not pairs:
            continue
        ratios, server_ratios, slower, faster = [], [], [], []
        for box, png, jpeg in pairs:
            ratio = png.p50_ms / jpeg.p50_ms
            p = mann_whitney_two_sided(png.samples, jpeg.samples)
            if p is not None and p < ALPHA:
                (slower if ratio > 1 else faster).append(box)
            server = png.server_ms / jpeg.server_ms if png.server_ms and jpeg.server_ms else None
            ratios.append(ratio)
            if server is not None:
                server_ratios.append(server)
            approx = "" if png.server_exact and jpeg.server_exact else "~"
            rows.append(
                (
                    backend,
                    f"{box} px",
                    fmt_ms(png.p50_ms),
                    fmt_ms(jpeg.p50_ms),
                    f"{ratio:.2f}×",
                    "–" if server is None else f"{approx}{server:.2f}×",
                    fmt_bytes(png.bytes),
                    fmt_bytes(jpeg.bytes),
                    "–" if p is None else ("yes" if p < ALPHA else "no (noise)"),
                    f"{png.n} / {jpeg.n}",
                )
            )
            groups.append(
                (
                    f"{backend} · {box} px",
                    (
                        Bar("PNG", png.p50_ms, f"{fmt_ms(png.p50_ms)} ms"),
                        Bar("JPEG", jpeg.p50_ms, f"{fmt_ms(jpeg.p50_ms)} ms"),
                    ),
                )
            )
        med = statistics.median(ratios)
        spread = (
            f" ({min(ratios):.1f}× – {max(ratios):.1f}× over {len(ratios)} sizes)"
            if len(ratios) > 1
            else ""
        )
        server_txt = (
            f"; server time: {statistics.median(server_ratios):.1f}×" if server_ratios else ""
        )
        half = len(pairs) / 2
        if not slower and not faster:
            verdicts.append(
                f"{backend}: no difference beyond noise between PNG and JPEG "
                f"(PNG/JPEG {med:.2f}×{spread}){server_txt}."
            )
        elif slower and not faster and len(slower) >= half:
            verdicts.append(
                f"{backend}: PNG takes {med:.1f}× as long as JPEG{spread}"
                f"{server_txt}; beyond noise at {len(slower)} of {len(pairs)} sizes."
            )
        elif faster and not slower and len(faster) >= half:
            verdicts.append(
                f"{backend}: PNG is faster than JPEG (PNG/JPEG {med:.2f}×{spread})"
                f"{server_txt}; beyond noise at {len(faster)} of {len(pairs)} sizes."
            )
        else:
            verdicts.append(
                f"{backend}: no consistent difference — PNG slower beyond noise at "
                f"{len(slower)}, faster at {len(faster)} of {len(pairs)} sizes "
                f"(PNG/JPEG {med:.2f}×{spread}){server_txt}."
            )
        numbers[backend] = {
            "median_ratio": med,
            "ratios": ratios,
            "server_ratios": server_ratios,
            "slower": slower,
            "faster": faster,
            "sizes": [b for b, _, _ in pairs],
        }
    if not verdicts:
        return not_enough(
            "format",
            title,
            FORMAT_Q,
            "the session has no size measured as both PNG and JPEG on one backend "
            "(run with --formats jpeg,png)",
        )
    details = [
        "Ratio of p50 latencies (client wall time); “significant”: a Mann-Whitney test on "
        f"the per-request latencies at the {100 * (1 - ALPHA):.0f} % level."
    ]
    if not view.has_server_time():
        details.append(
            "No server-time data in this session: the ratio includes transfer (PNG "
            "files are larger) as well as decoding in the server."
        )
    table = Table(
        (
            "backend",
            "size",
            "PNG p50 ms",
            "JPEG p50 ms",
            "PNG/JPEG",
            "server PNG/JPEG",
            "PNG sent",
            "JPEG sent",
            "significant",
            "n PNG / JPEG",
        ),
        tuple(rows),
    )
    chart = BarChart("p50 latency, PNG vs JPEG", "ms", tuple(groups))
    return Finding(
        "format",
        title,
        FORMAT_Q,
        True,
        " ".join(verdicts),
        tuple(details),
        (table,),
        (chart,),
        numbers,
    )


# --------------------------------------------------------------------------- 3. size vs time

SIZE_Q = "Does prediction time change with image size?"
MIN_SIZES = 3


TIME_SOURCES = (
    ("runtime_ms", "model run time"),
    ("server_ms", "server time"),
    ("p50_ms", "client latency (p50)"),
)


def _time_source(view: SessionView, backend: str) -> tuple[str, str]:
    """The best time a backend has: the model run alone or the server's handling (from its
    metrics), else the latency the client saw."""
    rows = [r for (b, _), r in view.rows.items() if b == backend]
    return next(
        (field, name)
        for field, name in TIME_SOURCES
        if field == "p50_ms" or any(getattr(r, field) is not None for r in rows)
    )


def size_vs_time(view: SessionView) -> Finding:
    title = "Size vs time"
    verdicts, series, rows, numbers, sources = [], [], [], {}, set()
    for backend in view.backends:
        field, source = _time_source(view, backend)
        by_format: dict[str, list[tuple[float, float, str]]] = {}
        points: dict[str, list[tuple[float, float]]] = {}  # one per image and size
        for key in view.variant_keys():
            info, row = view.variants.get(key), view.row(backend, key)
            if info is None or info.box is None or row is None or getattr(row, field) is None:
                continue
            by_format.setdefault(info.format, []).append(
                (info.pixels / 1e6, getattr(row, field), key)
            )
            for a in view.blocks[(backend, key)]:
                y = getattr(a, field)
                if y is not None and (a.image, key) in view.pixels:
                    points.setdefault(info.format, []).append(
                        (view.pixels[(a.image, key)] / 1e6, y)
                    )
        usable = {f: pts for f, pts in by_format.items() if len({p[0] for p in pts}) >= MIN_SIZES}
        if not usable:
            continue
        fmt = "jpeg" if "jpeg" in usable else max(usable, key=lambda f: len(usable[f]))
        pts = sorted(usable[fmt])
        fit = fit_line([p[0] for p in points[fmt]], [p[1] for p in points[fmt]])
        if fit is None:
            continue
        x0, x1 = pts[0][0], pts[-1][0]
        y0 = fit.at(x0)
        span = x1 - x0
        # the fitted change from the smallest to the largest size, and its 95 % interval
        change, low, high = (
            (fit.slope * span / y0, fit.low * span / y0, fit.high * span / y0)
            if y0 > 0
            else (None, None, None)
        )
        if change is None:
            trend = "unclear"
        elif -FLAT_CHANGE < low and high < FLAT_CHANGE:
            trend = "flat"
        elif low > 0 or high < 0:
            trend = "grows" if low > 0 else "shrinks"
        else:
            trend = "unclear"
        small, large = size_name(view, pts[0][2]), size_name(view, pts[-1][2])
        at = (
            f"{fmt_ms(pts[0][1])} ms at {small} vs {fmt_ms(pts[-1][1])} ms at {large}; fitted "
            f"change {pct(change)}, 95 % interval {pct(low)} – {pct(high)}"
        )
        head = f"{backend} ({fmt.upper()}, {source})"
        verdicts.append(
            {
                "flat": f"{head}: barely changes with size — {at}.",
                "grows": f"{head}: grows with size, {fit.slope:.1f} ms per megapixel — {at}.",
                "shrinks": f"{head}: falls as images grow, {fit.slope:.1f} ms per megapixel — {at}.",
                "unclear": f"{head}: too noisy to tell — {at}.",
            }[trend]
        )
        sources.add(source)
        for mp, y, key in pts:
            rows.append((backend, size_name(view, key), f"{mp:.3f}", fmt_ms(y), source))
        series.append(
            Series(
                f"{backend} ({fmt.upper()})",
                tuple((p[0], p[1]) for p in pts),
                (fit.intercept, fit.slope),
            )
        )
        numbers[backend] = {
            "format": fmt,
            "slope_ms_per_mpx": fit.slope,
            "low": fit.low,
            "high": fit.high,
            "change": change,
            "trend": trend,
            "source": source,
        }
    if not verdicts:
        return not_enough(
            "size_time",
            title,
            SIZE_Q,
            f"needs at least {MIN_SIZES} sizes of one format measured on a backend "
            "(run with more --sizes)",
        )
    decided = any(n["trend"] != "unclear" for n in numbers.values())
    verdict = " ".join(verdicts)
    if not decided:
        verdict = (
            "Not enough data: the times are too noisy to tell a trend on any backend "
            "(more --repeats help). " + verdict
        )
    details = [
        "Least-squares line of time against megapixels over every image and size (each "
        "image's median, or its mean server time). “Barely changes”: the "
        "95 % interval of the fitted change from the smallest to the largest size lies "
        f"within ±{FLAT_CHANGE:.0%}; “too noisy to tell”: it includes zero but not only "
        "small changes (more --repeats help). Model run time and server time come from the "
        "server's metrics (decoding happens inside the model run)."
    ]
    if "client latency (p50)" in sources:
        details.append(
            "No server-time data for some backends: their time is the client's latency, "
            "which includes sending the larger files and decoding them."
        )
    table = Table(("backend", "variant", "megapixels", "ms", "time"), tuple(rows))
    what = sources.pop() if len(sources) == 1 else "time"
    chart = LineChart(f"{what} against image size", "megapixels", "ms", tuple(series))
    return Finding(
        "size_time", title, SIZE_Q, decided, verdict, tuple(details), (table,), (chart,), numbers
    )
