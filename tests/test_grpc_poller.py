"""tfcompare's processes (the window/CLI and ``tfcompare serve``) read gRPC answers in the thread
that waits for them, not on gRPC's EventEngine pool threads: one thread hand-off fewer per call
on each side, which is latency every backend figure would otherwise include."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from backends import _env, launch_backend
from grpc_threads import pool_switches

pytestmark = pytest.mark.slow
CALLS = 60
# Context switches of the EventEngine pool threads per call: ~4-5 on each side when they read
# the answers, well under 1 when the waiting thread does (timers still run there now and then,
# more often on a loaded machine).
HANDED_OVER = 2.5

CLIENT = """
import os
import sys

import tfcompare  # first, as the CLI and the window do
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving import make_client

sys.path.insert(0, sys.argv[3])
from grpc_threads import pool_switches

with make_client(BackendSpec("x", sys.argv[1], model="tiny")) as client:
    client.metadata()
    before = pool_switches(os.getpid())
    for _ in range(int(sys.argv[2])):
        client.metadata()
    print(pool_switches(os.getpid()) - before)
"""


def _switches_per_call(tiny_model, tmp_path) -> tuple[float, float]:
    """(server, client) EventEngine pool-thread context switches per GetModelMetadata call."""
    with launch_backend(tiny_model, log_dir=tmp_path).wait_ready() as backend:
        before = pool_switches(backend.pid)
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, backend.grpc, str(CALLS), str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        server = (pool_switches(backend.pid) - before) / CALLS
    assert "Unknown experiment" not in out.stderr  # the setting is one this grpcio knows
    return server, int(out.stdout.split()[-1]) / CALLS


def test_answers_are_read_by_the_waiting_thread(tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv("GRPC_EXPERIMENTS", raising=False)  # as on a user's machine
    server, client = _switches_per_call(tiny_model, tmp_path)
    assert server < HANDED_OVER / 2 and client < HANDED_OVER / 2, (server, client)


def test_a_users_own_grpc_experiments_setting_is_kept(tiny_model, tmp_path, monkeypatch):
    """GRPC_EXPERIMENTS set by the user wins; an empty one gives gRPC's defaults, where the pool
    threads hand every answer over (which also shows the check above can fail)."""
    monkeypatch.setenv("GRPC_EXPERIMENTS", "")
    server, client = _switches_per_call(tiny_model, tmp_path)
    assert server >= HANDED_OVER and client >= HANDED_OVER, (server, client)
