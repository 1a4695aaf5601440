"""What a capacity sweep measures: the load levels and the rules that end each level.

A :class:`LoadPlan` is plain data (``to_dict``/``from_dict``) so the same plan drives the window,
``tfcompare load`` and the load agents that run inside a cluster (``tfcompare load --agent DIR``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest

Mode = Literal["concurrency", "rate"]

DEFAULT_CONCURRENCY: tuple[float, ...] = (1, 2, 4, 8, 16, 32)
DEFAULT_VARIANTS: tuple[str, ...] = ("original", "512-jpeg")


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
            problems.append(f"mode must be 'concurrency' or 'rate', not {self.mode!r}")
        if not self.levels:
            problems.append("at least one load level is needed")
        if any(v <= 0 for v in self.levels):
            problems.append("load levels must be positive")
        if self.mode == "concurrency" and any(int(v) != v for v in self.levels):
            problems.append("concurrency levels must be whole numbers")
        if self.window_s <= 0:
            problems.append("the window must be longer than 0 s")
        if not 0 < self.stability < 1:
            problems.append("stability must be between 0 and 1 (0.10 = ±10 %)")
        if self.stable_windows < 1 or self.max_windows < self.stable_windows:
            problems.append("max windows must be at least the number of windows that must agree")
        if self.latency_limit_ms is not None and self.latency_limit_ms <= 0:
            problems.append("the latency limit must be positive")
        if self.max_errors < 0:
            problems.append("max errors must be 0 or more")
        if self.duration_s is not None and self.duration_s <= 0:
            problems.append("the duration must be positive")
        if self.max_requests is not None and self.max_requests < 1:
            problems.append("max requests must be at least 1")
        if self.timeout_s <= 0:
            problems.append("the request timeout must be positive")
        if self.start_at is not None and len(self.start_at) != len(self.levels):
            problems.append("start_at needs one start time per level")
        if self.fixed_windows is not None and self.fixed_windows < 1:
            problems.append("fixed_windows must be at least 1")
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
        base = cls()
        known = {k: d[k] for k in base.to_dict() if k in d and d[k] is not None}
        if "levels" in known:
            known["levels"] = tuple(float(v) for v in known["levels"])
        if "start_at" in known:
            known["start_at"] = tuple(float(v) for v in known["start_at"])
        return replace(base, **known)


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


# The demo's sweep (``tfcompare demo --capacity``): short windows and a latency limit so that three
# local backends are swept in about a minute and a half on a laptop.
DEMO_VARIANTS: tuple[str, ...] = ("original", "512-jpeg")
DEMO_PLAN = LoadPlan(levels=(1, 2, 4, 8), window_s=1.0, max_windows=3, latency_limit_ms=500.0)
