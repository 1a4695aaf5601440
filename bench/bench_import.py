"""Bench (c): the cost of ``import tfcompare.serving`` vs importing TF Serving's stubs naively.

The naive way (``from tensorflow_serving.apis import predict_pb2``) runs TensorFlow's package
initialiser; tfcompare loads the same generated modules without it. Each import runs in a fresh
interpreter; reported: wall time of the import and the process's peak RSS (ru_maxrss), medians over
a few runs, and the ratios. Target: ≥ 10× less time and memory.

    python bench/bench_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CASES = {
    "tfcompare.serving": "import tfcompare.serving",
    "naive predict_pb2": "from tensorflow_serving.apis import predict_pb2",
}
_PROBE = """
import resource, sys, time, json
t0 = time.perf_counter()
{stmt}
t1 = time.perf_counter()
print(json.dumps({{"s": t1 - t0, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tf_runtime": "tensorflow.python" in sys.modules}}))
"""
_BASELINE = _PROBE.format(stmt="pass")


def measure(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=None
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    base = [measure(_BASELINE) for _ in range(args.runs)]
    base_rss = statistics.median(r["rss_kb"] for r in base)
    results: dict[str, list[dict]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved so machine load hits both alike
        for name, stmt in CASES.items():
            results[name].append(measure(_PROBE.format(stmt=stmt)))

    print(f"fresh interpreter baseline: peak RSS {base_rss / 1024:.1f} MB  (runs: {args.runs})")
    summary = {}
    for name, runs in results.items():
        t = statistics.median(r["s"] for r in runs)
        rss = statistics.median(r["rss_kb"] for r in runs)
        summary[name] = (t, rss)
        print(
            f"{name:<20} import {t * 1000:8.1f} ms   peak RSS {rss / 1024:7.1f} MB "
            f"(+{(rss - base_rss) / 1024:.1f} MB over baseline)   "
            f"TensorFlow runtime loaded: {runs[0]['tf_runtime']}"
        )
    (t_ours, rss_ours), (t_naive, rss_naive) = (
        summary["tfcompare.serving"],
        summary["naive predict_pb2"],
    )
    extra_ours = max(rss_ours - base_rss, 1)
    print(f"time ratio (naive / tfcompare):            {t_naive / t_ours:6.1f}x  (target >= 10x)")
    print(
        f"peak RSS ratio (naive / tfcompare):        {rss_naive / rss_ours:6.1f}x  (target >= 10x)"
    )
    print(
        f"added memory ratio (over bare interpreter): {(rss_naive - base_rss) / extra_ours:6.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
