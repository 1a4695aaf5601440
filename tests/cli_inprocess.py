"""The ``tfcompare`` command line run inside the test's own process, for the fast tier.

:func:`run_tfcompare` calls ``tfcompare.cli.main`` with its standard streams captured and answers
as ``subprocess.run`` does (``returncode``, ``stdout``, ``stderr``), so a test reads the same
whether the command ran here or in a process of its own. Everything the command does is real —
argument parsing, session files, exports, reports, the terminal's escaping, and backends reached
over their protocols (the in-memory ``fake`` one of tests/fake_transport.py or a real server) —
except that no interpreter starts. Tests about the process itself (its imports, its start-up, its
signals, a native library aborting it) run ``python -m tfcompare`` in the end-to-end tier.

The command may use at most ``memory_limit`` bytes of address space more than the test process
already has (a soft ``RLIMIT_AS``, restored afterwards): an input that makes it allocate without
bound ends in a ``MemoryError`` here, not in an exhausted test machine. Like the command line's
own process, the command must not load the TensorFlow runtime (the test process never does).
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

MEMORY_LIMIT = 3 << 30
_TF_RUNTIME = "tensorflow.python"


class _Captured(io.StringIO):
    """A standard stream that is neither a terminal nor a file descriptor, like a pipe's reader
    sees it: escaping and progress output behave as they do under ``subprocess.run``."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return False


def _address_space() -> int:
    """The test process's address space now, in bytes (VmSize)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


@contextmanager
def address_space_limit(extra: int | None) -> Iterator[None]:
    """At most ``extra`` more bytes of address space while the block runs (None: no limit)."""
    if extra is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextmanager
def _environment(env: Mapping[str, str] | None, cwd: str | Path | None) -> Iterator[None]:
    saved_env = dict(os.environ) if env is not None else None
    saved_cwd = os.getcwd() if cwd is not None else None
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        if saved_cwd is not None:
            os.chdir(saved_cwd)
        if saved_env is not None:
            os.environ.clear()
            os.environ.update(saved_env)


def run_tfcompare(
    *args: object,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    memory_limit: int | None = MEMORY_LIMIT,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """``tfcompare ARGS…`` in this process: what ``subprocess.run([... "tfcompare", ARGS…],
    capture_output=True, text=True)`` would give. ``env`` replaces the environment and ``cwd``
    the working folder while it runs; ``timeout`` is accepted for symmetry with the subprocess
    helpers and left to pytest's own timeout."""
    from tfcompare.cli import main

    argv = [str(a) for a in args]
    tensorflow_before = _TF_RUNTIME in sys.modules
    out, err = _Captured(), _Captured()
    saved = sys.stdin, sys.stdout, sys.stderr
    switch_interval = sys.getswitchinterval()  # the window's commands shorten it for the process
    sys.stdin = io.StringIO(input or "")
    sys.stdout, sys.stderr = out, err
    try:
        with _environment(env, cwd), address_space_limit(memory_limit):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        sys.setswitchinterval(switch_interval)
    if not tensorflow_before:
        assert _TF_RUNTIME not in sys.modules, f"tfcompare {' '.join(argv)} loaded TensorFlow"
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(["tfcompare", *argv], code, out.getvalue(), err.getvalue())
