"""Run the ``tfcompare`` command line in a fresh interpreter with bounded memory: an input that
makes it allocate without bound ends in a MemoryError there, not in an exhausted test machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MEMORY_LIMIT = 3 << 30

_CLI = (
    "import resource, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "from tfcompare.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def run_tfcompare(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``tfcompare ARGS…`` limited to ``MEMORY_LIMIT`` bytes of address space."""
    return subprocess.run(
        [sys.executable, "-c", _CLI, str(MEMORY_LIMIT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
