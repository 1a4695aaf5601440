"""How long the demo's capacity sweep takes: ``tfcompare demo --capacity --no-gui`` end to end.

Starts the demo's three local backends (1 thread, all cores, all cores with batching), sweeps
them one at a time with the demo's plan (``load_plan.demo_plan``: concurrency 1, 2, 4 … twice
the cores on the bundled photos' 512 px JPEGs, 4 s windows, up to 5 per level, p99 limit 500 ms)
and stops them.
Prints the wall time of the whole command, of the sweep alone (from the "capacity sweep of" line
to the end) beside the plan's own bounds (every level stable after 3 windows; every level running
all its windows), the levels measured and how many became stable, and each curve's sustained rate
and knee. Target: the whole command under 3 minutes on 2 cores (the model is built beforehand, as
on any run after the first). It uses both cores: run it on an otherwise idle machine.

usage: python bench/bench_demo_sweep.py [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cores",
        type=int,
        default=2,
        help="pin the demo and its backends to this many cores (taskset)",
    )
    args = parser.parse_args()
    from tfcompare.demo import ensure_model

    ensure_model("efficientnet-lite0", log=lambda m: print(m, file=sys.stderr))
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    out = Path(tempfile.mkdtemp(prefix="bench-demo-sweep-")) / "capacity.json"
    cmd = [
        "taskset",
        "-c",
        ",".join(map(str, cores)),
        sys.executable,
        "-m",
        "tfcompare",
        "demo",
        "--capacity",
        "--no-gui",
        "--json",
        str(out),
    ]
    start = time.perf_counter()
    sweep_start = None
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if sweep_start is None and line.startswith("capacity sweep of"):
            sweep_start = time.perf_counter()
    proc.wait()
    total = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout.read() if proc.stdout else "", file=sys.stderr)
        raise SystemExit(f"demo exited with {proc.returncode}")
    doc = json.loads(out.read_text())
    sweep_s = total - (sweep_start - start) if sweep_start else float("nan")
    stable = sum(lv["stable"] for lv in doc["levels"])
    plan = doc["plan"]
    n = len(doc["levels"])
    least = n * plan["stable_windows"] * plan["window_s"]
    most = n * plan["max_windows"] * plan["window_s"]
    print(
        f"tfcompare demo --capacity on {len(cores)} core(s): whole command {total:.1f} s "
        f"(backends start + sweep + stop), sweep alone {sweep_s:.1f} s (windows alone: "
        f"{least:.0f} s if every level settles in {plan['stable_windows']} windows, {most:.0f} s "
        f"if none does); {n} levels measured ({stable} stable) on {len(doc['backends'])} "
        f"backends; target < 180 s: {'OK' if total < 180 else 'ABOVE'}"
    )
    for knee in doc["knees"]:
        rate = (
            f"{knee['sustained']:.1f} req/s at c={knee['sustained_level']:g}"
            if knee.get("sustained_level")
            else "none"
        )
        at = f"c={knee['level']:g}" if knee["level"] else "none"
        bound = f" (a lower bound: {knee['lower_bound']})" if knee.get("lower_bound") else ""
        print(f"  {knee['backend']:<16} {knee['variant']:<10} sustained {rate}, knee {at}{bound}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
