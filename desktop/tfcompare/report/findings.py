"""Findings 1–3 of the original experiment (resizing, format, size vs time), answered from one
session's own data (finding 4, the fastest backend, is in ``fastest``).

Each finding says what it concluded (or that the session cannot tell), the numbers behind it and a
chart. Latency figures are the pooled statistics of ``report.data`` (the window's numbers); the
significance of a difference comes from a Mann-Whitney test on the per-request latencies.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tfcompare.imaging.values import ORIGINAL
from tfcompare.report.data import Row, SessionView
from tfcompare.report.model import Bar, BarChart, Finding, LineChart, Series, Table, not_enough
from tfcompare.report.significance import (
    ALPHA,
    Slope,
    mann_whitney_two_sided,
    outliers,
    theil_sen,
)
from tfcompare.runner.run_formats import _fmt_bytes as fmt_bytes
from tfcompare.runner.run_formats import _fmt_ms as fmt_ms

DEFAULT_MIN_AGREEMENT = 95.0  # percent
FLAT_CHANGE = 0.10  # size vs time: a change under 10 % from the smallest to the largest is "flat"
FEW_IMAGES = 5


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def times(ratio: float) -> str:
    """A ratio as the report writes it everywhere (one rounding for a headline and its range)."""
    return f"{ratio:.2f}×"


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


def _passes(row, saved: float | None, ok: bool, threshold: float) -> str:
    """The resizing table's verdict for one variant, with the reason when it does not pass."""
    if ok:
        return "yes"
    reasons = []
    if row.agreement < threshold:
        reasons.append(f"top-1 < {100 * threshold:g} %")
    if saved is None or saved <= 0:
        reasons.append("not smaller")
    return "no: " + ", ".join(reasons)


def _saving(view: SessionView, backend: str, variant: str, fixed: bool) -> float | None:
    """The share of bytes a variant saves against the original, over the images it was made
    for (a size box larger than an image is not made for it): 1 − Σ variant / Σ original, both
    over the same images. Bytes sent, or for a fixed-size tensor model the image files."""

    def sizes(key: str) -> dict[str, float]:
        if fixed:
            return {
                img: float(b)
                for img in view.image_names
                if (b := view.file_bytes.get((img, key))) is not None
            }
        return {a.image: float(a.bytes) for a in view.blocks[(backend, key)] if a.bytes}

    ours, original = sizes(variant), sizes(ORIGINAL)
    both = [img for img in ours if img in original]
    total = sum(original[img] for img in both)
    if not both or total <= 0:
        return None
    return 1.0 - sum(ours[img] for img in both) / total


def _same_bytes_sent(view: SessionView, orig, rows: list) -> bool:
    """Whether every variant reached the backend as the same number of bytes as the original
    (a model taking a fixed-size tensor), while the image files differ."""
    if not rows or any(r.bytes != orig.bytes for r in rows):
        return False
    return ORIGINAL in view.variants and all(r.variant in view.variants for r in rows)


