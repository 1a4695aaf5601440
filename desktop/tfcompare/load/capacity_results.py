"""What a capacity sweep produces: window summaries, level results, knees and equivalents.

Everything is plain data with ``to_dict``/``from_dict``. Latency distributions travel as encoded
HdrHistograms, so windows from several load agents (or several windows of one level) merge exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tfcompare.checks import short_text, shown, whole_number
from tfcompare.load import sweep_limits as lim
from tfcompare.load.histogram import MAX_COUNT, LatencyHistogram
from tfcompare.load.load_plan import MAX_TIMEOUT_S, MAX_WINDOWS, LoadPlan

# A level is "client-bound" when the load generator itself was the limit.
LOOP_BUSY_LIMIT = 0.90  # the event loop thread was busy this fraction of the window or more
IN_FLIGHT_SHORTFALL = 0.90  # closed loop: fewer than this fraction of the requested in flight
LATE_LIMIT = 0.05  # open loop: more than this fraction of sends left later than scheduled
# below this many answers a level's p99 is, in effect, its slowest answer (one in a hundred)
FIRM_P99_ANSWERS = 100


@dataclass
class WindowSummary:
    """One measurement window of one level: counts, errors by code and a latency histogram.

    ``scheduled`` (open loop) is how many arrivals the Poisson schedule held for the window;
    ``late`` how many of those left more than 5 ms after their time, ``dropped`` how many were not
    sent because the in-flight cap was reached (the backend fell behind). ``loop_busy`` is the
    fraction of the window the load generator's event loop thread was on the CPU, ``cpu`` the whole
    process's CPU time per wall second (1.0 = one core) out of ``cores`` it may use.
    """

    backend: str
    variant: str
    level: float
    index: int
    start: float  # time.time()
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0
    late: int = 0
    dropped: int = 0
    in_flight_mean: float = 0.0
    loop_busy: float = 0.0
    cpu: float = 0.0
    cores: int = 0  # CPUs the load process may use (0: unknown)
    hist: LatencyHistogram = field(default_factory=LatencyHistogram, repr=False)
    agents: int = 1

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Successful answers per second."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def send_rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def p99_ms(self) -> float | None:
        return self.hist.percentile_ms(99)

    @property
    def cpu_share(self) -> float:
        """The load process's CPU use as a share of the cores it may use (0 when unknown)."""
        return self.cpu / self.cores if self.cores else 0.0

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "variant": self.variant,
            "level": self.level,
            "index": self.index,
            "start": self.start,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "scheduled": self.scheduled,
            "late": self.late,
            "dropped": self.dropped,
            "in_flight_mean": self.in_flight_mean,
            "loop_busy": self.loop_busy,
            "cpu": self.cpu,
            "cores": self.cores,
            "agents": self.agents,
            "throughput": self.throughput,
            "p99_ms": self.p99_ms,
            "hist": self.hist.encode(),
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "window") -> WindowSummary:
        """Read back ``to_dict()``'s form (session files, agents' logs: untrusted); every number
        is checked (ValueError naming the field, SweepTooLarge)."""
        if not isinstance(d, dict):
            raise ValueError(f"{where} is not an object")
        errors = d.get("errors") or {}
        if not isinstance(errors, dict):
            raise ValueError(f"{where}.errors must be an object")
        if len(errors) > lim.MAX_ERROR_CODES:
            raise lim.SweepTooLarge(
                f"{where} has {len(errors):,} error codes; at most {lim.MAX_ERROR_CODES}"
            )
        try:
            hist = LatencyHistogram.decode(d.get("hist") or "")
        except ValueError as exc:
            raise ValueError(f"{where}.hist: {exc}") from None
        return cls(
            backend=lim.name(d, "backend", where),
            variant=lim.name(d, "variant", where),
            level=lim.level(d, where),
            index=whole_number(lim.required(d, "index", where), f"{where}.index", 0, MAX_WINDOWS),
            start=lim.epoch(d, "start", where, None),
            duration_s=lim.seconds(d, "duration_s", where, None),
            sent=lim.count(d, "sent", where),
            ok=lim.count(d, "ok", where),
            errors={
                short_text(k, f"{where}.errors key", lim.MAX_NAME_CHARS): whole_number(
                    v, f"{where}.errors[{shown(k)}]", 0, MAX_COUNT
                )
                for k, v in errors.items()
            },
            scheduled=lim.count(d, "scheduled", where),
            late=lim.count(d, "late", where),
            dropped=lim.count(d, "dropped", where),
            in_flight_mean=lim.real(d, "in_flight_mean", where, 0, MAX_COUNT),
            loop_busy=lim.real(d, "loop_busy", where, 0, 1),
            cpu=lim.real(d, "cpu", where, 0, lim.MAX_CORES),
            cores=whole_number(d.get("cores", 0), f"{where}.cores", 0, lim.MAX_CORES),
            hist=hist,
            agents=whole_number(d.get("agents", 1), f"{where}.agents", 1, lim.MAX_AGENTS),
        )

    @classmethod
    def merge(cls, parts: Sequence[WindowSummary]) -> WindowSummary:
        """The same window as measured by several agents at once: counts add, histograms merge,
        in-flight adds up, and the busiest agent's loop/CPU figures are kept (one saturated agent
        makes the merged window client-bound)."""
        if not parts:
            raise ValueError("nothing to merge")
        first = parts[0]
        errors: Counter[str] = Counter()
        for p in parts:
            errors.update(p.errors)
        return cls(
            backend=first.backend,
            variant=first.variant,
            level=first.level,
            index=first.index,
            start=min(p.start for p in parts),
            duration_s=max(p.duration_s for p in parts),
            sent=sum(p.sent for p in parts),
            ok=sum(p.ok for p in parts),
            errors=dict(errors),
            scheduled=sum(p.scheduled for p in parts),
            late=sum(p.late for p in parts),
            dropped=sum(p.dropped for p in parts),
            in_flight_mean=sum(p.in_flight_mean for p in parts),
            loop_busy=max(p.loop_busy for p in parts),
            cpu=max(p.cpu for p in parts),
            cores=max(p.cores for p in parts),
            hist=LatencyHistogram.merged(p.hist for p in parts).compact(),
            agents=sum(p.agents for p in parts),
        )


