"""The server's own time per load level, from its Prometheus metrics (when it has them).

Scrapes just before and after each level (outside its windows); the mean server time per request
is the delta of ``request_latency``'s sum over the delta of its count. Requests still finishing as
a level ends, and the warm-up, make the server's count differ from the answers the windows
counted: the figure is then given with a note, never as exact.
"""

from __future__ import annotations

from tfcompare.load.load_plan import LoadTarget
from tfcompare.load.sweep import ServerTimer


class MetricsTimer(ServerTimer):
    def __init__(self, target: LoadTarget) -> None:
        from tfcompare.runner.server_clock import ServerClock

        self.spec = target.backend
        self.clock = ServerClock(target.backend)
        self.clock.open(target.address)
        self._before = None

    def before(self) -> None:
        self._before = self.clock.scrape()

    def after(self, answered: int) -> tuple[float | None, str | None]:
        if self._before is None or self.clock.format is None:
            return None, self.clock.message or "no server metrics"
        after = self.clock.scrape()
        if after is None:
            return None, "the server's metrics did not answer after the level"
        block = self.clock.format.block_time(self._before, after, self.spec, answered)
        return block.server_ms, block.note or None

    def close(self) -> None:
        self.clock.close()


def metrics_timer(target: LoadTarget) -> MetricsTimer | None:
    """A timer for ``target``, or None when its server exposes no metrics."""
    timer = MetricsTimer(target)
    if timer.clock.scraper is None:
        timer.close()
        return None
    return timer
