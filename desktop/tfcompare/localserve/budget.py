"""How much request data the server works on at once.

gRPC hands a request to the servicer only once all of it has arrived (up to TF Serving's 2 GB
message limit), and answering it takes a few times its size again (the tensors, the decoded
image, the answer). Requests in flight are therefore admitted against a byte budget: one that
would take the server past it is answered RESOURCE_EXHAUSTED at once (its memory is freed
right away), as TF Serving's batching queue answers UNAVAILABLE when full. A request larger than
the whole budget still runs when nothing else is in flight, so the budget never refuses a
request the server accepts at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class BudgetExceeded(Exception):
    """The request does not fit beside those in flight."""


class ByteBudget:
    """Bytes of request data in flight, shared by the server's threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes while the block runs; BudgetExceeded when they do not fit."""
        with self._lock:
            if self.used and self.used + size > self.limit:
                raise BudgetExceeded(
                    f"server busy: {self.used / 2**20:.0f} MB of requests in flight and this "
                    f"one of {size / 2**20:.0f} MB would pass the server's limit of "
                    f"{self.limit / 2**20:.0f} MB (--max-in-flight-mb); retry later"
                )
            self.used += size
        try:
            yield
        finally:
            with self._lock:
                self.used -= size
