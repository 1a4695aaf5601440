"""One load level against one backend × variant, measured in windows, inside an asyncio loop.

Closed loop: N coroutines, each sending its next request as soon as the previous answer arrives.
Open loop: one scheduler sending at Poisson arrival times (exponential gaps, absolute schedule so
the rate never drifts), each request in its own task; sends that leave more than 5 ms after their
time are counted as late, and arrivals beyond the in-flight cap as dropped — an open loop that
silently slows down would be a closed loop.

Windows have fixed boundaries from the level's start. At each boundary the running counters are
swapped for fresh ones and a :class:`WindowSummary` is handed to ``on_window`` — the only thing a
user interface ever receives while a level runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

from tfcompare.load.capacity_results import WindowSummary, stable
from tfcompare.load.histogram import LatencyHistogram
from tfcompare.load.load_plan import LoadPlan, LoadTarget
from tfcompare.serving.base import PreparedRequest
from tfcompare.serving.senders import Sender

LATE_S = 0.005
# in-flight sampling period: 20 samples/s (100 in a default window). Each wake-up of the event loop
# costs far more than the sample itself; sampling every 10 ms cost ~3 µs per request at 6,000 req/s
PROBE_S = 0.05
MAX_OPEN_IN_FLIGHT = 20_000
DRAIN_S = 2.0  # at a level's end, how long in-flight requests may still finish (not counted)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _Acc:
    """Counters of the window being measured."""

    __slots__ = ("hist", "sent", "ok", "errors", "scheduled", "late", "dropped", "fly_sum", "fly_n")

    def __init__(self) -> None:
        self.hist = LatencyHistogram()
        self.sent = self.ok = self.scheduled = self.late = self.dropped = 0
        self.errors: Counter[str] = Counter()
        self.fly_sum = 0
        self.fly_n = 0


class LevelRun:
    """Runs one level; ``await run()`` → (windows, stop reason or None)."""

    def __init__(
        self,
        sender: Sender,
        target: LoadTarget,
        plan: LoadPlan,
        level: float,
        *,
        start_at: float | None = None,
        deadline: float | None = None,
        cancel: threading.Event | None = None,
        on_window: Callable[[WindowSummary], None] | None = None,
    ) -> None:
        self.sender = sender
        self.target = target
        self.plan = plan
        self.level = level
        self.start_at = start_at
        self.deadline = deadline  # time.monotonic() after which the sweep must end
        self.cancel = cancel or threading.Event()
        self.on_window = on_window
        self.acc = _Acc()
        self.in_flight = 0
        self.total_sent = 0
        self.level_errors: Counter[str] = Counter()
        self.running = True
        self.end_reason: str | None = None
        self._ended = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._next_payload = 0
        self._cap = int(min(MAX_OPEN_IN_FLIGHT, max(100.0, level * plan.timeout_s)))

    # ------------------------------------------------------------------ bookkeeping

    def _end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        self.running = False
        self._ended.set()

    def _take_slot(self) -> bool:
        """Whether another request may be sent (``max_requests``)."""
        limit = self.plan.max_requests
        if limit is not None and self.total_sent >= limit:
            self._end(f"reached the limit of {limit} requests")
            return False
        self.total_sent += 1
        return True

    def _done(self, code: str, seconds: float) -> None:
        acc = self.acc
        if code == "OK":
            acc.ok += 1
            acc.hist.record_s(seconds)
            return
        acc.errors[code] += 1
        self.level_errors[code] += 1
        n = sum(self.level_errors.values())
        if n > self.plan.max_errors:
            codes = ", ".join(f"{c} ×{k}" for c, k in self.level_errors.most_common())
            self._end(f"more than {self.plan.max_errors} errors ({codes})")

    # ------------------------------------------------------------------ drivers

    async def _closed_worker(self, index: int) -> None:
        payloads = self.target.payloads
        n = len(payloads)
        j = index
        send = self.sender.send
        clock = time.perf_counter
        while self.running and self._take_slot():
            self.acc.sent += 1
            self.in_flight += 1
            t0 = clock()
            try:
                code = await send(payloads[j % n])
            finally:
                self.in_flight -= 1
            t1 = clock()
            j += 1
            if self.running:
                self._done(code, t1 - t0)

    async def _one(self, payload: PreparedRequest) -> None:
        self.in_flight += 1
        t0 = time.perf_counter()
        try:
            code = await self.sender.send(payload)
        finally:
            self.in_flight -= 1
        if self.running:
            self._done(code, time.perf_counter() - t0)

    async def _open_scheduler(self) -> None:
        """Poisson arrivals on an absolute schedule (the rate never drifts). The event loop's
        timers wake on whole milliseconds, so arrivals closer than that leave together."""
        rng = random.Random(self.plan.seed)
        rate = float(self.level)
        clock = time.perf_counter
        due = clock()
        while self.running:
            wait = due - clock()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._arrival(due)
            due += rng.expovariate(rate)

    def _arrival(self, due: float) -> None:
        """One arrival: send it now (or count it late/dropped)."""
        acc = self.acc
        acc.scheduled += 1
        if time.perf_counter() - due > LATE_S:
            acc.late += 1
        if self.in_flight >= self._cap:
            acc.dropped += 1
            return
        if not self._take_slot():
            return
        acc.sent += 1
        payloads = self.target.payloads
        task = asyncio.get_running_loop().create_task(
            self._one(payloads[self._next_payload % len(payloads)])
        )
        self._next_payload += 1
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self) -> None:
        while self.running:
            acc = self.acc
            acc.fly_sum += self.in_flight
            acc.fly_n += 1
            await asyncio.sleep(PROBE_S)

    # ------------------------------------------------------------------ level

    async def run(self) -> tuple[list[WindowSummary], str | None]:
        if self.start_at is not None:
            await asyncio.sleep(max(0.0, self.start_at - time.time()))
        plan = self.plan
        loop = asyncio.get_running_loop()
        if plan.mode == "concurrency":
            drivers = [loop.create_task(self._closed_worker(i)) for i in range(int(self.level))]
        else:
            drivers = [loop.create_task(self._open_scheduler())]
        drivers.append(loop.create_task(self._probe()))
        windows: list[WindowSummary] = []
        t0 = time.perf_counter()
        wall0 = time.time()
        mark = (t0, time.thread_time(), time.process_time())
        try:
            while True:
                index = len(windows)
                boundary = t0 + (index + 1) * plan.window_s
                await self._wait_until(boundary)
                window, mark = self._close_window(index, wall0 + (mark[0] - t0), mark)
                windows.append(window)
                if self.on_window is not None:
                    self.on_window(window)
                reason = self._level_over(windows)
                if reason is not False:
                    return windows, reason
        finally:
            self.running = False
            await self._stop(drivers)

    async def _wait_until(self, boundary: float) -> None:
        while True:
            left = boundary - time.perf_counter()
            if left <= 0 or not self.running:
                return
            if self.cancel.is_set():
                self._end("cancelled")
                return
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self._end("the sweep's duration limit was reached")
                return
            try:
                await asyncio.wait_for(self._ended.wait(), timeout=min(left, 0.1))
            except TimeoutError:
                pass

    def _close_window(
        self, index: int, start: float, mark: tuple[float, float, float]
    ) -> tuple[WindowSummary, tuple[float, float, float]]:
        acc, self.acc = self.acc, _Acc()
        now = (time.perf_counter(), time.thread_time(), time.process_time())
        wall = max(now[0] - mark[0], 1e-9)
        window = WindowSummary(
            backend=self.target.backend.name,
            variant=self.target.variant,
            level=self.level,
            index=index,
            start=start,
            duration_s=wall,
            sent=acc.sent,
            ok=acc.ok,
            errors=dict(acc.errors),
            scheduled=acc.scheduled,
            late=acc.late,
            dropped=acc.dropped,
            in_flight_mean=acc.fly_sum / acc.fly_n if acc.fly_n else float(self.in_flight),
            loop_busy=min(1.0, (now[1] - mark[1]) / wall),
            cpu=(now[2] - mark[2]) / wall,
            cores=CORES,
            hist=acc.hist.compact(),  # a few KiB kept per window, not 168 KiB
        )
        return window, now

    def _level_over(self, windows: list[WindowSummary]) -> str | None | Literal[False]:
        """False to go on; otherwise the level is over (with a stop reason, or None)."""
        plan = self.plan
        if self.end_reason is not None:
            return self.end_reason
        if plan.fixed_windows is not None:
            return None if len(windows) >= plan.fixed_windows else False
        if stable(windows, plan.stable_windows, plan.stability):
            return None
        if len(windows) >= plan.max_windows:
            return None
        return False

    async def _stop(self, drivers: list[asyncio.Task]) -> None:
        drivers[-1].cancel()  # the in-flight probe
        pending = [t for t in (*drivers, *self._tasks) if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=min(DRAIN_S, self.plan.timeout_s))
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
        await asyncio.gather(*drivers, return_exceptions=True)
