"""What a sweep reports while it runs (to a window, a terminal or an agent's output)."""

from __future__ import annotations

from dataclasses import dataclass

from tfcompare.load.capacity_results import LevelResult, WindowSummary


@dataclass(frozen=True)
class WindowDone:
    """A measurement window closed (the only thing a user interface receives per window)."""

    window: WindowSummary


@dataclass(frozen=True)
class LevelDone:
    level: LevelResult


@dataclass(frozen=True)
class SweepMessage:
    text: str


LoadEvent = WindowDone | LevelDone | SweepMessage
