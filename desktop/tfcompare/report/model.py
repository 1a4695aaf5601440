"""Plain data a finding hands to the page: tables and chart descriptions (drawn by ``svg``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Bar:
    series: str  # legend entry (a backend, a format…)
    value: float
    label: str = ""  # text written after the bar
    whisker: float | None = None  # e.g. p90 drawn as a tick beyond a p50 bar
    passed: bool | None = None  # against the chart's threshold, when it has one


@dataclass(frozen=True)
class BarChart:
    """Horizontal grouped bars: one group per row label (a variant, a size), one bar per series."""

    title: str
    unit: str
    groups: tuple[tuple[str, tuple[Bar, ...]], ...]
    threshold: float | None = None
    threshold_label: str = ""
    max_value: float | None = None
    whisker_label: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]
    fit: tuple[float, float] | None = None  # (intercept, slope) drawn as a dashed line


@dataclass(frozen=True)
class LineChart:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Finding:
    key: str  # resizing | format | size_time | backends
    title: str
    question: str
    decided: bool
    verdict: str
    details: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[BarChart | LineChart, ...] = ()
    numbers: dict = field(default_factory=dict)  # the figures behind the verdict, for JSON/tests


def not_enough(key: str, title: str, question: str, why: str, **numbers) -> Finding:
    return Finding(key, title, question, False, f"Not enough data: {why}", numbers=numbers)