def stable(windows: Sequence[WindowSummary], n: int, tolerance: float) -> bool:
    """perf_analyzer's rule: the last ``n`` windows each lie within ±tolerance of their mean, on
    throughput and on p99 latency."""
    if len(windows) < n:
        return False
    last = windows[-n:]
    for measured in ([w.throughput for w in last], [w.p99_ms for w in last]):
        values = [v for v in measured if v is not None]
        if len(values) < len(measured):
            return False
        mean = sum(values) / n
        if mean <= 0 or any(abs(v - mean) > tolerance * mean for v in values):
            return False
    return True


@dataclass
class LevelResult:
    """One backend × variant at one load level, summarised over its last windows."""

    backend: str
    variant: str
    mode: str
    level: float
    windows: list[WindowSummary]
    stable: bool
    counted: int  # how many of the last windows the figures below cover
    stop_reason: str | None = None  # why the sweep of this backend × variant ended here
    server_ms: float | None = None  # mean server time per request from the server's metrics
    server_note: str | None = None
    # the merged histogram of the counted windows, compact, with what it was merged from
    _merged: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def _counted(self) -> list[WindowSummary]:
        return self.windows[-self.counted :] if self.counted else []

    @property
    def hist(self) -> LatencyHistogram:
        """The counted windows' histograms merged (kept in compact form: a level's figures are
        asked for many times, and a sweep may hold thousands of levels)."""
        counted = self._counted()
        parts = [w.hist for w in counted]
        cached = self._merged
        if (
            cached is None
            or len(cached[0]) != len(parts)
            or any(a is not b for a, b in zip(cached[0], parts))
        ):
            cached = self._merged = (parts, LatencyHistogram.merged(parts).compact())
        return cached[1]

    @property
    def duration_s(self) -> float:
        return sum(w.duration_s for w in self._counted())

    @property
    def ok(self) -> int:
        return sum(w.ok for w in self._counted())

    @property
    def sent(self) -> int:
        return sum(w.sent for w in self._counted())

    @property
    def errors(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for w in self.windows:
            total.update(w.errors)
        return dict(total)

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        d = self.duration_s
        return self.ok / d if d > 0 else 0.0

    @property
    def achieved(self) -> float:
        """Concurrency: mean requests in flight; rate: requests sent per second."""
        counted = self._counted()
        if not counted:
            return 0.0
        if self.mode == "concurrency":
            return sum(w.in_flight_mean for w in counted) / len(counted)
        d = self.duration_s
        return self.sent / d if d > 0 else 0.0

    @property
    def late(self) -> int:
        return sum(w.late for w in self._counted())

    @property
    def dropped(self) -> int:
        return sum(w.dropped for w in self._counted())

    @property
    def loop_busy(self) -> float:
        return max((w.loop_busy for w in self._counted()), default=0.0)

    @property
    def cpu(self) -> float:
        return max((w.cpu for w in self._counted()), default=0.0)

    def percentile_ms(self, pct: float) -> float | None:
        return self.hist.percentile_ms(pct)

    @property
    def client_bound_reason(self) -> str | None:
        """Why these numbers describe the load generator rather than the backend, if they do."""
        counted = self._counted()
        if not counted:
            return None
        if self.loop_busy >= LOOP_BUSY_LIMIT:
            return f"the load generator's event loop was busy {self.loop_busy:.0%} of the time"
        busiest = max(counted, key=lambda w: w.cpu_share)
        if busiest.cpu_share >= LOOP_BUSY_LIMIT:
            return f"the load generator used {busiest.cpu:.1f} of its {busiest.cores} CPU cores"
        if self.mode == "concurrency" and self.achieved < IN_FLIGHT_SHORTFALL * self.level:
            return (
                f"only {self.achieved:.1f} of {self.level:g} requests were kept in flight "
                "(the client could not keep up)"
            )
        sched = sum(w.scheduled for w in counted)
        if self.mode == "rate" and sched and self.late > LATE_LIMIT * sched:
            return (
                f"{self.late} of {sched} requests left more than 5 ms late "
                "(the client could not keep the schedule)"
            )
        return None

    @property
    def client_bound(self) -> bool:
        return self.client_bound_reason is not None

    def to_dict(self, *, windows: bool = True) -> dict:
        errors = self.errors
        d = {
            "backend": self.backend,
            "variant": self.variant,
            "mode": self.mode,
            "level": self.level,
            "achieved": self.achieved,
            "throughput": self.throughput,
            "p50_ms": self.percentile_ms(50),
            "p90_ms": self.percentile_ms(90),
            "p99_ms": self.percentile_ms(99),
            "max_ms": self.hist.max_ms(),
            "mean_ms": self.hist.mean_ms(),
            "ok": self.ok,
            "sent": self.sent,
            "errors": errors,
            "n_errors": sum(errors.values()),
            "late": self.late,
            "dropped": self.dropped,
            "stable": self.stable,
            "client_bound": self.client_bound,
            "client_bound_reason": self.client_bound_reason,
            "loop_busy": self.loop_busy,
            "client_cpu": self.cpu,
            "server_ms": self.server_ms,
            "server_note": self.server_note,
            "stop_reason": self.stop_reason,
            "n_windows": len(self.windows),
            "counted_windows": self.counted,
            "hist": self.hist.encode(),
        }
        if windows:
            d["windows"] = [w.to_dict() for w in self.windows]
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "level") -> LevelResult:
        """Read back ``to_dict()``'s form (untrusted; see ``WindowSummary.from_dict``)."""
        if not isinstance(d, dict):
            raise ValueError(f"{where} is not an object")
        raw_windows = lim.at_most(d.get("windows", []), MAX_WINDOWS, f"windows in {where}")
        windows = [
            WindowSummary.from_dict(w, f"{where}.windows[{i}]") for i, w in enumerate(raw_windows)
        ]
        mode = lim.required(d, "mode", where)
        if mode not in ("concurrency", "rate"):
            raise ValueError(f"{where}.mode must be 'concurrency' or 'rate', not {shown(mode)}")
        return cls(
            backend=lim.name(d, "backend", where),
            variant=lim.name(d, "variant", where),
            mode=mode,
            level=lim.level(d, where),
            windows=windows,
            stable=lim.boolean(d, "stable", where, None),
            counted=whole_number(
                d.get("counted_windows", 0), f"{where}.counted_windows", 0, len(windows)
            ),
            stop_reason=lim.note(d.get("stop_reason"), f"{where}.stop_reason"),
            server_ms=lim.optional_real(d, "server_ms", where, 0, MAX_TIMEOUT_S * 1000),
            server_note=lim.note(d.get("server_note"), f"{where}.server_note"),
        )

    @property
    def usable(self) -> bool:
        """May count as the backend's capacity: stable, not client-bound, with answers."""
        return self.stable and not self.client_bound and self.ok > 0


