"""The fast tier starts no processes: a pytest plugin that makes every process start fail loudly.

For each test not marked ``slow`` (the end-to-end tier), the ways Python starts a process —
``subprocess`` (and so ``asyncio``'s subprocesses and ``os.popen``), ``multiprocessing``,
``os.fork``/``os.forkpty``, ``os.posix_spawn[p]`` and ``os.system`` — raise
:class:`ProcessStartInFastTier` while the test's fixtures are set up, while it runs and while its
fixtures are torn down. A session-scoped fixture that starts a server is caught too when a fast
test is the first to ask for it. Code under test that catches the error does not hide it: the
test fails afterwards all the same, naming the command.
"""

from __future__ import annotations

import _posixsubprocess
import functools
import os
import posix
import subprocess

import pytest

MESSAGE = (
    "the fast tier starts no processes: mark this test slow (the end-to-end tier), or drive it "
    "through the in-memory fake transport (tests/fake_transport.py) or an in-process call"
)


class ProcessStartInFastTier(RuntimeError):
    """A test of the fast tier tried to start a process."""


# ``os`` re-exports ``posix``'s functions: both names are replaced, so that the stand-in is what
# ``posix.system`` is too (pickle, for one, finds a function by its module and name).
_PATCHES = (
    (subprocess, "_fork_exec"),
    (_posixsubprocess, "fork_exec"),
    *(
        (module, name)
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")
        for module in (os, posix)
    ),
)


def _describe(name: str, args: tuple) -> str:
    """The command a refused start would have run, as far as its arguments tell."""
    if name in ("_fork_exec", "fork_exec") and args:
        argv = args[0]
        try:
            return " ".join(os.fsdecode(a) for a in argv)
        except TypeError:
            return repr(argv)
    if name in ("posix_spawn", "posix_spawnp") and len(args) > 1:
        return " ".join(os.fsdecode(a) for a in args[1])
    if name == "system" and args:
        return str(args[0])
    return f"os.{name}()"


class _Guard:
    def __init__(self) -> None:
        self.refused: list[str] = []
        self._saved: list[tuple[object, str, object]] = []

    def install(self) -> None:
        refusers: dict[object, object] = {}
        for owner, name in _PATCHES:
            original = getattr(owner, name, None)
            if original is None:
                continue
            if original not in refusers:
                refusers[original] = self._refuser(name, original)
            self._saved.append((owner, name, original))
            setattr(owner, name, refusers[original])

    def remove(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)

    def _refuser(self, name: str, original):
        @functools.wraps(original)
        def refuse(*args, **kwargs):
            command = _describe(name, args)
            self.refused.append(command)
            raise ProcessStartInFastTier(f"{MESSAGE}; it tried to start: {command}")

        return refuse


def _end_to_end(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    return (yield from _guarded(item, "setting up"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    return (yield from _guarded(item, "running"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _guarded(item, "tearing down"))


def _guarded(item: pytest.Item, phase: str):
    if _end_to_end(item):
        return (yield)
    guard = _Guard()
    guard.install()
    try:
        result = yield
    finally:
        guard.remove()
    if guard.refused:
        commands = "\n  ".join(guard.refused)
        pytest.fail(f"{MESSAGE}. While {phase} it tried to start:\n  {commands}", pytrace=False)
    return result
