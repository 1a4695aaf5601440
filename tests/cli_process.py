"""The ``tfcompare`` command line run as a user runs it: ``python -m tfcompare`` in a process of
its own (the end-to-end tier; the fast tier calls it in-process, tests/cli_inprocess.py)."""

from __future__ import annotations

import subprocess
import sys


def tfcompare(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