def summarise(
    windows: list[WindowSummary],
    mode: str,
    n: int,
    tolerance: float,
    stop_reason: str | None = None,
) -> LevelResult:
    """The level's result from its windows: figures over the last ``n`` windows (all of them when
    fewer), stable per :func:`stable`."""
    first = windows[0] if windows else None
    return LevelResult(
        backend=first.backend if first else "",
        variant=first.variant if first else "",
        mode=mode,
        level=first.level if first else 0.0,
        windows=list(windows),
        stable=stable(windows, n, tolerance),
        counted=min(n, len(windows)),
        stop_reason=stop_reason,
    )


def _within(lv: LevelResult, limit_ms: float | None) -> bool:
    p99 = lv.percentile_ms(99)
    return p99 is not None and (limit_ms is None or p99 <= limit_ms)


def counted_levels(levels: Iterable[LevelResult], limit_ms: float | None) -> list[LevelResult]:
    """The levels that count as capacity: stable, not client-bound, with answers, p99 within the
    limit (any p99 without one); lowest load first."""
    return sorted(
        (lv for lv in levels if lv.usable and _within(lv, limit_ms)), key=lambda lv: lv.level
    )


def sustained_level(levels: Iterable[LevelResult], limit_ms: float | None) -> LevelResult | None:
    """The highest stable, not client-bound throughput whose p99 is within the limit (any p99
    when there is no limit): "sustained req/s at p99 ≤ limit"."""
    best = None
    for lv in counted_levels(levels, limit_ms):
        if best is None or lv.throughput > best.throughput:
            best = lv
    return best


