"""Capacity mode: throughput-vs-latency sweeps of TF Serving backends from one Python process.

Layers: ``plan`` (what to measure) → ``prepare`` (requests serialised before any timing) →
``engine`` (one level, in windows, closed or open loop) → ``sweep`` (levels × backends × variants,
stability and early stops) → ``results`` (mergeable windows, levels, knees, equivalents) →
``export``/``report``. ``agent`` runs a plan directory headless for in-cluster load agents.
Nothing here imports Qt or the TensorFlow runtime.
"""

from __future__ import annotations

from tfcompare.load.capacity_results import CapacityResult, LevelResult, WindowSummary
from tfcompare.load.histogram import LatencyHistogram
from tfcompare.load.load_plan import LoadPlan, LoadTarget

__all__ = [
    "CapacityResult",
    "LatencyHistogram",
    "LevelResult",
    "LoadPlan",
    "LoadTarget",
    "WindowSummary",
]
