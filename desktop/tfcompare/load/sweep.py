"""A capacity sweep: every backend × variant through the plan's load levels, one after another.

Backends are measured one at a time (they may share the machine, and a load generator measuring two
backends at once measures neither well). A backend × variant's sweep stops early after a level whose
p99 is above the latency limit, or that ended on too many errors. Events go to ``on_event`` from the
sweep's thread: :class:`WindowDone` per window, :class:`LevelDone` per level, :class:`TargetDone`
per backend × variant measured as far as it goes, and messages.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

from tfcompare.load.capacity_results import CapacityResult, summarise
from tfcompare.load.events import LevelDone, LoadEvent, SweepMessage, TargetDone, WindowDone
from tfcompare.load.level_run import LevelRun
from tfcompare.load.load_plan import LoadPlan, LoadTarget


class ServerTimer:
    """Reads the server's own time around a level: ``before`` and ``after(answered)`` →
    (mean server ms per request or None, a note when the figure is not exact). ``unavailable``:
    why this one reads nothing (no metrics found, metrics off), said once in the sweep's notes."""

    def __init__(self, unavailable: str | None = None) -> None:
        self.unavailable = unavailable

    def before(self) -> None:
        return None

    def after(self, answered: int) -> tuple[float | None, str | None]:
        return None, None

    def close(self) -> None:
        return None


def sweep(
    plan: LoadPlan,
    targets: Sequence[LoadTarget],
    *,
    on_event: Callable[[LoadEvent], None] | None = None,
    cancel: threading.Event | None = None,
    server_time: Callable[[LoadTarget], ServerTimer | None] | None = None,
    variants: dict[str, dict] | None = None,
) -> CapacityResult:
    """Run the sweep in a fresh event loop in this thread; returns everything measured (also when
    cancelled: then ``cancelled`` is True)."""
    cancel = cancel or threading.Event()
    result = CapacityResult(
        plan=plan.to_dict(),
        backends=list({t.backend.name: t.backend.to_dict() for t in targets}.values()),
        variants=variants
        or {t.variant: {"label": t.variant_label, "bytes": t.mean_bytes} for t in targets},
        started_at=time.time(),
    )

    def emit(event: LoadEvent) -> None:
        if on_event is not None:
            on_event(event)

    def message(text: str) -> None:
        result.messages.append(text)
        emit(SweepMessage(text))

    async def main() -> None:
        deadline = time.monotonic() + plan.duration_s if plan.duration_s else None
        told: set[str] = set()
        for target in targets:
            if cancel.is_set() or (deadline and time.monotonic() >= deadline):
                break
            timer = await asyncio.to_thread(server_time, target) if server_time else None
            why = getattr(timer, "unavailable", None)
            if why and target.backend.name not in told:
                told.add(target.backend.name)
                message(f"{target.backend.name}: no server time in the table: {why}")
            try:
                await _sweep_target(plan, target, deadline, cancel, result, emit, message, timer)
            finally:
                if timer is not None:
                    timer.close()
            if not cancel.is_set():
                emit(TargetDone(target.backend.name, target.variant))

    asyncio.run(main())
    result.cancelled = cancel.is_set()
    if plan.duration_s and not result.cancelled:
        measured = {(lv.backend, lv.variant) for lv in result.levels}
        skipped = [f"{t.backend.name}/{t.variant}" for t in targets if t.key not in measured]
        if skipped:
            message(f"not measured (duration limit of {plan.duration_s:g} s): {', '.join(skipped)}")
    result.finished_at = time.time()
    return result


async def _sweep_target(plan, target, deadline, cancel, result, emit, message, timer) -> None:
    name = f"{target.backend.name} / {target.variant}"
    top = max(plan.levels) if plan.mode == "concurrency" else 1
    sender = target.backend.protocol_info.sender(
        target.backend, target.address, plan.timeout_s, top
    )
    try:
        await sender.open()
        code = await _warm_up(sender, target)
        if code != "OK":
            message(f"{name}: not measured, the warm-up request failed ({code})")
            return
        for i, level in enumerate(plan.levels):
            if cancel.is_set() or (deadline and time.monotonic() >= deadline):
                return
            if timer is not None:
                await asyncio.to_thread(timer.before)
            run = LevelRun(
                sender,
                target,
                plan,
                level,
                start_at=plan.start_at[i] if plan.start_at else None,
                deadline=deadline,
                cancel=cancel,
                on_window=lambda w: emit(WindowDone(w)),
            )
            windows, reason = await run.run()
            if not windows:
                return
            lv = summarise(windows, plan.mode, plan.stable_windows, plan.stability, reason)
            if timer is not None:
                lv.server_ms, lv.server_note = await asyncio.to_thread(
                    timer.after, sum(w.ok for w in windows)
                )
            p99 = lv.percentile_ms(99)
            limit = plan.latency_limit_ms
            if reason is None and limit is not None and p99 is not None and p99 > limit:
                lv.stop_reason = reason = f"p99 {p99:.1f} ms is above the limit of {limit:g} ms"
            result.levels.append(lv)
            emit(LevelDone(lv))
            if reason is not None:
                if reason != "cancelled":
                    message(f"{name}: sweep stopped at {plan.level_label(level)}: {reason}")
                return
    finally:
        await sender.close()


async def _warm_up(sender, target: LoadTarget) -> str:
    """One request per prepared payload (connections opened, lazy server paths warmed)."""
    for payload in target.payloads:
        code = await sender.send(payload)
        if code != "OK":
            return code
    return "OK"
