"""Capacity sweeps against real local backends (``tfcompare serve`` subprocesses, tiny model).

Windows are short (a few tenths of a second) so that these stay quick; the figures asserted are
relations (more load → more latency), never absolute speeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from images import photo, save

from tfcompare.load.capacity_results import stable
from tfcompare.load.events import LevelDone, WindowDone
from tfcompare.load.load_plan import LoadPlan
from tfcompare.load.prepare import build_targets, variant_payloads
from tfcompare.load.sweep import sweep
from tfcompare.serving.backend_spec import BackendSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return save(photo("chelsea"), tmp_path_factory.mktemp("load") / "cat.jpg")


def targets_for(cat, *backends, variants=("256-jpeg",)):
    payloads, info, _ = variant_payloads([cat], variants)
    targets, problems = build_targets(list(backends), payloads, info)
    assert not problems
    return targets


def test_load_cli_json_has_every_level_and_latency_grows_on_a_one_thread_backend(
    backend_pair, cat, tmp_path
):
    out = tmp_path / "capacity.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "load",
            str(cat),
            "--backend",
            f"one={backend_pair.one.grpc}/tiny",
            "--backend",
            f"two={backend_pair.two.grpc}/tiny,metrics=http://{backend_pair.two.rest}"
            "/monitoring/prometheus/metrics",
            "--concurrency",
            "1,8",
            "--window-s",
            "0.4",
            "--max-windows",
            "4",
            "--json",
            str(out),
            "--csv",
            str(tmp_path / "capacity.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sustained" in proc.stdout or "highest stable req/s" in proc.stdout
    # the table explains its columns and flags to someone who has not read the README
    assert "achvd: the load achieved (mean requests in flight)" in proc.stdout
    assert (
        "UNSTABLE: the last 3 windows disagreed by more than ±10 % on req/s or p99" in proc.stdout
    )
    doc = json.loads(out.read_text())
    # the default variants, original,512-jpeg: the 451 px cat has no 512 px variant (never
    # upscaled), so its largest smaller JPEG is swept instead, and the output says so
    fallback = (
        "512-jpeg: no image is larger than 451 px (variants are never upscaled); loading "
        "256-jpeg instead"
    )
    assert fallback in proc.stderr and fallback in doc["messages"]
    # "one" serves no REST port, so the default metrics lookup finds nothing: the table's "-"
    # under server is explained in its notes and in the JSON's messages
    [why] = [m for m in doc["messages"] if m.startswith("one: no server time in the table: ")]
    assert "no server metrics" in why and f"note: {why}" in proc.stdout
    assert not any(m.startswith("two: no server time") for m in doc["messages"])
    levels = doc["levels"]
    assert [(lv["backend"], lv["variant"], lv["level"]) for lv in levels] == [
        (b, v, c) for b in ("one", "two") for v in ("original", "256-jpeg") for c in (1, 8)
    ]
    for lv in levels:
        for key in (
            "achieved",
            "throughput",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
            "errors",
            "stable",
            "client_bound",
            "server_ms",
            "windows",
        ):
            assert key in lv
        assert lv["ok"] > 0 and lv["n_errors"] == 0
        assert 1 <= lv["n_windows"] <= 4
        windows = [w for w in lv["windows"]]
        # a window closes at its end, never before (a busy machine may close it late)
        assert all(w["duration_s"] >= 0.39 for w in windows)
        # a level ends early only when its last 3 windows agree; otherwise after 4 windows
        assert (lv["stable"] and len(windows) >= 3) or (not lv["stable"] and len(windows) == 4)
        assert lv["achieved"] == pytest.approx(lv["level"], rel=0.15)  # really in flight
    assert len(doc["knees"]) == 4
    for lv in levels:  # the server's own time per level where it exports metrics
        if lv["backend"] == "two":
            assert 0 < lv["server_ms"] <= lv["max_ms"]
        else:
            assert lv["server_ms"] is None
    one = {(lv["variant"], lv["level"]): lv for lv in levels if lv["backend"] == "one"}
    for variant in ("original", "256-jpeg"):
        low, high = one[(variant, 1)], one[(variant, 8)]
        assert high["p50_ms"] > 2 * low["p50_ms"]  # queueing at the single thread
        assert high["throughput"] > 0.6 * low["throughput"]  # more load never collapses it
    rows = (tmp_path / "capacity.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 and rows[0].startswith("backend,variant,mode,level")


def test_stability_windows_and_rest(backend_pair, cat):
    spec = BackendSpec("two-rest", backend_pair.two.rest, protocol="rest", model="tiny")
    plan = LoadPlan(levels=(2,), window_s=0.3, max_windows=6)
    seen = []
    result = sweep(
        plan,
        targets_for(cat, spec),
        on_event=lambda e: seen.append(e) if isinstance(e, WindowDone) else None,
    )
    [lv] = result.levels
    assert [e.window for e in seen] == lv.windows  # the UI gets every window as it closes
    assert lv.ok > 0 and not lv.errors
    assert lv.stable == stable(lv.windows, 3, 0.10)
    if lv.stable:  # stopped at the first window that made the last three agree
        assert not any(stable(lv.windows[:i], 3, 0.10) for i in range(3, len(lv.windows)))
    else:
        assert len(lv.windows) == 6


def test_latency_limit_stops_a_backends_sweep(backend_pair, cat):
    spec = BackendSpec("one", backend_pair.one.grpc, model="tiny")
    plan = LoadPlan(levels=(1, 2, 4), window_s=0.2, max_windows=3, latency_limit_ms=0.01)
    result = sweep(plan, targets_for(cat, spec))
    [lv] = result.levels  # levels 2 and 4 never ran
    assert "above the limit of 0.01 ms" in lv.stop_reason
    assert result.knee("one", "256-jpeg") is None
    assert any("sweep stopped at c=1" in m for m in result.messages)


def test_cancel_mid_sweep_returns_what_was_measured(backend_pair, cat):
    spec = BackendSpec("one", backend_pair.one.grpc, model="tiny")
    plan = LoadPlan(levels=(1, 2, 4, 8), window_s=0.3, max_windows=20, stability=0.0001)
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, WindowDone) and event.window.index == 1:
            cancel.set()

    result = sweep(plan, targets_for(cat, spec), on_event=on_event, cancel=cancel)
    assert result.cancelled
    assert len(result.levels) == 1 and result.levels[0].stop_reason == "cancelled"
    assert len(result.levels[0].windows) <= 3  # stopped at the cancel, not after its 20 windows


def test_backend_killed_mid_sweep_ends_with_errors(fresh_backend, cat):
    backend = fresh_backend(threads=1)
    spec = BackendSpec("victim", backend.grpc, model="tiny", timeout_s=5)
    plan = LoadPlan(levels=(2, 4), window_s=0.3, max_windows=10, max_errors=20, timeout_s=5)

    def on_event(event):
        if isinstance(event, WindowDone) and event.window.index == 0 and backend.alive():
            backend.kill()

    result = sweep(plan, targets_for(cat, spec), on_event=on_event)
    [lv] = result.levels
    assert lv.n_errors > 20 and "UNAVAILABLE" in lv.errors
    assert lv.stop_reason.startswith("more than 20 errors")


def test_open_loop_beyond_the_clients_reach_is_client_bound(backend_pair, cat):
    spec = BackendSpec("two", backend_pair.two.grpc, model="tiny")
    plan = LoadPlan(
        mode="rate",
        levels=(50_000,),
        window_s=0.25,
        max_windows=3,
        max_requests=3000,
        max_errors=10_000,
    )
    levels = []
    result = sweep(
        plan,
        targets_for(cat, spec),
        on_event=lambda e: levels.append(e) if isinstance(e, LevelDone) else None,
    )
    [lv] = result.levels
    assert lv.client_bound, lv.to_dict(windows=False)
    assert lv.late > 0 or lv.loop_busy >= 0.9
    assert result.knee("two", "256-jpeg") is None  # never presented as the backend's capacity
    assert levels[0].level is lv


def test_agent_runs_a_plan_directory_and_its_windows_merge(backend_pair, cat, tmp_path):
    from tfcompare.load.agent import merge_window_lines, write_plan_dir

    spec = BackendSpec("one", backend_pair.one.grpc, model="tiny")
    start = time.time() + 3.0
    plan = LoadPlan(levels=(1, 2), window_s=0.4, fixed_windows=2, start_at=(start, start + 2.0))
    write_plan_dir(tmp_path / "plan", plan, targets_for(cat, spec), agent="load-0")
    proc = subprocess.run(
        [sys.executable, "-m", "tfcompare", "load", "--agent", str(tmp_path / "plan")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[-1] == {"agent": "load-0", "type": "done", "cancelled": False}
    windows = [d for d in lines if d["type"] == "window"]
    assert [(d["level"], d["index"]) for d in windows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    # each level began at its wall-clock start, windows on fixed boundaries
    assert windows[0]["start"] == pytest.approx(start, abs=0.25)
    assert windows[2]["start"] == pytest.approx(start + 2.0, abs=0.25)
    assert all(d["ok"] > 0 and d["hist"] and "cpu" in d for d in windows)
    # a coordinator merging two agents' identical output doubles the counts, exactly
    merged = merge_window_lines(proc.stdout.splitlines() * 2)
    assert [w.ok for w in merged] == [2 * d["ok"] for d in windows]
