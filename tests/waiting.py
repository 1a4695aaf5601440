"""Waiting in tests without fixed sleeps: poll a condition until it holds or a deadline passes.

A fixed ``time.sleep(0.5)`` before an assertion is a guess at how long something takes; on a
loaded machine the guess is wrong and the test fails once in a while, and on an idle one it
wastes the time. :func:`wait_for` returns as soon as the condition holds and fails with a message
when it never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 10.0, what: str = "", interval: float = 0.01
) -> T:
    """``condition()``'s first true value, polled every ``interval`` s; AssertionError naming
    ``what`` (or the condition) when it is still false after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {what or condition}")
        time.sleep(interval)  # polling, not synchronisation: the loop ends when the condition holds
