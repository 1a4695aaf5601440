"""What a capacity sweep measures: the load levels and the rules that end each level.

A :class:`LoadPlan` is plain data (``to_dict``/``from_dict``) so the same plan drives the window,
``tfcompare load`` and the load agents that run inside a cluster (``tfcompare load --agent DIR``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from typing import Literal

from tfcompare.checks import number, shown, whole_number
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest

Mode = Literal["concurrency", "rate"]

DEFAULT_CONCURRENCY: tuple[float, ...] = (1, 2, 4, 8, 16, 32)
DEFAULT_VARIANTS: tuple[str, ...] = ("original", "512-jpeg")

# What a plan may ask for (docs/limits.md): far beyond any real sweep, small enough that what a
# sweep produces stays bounded (see tfcompare.load.sweep_limits).
MAX_PLAN_LEVELS = 64  # load levels in one sweep
MAX_LEVEL = 1_000_000  # requests in flight, or requests per second
MAX_WINDOWS = 100  # windows per level (max_windows, fixed_windows)
MAX_WINDOW_S = 3600.0  # one window: an hour
MAX_TIMEOUT_S = 3600.0  # one request's deadline
MAX_DURATION_S = 7 * 86400.0  # the whole sweep: a week
MAX_PLAN_COUNT = 2**40  # max_errors, max_requests
MAX_EPOCH_S = 2.0**33  # start times (time.time(); year 2242)


@dataclass(frozen=True)
class LoadPlan:
    """Closed loop (``mode="concurrency"``: N requests in flight per backend) or open loop
    (``mode="rate"``: Poisson arrivals at N requests/s) at each of ``levels``, in order.

    A level is measured in windows of ``window_s`` until the last ``stable_windows`` windows agree
    within ``stability`` (fraction) on throughput and p99, or ``max_windows`` have passed (then it is
    reported unstable). A backend × variant's sweep stops after a level whose p99 exceeds
    ``latency_limit_ms`` or whose errors exceed ``max_errors``. ``duration_s`` bounds the whole
    sweep and ``max_requests`` each level.

    ``start_at``/``fixed_windows`` are for load agents: level i starts at wall-clock time
    ``start_at[i]`` (``time.time()``) and runs exactly ``fixed_windows`` windows, so that windows of
    several agents line up and can be merged; stability is then judged by whoever merges them.
    """

    mode: Mode = "concurrency"
    levels: tuple[float, ...] = DEFAULT_CONCURRENCY
    window_s: float = 5.0
    stability: float = 0.10
    stable_windows: int = 3
    max_windows: int = 10
    latency_limit_ms: float | None = None
    max_errors: int = 100
    duration_s: float | None = None
    max_requests: int | None = None
    timeout_s: float = 30.0
    start_at: tuple[float, ...] | None = None
    fixed_windows: int | None = None
    seed: int | None = None  # open loop: Poisson arrival seed (None: random)

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("concurrency", "rate"):
            problems.append(f"mode must be 'concurrency' or 'rate', not {shown(self.mode)}")
        if not self.levels:
            problems.append("at least one load level is needed")
        if len(self.levels) > MAX_PLAN_LEVELS:
            problems.append(f"at most {MAX_PLAN_LEVELS} load levels, not {len(self.levels)}")
        if not all(_finite(v) for v in self.levels):
            problems.append("load levels must be finite numbers")
        elif any(v <= 0 for v in self.levels):
            problems.append("load levels must be positive")
        elif any(v > MAX_LEVEL for v in self.levels):
            problems.append(f"load levels must be at most {MAX_LEVEL:,}")
        elif self.mode == "concurrency" and any(int(v) != v for v in self.levels):
            problems.append("concurrency levels must be whole numbers")
        if not _finite(self.window_s) or not 0 < self.window_s <= MAX_WINDOW_S:
            problems.append(f"the window must be longer than 0 s and at most {MAX_WINDOW_S:g} s")
        if not _finite(self.stability) or not 0 < self.stability < 1:
            problems.append("stability must be between 0 and 1 (0.10 = ±10 %)")
        if self.stable_windows < 1 or self.max_windows < self.stable_windows:
            problems.append("max windows must be at least the number of windows that must agree")
        if self.max_windows > MAX_WINDOWS:
            problems.append(f"max windows must be at most {MAX_WINDOWS}")
        if self.latency_limit_ms is not None and (
            not _finite(self.latency_limit_ms) or self.latency_limit_ms <= 0
        ):
            problems.append("the latency limit must be a positive number")
        if not 0 <= self.max_errors <= MAX_PLAN_COUNT:
            problems.append(f"max errors must be from 0 to {MAX_PLAN_COUNT:,}")
        if self.duration_s is not None and (
            not _finite(self.duration_s) or not 0 < self.duration_s <= MAX_DURATION_S
        ):
            problems.append(f"the duration must be positive and at most {MAX_DURATION_S:g} s")
        if self.max_requests is not None and not 1 <= self.max_requests <= MAX_PLAN_COUNT:
            problems.append(f"max requests must be from 1 to {MAX_PLAN_COUNT:,}")
        if not _finite(self.timeout_s) or not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            problems.append(f"the request timeout must be positive and at most {MAX_TIMEOUT_S:g} s")
        if self.start_at is not None and len(self.start_at) != len(self.levels):
            problems.append("start_at needs one start time per level")
        if self.start_at is not None and not all(
            _finite(t) and 0 <= t <= MAX_EPOCH_S for t in self.start_at
        ):
            problems.append("start_at must be times (seconds since 1970)")
        if self.fixed_windows is not None and not 1 <= self.fixed_windows <= MAX_WINDOWS:
            problems.append(f"fixed_windows must be from 1 to {MAX_WINDOWS}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def unit(self) -> str:
        return "in flight" if self.mode == "concurrency" else "req/s"

    def level_label(self, level: float) -> str:
        value = f"{level:g}"
        return f"c={value}" if self.mode == "concurrency" else f"{value}/s"

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "levels": list(self.levels),
            "window_s": self.window_s,
            "stability": self.stability,
            "stable_windows": self.stable_windows,
            "max_windows": self.max_windows,
            "latency_limit_ms": self.latency_limit_ms,
            "max_errors": self.max_errors,
            "duration_s": self.duration_s,
            "max_requests": self.max_requests,
            "timeout_s": self.timeout_s,
            "start_at": list(self.start_at) if self.start_at is not None else None,
            "fixed_windows": self.fixed_windows,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LoadPlan:
        """A plan from its stored form (session files, agents' plan files: untrusted); every
        value must have its field's type and range, else ValueError naming the field."""
        if not isinstance(d, dict):
            raise ValueError(f"the plan must be an object, not {shown(d)}")
        base = cls()
        known = {k: d[k] for k in base.to_dict() if k in d and d[k] is not None}
        for key, value in known.items():
            known[key] = _PLAN_FIELDS[key](value, f"plan.{key}")
        return replace(base, **known)


def _finite(value: object) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _numbers(limit: int, lo: float, hi: float):
    def read(value: object, what: str) -> tuple[float, ...]:
        if not isinstance(value, list):
            raise ValueError(f"{what} must be a list of numbers, not {shown(value)}")
        if len(value) > limit:
            raise ValueError(f"{what} holds {len(value):,} values; at most {limit}")
        return tuple(number(v, f"{what}[{i}]", lo, hi) for i, v in enumerate(value))

    return read


def _mode(value: object, what: str) -> Mode:
    if value == "concurrency" or value == "rate":
        return value
    raise ValueError(f"{what} must be 'concurrency' or 'rate', not {shown(value)}")


def _real(lo: float, hi: float):
    return lambda value, what: number(value, what, lo, hi)


def _whole(lo: int, hi: int):
    return lambda value, what: whole_number(value, what, lo, hi)


# how each stored field is read (the range checks of __post_init__ then apply)
_PLAN_FIELDS = {
    "mode": _mode,
    "levels": _numbers(MAX_PLAN_LEVELS, 0, MAX_LEVEL),
    "window_s": _real(0, MAX_WINDOW_S),
    "stability": _real(0, 1),
    "stable_windows": _whole(1, MAX_WINDOWS),
    "max_windows": _whole(1, MAX_WINDOWS),
    "latency_limit_ms": _real(0, sys.float_info.max),
    "max_errors": _whole(0, MAX_PLAN_COUNT),
    "duration_s": _real(0, MAX_DURATION_S),
    "max_requests": _whole(1, MAX_PLAN_COUNT),
    "timeout_s": _real(0, MAX_TIMEOUT_S),
    "start_at": _numbers(MAX_PLAN_LEVELS, 0, MAX_EPOCH_S),
    "fixed_windows": _whole(1, MAX_WINDOWS),
    "seed": _whole(-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class LoadTarget:
    """One backend × variant to load, with its requests already serialised.

    ``payloads`` are the exact requests sent (a serialised PredictRequest / ModelInferRequest,
    or an HTTP body, with its method or URL path and headers), one per image; requests take them
    in turn.
    """

    backend: BackendSpec
    address: str
    variant: str
    variant_label: str
    payloads: tuple[PreparedRequest, ...] = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.backend.name, self.variant)

    @property
    def mean_bytes(self) -> float:
        return sum(len(p.body) for p in self.payloads) / max(len(self.payloads), 1)


# The demo's sweep (``tfcompare demo --capacity``), made for a laptop where the load generator
# shares the cores with the backend it measures (the others idle meanwhile: backends are swept one
# at a time). One variant whose requests all cost about the same: 512 px JPEGs of the sample photos
# ("original" would mix 0.1 and 20 megapixel photos, so each window's p99 would depend on which of
# them happened to be in flight).
DEMO_VARIANTS: tuple[str, ...] = ("512-jpeg",)


def demo_plan(cores: int | None = None) -> LoadPlan:
    """The demo's levels and windows for a machine with ``cores`` CPUs (default: this one's).

    Levels double from 1 up to twice the cores (at least 1, 2, 4): every backend is saturated by
    the last ones, so each curve shows where more load stops buying throughput. Windows of 4 s hold
    ~200-300 answers at the demo model's rate on a laptop, so a window's p99 is not just its slowest
    answer and three windows can agree within ±10 %; up to 5 windows give a level time to settle.
    """
    import os

    cores = max(1, cores or os.cpu_count() or 1)
    levels = [1.0, 2.0, 4.0]
    while levels[-1] < 2 * cores:
        levels.append(levels[-1] * 2)
    return LoadPlan(levels=tuple(levels), window_s=4.0, max_windows=5, latency_limit_ms=500.0)