def knee(
    levels: Iterable[LevelResult], limit_ms: float | None, tolerance: float = 0.10
) -> LevelResult | None:
    """Where added load stops buying throughput: the last counted level (stable, not
    client-bound, p99 within the limit) whose throughput exceeds that of every lower counted level
    by more than ``tolerance`` (the sweep's stability: a smaller gain is within what a stable
    level may vary). The first counted level is the knee when no later one gains that much."""
    found = None
    best = 0.0
    for lv in counted_levels(levels, limit_ms):
        if found is None or lv.throughput > best * (1 + tolerance):
            found = lv
        best = max(best, lv.throughput)
    return found


@dataclass
class CapacityResult:
    """A whole sweep: the plan, the backends and variants, every level measured."""

    plan: dict
    backends: list[dict]  # BackendSpec.to_dict(): never headers or credentials
    variants: dict[str, dict]  # key → {"label":…, "bytes":…}
    levels: list[LevelResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    cancelled: bool = False

    @property
    def limit_ms(self) -> float | None:
        return self.plan.get("latency_limit_ms")

    @property
    def stability(self) -> float:
        """How far a stable level's windows may differ (a fraction, 0.10 = ±10 %): sustained rates
        closer than this are not a measured difference."""
        value = self.plan.get("stability")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            return LoadPlan.stability
        return float(value)

    def pairs(self) -> list[tuple[str, str]]:
        """(backend, variant) in the order they were measured."""
        return list(dict.fromkeys((lv.backend, lv.variant) for lv in self.levels))

    def curve(self, backend: str, variant: str) -> list[LevelResult]:
        return [lv for lv in self.levels if lv.backend == backend and lv.variant == variant]

    def knee(self, backend: str, variant: str) -> LevelResult | None:
        """Where more load stops buying throughput (see :func:`knee`)."""
        return knee(self.curve(backend, variant), self.limit_ms, self.stability)

    def sustained_level(self, backend: str, variant: str) -> LevelResult | None:
        """The highest stable throughput within the limit (see :func:`sustained_level`)."""
        return sustained_level(self.curve(backend, variant), self.limit_ms)

    def sustained(self) -> dict[tuple[str, str], float | None]:
        """Sustained req/s at p99 ≤ limit per (backend, variant): the highest stable, not
        client-bound throughput within the limit. Equivalents, ``compare`` and the gate's
        ``knee:`` rule use this figure."""
        out = {}
        for b, v in self.pairs():
            k = self.sustained_level(b, v)
            out[(b, v)] = k.throughput if k else None
        return out

    def unsettled(self, backend: str, variant: str) -> list[LevelResult]:
        """Levels that did not count (unstable or client-bound) although their p99 was within
        the limit and their throughput beyond the sustained figure by more than the stability
        tolerance: the backend may sustain more than the sweep could show, so its figure is
        only a lower bound."""
        best = self.sustained_level(backend, variant)
        floor = best.throughput if best else 0.0
        return [
            lv
            for lv in self.curve(backend, variant)
            if not lv.usable
            and lv.ok > 0
            and _within(lv, self.limit_ms)
            and lv.throughput > floor * (1 + self.stability)
        ]

    def lower_bound_note(self, backend: str, variant: str) -> str | None:
        """Why a backend's sustained figure is only a lower bound, or None when it is not."""
        higher = self.unsettled(backend, variant)
        if not higher:
            return None
        top = max(higher, key=lambda lv: lv.throughput)
        which = ", ".join(self.level_label(lv.level) for lv in higher)
        kind = (
            "client-bound"
            if all(lv.stable and lv.client_bound for lv in higher)
            else "never became stable"
        )
        return f"{which} {kind} (up to {top.throughput:.1f} req/s at {self.level_label(top.level)})"

    def level_label(self, level: float) -> str:
        return f"{level:g}/s" if self.plan.get("mode") == "rate" else f"c={level:g}"

    def equivalents(self) -> list[tuple[str, str, str, float]]:
        """(variant, reference backend, other backend, how many of the other match one reference)
        per variant, the first backend being the reference; from the sustained figures, and only
        where neither is a lower bound (see :meth:`unsettled`)."""
        return [
            (v, ref, other, n)
            for v, ref, other, n, why in self._pairs_compared()
            if not why and n is not None
        ]

    def _pairs_compared(self) -> list[tuple[str, str, str, float | None, str]]:
        """Every (variant, reference, other) with both sustained figures: the ratio, or why there
        is none."""
        sustained = self.sustained()
        out: list[tuple[str, str, str, float | None, str]] = []
        for variant in dict.fromkeys(v for _, v in sustained):
            backends = [b for b, v in sustained if v == variant]
            if len(backends) < 2:
                continue
            ref = backends[0]
            ref_rate = sustained.get((ref, variant))
            for other in backends[1:]:
                rate = sustained.get((other, variant))
                if not (ref_rate and rate):
                    continue
                why = "; ".join(
                    f"{name}'s sustained figure is only a lower bound: {note}"
                    for name in (ref, other)
                    for note in [self.lower_bound_note(name, variant)]
                    if note
                )
                out.append((variant, ref, other, None if why else ref_rate / rate, why))
        return out

    def thin_p99_note(self) -> str | None:
        """Which levels' p99 rests on fewer than FIRM_P99_ANSWERS answers (a slow backend at a
        low rate, short windows), said once for the whole sweep."""
        thin = [lv for lv in self.levels if 0 < lv.ok < FIRM_P99_ANSWERS]
        if not thin:
            return None
        rate = self.plan.get("mode") == "rate"
        named = [
            f"{lv.backend} {lv.variant} at {f'{lv.level:g}/s' if rate else f'c={lv.level:g}'} "
            f"({lv.ok})"
            for lv in thin[:6]
        ]
        more = f" and {len(thin) - 6} more" if len(thin) > 6 else ""
        return (
            f"p99 from fewer than {FIRM_P99_ANSWERS} answers, in effect the slowest one "
            f"(a longer measurement window gives a firmer p99): {', '.join(named)}{more}"
        )

    def notes(self) -> list[str]:
        """Everything to say under the sweep's figures: its messages, then the thin-p99 note."""
        thin = self.thin_p99_note()
        return [*self.messages, *([thin] if thin else [])]

    def equivalent_lines(self) -> list[str]:
        """The equivalents as text: "512-jpeg: 1 × gpu ≈ 7.80 × cpu" (numbers, not "one gpu", so
        that a backend named "one" or "two" still reads right); where a figure is only a lower
        bound, why no ratio is given."""
        return [
            f"{variant}: 1 × {ref} ≈ {n:.2f} × {other}"
            if n is not None
            else f"{variant}: {ref} vs {other}: no ratio — {why}"
            for variant, ref, other, n, why in self._pairs_compared()
        ]

    def to_dict(self) -> dict:
        return {
            "kind": "tfcompare-capacity",
            "plan": self.plan,
            "backends": self.backends,
            "variants": self.variants,
            "levels": [lv.to_dict() for lv in self.levels],
            "knees": [
                {
                    "backend": b,
                    "variant": v,
                    "level": k.level if k else None,
                    "throughput": k.throughput if k else None,
                    "p99_ms": k.percentile_ms(99) if k else None,
                    "sustained_level": s.level if s else None,
                    "sustained": s.throughput if s else None,
                    "sustained_p99_ms": s.percentile_ms(99) if s else None,
                    "lower_bound": self.lower_bound_note(b, v),
                }
                for (b, v) in self.pairs()
                for k, s in [(self.knee(b, v), self.sustained_level(b, v))]
            ],
            "equivalents": [
                {"variant": v, "reference": a, "backend": b, "count": n, "no_ratio": why or None}
                for v, a, b, n, why in self._pairs_compared()
            ],
            "messages": list(self.messages),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "cancelled": self.cancelled,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CapacityResult:
        """Read back ``to_dict()``'s form (from a session file or JSON: untrusted); raises
        SweepTooLarge for more than tfcompare reads (see ``tfcompare.load.sweep_limits``), and
        ValueError, TypeError or KeyError for anything tfcompare would not have written."""
        if not isinstance(d, dict):
            raise TypeError("the sweep is not an object")
        backends = lim.at_most(d.get("backends") or [], lim.MAX_SWEEP_BACKENDS, "backends")
        if not all(isinstance(b, dict) and isinstance(b.get("name"), str) for b in backends):
            raise TypeError("a backend is not an object with a name")
        variants = d.get("variants") or {}
        if not isinstance(variants, dict):
            raise TypeError("the variants are not an object")
        if len(variants) > lim.MAX_SWEEP_VARIANTS:
            raise lim.SweepTooLarge(
                f"{len(variants):,} variants; tfcompare reads at most {lim.MAX_SWEEP_VARIANTS}"
            )
        variants = {str(k): _checked_variant(k, v) for k, v in variants.items()}
        messages = lim.at_most(d.get("messages") or [], lim.MAX_MESSAGES, "messages")
        messages = [lim.note(m, "a message") for m in messages]
        if any(m is None for m in messages):
            raise TypeError("a message is not text")
        raw_levels = lim.at_most(d.get("levels") or [], lim.MAX_SWEEP_LEVELS, "levels")
        # count before reading: a sweep of too many windows is refused before any is built
        n_windows = sum(len(x["windows"]) for x in raw_levels if _holds_window_list(x))
        if n_windows > lim.MAX_SWEEP_WINDOWS:
            raise lim.SweepTooLarge(
                f"{n_windows:,} windows; tfcompare reads at most {lim.MAX_SWEEP_WINDOWS:,} "
                "in one sweep"
            )
        levels = [LevelResult.from_dict(x, f"levels[{i}]") for i, x in enumerate(raw_levels)]
        return cls(
            plan=_checked_plan(d.get("plan") or {}),
            backends=backends,
            variants=variants,
            levels=levels,
            messages=messages,
            started_at=lim.epoch(d, "started_at", ""),
            finished_at=lim.epoch(d, "finished_at", ""),
            cancelled=lim.boolean(d, "cancelled", ""),
        )


def _holds_window_list(level: object) -> bool:
    return isinstance(level, dict) and isinstance(level.get("windows"), list)


def _checked_variant(key: object, value: object) -> dict:
    """A variant's description: its label, and the bytes and images it was measured with."""
    what = f"variants[{shown(key)}]"
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object")
    lim.short_text_of(value, "label", what)
    for field_name in ("bytes", "images"):
        lim.optional_real(value, field_name, what, 0, MAX_COUNT)
    return dict(value)


def _checked_plan(raw: dict) -> dict:
    """A stored plan with the values a LoadPlan can have (else ValueError/TypeError), plus where
    an in-cluster sweep ran."""
    if not isinstance(raw, dict):
        raise TypeError("the plan is not an object")
    plan = LoadPlan.from_dict(raw).to_dict()
    where = raw.get("in_cluster")
    if where is not None:
        if not isinstance(where, dict):
            raise TypeError("the in-cluster note is not an object")
        plan["in_cluster"] = {
            "agents": whole_number(
                where.get("agents", 0), "plan.in_cluster.agents", 0, lim.MAX_AGENTS
            ),
            "namespace": lim.short_text_of(where, "namespace", "plan.in_cluster") or "",
            "job": lim.short_text_of(where, "job", "plan.in_cluster") or "",
        }
    return plan
