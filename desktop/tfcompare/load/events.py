"""What a sweep reports while it runs (to a window, a terminal or an agent's output)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tfcompare.load.capacity_results import LevelResult, WindowSummary


class Stage(Enum):
    """Where a sweep is, before and while it measures (``tfcompare.load.pipeline.run_sweep``)."""

    PREPARING = "preparing requests…"  # images → variants → serialised requests
    CONNECTING = "reading each backend's signature…"  # port-forwards opened for k8s:// backends
    MEASURING = "measuring…"


@dataclass(frozen=True)
class SweepStage:
    stage: Stage


@dataclass(frozen=True)
class WindowDone:
    """A measurement window closed (the only thing a user interface receives per window)."""

    window: WindowSummary


@dataclass(frozen=True)
class LevelDone:
    level: LevelResult


@dataclass(frozen=True)
class TargetDone:
    """One backend × variant has been measured as far as it goes (its last level, an early stop,
    or a warm-up that failed): its figures are final."""

    backend: str
    variant: str


@dataclass(frozen=True)
class SweepMessage:
    text: str


LoadEvent = SweepStage | WindowDone | LevelDone | TargetDone | SweepMessage