def resizing(view: SessionView, min_agreement: float = DEFAULT_MIN_AGREEMENT) -> Finding:
    title = "Resizing: how small can images get?"
    threshold = min_agreement / 100.0
    verdicts: list[tuple[str, str]] = []
    tables: list[Table] = []
    groups: dict[str, list[Bar]] = {}
    numbers: dict[str, dict] = {}
    for backend in view.backends:
        orig = view.row(backend, ORIGINAL)
        # (row, its top-1 agreement) of every resized variant that has one
        candidates = [
            (r, agreement)
            for key in view.variant_keys()
            if key != ORIGINAL
            for r in [view.row(backend, key)]
            if r is not None
            for agreement in [r.agreement]
            if agreement is not None
        ]
        if orig is None or not candidates:
            continue
        # A model taking a fixed-size tensor gets the same bytes from every variant: what
        # resizing saves there is the image file the client makes (and may upload or store).
        fixed = _same_bytes_sent(view, orig, [r for r, _ in candidates])

        def size(r, fixed: bool = fixed) -> float:
            return view.variants[r.variant].bytes if fixed else r.bytes

        saved = {r.variant: _saving(view, backend, r.variant, fixed) for r, _ in candidates}
        candidates.sort(key=lambda c: -size(c[0]))
        # a variant only saves something when it is smaller than the original
        passing = [r for r, a in candidates if a >= threshold and (saved[r.variant] or 0.0) > 0.0]
        # the smallest: the one saving the most bytes against the originals of its images
        best = max(passing, key=lambda r: saved[r.variant] or 0.0) if passing else None
        rows = []
        for r, agreement in candidates:
            kept, n = _kept(view, backend, r.variant)
            saved_b = saved[r.variant]
            pair = view.paired_p50(backend, r.variant)
            change = pair[0] - pair[1] if pair else None
            ok = r in passing
            rows.append(
                (
                    size_name(view, r.variant),
                    pct(agreement),
                    f"{kept}/{n}",
                    pct(r.score_ratio),
                    fmt_bytes(r.bytes),
                    pct(saved_b, 1),
                    fmt_ms(r.p50_ms),
                    "–" if change is None else f"{change:+.1f}",
                    _passes(r, saved_b, ok, threshold),
                )
            )
            groups.setdefault(size_name(view, r.variant), []).append(
                Bar(
                    backend,
                    100 * agreement,
                    f"{pct(agreement)} · {fmt_bytes(r.bytes)}",
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
                f"{fmt_ms(orig.p50_ms)} ms)"
                + (
                    f"; a fixed-size tensor model: every variant sends {fmt_bytes(orig.bytes)}, "
                    "bytes saved are the image file's"
                    if fixed
                    else ""
                ),
            )
        )
        if best is None:
            top, top_agreement = max(
                candidates, key=lambda c: ((saved[c[0].variant] or 0.0) > 0, c[1], -size(c[0]))
            )
            verdicts.append(
                (
                    backend,
                    f"no variant smaller than the original keeps the top-1 "
                    f"class on ≥ {min_agreement:g} % of the images; the closest "
                    f"is {size_name(view, top.variant)} ({pct(top_agreement)}).",
                )
            )
            numbers[backend] = {"smallest": None, "best_agreement": top_agreement}
            continue
        saved_b = saved[best.variant] or 0.0
        lat = ""
        pair = view.paired_p50(backend, best.variant)
        if pair:  # over the same images: those the variant was made for
            d = pair[1] - pair[0]
            lat = (
                f", p50 {abs(d):.1f} ms {'faster' if d >= 0 else 'slower'} "
                f"({fmt_ms(pair[0])} vs {fmt_ms(pair[1])} ms)"
            )
        kept, n = _kept(view, backend, best.variant)
        saved_text = (
            f"an image file {pct(saved_b, 1)} smaller than the original, though every variant "
            f"reaches this backend as the same {fmt_bytes(orig.bytes)} tensor{lat}"
            if fixed
            else f"{pct(saved_b, 1)} fewer bytes than the original{lat}"
        )
        verdicts.append(
            (
                backend,
                f"{size_name(view, best.variant)} keeps the top-1 class on "
                f"{kept} of {n} images — {saved_text}.",
            )
        )
        numbers[backend] = {
            "smallest": best.variant,
            "agreement": best.agreement,
            "bytes_saved": saved_b,
            "bytes_counted": "image file" if fixed else "sent",
            "latency_saved_ms": pair[1] - pair[0] if pair else None,
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
        "image is not made for it, so a variant may cover fewer images; its bytes saved are "
        "counted against the originals of the same images."
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
        ratios: list[float] = []
        server_ratios: list[float] = []
        slower: list[int] = []
        faster: list[int] = []
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
                    times(ratio),
                    "–" if server is None else approx + times(server),
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
        # the headline and its range from the same per-size ratios, written the same way
        med = statistics.median(ratios)
        spread = (
            f" ({times(min(ratios))} – {times(max(ratios))} over {len(ratios)} sizes)"
            if len(ratios) > 1
            else ""
        )
        server_txt = (
            f"; server time (means from its counters): {times(statistics.median(server_ratios))}"
            if server_ratios
            else ""
        )
        half = len(pairs) / 2
        if not slower and not faster:
            verdicts.append(
                f"{backend}: no difference beyond noise between PNG and JPEG "
                f"(PNG/JPEG {times(med)}{spread}){server_txt}."
            )
        elif slower and not faster and len(slower) >= half:
            verdicts.append(
                f"{backend}: PNG takes {times(med)} as long as JPEG{spread}"
                f"{server_txt}; beyond noise at {len(slower)} of {len(pairs)} sizes."
            )
        elif faster and not slower and len(faster) >= half:
            verdicts.append(
                f"{backend}: PNG is faster than JPEG (PNG/JPEG {times(med)}{spread})"
                f"{server_txt}; beyond noise at {len(faster)} of {len(pairs)} sizes."
            )
        else:
            verdicts.append(
                f"{backend}: no consistent difference — PNG slower beyond noise at "
                f"{len(slower)}, faster at {len(faster)} of {len(pairs)} sizes "
                f"(PNG/JPEG {times(med)}{spread}){server_txt}."
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
        "Ratio of p50 latencies (client wall time) per size; the headline is the median of "
        "those ratios, the range their smallest and largest. “Significant”: a Mann-Whitney "
        f"test on the per-request latencies at the {100 * (1 - ALPHA):.0f} % level. The server "
        "PNG/JPEG ratio compares mean server times (its counters give means, not medians)."
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
            "server PNG/JPEG (means)",
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
MAX_CHECKED = 12  # points left out in turn to see whether one decides the verdict (largest
# residuals first: with more points, no single one can move the median of slopes far)


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


def _trend(
    fit: Slope | None, x0: float, x1: float
) -> tuple[str, float | None, float | None, float | None]:
    """(trend, change, low, high): the fitted change from size ``x0`` to ``x1`` as a share of the
    time at ``x0``, with its 95 % interval, and what it says: flat, grows, shrinks or unclear."""
    if fit is None:
        return "unclear", None, None, None
    y0 = fit.at(x0)
    span = x1 - x0
    if y0 <= 0:
        return "unclear", None, None, None
    change, low, high = fit.slope * span / y0, fit.low * span / y0, fit.high * span / y0
    if -FLAT_CHANGE < low and high < FLAT_CHANGE:
        return "flat", change, low, high
    if low > 0:
        return "grows", change, low, high
    if high < 0:
        return "shrinks", change, low, high
    return "unclear", change, low, high


def _deciding_points(points: list[Point], trend: str, x0: float, x1: float, order) -> list[int]:
    """The indices of the points without which the verdict would differ (or could not be
    made): a verdict that one request can overturn is not a finding. ``order``: the points to
    try, most suspicious first."""
    if trend == "unclear":
        return []
    out = []
    for k in order:
        rest = points[:k] + points[k + 1 :]
        fit = theil_sen([p.mp for p in rest], [p.ms for p in rest])
        if fit is None or _trend(fit, x0, x1)[0] != trend:
            out.append(k)
    return out


def _fragile_points(
    points: list[Point], resid: Sequence[float], wild: list[int], trend: str, x0: float, x1: float
) -> tuple[list[int], bool]:
    """The points a verdict rests on (empty when it is firm), and whether they were found among
    the points left once those far from the line are set aside. A far point cannot make a
    borderline trend look firm: the verdict must hold without the far points, and there no
    single point may overturn it either."""
    suspicious = sorted(range(len(points)), key=lambda k: -abs(resid[k]))[:MAX_CHECKED]
    deciders = _deciding_points(points, trend, x0, x1, suspicious)
    if deciders or not wild or trend == "unclear":
        return deciders, False
    keep = [k for k in range(len(points)) if k not in wild]
    core = [points[k] for k in keep]
    fit = theil_sen([p.mp for p in core], [p.ms for p in core])
    if fit is None or _trend(fit, x0, x1)[0] != trend:
        return sorted(wild, key=lambda k: -abs(resid[k])), False
    core_resid = fit.residuals([p.mp for p in core], [p.ms for p in core])
    order = sorted(range(len(core)), key=lambda k: -abs(core_resid[k]))[:MAX_CHECKED]
    return [keep[k] for k in _deciding_points(core, trend, x0, x1, order)], True


@dataclass(frozen=True)
class Point:
    """One image at one size: its time (median latency, or mean server/model time)."""

    mp: float
    ms: float
    image: str
    key: str


def trend_word(trend: str) -> str:
    return {"flat": "flat", "grows": "growing", "shrinks": "falling"}.get(trend, trend)


def _point_name(view: SessionView, p: Point) -> str:
    return f"{p.image} at {size_name(view, p.key)} ({fmt_ms(p.ms)} ms)"


def size_vs_time(view: SessionView) -> Finding:
    title = "Size vs time"
    verdicts, series, rows, numbers, sources = [], [], [], {}, set()
    flagged: list[str] = []
    for backend in view.backends:
        field, source = _time_source(view, backend)
        points: dict[str, list[Point]] = {}  # per format: one per image and size
        for key in view.variant_keys():
            info = view.variants.get(key)
            if info is None or info.box is None:
                continue
            for a in view.blocks[(backend, key)]:
                y = getattr(a, field)
                if y is not None and (a.image, key) in view.pixels:
                    points.setdefault(info.format, []).append(
                        Point(view.pixels[(a.image, key)] / 1e6, y, a.image, key)
                    )
        usable = {f: pts for f, pts in points.items() if len({p.key for p in pts}) >= MIN_SIZES}
        if not usable:
            continue
        fmt = "jpeg" if "jpeg" in usable else max(usable, key=lambda f: len(usable[f]))
        pts = usable[fmt]
        # per size: the median over images of the same points the line is fitted to
        per_size = sorted(
            (
                statistics.fmean(p.mp for p in pts if p.key == key),
                statistics.median(p.ms for p in pts if p.key == key),
                key,
            )
            for key in dict.fromkeys(p.key for p in pts)
        )
        fit = theil_sen([p.mp for p in pts], [p.ms for p in pts])
        if fit is None:
            continue
        x0, x1 = per_size[0][0], per_size[-1][0]
        trend, change, low, high = _trend(fit, x0, x1)
        resid = fit.residuals([p.mp for p in pts], [p.ms for p in pts])
        wild = outliers(resid)
        deciders, beside_far = _fragile_points(pts, resid.tolist(), wild, trend, x0, x1)
        decider = deciders[0] if deciders else None
        small, large = size_name(view, per_size[0][2]), size_name(view, per_size[-1][2])
        at = (
            f"{fmt_ms(per_size[0][1])} ms at {small} vs {fmt_ms(per_size[-1][1])} ms at "
            f"{large} (medians over images); fitted change {pct(change)}, 95 % interval "
            f"{pct(low)} – {pct(high)}"
        )
        head = f"{backend} ({fmt.upper()}, {source})"
        if decider is not None:
            p = pts[decider]
            if theil_sen(*_without(pts, decider)) is None:
                why = f"{len(pts)} points: each one could overturn a verdict"
            elif decider in wild:
                why = (
                    f"the verdict rests on one point far from the rest, {_point_name(view, p)}, "
                    f"where the line gives {fmt_ms(fit.at(p.mp))} ms"
                )
            else:
                why = (
                    f"the {trend_word(trend)} trend is not firm: leaving out a single point "
                    + ("besides those far from the line " if beside_far else "")
                    + f"changes the verdict ({len(deciders)} of the {len(pts)} points would, "
                    f"e.g. {_point_name(view, p)})"
                )
            verdicts.append(f"{head}: too noisy to tell — {why}; {at}.")
            trend_shown = "unclear"
        else:
            trend_shown = trend
            verdicts.append(
                {
                    "flat": f"{head}: barely changes with size — {at}.",
                    "grows": f"{head}: grows with size, {fit.slope:.1f} ms per megapixel — {at}.",
                    "shrinks": f"{head}: falls as images grow, {fit.slope:.1f} ms per megapixel "
                    f"— {at}.",
                    "unclear": f"{head}: too noisy to tell — {at}.",
                }[trend]
            )
        flagged += [
            f"{backend}: {_point_name(view, pts[k])}, the line gives {fmt_ms(fit.at(pts[k].mp))} ms"
            for k in wild
        ]
        sources.add(source)
        for mp, y, key in per_size:
            rows.append((backend, size_name(view, key), f"{mp:.3f}", fmt_ms(y), source))
        series.append(
            Series(
                f"{backend} ({fmt.upper()})",
                tuple((p[0], p[1]) for p in per_size),
                (fit.intercept, fit.slope),
            )
        )
        numbers[backend] = {
            "format": fmt,
            "estimator": "theil-sen",
            "points": len(pts),
            "slope_ms_per_mpx": fit.slope,
            "low": fit.low,
            "high": fit.high,
            "change": change,
            "trend": trend_shown,
            "trend_of_fit": trend,
            "source": source,
            "decided_by": None
            if decider is None
            else {"image": pts[decider].image, "variant": pts[decider].key, "ms": pts[decider].ms},
            "fragile_points": len(deciders),
            "outliers": [
                {"image": pts[k].image, "variant": pts[k].key, "ms": pts[k].ms} for k in wild
            ],
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
            "(more --repeats, images or sizes help). " + verdict
        )
    details = [
        "A robust line of time against megapixels over every image and size: the Theil–Sen "
        "slope (the median of the slopes between every two points), each point being one "
        "image at one size — its median latency, or its mean server or model time (the "
        "server's counters give means over a block of requests). Its 95 % interval is Sen's, "
        "from the ranks of those slopes. “Barely changes”: the interval of the fitted change "
        f"from the smallest to the largest size lies within ±{FLAT_CHANGE:.0%}; “too noisy to "
        "tell”: it includes zero but not only small changes, or leaving out one point would "
        "change the verdict (more --repeats, images or sizes help). Model run time and server "
        "time come from the server's metrics (decoding happens inside the model run)."
    ]
    if flagged:
        details.append(
            "Far from the line (modified z-score above 3.5; kept, the robust line is not dragged "
            "by them): " + "; ".join(flagged) + "."
        )
    if "client latency (p50)" in sources:
        details.append(
            "No server-time data for some backends: their time is the client's latency, "
            "which includes sending the larger files and decoding them."
        )
    table = Table(
        ("backend", "variant", "megapixels", "ms (median over images)", "time"), tuple(rows)
    )
    what = sources.pop() if len(sources) == 1 else "time"
    chart = LineChart(f"{what} against image size", "megapixels", "ms", tuple(series))
    return Finding(
        "size_time", title, SIZE_Q, decided, verdict, tuple(details), (table,), (chart,), numbers
    )


def _without(points: list[Point], k: int) -> tuple[list[float], list[float]]:
    rest = points[:k] + points[k + 1 :]
    return [p.mp for p in rest], [p.ms for p in rest]
