"""In-cluster load agents: each agent's share of a level, the start barrier and the fixed slots.

Every agent of a Job reads the same plan. Agent ``i`` of ``N`` (the Job's completion index) sends
its share of each level: concurrency ``c`` is split into whole numbers that add up to ``c``, a rate
is divided by ``N``. The agent prints ``{"type": "ready"}`` and waits for ``start.json`` to appear in
its mounted plan: the coordinator publishes it when every agent is ready. It holds one start time
per target × level; each slot lasts ``fixed_windows`` windows (plus a gap for the warm-up), so every
agent's window ``k`` of a level covers the same wall-clock interval and windows merge exactly. An
agent that starts late (a replacement for a failed pod) joins at the next slot that has not begun.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from tfcompare.load.load_plan import LoadPlan, LoadTarget

START_FILE = "start.json"
INDEX_ENV = "JOB_COMPLETION_INDEX"
LATE_S = 0.2  # a slot that starts sooner than this is joined at the next one


def share(level: float, agents: int, index: int, mode: str) -> float:
    """Agent ``index``'s part of ``level``: parts add up to the level."""
    if mode == "rate":
        return level / agents
    base, extra = divmod(int(level), agents)
    return float(base + (1 if index < extra else 0))


def agent_plan(plan: LoadPlan, agents: int, index: int) -> LoadPlan:
    return replace(plan, levels=tuple(share(v, agents, index, plan.mode) for v in plan.levels))


def slot_length(plan: LoadPlan, gap_s: float) -> float:
    return (plan.fixed_windows or plan.max_windows) * plan.window_s + gap_s


def slot_starts(t0: float, n_targets: int, plan: LoadPlan, gap_s: float) -> list[list[float]]:
    """Start time of every target × level, one slot after another from ``t0``."""
    length, n = slot_length(plan, gap_s), len(plan.levels)
    return [[t0 + gap_s + (t * n + i) * length for i in range(n)] for t in range(n_targets)]


def run_in_slots(
    folder: Path,
    barrier: dict,
    plan: LoadPlan,
    targets: Sequence[LoadTarget],
    out: TextIO,
    cancel: threading.Event | None = None,
) -> int:
    """The agent side: ready, wait for the start, then each target's levels in their slots."""
    from tfcompare.load.events import SweepMessage, WindowDone
    from tfcompare.load.sweep import sweep

    cancel = cancel or threading.Event()
    agents = int(barrier["agents"])
    index = int(os.environ.get(INDEX_ENV, "0"))
    name = f"agent-{index}"
    lock = threading.Lock()

    def line(doc: dict) -> None:
        with lock:
            out.write(
                json.dumps({"agent": name, "agent_index": index, **doc}, separators=(",", ":"))
                + "\n"
            )
            out.flush()

    line({"type": "ready", "pod": os.environ.get("HOSTNAME", "")})
    starts = _wait_for_start(folder, float(barrier.get("timeout_s", 600)), cancel)
    if starts is None:
        line({"type": "done", "cancelled": True, "text": "no start time was published"})
        return 1
    mine = agent_plan(plan, agents, index)
    for t, target in enumerate(targets):
        todo = [i for i, s in enumerate(starts[t]) if s > time.time() + LATE_S]
        if cancel.is_set() or not todo:
            continue
        if len(todo) < len(starts[t]):
            line(
                {
                    "type": "message",
                    "text": f"joined late: {target.backend.name}/{target.variant} "
                    f"from level {len(starts[t]) - len(todo) + 1}",
                }
            )
        part = replace(
            mine,
            levels=tuple(mine.levels[i] for i in todo),
            start_at=tuple(starts[t][i] for i in todo),
            duration_s=None,
        )
        slot_of = {round(starts[t][i], 3): i for i in todo}

        def on_event(event, t=t, slot_of=slot_of) -> None:
            if isinstance(event, WindowDone):
                w = event.window
                begun = [s for s in slot_of if s <= w.start + 0.5]
                slot = slot_of[max(begun)] if begun else min(slot_of.values())
                line({"type": "window", "slot": [t, slot], **w.to_dict()})
            elif isinstance(event, SweepMessage):
                line({"type": "message", "text": event.text})

        sweep(part, [target], on_event=on_event, cancel=cancel)
    line({"type": "done", "cancelled": cancel.is_set()})
    return 0


def _wait_for_start(folder: Path, timeout_s: float, cancel: threading.Event) -> list | None:
    deadline = time.monotonic() + timeout_s
    path = Path(folder) / START_FILE
    while time.monotonic() < deadline and not cancel.is_set():
        try:
            return json.loads(path.read_text())["slots"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    return None
